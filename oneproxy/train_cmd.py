"""`oneproxy train`: fit a latency predictor on one device's measurements and save it as a file.

`train_predictor` reads the warehouse and fits; the click command only parses, saves and
renders. The file is read back by `oneproxy predict --model FILE` (see
`analytics.predictors.files`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pyarrow as pa

from oneproxy.adapt_cmd import vertical
from oneproxy.analytics.evaluate import draw_samples, score_rows
from oneproxy.analytics.predictors import InvalidPredictorInput
from oneproxy.analytics.predictors.files import (
    KINDS,
    Predictor,
    PredictorMeta,
    describe,
    save_predictor,
)
from oneproxy.analytics.predictors.kernel import KernelLatencyPredictor
from oneproxy.analytics.predictors.linear import LinearLatencyPredictor
from oneproxy.api.features import features_of
from oneproxy.lookups import check_space
from oneproxy.options import space_option, warehouse_option
from oneproxy.output import render
from oneproxy.space_data import check_devices, latency_series, load_space
from oneproxy.warehouse.store import Warehouse

ENCODINGS = ("onehot", "live_onehot", "kernel", "counts")
# linear + onehot is the paper's NB201 predictor; on FBNet (whose latencies are sums of per-layer
# op costs) it is exact, and on OFA MobileNetV3 it ranks held-out architectures as well as trees.
DEFAULT_ENCODING = {"linear": "onehot", "kernel": "kernel"}
SUMMARY_FORMATS = ("table", "csv", "json")


@dataclass(frozen=True)
class TrainRun:
    """A fitted predictor, its metadata, and one summary row (sizes and scores)."""

    predictor: Predictor
    meta: PredictorMeta
    summary: pa.Table


def train_predictor(
    wh: Warehouse,
    space: str,
    device: str,
    kind: str = "linear",
    encoding: str | None = None,
    samples: int | None = None,
    seed: int = 0,
    alpha: float = 0.0,
) -> TrainRun:
    """Fit a `kind` predictor on `device`'s measured architectures of `space`.

    With `samples` N, N of them drawn with `seed` (`analytics.evaluate.draw_samples`) are the
    training rows and the other measured ones are held out for scoring; without, every measured
    architecture is a training row. `alpha` is the linear predictor's ridge penalty; `seed` also
    seeds the kernel predictor's trees.
    """
    if kind not in KINDS:
        raise InvalidPredictorInput(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    encoding = encoding or DEFAULT_ENCODING[kind]
    check_space(wh, space)
    dataset, series = latency_series(wh, space)
    check_devices(series, [device], space, "training")
    data = load_space(wh, space, dataset, [device])
    measured = np.flatnonzero(np.isfinite(data.latency[0]))
    chosen = measured if samples is None else np.sort(draw_samples(measured, samples, seed))
    training = np.isin(measured, chosen)
    features = features_of(wh, space, np.asarray(data.arch_keys)[measured].tolist(),
                           dataset=dataset)
    X, y = features.matrix(encoding), data.latency[0, measured]
    predictor: Predictor = (LinearLatencyPredictor(alpha=alpha) if kind == "linear"
                            else KernelLatencyPredictor(seed=seed))
    predictor.fit(X[training], y[training], space=space, device=device, encoding=encoding)
    meta = describe(predictor, dataset=dataset, arch_ids=data.arch_ids[chosen],
                    columns=features.columns[encoding])
    predicted = predictor.predict(X)
    fit, held = score_rows(np.stack([predicted, predicted]),
                           np.stack([np.where(training, y, np.nan),
                                     np.where(training, np.nan, y)])).to_dicts()
    summary = pa.Table.from_pylist([{
        "space_id": space, "device_id": device, "dataset": dataset, "kind": kind,
        "encoding": encoding, "features": X.shape[1], "measured": int(measured.size),
        "training_rows": int(chosen.size), "seed": None if samples is None else seed,
        "fit_srcc": fit["srcc"], "fit_rmse_ms": fit["rmse_ms"], "fit_within10": fit["within10"],
        "held_out": held["n_eval"], "held_out_srcc": held["srcc"],
        "held_out_rmse_ms": held["rmse_ms"], "held_out_within10": held["within10"],
        "training_fingerprint": meta.training_fingerprint,
    }])
    return TrainRun(predictor, meta, summary)


@click.command()
@space_option
@click.option("--device", required=True, help="The device whose measured latency to fit.")
@click.option("--kind", type=click.Choice(list(KINDS)), default="linear", show_default=True,
              help="linear: least squares / ridge on an encoding (the paper's predictor); "
              "kernel: LightGBM trees on log-latency.")
@click.option("--encoding", type=click.Choice(ENCODINGS), default=None,
              help="Feature encoding [default: onehot for linear, kernel for kernel].")
@click.option("--samples", type=click.IntRange(min=2), default=None,
              help="Train on N of the device's measured architectures (drawn with --seed) and "
              "score the rest [default: train on every measured one].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the --samples draw and of the kernel predictor's trees.")
@click.option("--alpha", type=click.FloatRange(min=0), default=None,
              help="Ridge penalty of the linear predictor [default: 0, least squares].")
@click.option("-o", "--output", "model", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="The predictor file to write (a kernel predictor also writes MODEL.json).")
@click.option("--format", "fmt", type=click.Choice(SUMMARY_FORMATS), default="table",
              show_default=True, help="Format of the summary printed on standard output.")
@warehouse_option
def train(wh: Warehouse, space: str, device: str, kind: str, encoding: str | None,
          samples: int | None, seed: int, alpha: float | None, model: Path, fmt: str) -> None:
    """Fit a latency predictor on a device's measured architectures and save it as a file.

    Prints the training size and the scores (SRCC, RMSE, share within ±10%) on the training
    rows and on the held-out measured rows. The file is plain JSON (linear) or LightGBM text
    plus a JSON document (kernel), never a pickle; use it with `oneproxy predict --model`.

    \b
    Examples:
      oneproxy train --device pixel3 -o pixel3.json
      oneproxy train --device raspi4 --samples 1000 --seed 1 -o raspi4.json --format json
      oneproxy train --space fbnet --device eyeriss --kind kernel -o eyeriss.lgb.txt
    """
    if alpha is not None and kind != "linear":
        raise click.UsageError("--alpha goes with --kind linear")
    if kind == "kernel" and model.suffix == ".json":
        raise click.UsageError(f"a kernel predictor is LightGBM text, not JSON: name it e.g. "
                               f"{model.with_suffix('.lgb.txt')} (its JSON document goes beside "
                               "it, with .json appended)")
    run = train_predictor(wh, space, device, kind, encoding, samples, seed, alpha or 0.0)
    written = save_predictor(model, run.predictor, run.meta)
    if fmt == "table":
        render(vertical(run.summary), "table", title=f"train {space} {device}")
    else:
        render(run.summary, fmt)
    if samples is None:
        click.echo("trained on every measured architecture: nothing held out (use --samples N "
                   "to score on the others)", err=True)
    click.echo(f"wrote {' and '.join(map(str, written))}: {kind} predictor of {device} on "
               f"{space}, {run.meta.encoding} encoding, {run.meta.training_rows:,} training rows",
               err=True)
