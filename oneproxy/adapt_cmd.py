"""`oneproxy adapt` and `predict`: one AdaProxy adaptation of a target, stored predictions, and
predictions of a saved predictor file.

The functions here read the warehouse, call the pure functions of `analytics.adaptation` and
`analytics.evaluate`, and write results back; the click commands only parse and render.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
import numpy as np
import polars as pl
import pyarrow as pa
from click.core import ParameterSource

from oneproxy.analytics.adaptation import Adapted, ProxyModels, select_proxy_models
from oneproxy.analytics.evaluate import PREDICTION_KEYS, PREDICTIONS, draw_samples, score
from oneproxy.analytics.predictors.files import PredictorMeta, load_predictor, predict_archs
from oneproxy.analytics.protocols import MIN_SAMPLES
from oneproxy.api.features import features_of
from oneproxy.lookups import check_space
from oneproxy.options import (
    int_list,
    output_options,
    save_option,
    space_option,
    warehouse_option,
)
from oneproxy.output import render
from oneproxy.progress import progress_bar
from oneproxy.space_data import (
    AUTO,
    STRATEGY_CHOICES,
    NoLatency,
    check_devices,
    latency_series,
    load_space,
)
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import OneproxyError, UnknownDevice
from oneproxy.warehouse.store import Warehouse, replace_rows

PREDICTIONS_TABLE = "predictions"


class UnknownArchitecture(OneproxyError):
    """An arch id or arch key that the space does not have."""


@dataclass(frozen=True)
class AdaptRun:
    """One `adapt`: the predictions of every architecture, the chosen proxy and the scores."""

    predictions: pa.Table  # PREDICTIONS
    summary: pa.Table  # one row
    proxy_scores: dict[str, float]  # candidate proxy -> LOO RMSE (ms)
    adapted: Adapted


def run_adapt(
    wh: Warehouse,
    space: str,
    target: str,
    proxy: str = AUTO,
    samples: int | None = None,
    seed: int = 0,
    strategy: str = AUTO,
    progress: bool = True,
) -> AdaptRun:
    """Adapt a proxy to `target` and predict every architecture of the space.

    With `samples` N, N of the target's measured architectures (drawn with `seed`) are the only
    known measurements and the rest score the predictions; without, every measured row is a
    sample. `proxy="auto"` chooses among the devices that measured the whole space.
    """
    check_space(wh, space)
    dataset, series = latency_series(wh, space)
    check_devices(series, [target], space, "target")
    n_archs = query(wh, sql_text("queries/adapt_archs.sql"), [space]).num_rows
    if proxy == AUTO:
        candidates = series.filter((pl.col("measured") == n_archs)
                                   & (pl.col("device_id") != target))["device_id"].to_list()
        if not candidates:
            raise UnknownDevice(f"no device besides {target} measured all {n_archs:,} "
                                f"architectures of {space}: name a proxy with --proxy")
    else:
        check_devices(series, [proxy], space, "proxy")
        if proxy == target:
            raise UnknownDevice(f"the proxy and the target are both '{target}': choose another "
                                "proxy or --proxy auto")
        candidates = [proxy]
    data = load_space(wh, space, dataset, [target, *candidates])
    true = data.latency[0]
    measured = np.flatnonzero(np.isfinite(true))
    idx = measured if samples is None else draw_samples(measured, samples, seed)
    if idx.size < MIN_SAMPLES:
        raise NoLatency(f"target {target} measured {idx.size} architectures of {space}: "
                        f"adaptation needs at least {MIN_SAMPLES}")
    features = features_of(wh, space, data.arch_keys)
    models = {d: ProxyModels.of(features, data.latency[i + 1]) for i, d in enumerate(candidates)}
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("adapt", total=len(models))
        done = iter(range(len(models)))

        def step(name: str) -> None:
            bar.update(task, description=f"proxy {name}", completed=next(done))

        chosen, adapted, scores = select_proxy_models(models, idx, true[idx], strategy=strategy,
                                                       on_proxy=step)
    rest = true.copy()
    rest[idx] = np.nan
    rest_scores = score(adapted.predicted, rest)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    predictions = pa.table({
        "space_id": [space] * data.arch_ids.size,
        "device_id": [target] * data.arch_ids.size,
        "arch_id": data.arch_ids,
        "predicted_ms": adapted.predicted,
        "proxy": [chosen] * data.arch_ids.size,
        "strategy": [adapted.strategy] * data.arch_ids.size,
        "encoding": [adapted.encoding] * data.arch_ids.size,
        "n_samples": np.full(data.arch_ids.size, idx.size),
        "seed": pa.nulls(data.arch_ids.size, pa.int64()) if samples is None
        else np.full(data.arch_ids.size, seed),
        "created": [created] * data.arch_ids.size,
    }, schema=PREDICTIONS)
    summary = pa.Table.from_pylist([{
        "space_id": space, "target": target, "proxy": chosen, "strategy": adapted.strategy,
        "encoding": adapted.encoding, "n_samples": int(idx.size),
        "seed": None if samples is None else seed, "loo_rmse_ms": adapted.loo_rmse,
        "proxy_only": adapted.proxy_only, "predicted": data.arch_ids.size,
        "n_rest": rest_scores["n_eval"], "srcc_rest": rest_scores["srcc"],
        "kendall_rest": rest_scores["kendall"], "rmse_rest_ms": rest_scores["rmse_ms"],
        "mape_rest_pct": rest_scores["mape_pct"], "within10_rest": rest_scores["within10"],
    }])
    return AdaptRun(predictions, summary, scores, adapted)


def save_predictions(wh: Warehouse, predictions: pa.Table) -> None:
    """Store the predictions, replacing the stored ones of the same space and device."""
    merged = replace_rows(wh.read_or_none(PREDICTIONS_TABLE), predictions, PREDICTION_KEYS)
    wh.commit({PREDICTIONS_TABLE: merged})


def lookup_predictions(
    wh: Warehouse, space: str, device: str, arch_ids: list[int] | None = None,
    arch_key: str | None = None,
) -> pa.Table:
    """Latency of architectures on a device: the stored prediction, else the measured latency.

    `source` says which ("predicted", "measured", or "none" when there is neither); both
    `predicted_ms` and `measured_ms` are shown.
    """
    check_space(wh, space)
    archs = pl.from_arrow(query(wh, sql_text("queries/adapt_archs.sql"), [space]))
    archs = _select_archs(archs, space, arch_ids, arch_key)
    dataset, series = latency_series(wh, space)
    stored = wh.read_or_none(PREDICTIONS_TABLE)
    predicted = (pl.from_arrow(stored).filter((pl.col("space_id") == space)
                                              & (pl.col("device_id") == device))
                 if stored is not None else pl.DataFrame(schema=pl.from_arrow(
                     PREDICTIONS.empty_table()).schema))
    if device not in series["device_id"].to_list() and predicted.is_empty():
        raise UnknownDevice(f"device '{device}' has neither measured latency nor stored "
                            f"predictions in space {space}: run `oneproxy adapt --space {space} "
                            f"--target {device} …` or use one of "
                            f"{', '.join(series['device_id'].to_list())}")
    measured = pl.from_arrow(query(wh, sql_text("queries/adapt_latency.sql"),
                                   [space, dataset, [device]]))
    out = (
        archs.join(measured.select("arch_id", pl.col("latency_ms").alias("measured_ms")),
                   on="arch_id", how="left")
        .join(predicted.select("arch_id", "predicted_ms", "proxy", "strategy", "n_samples"),
              on="arch_id", how="left")
        .with_columns(
            latency_ms=pl.coalesce("predicted_ms", "measured_ms"),
            source=pl.when(pl.col("predicted_ms").is_not_null()).then(pl.lit("predicted"))
            .when(pl.col("measured_ms").is_not_null()).then(pl.lit("measured"))
            .otherwise(pl.lit("none")),
        )
        .select("arch_id", "arch_key", "latency_ms", "source", "predicted_ms", "measured_ms",
                "proxy", "strategy", "n_samples")
    )
    return out.to_arrow()


def predict_with_model(
    wh: Warehouse, model: Path, arch_ids: list[int] | None = None, arch_key: str | None = None,
    device: str | None = None,
) -> tuple[pa.Table, PredictorMeta]:
    """A saved predictor's latency of architectures of its space, beside a device's measured one.

    `device` defaults to the predictor's own device; `measured_ms` is null where it has none.
    """
    predictor, meta = load_predictor(model)
    check_space(wh, meta.space)
    archs = pl.from_arrow(query(wh, sql_text("queries/adapt_archs.sql"), [meta.space]))
    archs = _select_archs(archs, meta.space, arch_ids, arch_key)
    if device is not None and device != meta.device:
        check_devices(latency_series(wh, meta.space, meta.dataset)[1], [device], meta.space,
                      "measured")
    measured = pl.from_arrow(query(wh, sql_text("queries/adapt_latency.sql"),
                                   [meta.space, meta.dataset, [device or meta.device]]))
    predicted = predict_archs(predictor, meta, archs["arch_key"].to_list(), where=str(model))
    out = (
        archs.with_columns(predicted_ms=pl.Series(predicted, dtype=pl.Float64))
        .join(measured.select("arch_id", pl.col("latency_ms").alias("measured_ms")),
              on="arch_id", how="left", maintain_order="left")
    )
    return out.to_arrow(), meta


def _model_note(table: pa.Table, meta: PredictorMeta, model: Path, device: str) -> str:
    frame = pl.from_arrow(table)
    note = (f"{frame.height:,} architectures predicted by the {meta.kind} predictor of "
            f"{meta.device} in {model} ({meta.encoding} encoding, trained {meta.trained_at} on "
            f"{meta.training_rows:,} rows)")
    n = frame["measured_ms"].is_not_null().sum()
    if n < 2:
        return f"{note}; {n} measured on {device}"
    s = score(frame["predicted_ms"].to_numpy(), frame["measured_ms"].fill_null(np.nan).to_numpy())
    return (f"{note}; against the {n:,} measured on {device}: SRCC {s['srcc']:.4f}, RMSE "
            f"{s['rmse_ms']:.3g} ms, within ±10% {s['within10']:.1%}")


def _select_archs(archs: pl.DataFrame, space: str, arch_ids: list[int] | None,
                  arch_key: str | None) -> pl.DataFrame:
    if arch_key is not None:
        found = archs.filter(pl.col("arch_key") == arch_key)
        if found.is_empty():
            raise UnknownArchitecture(f"arch key '{arch_key}' is not an architecture of space "
                                      f"{space}; keys look like '{archs['arch_key'][0]}'")
        return found
    if arch_ids is None:
        return archs
    unknown = sorted(set(arch_ids) - set(archs["arch_id"].to_list()))
    if unknown:
        raise UnknownArchitecture(f"arch id {unknown[0]} is not an architecture of space {space} "
                                  f"(ids {archs['arch_id'].min()}…{archs['arch_id'].max()})")
    order = pl.DataFrame({"arch_id": arch_ids}, schema={"arch_id": pl.Int64})
    return order.join(archs, on="arch_id", how="left", maintain_order="left")


def vertical(row: pa.Table) -> pa.Table:
    """A one-row table as (field, value) rows, for the terminal."""
    values = row.to_pylist()[0]
    shown = ["" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)
             for v in values.values()]
    return pa.table({"field": list(values), "value": shown})


def _proxy_notes(run: AdaptRun, proxy: str) -> list[str]:
    s = run.summary.to_pylist()[0]
    ranked = sorted(run.proxy_scores.items(), key=lambda kv: kv[1])
    if proxy == AUTO:
        shown = ", ".join(f"{d} {v:.3g}" for d, v in ranked[:5])
        more = f" (+{len(ranked) - 5} more)" if len(ranked) > 5 else ""
        why = (f"proxy {s['proxy']} chosen among {len(ranked)} full-coverage devices: lowest "
               f"leave-one-out RMSE on the {s['n_samples']} samples (ms: {shown}{more})")
    else:
        why = f"proxy {s['proxy']} (given): leave-one-out RMSE {s['loo_rmse_ms']:.3g} ms"
    strategies = ", ".join(f"{k} {v:.3g}" for k, v in run.adapted.scores.items())
    notes = [why, f"strategy {s['strategy']} on encoding {s['encoding']}"
             + (f" (LOO RMSE ms: {strategies})" if strategies else "")
             + (", proxy rescaled only" if s["proxy_only"] else "")]
    if s["n_rest"]:
        mape = "n/a" if s["mape_rest_pct"] is None else f"{s['mape_rest_pct']:.1f}%"
        notes.append(
            f"on the {s['n_rest']:,} measured architectures not sampled: SRCC "
            f"{s['srcc_rest']:.4f}, Kendall {s['kendall_rest']:.4f}, RMSE "
            f"{s['rmse_rest_ms']:.3g} ms, MAPE {mape}, within ±10% {s['within10_rest']:.1%}"
        )
    return notes


@click.command()
@space_option
@click.option("--target", required=True, help="The device to predict.")
@click.option("--proxy", default=AUTO, show_default=True,
              help="Proxy device, or 'auto': the full-coverage device whose adaptation has the "
              "lowest leave-one-out error on the samples.")
@click.option("--samples", type=click.IntRange(min=MIN_SAMPLES), default=None,
              help="Draw N of the target's measured architectures as the only known ones; the "
              "rest score the predictions.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draw.")
@click.option("--from-measured", is_flag=True,
              help="Use every latency the target measured as samples.")
@click.option("--strategy", type=click.Choice(STRATEGY_CHOICES), default=AUTO,
              show_default=True, help="Adaptation strategy.")
@save_option(PREDICTIONS_TABLE)
@output_options
@warehouse_option
def adapt(wh: Warehouse, space: str, target: str, proxy: str, samples: int | None,
                  seed: int, from_measured: bool, strategy: str, save: bool, fmt: str,
                  output: Path | None) -> None:
    """Predict every architecture of a space on a target from a proxy and a few measurements.

    Prints the chosen proxy and why, and the scores on the target's measured architectures
    that were not samples. The predictions of all architectures go to the warehouse table
    `predictions` (read them with `oneproxy predict`) and, with -o, to FILE in --format.

    \b
    Examples:
      oneproxy adapt --target raspi4 --proxy pixel3 --samples 20
      oneproxy adapt --target fpga --samples 10 --seed 3 -o fpga.parquet --format parquet
      oneproxy adapt --target nnmeter_adreno640 --proxy pixel3 --from-measured
    """
    if (samples is None) == (not from_measured):
        raise click.UsageError("give --samples N or --from-measured (one of them)")
    run = run_adapt(wh, space, target, proxy, samples, seed, strategy)
    if save:
        save_predictions(wh, run.predictions)
    if output is not None:
        render(run.predictions, fmt, output)
    if fmt in ("table", "parquet"):
        render(vertical(run.summary), "table", title=f"adapt {space} {target}")
    else:
        render(run.summary, fmt)
    for note in _proxy_notes(run, proxy):
        click.echo(note, err=True)
    if save:
        click.echo(f"stored {run.predictions.num_rows:,} predictions of {target} in table "
                   f"{PREDICTIONS_TABLE}", err=True)


@click.command()
@space_option
@click.option("--device", default=None,
              help="The device whose latency to show (with --model: whose measured latency to "
              "show beside the predictions; default the model's device).")
@click.option("--model", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Predict with a predictor file written by `oneproxy train`.")
@click.option("--archs", "archs_spec", default=None,
              help="Comma-separated arch ids (default: every architecture).")
@click.option("--arch-key", default=None, help="One architecture by its arch key.")
@output_options
@warehouse_option
def predict(wh: Warehouse, space: str, device: str | None, model: Path | None,
            archs_spec: str | None, arch_key: str | None, fmt: str, output: Path | None) -> None:
    """Latency of architectures on a device: stored AdaProxy predictions, else measurements;
    or, with --model, a trained predictor file's predictions.

    The `source` column says which value `latency_ms` is (predicted / measured / none); both
    are shown side by side. With --model FILE, the space is the model's; `predicted_ms` is the
    model's prediction and `measured_ms` the device's measured latency where there is one.

    \b
    Examples:
      oneproxy predict --device raspi4 --archs 0,1,2
      oneproxy predict --device nnmeter_adreno640 --arch-key \\
          '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
      oneproxy predict --model pixel3.json --archs 0,1,2
      oneproxy predict --model pixel3.json --device raspi4 --format csv -o raspi4.csv
    """
    if archs_spec is not None and arch_key is not None:
        raise click.UsageError("give --archs or --arch-key, not both")
    ids = int_list(archs_spec, "--archs")
    arch_ids = None if ids is None else list(ids)
    if model is not None:
        table, meta = predict_with_model(wh, model, arch_ids, arch_key, device)
        explicit = click.get_current_context().get_parameter_source("space")
        if explicit != ParameterSource.DEFAULT and space != meta.space:
            raise click.UsageError(f"--space {space} but {model} predicts space {meta.space}: "
                                   "leave out --space")
        render(table, fmt, output, title=f"{meta.device} predictor on {meta.space}")
        click.echo(_model_note(table, meta, model, device or meta.device), err=True)
        return
    if device is None:
        raise click.UsageError("give --device (or --model FILE)")
    table = lookup_predictions(wh, space, device, arch_ids, arch_key)
    render(table, fmt, output, title=f"{device} on {space}")
    counts = pl.from_arrow(table)["source"].value_counts(sort=True)
    click.echo(", ".join(f"{n:,} {s}" for s, n in counts.iter_rows()), err=True)

