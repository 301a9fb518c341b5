"""Latency predictors on the warehouse: fit one on a device's measured architectures.

The fitted predictor is saved with `oneproxy.analytics.predictors.files.save_predictor` and read
back by `oneproxy.api.adapt.predict_model`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from oneproxy.analytics.evaluate import draw_samples, score_rows
from oneproxy.analytics.predictors import InvalidPredictorInput
from oneproxy.analytics.predictors.files import KINDS, Predictor, PredictorMeta, describe
from oneproxy.analytics.predictors.kernel import KernelLatencyPredictor
from oneproxy.analytics.predictors.linear import LinearLatencyPredictor
from oneproxy.api.features import features_of
from oneproxy.api.latency import check_devices, latency_series, load_space
from oneproxy.api.warehouse import check_space
from oneproxy.warehouse.store import Warehouse

ENCODINGS = ("onehot", "live_onehot", "kernel", "counts")
# linear + onehot is the paper's NB201 predictor; on FBNet (whose latencies are sums of per-layer
# op costs) it is exact, and on OFA MobileNetV3 it ranks held-out architectures as well as trees.
DEFAULT_ENCODING = {"linear": "onehot", "kernel": "kernel"}


@dataclass(frozen=True)
class TrainRun:
    """A fitted predictor, its metadata, and one summary row (sizes and scores)."""

    predictor: Predictor
    meta: PredictorMeta
    summary: pa.Table


def train(
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
