"""A device's state for the verify loop (its measurements, the proxies, accuracy), its adaptation
with intervals, budget-aware picks, and the architectures to measure next."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from oneproxy.analytics.adaproxy import MIN_SAMPLES
from oneproxy.analytics.adaptation import MIN_PROXY_ROWS, Adapted, ProxyModels, select_proxy_models
from oneproxy.analytics.baselines import prescreen
from oneproxy.analytics.intervals import DEFAULT_CONFIDENCE, check_confidence
from oneproxy.analytics.planning import design_matrix
from oneproxy.analytics.predictors.encodings import SpaceFeatures
from oneproxy.api.errors import NoLatency
from oneproxy.api.features import features_of
from oneproxy.api.latency import device_dataset, load_space, proxy_dataset, space_series
from oneproxy.api.proxy_cache import cached_models
from oneproxy.search.budgets import parse_budgets
from oneproxy.search.picks import MIN_GAIN_PP, pick_budgets, propose
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.store import Warehouse

PICKS = pa.schema([
    ("device_id", pa.string()), ("budget_ms", pa.float64()), ("arch_id", pa.int64()),
    ("arch_key", pa.string()), ("accuracy", pa.float64()), ("predicted_ms", pa.float64()),
    ("upper_ms", pa.float64()), ("measured_ms", pa.float64()), ("status", pa.string()),
    ("p_fit", pa.float64()),
])


class NotEnoughMeasured(OneproxyError):
    """A device with too few measurements to adapt from."""


@dataclass(frozen=True)
class DeviceState:
    """One device's measurements over a space, the proxies to adapt from, and accuracy."""

    space: str
    device: str
    dataset: str  # the device's latency dataset
    proxy_dataset: str  # the latency dataset of the proxies
    accuracy_dataset: str
    arch_ids: np.ndarray
    arch_keys: list[str]
    features: SpaceFeatures
    measured: np.ndarray  # ms per architecture, NaN where the device has no measurement
    proxies: dict[str, np.ndarray]  # device -> ms per architecture
    accuracy: np.ndarray  # % per architecture, NaN where unknown
    failed: np.ndarray  # bool per architecture: a row without latency (it did not run)

    @property
    def complete(self) -> bool:
        """The device has a row for every architecture: nothing is left to predict."""
        return bool((np.isfinite(self.measured) | self.failed).all())


def device_state(wh: Warehouse, space: str, device: str, dataset: str | None = None) -> DeviceState:
    """Read what the loop needs; the device's only dataset is found without `dataset`."""
    series = space_series(wh, space)
    latency_dataset = device_dataset(series, space, device, dataset)
    usable = series.filter(pl.col("measured") >= MIN_PROXY_ROWS)
    proxy_ds = proxy_dataset(usable, device, latency_dataset)
    proxies = usable.filter((pl.col("dataset") == proxy_ds)
                            & (pl.col("device_id") != device))["device_id"].to_list()
    target = load_space(wh, space, latency_dataset, [device])
    others = load_space(wh, space, proxy_ds, proxies)
    accuracy_dataset = dataset or latency_dataset
    acc = pl.from_arrow(query(wh, sql_text("queries/search_accuracy.sql"),
                              [space, accuracy_dataset]))
    accuracy = acc["accuracy"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    if not np.isfinite(accuracy).any():
        raise NoLatency(f"space {space} has no test accuracy for dataset '{accuracy_dataset}': "
                        "choose one with --dataset")
    return DeviceState(space, device, latency_dataset, proxy_ds, accuracy_dataset,
                       target.arch_ids, target.arch_keys,
                       features_of(wh, space, target.arch_keys),
                       target.latency[0], dict(zip(proxies, others.latency, strict=True)),
                       accuracy, target.has_row[0] & ~np.isfinite(target.latency[0]))


def adapt_device(state: DeviceState, confidence: float = DEFAULT_CONFIDENCE,
                 strategy: str = "auto", wh: Warehouse | None = None) -> tuple[str, Adapted]:
    """The chosen proxy and the adaptation of every architecture from the device's measurements.

    With `wh`, the proxies' fits are read from (and stored in) its folder
    (`oneproxy.api.proxy_cache`).
    """
    check_confidence(confidence)
    idx = np.flatnonzero(np.isfinite(state.measured))
    if idx.size < MIN_SAMPLES:
        raise NotEnoughMeasured(
            f"device '{state.device}' measured {idx.size} architectures of {state.space}: adapt "
            f"needs at least {MIN_SAMPLES} (see `oneproxy plan`)")
    leading = {name: state.proxies[name]
               for name in prescreen(state.proxies, idx, state.measured[idx])}
    models = ({name: ProxyModels.of(state.features, row) for name, row in leading.items()}
              if wh is None else cached_models(wh, state.space, state.proxy_dataset,
                                               state.features, state.arch_ids, leading))
    name, adapted, _ = select_proxy_models(models, idx, state.measured[idx], strategy=strategy,
                                           confidence=confidence)
    return name, adapted


def propose_measurements(wh: Warehouse, space: str, device: str, budgets: str, *,
                         dataset: str | None = None, per_budget: int = 3,
                         confidence: float = DEFAULT_CONFIDENCE,
                         min_gain: float = MIN_GAIN_PP) -> pa.Table:
    """The architectures to measure next on `device` (arch_id, arch_key, reason); none when no
    candidate is expected to gain `min_gain` pp over a budget's verified pick."""
    state = device_state(wh, space, device, dataset)
    _, adapted = adapt_device(state, confidence, wh=wh)
    b = parse_budgets(budgets, adapted.predicted[None, :])[0]
    todo = propose(state.accuracy, adapted.predicted, state.measured, b, adapted.p_fit,
                   per_budget=per_budget, design=design_matrix(state.features),
                   excluded=state.failed, min_gain=min_gain)
    rows = [i for i, _ in todo]
    return pa.table({
        "arch_id": pa.array(state.arch_ids[rows].astype(np.int64), pa.int64()),
        "arch_key": pa.array([state.arch_keys[i] for i in rows], pa.string()),
        "reason": pa.array([reason for _, reason in todo], pa.string()),
    })


def search_picks(state: DeviceState, adapted: Adapted | None, budgets: np.ndarray, *,
                 verified_only: bool = False) -> pa.Table:
    """Budget-aware picks of one device: the columns `search --confidence` shows. Without
    `adapted` (a `complete` device) the picks are made on its measurements alone; an
    architecture that failed on the device is never picked."""
    if adapted is None:
        predicted = upper = state.measured

        def p_fit(budget: float) -> np.ndarray:
            return (state.measured <= budget).astype(np.float64)
    else:
        predicted, upper, p_fit = adapted.predicted, adapted.upper, adapted.p_fit
    upper = np.where(state.failed, np.inf, upper)
    picks = pick_budgets(state.accuracy, predicted, upper, state.measured, budgets, p_fit,
                         verified_only=verified_only)
    made = picks.arch >= 0
    at = np.maximum(picks.arch, 0)

    def col(values: np.ndarray) -> list:
        return [float(v) if ok and np.isfinite(v) else None
                for v, ok in zip(values[at], made, strict=True)]

    return pa.table({
        "device_id": [state.device] * picks.budget.size,
        "budget_ms": picks.budget.tolist(),
        "arch_id": np.where(made, state.arch_ids[at], None).tolist(),
        "arch_key": [state.arch_keys[i] if ok else None for i, ok in zip(at, made, strict=True)],
        "accuracy": col(state.accuracy),
        "predicted_ms": col(predicted),
        "upper_ms": col(upper),
        "measured_ms": col(state.measured),
        "status": picks.status.tolist(),
        "p_fit": [None if np.isnan(p) else float(p) for p in picks.p_fit],
    }, schema=PICKS)
