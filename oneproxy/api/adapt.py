"""AdaProxy on the warehouse: adapt a proxy to a target, store the predictions, read them back,
and predict with a saved predictor file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa

from oneproxy.analytics.adaproxy import MIN_SAMPLES
from oneproxy.analytics.adaptation import Adapted, select_proxy_models
from oneproxy.analytics.baselines import prescreen
from oneproxy.analytics.evaluate import draw_samples, score
from oneproxy.api.errors import NoLatency, UnknownArchitecture
from oneproxy.api.features import features_of
from oneproxy.api.latency import (
    check_devices,
    device_dataset,
    latency_series,
    load_space,
    main_dataset,
    proxy_dataset,
    space_series,
    space_series_archs,
)
from oneproxy.api.progress import Progress, silent
from oneproxy.api.proxy_cache import cached_models
from oneproxy.api.warehouse import check_space
from oneproxy.search.proxy_choice import AUTO, full_coverage
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import UnknownDevice
from oneproxy.warehouse.names import did_you_mean
from oneproxy.warehouse.schemas import PREDICTIONS
from oneproxy.warehouse.store import Warehouse
from oneproxy.warehouse.tables import publish

if TYPE_CHECKING:  # predictor files are read by `predict_model` only, which loads the module
    from oneproxy.analytics.predictors.files import PredictorMeta

PREDICTIONS_TABLE = "predictions"


@dataclass(frozen=True)
class AdaptRun:
    """One `adapt`: the predictions of every architecture, the chosen proxy and the scores."""

    predictions: pa.Table  # PREDICTIONS
    summary: pa.Table  # one row
    proxy_scores: dict[str, float]  # candidate proxy -> LOO RMSE (ms)
    adapted: Adapted


def adapt(
    wh: Warehouse,
    space: str,
    target: str,
    proxy: str = AUTO,
    samples: int | None = None,
    *,
    seed: int = 0,
    strategy: str = AUTO,
    dataset: str | None = None,
    created: str | None = None,
    on_progress: Progress = silent,
) -> AdaptRun:
    """Adapt a proxy to `target` and predict every architecture of the space.

    With `samples` N, N of the target's measured architectures (drawn with `seed`) are the only
    known measurements and the rest score the predictions; without, every measured row is a
    sample. `proxy="auto"` chooses among the devices that measured the whole space: the
    `baselines.PRESCREEN` whose raw latencies rank the samples best are adapted, and
    `select_proxy_models` makes the (never-worse) choice among their adaptations. Proxy fits and
    the feature matrices are stored in the warehouse folder and reused
    (`oneproxy.api.proxy_cache`, `oneproxy.api.features`). The target is read on `dataset` (an
    error if it has none there), by default its only latency dataset or the space's main one
    (`device_dataset`); the proxies on the same one where they have it (`proxy_dataset`).
    `created` stamps the predictions (default: now).
    """
    every, archs = space_series_archs(wh, space)  # archs: the coverage count, the matrix columns
    check_devices(every.unique("device_id", maintain_order=True), [target], space, "target")
    mine = every.filter(pl.col("device_id") == target)["dataset"].to_list()
    if dataset is not None and dataset not in mine:
        raise NoLatency(f"device '{target}' has no latency for dataset '{dataset}' in {space}: "
                        f"it has {', '.join(mine)}")
    target_dataset = device_dataset(every, space, target, dataset)
    dataset = proxy_dataset(every, target, target_dataset)
    series = every.filter(pl.col("dataset") == dataset).drop("dataset")
    n_archs = archs.num_rows
    if proxy == AUTO:
        candidates = full_coverage(series, n_archs, exclude=[target])
        if not candidates:
            raise UnknownDevice(f"no device besides {target} measured all {n_archs:,} "
                                f"architectures of {space}: name a proxy with --proxy")
    else:
        check_devices(series, [proxy], space, "proxy")
        if proxy == target:
            raise UnknownDevice(f"the proxy and the target are both '{target}': choose another "
                                "proxy or --proxy auto")
        candidates = [proxy]
    data = load_space(wh, space, [target_dataset, *[dataset] * len(candidates)],
                      [target, *candidates], archs)
    true = data.latency[0]
    measured = np.flatnonzero(np.isfinite(true))
    idx = measured if samples is None else draw_samples(measured, samples, seed)
    if idx.size < MIN_SAMPLES:
        raise NoLatency(f"target {target} measured {idx.size} architectures of {space}: "
                        f"adaptation needs at least {MIN_SAMPLES}")
    latency = {d: data.latency[i + 1] for i, d in enumerate(candidates)}
    if proxy == AUTO:
        latency = {d: latency[d] for d in prescreen(latency, idx, true[idx])}  # read only these
    features = features_of(wh, space, data.arch_keys)
    models = cached_models(wh, space, dataset, features, data.arch_ids, latency)
    done = iter(range(len(models)))
    chosen, adapted, scores = select_proxy_models(
        models, idx, true[idx], strategy=strategy,
        on_proxy=lambda name: on_progress(f"proxy {name}", next(done), len(models)))
    rest = true.copy()
    rest[idx] = np.nan
    rest_scores = score(adapted.predicted, rest, kendall=False)
    created = created or datetime.now(UTC).isoformat(timespec="seconds")
    n = data.arch_ids.size
    predictions = pa.table({  # pa.repeat: one value n times without n Python strings
        "space_id": pa.repeat(space, n),
        "device_id": pa.repeat(target, n),
        "arch_id": data.arch_ids,
        "predicted_ms": adapted.predicted,
        "proxy": pa.repeat(chosen, n),
        "strategy": pa.repeat(adapted.strategy, n),
        "encoding": pa.repeat(adapted.encoding, n),
        "n_samples": np.full(n, idx.size),
        "seed": pa.nulls(n, pa.int64()) if samples is None else np.full(n, seed),
        "created": pa.repeat(created, n),
    }, schema=PREDICTIONS)
    summary = pa.Table.from_pylist([{
        "space_id": space, "target": target, "proxy": chosen, "strategy": adapted.strategy,
        "encoding": adapted.encoding, "n_samples": int(idx.size),
        "seed": None if samples is None else seed, "loo_rmse_ms": adapted.loo_rmse,
        "proxy_only": adapted.proxy_only, "predicted": n,
        "n_rest": rest_scores["n_eval"], "srcc_rest": rest_scores["srcc"],
        "rmse_rest_ms": rest_scores["rmse_ms"],
        "mape_rest_pct": rest_scores["mape_pct"], "within10_rest": rest_scores["within10"],
    }])
    return AdaptRun(predictions, summary, scores, adapted)


def save_predictions(wh: Warehouse, predictions: pa.Table) -> None:
    """Store the predictions, replacing the stored ones of the same space and device."""
    publish(wh, PREDICTIONS_TABLE, predictions)


def predict(
    wh: Warehouse, space: str, device: str, arch_ids: list[int] | None = None,
    arch_key: str | None = None,
) -> pa.Table:
    """Latency of architectures on a device: its own measurement, else the stored prediction.

    `source` says which ("predicted", "measured", or "none" when there is neither); both
    `predicted_ms` and `measured_ms` are shown.
    """
    check_space(wh, space)
    archs = pl.from_arrow(query(wh, sql_text("queries/adapt_archs.sql"), [space]))
    archs = _select_archs(archs, space, arch_ids, arch_key)
    every = space_series(wh, space)
    series = every.unique("device_id", maintain_order=True)
    stored = wh.read_or_none(PREDICTIONS_TABLE)
    predicted = (pl.from_arrow(stored).filter((pl.col("space_id") == space)
                                              & (pl.col("device_id") == device))
                 if stored is not None else pl.DataFrame(schema=pl.from_arrow(
                     PREDICTIONS.empty_table()).schema))
    if device not in series["device_id"].to_list() and predicted.is_empty():
        raise UnknownDevice(f"device '{device}' has neither measured latency nor stored "
                            f"predictions in space {space}: run `oneproxy adapt --space {space} "
                            f"--device {device} …` or use one of "
                            f"{', '.join(series['device_id'].to_list())}"
                            f"{did_you_mean(device, series['device_id'].to_list())}")
    dataset = (device_dataset(every, space, device) if device in series["device_id"]
               else main_dataset(every))
    measured = pl.from_arrow(query(wh, sql_text("queries/adapt_latency.sql"),
                                   [space, dataset, [device]]))
    out = (
        archs.join(measured.select("arch_id", pl.col("latency_ms").alias("measured_ms")),
                   on="arch_id", how="left")
        .join(predicted.select("arch_id", "predicted_ms", "proxy", "strategy", "n_samples"),
              on="arch_id", how="left")
        .with_columns(
            latency_ms=pl.coalesce("measured_ms", "predicted_ms"),
            source=pl.when(pl.col("measured_ms").is_not_null()).then(pl.lit("measured"))
            .when(pl.col("predicted_ms").is_not_null()).then(pl.lit("predicted"))
            .otherwise(pl.lit("none")),
        )
        .select("arch_id", "arch_key", "latency_ms", "source", "predicted_ms", "measured_ms",
                "proxy", "strategy", "n_samples")
    )
    return out.to_arrow()


def predict_model(
    wh: Warehouse, model: Path, arch_ids: list[int] | None = None, arch_key: str | None = None,
    device: str | None = None,
) -> tuple[pa.Table, PredictorMeta]:
    """A saved predictor's latency of architectures of its space, beside a device's measured one.

    `device` defaults to the predictor's own device; `measured_ms` is null where it has none.
    """
    from oneproxy.analytics.predictors.files import load_predictor, predict_archs

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
