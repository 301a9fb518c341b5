"""One-proxy search: pick architectures with predicted latencies, judge the picks on the target.

A target's picks are made by `best_under_budget` on predicted latencies (a proxy device's raw
latencies, or AdaProxy predictions adapted with a few target samples; with a confidence C, the
upper ends of the adapted intervals at C, the samples at their measured latency: the calibrated
picks of `search --confidence`, method ``adaproxy@C``) and judged with the target's true
latencies: the regret is the target's own optimum accuracy minus the picked one,
and a pick violates its budget when its true latency exceeds the budget. A pick the target never
measured cannot be judged: its regret and violation are NaN / null and `judged` is False.

NAS-Bench-201 latencies are measured on the CIFAR-10 input for every device, so a search on
CIFAR-100 or ImageNet16-120 pairs each device's CIFAR-10 latency with that dataset's accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
from oneproxy.analytics.adaptation import Adapted, ProxyModels, select_proxy_models
from oneproxy.analytics.evaluate import draw_samples
from oneproxy.analytics.intervals import CALIBRATED, DEFAULT_CONFIDENCE
from oneproxy.analytics.predictors.encodings import SpaceFeatures
from oneproxy.search.exhaustive import (
    NO_FIT,
    BestPicks,
    best_under_budget,
    pareto_front,
    pareto_overlap,
)
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.schemas import SEARCH_RESULT

METHODS = ("exhaustive", "proxy", "adaproxy")



class BadSearchInput(OneproxyError, ValueError):
    """Latency / accuracy matrices, budgets or sample counts the search cannot use."""


@dataclass(frozen=True)
class ProxyEval:
    """Picks made with predicted latencies, judged on each target: n_targets x n_budgets arrays.

    Pareto fields and n_searched are per target (n_targets).
    """

    pick: np.ndarray  # int64 arch index chosen with predictions, NO_FIT when none fits them
    pick_accuracy: np.ndarray  # float64, NaN without a pick
    pick_predicted_ms: np.ndarray  # float64, the predicted latency of the pick
    pick_latency_ms: np.ndarray  # float64, the target's true latency of the pick, NaN if unknown
    judged: np.ndarray  # bool, a pick exists and the target measured it
    optimum: np.ndarray  # int64, the target's own best under the budget (true latencies)
    optimum_accuracy: np.ndarray  # float64, NaN when nothing fits on the target
    optimum_latency_ms: np.ndarray  # float64
    regret: np.ndarray  # float64 optimum − pick accuracy (points); NaN unless judged and optimum
    violation: np.ndarray  # bool, judged and true latency > budget
    violation_ms: np.ndarray  # float64 max(true latency − budget, 0); NaN unless judged
    violation_pct: np.ndarray  # float64 violation_ms as % of the budget; NaN unless judged
    pareto_overlap: np.ndarray  # float64 Jaccard of the proxy-derived and the true Pareto sets
    proxy_fronts: tuple[np.ndarray, ...]  # per target, arch indices of the front on predictions
    true_fronts: tuple[np.ndarray, ...]  # per target, arch indices of the true front
    n_searched: np.ndarray  # int64, candidates with a prediction and an accuracy


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[t, index[t, b]] per target and budget, NaN where index is NO_FIT."""
    taken = np.take_along_axis(values, np.maximum(index, 0), axis=1)
    return np.where(index == NO_FIT, np.nan, taken)


def _check_matrices(predicted: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(predicted, dtype=np.float64)
    tru = np.asarray(true, dtype=np.float64)
    if pred.ndim != 2 or pred.shape != tru.shape:
        raise BadSearchInput(
            f"predicted and true latency must be n_targets x n_archs of the same shape, "
            f"got {pred.shape} and {tru.shape}"
        )
    return pred, tru


def evaluate_picks(
    predicted: np.ndarray, true: np.ndarray, accuracy: np.ndarray, budgets: np.ndarray,
    best_of: Callable[..., BestPicks] = best_under_budget,
) -> ProxyEval:
    """Pick with `predicted` latencies, judge with `true` ones (both n_targets x n_archs, NaN =
    unknown); accuracy is n_archs or n_targets x n_archs, budgets n_budgets or per target.
    `best_of` is `best_under_budget` or one with the same picks (e.g. over partitions)."""
    pred, tru = _check_matrices(predicted, true)
    acc = np.broadcast_to(np.asarray(accuracy, dtype=np.float64), pred.shape)
    picks = best_of(pred, acc, budgets)
    best = best_of(tru, acc, budgets)
    b = np.broadcast_to(np.asarray(budgets, dtype=np.float64), picks.arch_index.shape)
    pick_true = _take(tru, picks.arch_index)
    judged = np.isfinite(pick_true)
    over = np.where(judged, np.maximum(pick_true - b, 0.0), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        over_pct = 100.0 * over / b
    true_fronts = tuple(pareto_front(row, a) for row, a in zip(tru, acc, strict=True))
    proxy_fronts = tuple(pareto_front(row, a) for row, a in zip(pred, acc, strict=True))
    return ProxyEval(
        pick=picks.arch_index,
        pick_accuracy=picks.accuracy,
        pick_predicted_ms=picks.latency,
        pick_latency_ms=pick_true,
        judged=judged,
        optimum=best.arch_index,
        optimum_accuracy=best.accuracy,
        optimum_latency_ms=best.latency,
        regret=np.where(judged, best.accuracy - picks.accuracy, np.nan),
        violation=judged & (over > 0),
        violation_ms=over,
        violation_pct=over_pct,
        pareto_overlap=np.array(
            [pareto_overlap(p, t) for p, t in zip(proxy_fronts, true_fronts, strict=True)]
        ),
        proxy_fronts=proxy_fronts,
        true_fronts=true_fronts,
        n_searched=picks.n_searched,
    )


def proxy_matrix(proxy_latency: np.ndarray, n_targets: int) -> np.ndarray:
    """The proxy's raw latencies as every target's prediction: n_targets x n_archs (read-only)."""
    lat = np.asarray(proxy_latency, dtype=np.float64)
    if lat.ndim != 1:
        raise BadSearchInput(f"proxy latency must be one row of n_archs, got shape {lat.shape}")
    return np.broadcast_to(lat, (n_targets, lat.size))


def _adaptation_inputs(features: SpaceFeatures, proxies: dict[str, np.ndarray],
                       true: np.ndarray) -> np.ndarray:
    tru = np.atleast_2d(np.asarray(true, dtype=np.float64))
    for name, latency in proxies.items():
        if features.n_archs != np.size(latency) or tru.shape[1] != np.size(latency):
            raise BadSearchInput(
                f"features ({features.n_archs} rows), proxy {name} latency ({np.size(latency)}) "
                f"and target latency ({tru.shape[1]} columns) must cover the same architectures"
            )
    return tru


def _target_samples(true: np.ndarray, n_samples: int, seed: int) -> list[np.ndarray]:
    """Per target, `n_samples` of its measured architectures (`analytics.evaluate.draw_samples`
    with the same seed for every target, so a target's samples do not depend on the others)."""
    return [draw_samples(np.flatnonzero(np.isfinite(row)), n_samples, seed) for row in true]


def calibrated_method(confidence: float) -> str:
    """The `search_result` method of picks by the upper bound at `confidence`."""
    return f"{CALIBRATED}{confidence:g}"


def _is_calibrated(method: str) -> bool:
    try:
        return method.startswith(CALIBRATED) and 0 < float(method[len(CALIBRATED):]) < 1
    except ValueError:
        return False


def _pick_latency(adapted: Adapted, row: np.ndarray, sample: np.ndarray,
                  confidence: float | None) -> np.ndarray:
    """What a target's picks are made on: the adapted prediction, or with `confidence` the
    interval's upper end where the target did not measure and its measurement where it did."""
    if confidence is None:
        return adapted.predicted
    latency = adapted.upper.copy()
    latency[sample] = row[sample]
    return latency


def adapted_matrix(
    features: SpaceFeatures,
    proxy_latency: np.ndarray,
    true: np.ndarray,
    n_samples: int,
    seed: int,
    strategy: str = "auto",
    confidence: float | None = None,
) -> np.ndarray:
    """AdaProxy predictions, n_targets x n_archs: the proxy's predictors (see
    `analytics.adaptation`) adapted per target with `n_samples` of its measured latencies drawn
    without replacement by a generator seeded with `seed` (with `confidence`, the upper ends of
    the intervals and the samples' own latencies: see `_pick_latency`)."""
    tru = _adaptation_inputs(features, {"proxy": proxy_latency}, true)
    models = ProxyModels.of(features, proxy_latency)
    samples = _target_samples(tru, n_samples, seed)
    level = DEFAULT_CONFIDENCE if confidence is None else confidence
    return np.stack([_pick_latency(models.adapt(s, row[s], strategy=strategy, confidence=level),
                                   row, s, confidence)
                     for row, s in zip(tru, samples, strict=True)])


def auto_adapted_matrix(
    features: SpaceFeatures,
    proxies: dict[str, np.ndarray],
    targets: Sequence[str],
    true: np.ndarray,
    n_samples: int,
    seed: int,
    strategy: str = "auto",
    confidence: float | None = None,
) -> tuple[np.ndarray, list[str], list[dict[str, float]]]:
    """AdaProxy predictions with the proxy chosen per target (`proxy="auto"`).

    Every candidate in `proxies` (device → latency row) except the target itself is fitted once;
    per target `select_proxy_models` chooses among them on the target's samples. Returns the
    predictions (with `confidence`, as in `adapted_matrix`), the chosen proxy of each target and
    every candidate's least LOO RMSE (ms) per target.
    """
    tru = _adaptation_inputs(features, proxies, true)
    models = {name: ProxyModels.of(features, latency) for name, latency in proxies.items()}
    predicted, chosen, scores = [], [], []
    for target, row, s in zip(targets, tru, _target_samples(tru, n_samples, seed), strict=True):
        candidates = {name: model for name, model in models.items() if name != target}
        if not candidates:
            raise BadSearchInput(f"no candidate proxy for target {target} besides itself")
        name, adapted, score = select_proxy_models(
            candidates, s, row[s], strategy=strategy,
            confidence=DEFAULT_CONFIDENCE if confidence is None else confidence)
        predicted.append(_pick_latency(adapted, row, s, confidence))
        chosen.append(name)
        scores.append(score)
    return np.stack(predicted), chosen, scores


def _column(values: np.ndarray, fill: object = None) -> list:
    """Python values of an array, NaN as `fill`."""
    flat = np.asarray(values).ravel()
    if flat.dtype.kind == "f":
        return [fill if np.isnan(v) else float(v) for v in flat]
    return flat.tolist()


@dataclass(frozen=True)
class RunInfo:
    """What identifies a search run in `search_result`."""

    space_id: str
    dataset: str
    method: str
    proxy: str | None = None
    n_samples: int | None = None
    seed: int | None = None
    chosen: tuple[str, ...] = ()
    """With proxy "auto": the proxy chosen for each device, in device order."""


def search_result_table(
    run: RunInfo,
    devices: Sequence[str],
    latency_datasets: Sequence[str],
    budgets: np.ndarray,
    arch_ids: np.ndarray,
    arch_keys: Sequence[str],
    outcome: BestPicks | ProxyEval,
    partial_coverage: np.ndarray,
) -> pa.Table:
    """One `search_result` row per device and budget (budgets: n_devices x n_budgets).

    Exhaustive outcomes (`BestPicks`) have null regret and violation; a `ProxyEval` gives the
    target's true latency of the pick and its judgement. arch_id is null when nothing fits.
    """
    if run.method not in METHODS and not _is_calibrated(run.method):
        raise BadSearchInput(f"method must be one of {', '.join(METHODS)} or "
                             f"{CALIBRATED}<confidence>, got {run.method!r}")
    b = np.asarray(budgets, dtype=np.float64)
    n_dev, n_bud = b.shape
    if isinstance(outcome, ProxyEval):
        index, accuracy = outcome.pick, outcome.pick_accuracy
        latency, predicted = outcome.pick_latency_ms, outcome.pick_predicted_ms
        regret, over, over_pct = outcome.regret, outcome.violation_ms, outcome.violation_pct
        violation = np.where(outcome.judged, outcome.violation, None)
    else:
        index, accuracy, latency = outcome.arch_index, outcome.accuracy, outcome.latency
        predicted = regret = over = over_pct = np.full(b.shape, np.nan)
        violation = np.full(b.shape, None)
    keys = np.asarray(arch_keys, dtype=object)
    picked = index.ravel() != NO_FIT
    flat_index = np.maximum(index.ravel(), 0)
    repeat = np.repeat(np.arange(n_dev), n_bud)
    columns = {
        "space_id": [run.space_id] * b.size,
        "dataset": [run.dataset] * b.size,
        "latency_dataset": np.asarray(latency_datasets, dtype=object)[repeat].tolist(),
        "device_id": np.asarray(devices, dtype=object)[repeat].tolist(),
        "budget_ms": _column(b),
        "arch_id": np.where(picked, np.asarray(arch_ids)[flat_index], None).tolist(),
        "arch_key": np.where(picked, keys[flat_index], None).tolist(),
        "accuracy": _column(accuracy),
        "latency_ms": _column(latency),
        "predicted_ms": _column(predicted),
        "method": [run.method] * b.size,
        "proxy": [run.proxy] * b.size,
        "chosen_proxy": (np.asarray(run.chosen, dtype=object)[repeat].tolist() if run.chosen
                         else [run.proxy] * b.size),
        "n_samples": [run.n_samples] * b.size,
        "seed": [run.seed] * b.size,
        "regret": _column(regret),
        "violation": violation.ravel().tolist(),
        "violation_ms": _column(over),
        "violation_pct": _column(over_pct),
        "partial_coverage": np.asarray(partial_coverage, dtype=bool)[repeat].tolist(),
        "n_searched": np.asarray(outcome.n_searched, dtype=np.int64)[repeat].tolist(),
    }
    return pa.table(columns, schema=SEARCH_RESULT)


def summarize(results: pa.Table) -> pa.Table:
    """Per run (dataset, method, proxy, n_samples): picks, judged picks, violation share among
    them, and regret of the judged picks that fit (mean_regret also counts violating picks)."""
    judged = pl.col("violation").is_not_null()
    fitting = pl.col("regret").filter(~pl.col("violation"))
    return (
        pl.from_arrow(results)
        .group_by("dataset", "method", "proxy", "n_samples", maintain_order=True)
        .agg(
            targets=pl.col("device_id").n_unique(),
            picks=pl.len(),
            judged=judged.sum(),
            no_pick=pl.col("arch_id").is_null().sum(),
            unjudged=(pl.col("arch_id").is_not_null() & ~judged).sum(),
            violation_share=pl.col("violation").cast(pl.Float64).mean(),
            mean_violation_pct=pl.col("violation_pct").filter(pl.col("violation")).mean(),
            mean_regret_fitting=fitting.mean(),
            median_regret_fitting=fitting.median(),
            max_regret_fitting=fitting.max(),
            mean_regret=pl.col("regret").mean(),
        )
        .to_arrow()
    )
