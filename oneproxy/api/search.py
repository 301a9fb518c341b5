"""Hardware-aware search on the warehouse: the most accurate architecture per device and latency
budget, exhaustive on each device's latency or through a proxy (raw or AdaProxy)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from oneproxy.analytics.intervals import DEFAULT_CONFIDENCE
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.api.errors import UnknownSearchDataset
from oneproxy.api.features import attributes_of
from oneproxy.api.latency import device_dataset, load_space, space_archs, space_series
from oneproxy.api.names import SEARCH_TABLE
from oneproxy.api.propose import adapt_device, device_state, search_picks
from oneproxy.api.warehouse import check_space
from oneproxy.scale.engine import Engine
from oneproxy.scale.search import partitioned_best
from oneproxy.search.budgets import BudgetSpec, parse_budget_spec, resolve_budgets
from oneproxy.search.exhaustive import best_under_budget
from oneproxy.search.oneproxy import (
    BadSearchInput,
    ProxyEval,
    RunInfo,
    adapted_matrix,
    auto_adapted_matrix,
    calibrated_method,
    evaluate_picks,
    proxy_matrix,
    search_result_table,
)
from oneproxy.search.proxy_choice import AUTO, full_coverage
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import UnknownDevice
from oneproxy.warehouse.names import did_you_mean
from oneproxy.warehouse.store import Warehouse
from oneproxy.warehouse.tables import publish

RESULT_TABLE = SEARCH_TABLE


@dataclass(frozen=True)
class SearchData:
    """Matrices of one search: targets' true latency, the proxy's, and the space's accuracies."""

    targets: list[str]
    latency_datasets: list[str]
    true: np.ndarray  # n_targets x n_archs ms
    proxy: np.ndarray | None  # n_archs ms
    candidates: dict[str, np.ndarray]  # with proxy "auto": every device's latency row
    arch_ids: np.ndarray
    arch_keys: list[str]
    accuracy: np.ndarray  # n_archs %
    partial: np.ndarray  # per target: fewer rows than the space has architectures
    attributes: dict[str, np.ndarray] | None = None  # measured attributes the encodings read


def _check_dataset(wh: Warehouse, space: str, dataset: str) -> None:
    known = query(wh, sql_text("queries/search_datasets.sql"), [space]).column("dataset")
    if dataset not in known.to_pylist():
        raise UnknownSearchDataset(
            f"no test accuracies for dataset '{dataset}' in space '{space}': use one of "
            f"{', '.join(known.to_pylist()) or '(none: no ingested source has accuracies for it)'}"
        )


def _choose(series: pa.Table, devices: list[str] | None, proxy: str | None) -> list[str]:
    """The target devices (None = every device but the proxy)."""
    known = series.column("device_id").to_pylist()
    if devices is None:
        return [d for d in known if d != proxy]
    wanted = list(dict.fromkeys(devices))
    unknown = [d for d in [*wanted, *([proxy] if proxy else [])] if d not in known]
    if unknown or not wanted:
        raise UnknownDevice(
            f"unknown device '{unknown[0] if unknown else ''}' for this space: "
            f"use 'all' or some of {', '.join(known)}"
            f"{did_you_mean(unknown[0], known) if unknown else ''}"
        )
    return wanted


def load_search_data(
    wh: Warehouse, space: str, dataset: str, devices: list[str] | None, proxy: str | None
) -> SearchData:
    """Read the latency series and accuracies a search needs, as matrices.

    `devices` None: every device of the space but the proxy.
    """
    check_space(wh, space)
    _check_dataset(wh, space, dataset)
    series = query(wh, sql_text("queries/search_series.sql"), [space, dataset])
    auto = proxy == AUTO
    if auto:
        proxy = None
    if proxy is not None and proxy not in series.column("device_id").to_pylist():
        raise UnknownDevice(
            f"unknown proxy device '{proxy}' for space '{space}': use one of "
            f"{', '.join(series.column('device_id').to_pylist())}"
            f"{did_you_mean(proxy, series.column('device_id').to_pylist())}"
        )
    targets = _choose(series, devices, proxy)
    if not targets:
        raise UnknownDevice(f"no target devices left in space '{space}' besides the proxy")
    info = pl.from_arrow(series)
    archs = query(wh, sql_text("queries/search_accuracy.sql"), [space, dataset])
    pool = full_coverage(info, archs.num_rows) if auto else [proxy] if proxy else []
    chosen = list(dict.fromkeys([*targets, *pool]))
    lat_ds = dict(zip(info["device_id"], info["latency_dataset"], strict=True))
    arch_ids = archs.column("arch_id").to_numpy()
    matrix = load_space(wh, space, [lat_ds[d] for d in chosen], chosen).latency
    size = dict(zip(info["device_id"], info["architectures"], strict=True))
    return SearchData(
        targets=targets,
        latency_datasets=[lat_ds[d] for d in targets],
        true=matrix[: len(targets)],
        proxy=matrix[chosen.index(proxy)] if proxy else None,
        candidates={d: matrix[chosen.index(d)] for d in pool} if auto else {},
        arch_ids=arch_ids,
        arch_keys=archs.column("arch_key").to_pylist(),
        accuracy=archs.column("accuracy").to_numpy(zero_copy_only=False).astype(np.float64),
        partial=np.array([size[d] < arch_ids.size for d in targets]),
        attributes=attributes_of(wh, space, archs.column("arch_key").to_pylist()),
    )


def thin_targets(data: SearchData, samples: int, proxy: str | None = None) -> list[str]:
    """The targets (but `proxy`) that measured fewer than 2 × `samples` architectures: too few
    to draw AdaProxy samples from and judge the picks on the rest."""
    measured = np.isfinite(data.true).sum(axis=1)
    return [d for d, m in zip(data.targets, measured, strict=True)
            if d != proxy and m < 2 * samples]


def drop_targets(data: SearchData, drop: list[str]) -> SearchData:
    """The search data without these targets."""
    keep = [i for i, d in enumerate(data.targets) if d not in set(drop)]
    return dataclasses.replace(
        data, targets=[data.targets[i] for i in keep],
        latency_datasets=[data.latency_datasets[i] for i in keep], true=data.true[keep],
        partial=data.partial[keep])


def run_search(
    data: SearchData, space: str, dataset: str, budgets: BudgetSpec, proxy: str | None,
    samples: int | None, seed: int, strategy: str = AUTO, engine: Engine | None = None,
    confidence: float | None = None,
) -> tuple[pa.Table, ProxyEval | None]:
    """The `search_result` rows of one search, and the proxy evaluation when a proxy is used.

    A target is searched over the architectures it measured: predictions of the others are
    dropped, so proxy picks are judged against the target's optimum over the same candidates.
    With `samples` and a `confidence`, the AdaProxy picks are made on the upper ends of the
    intervals at that confidence (method `adaproxy@C`, see `search.oneproxy`). With a
    distributed `engine` the picks are made per architecture partition (`oneproxy.scale.search`).
    """
    ms = resolve_budgets(budgets, data.true)
    best_of = (partitioned_best(engine) if engine is not None and engine.distributed
               else best_under_budget)
    if proxy is None:
        outcome = best_of(data.true, data.accuracy, ms)
        run = RunInfo(space, dataset, "exhaustive")
        evaluation = None
    else:
        if samples is None:
            predicted = proxy_matrix(data.proxy, len(data.targets))
            run = RunInfo(space, dataset, "proxy", proxy, 0)
        else:
            features = space_features(space, data.arch_keys, attributes=data.attributes)
            method = "adaproxy" if confidence is None else calibrated_method(confidence)
            if proxy == AUTO:
                predicted, chosen, _ = auto_adapted_matrix(
                    features, data.candidates, data.targets, data.true, samples, seed, strategy,
                    confidence)
                run = RunInfo(space, dataset, method, AUTO, samples, seed, tuple(chosen))
            else:
                predicted = adapted_matrix(features, data.proxy, data.true, samples, seed,
                                           strategy, confidence)
                run = RunInfo(space, dataset, method, proxy, samples, seed)
        predicted = np.where(np.isfinite(data.true), predicted, np.nan)
        outcome = evaluation = evaluate_picks(predicted, data.true, data.accuracy, ms, best_of)
    table = search_result_table(run, data.targets, data.latency_datasets, ms, data.arch_ids,
                                data.arch_keys, outcome, data.partial)
    return table, evaluation


def save_results(wh: Warehouse, table: pa.Table) -> None:
    """Store the rows in `search_result`, replacing earlier rows of the same runs and devices."""
    publish(wh, RESULT_TABLE, table)


@dataclass(frozen=True)
class SearchOutcome:
    """One search: the matrices it read, its `search_result` rows, and the proxy evaluation."""

    data: SearchData
    table: pa.Table
    evaluation: ProxyEval | None
    thin: tuple[str, ...] = ()
    """Targets left out: too few measurements for `samples` (see `thin_targets`)."""


def search_dataset(wh: Warehouse, space: str, dataset: str | None,
                   devices: list[str] | None = None) -> str:
    """`dataset`, else the space's only dataset with test accuracies, else the one latency
    dataset the named `devices` were imported with when it has accuracies (an error names
    them)."""
    check_space(wh, space)
    if dataset is not None:
        _check_dataset(wh, space, dataset)
        return dataset
    known = query(wh, sql_text("queries/search_datasets.sql"), [space]).column("dataset")
    known = known.to_pylist()
    if len(known) != 1 and devices:  # one series per device, all on one dataset
        mine = space_series(wh, space).filter(pl.col("device_id").is_in(devices))
        if mine.height == len(set(devices)) and mine["dataset"].n_unique() == 1 \
                and mine["dataset"][0] in known:
            return mine["dataset"][0]
    if len(known) != 1:
        raise UnknownSearchDataset(
            f"space '{space}' has test accuracies for {', '.join(known) or 'no dataset'}: "
            "choose one with --dataset")
    return known[0]


def partial_devices(wh: Warehouse, space: str, devices: list[str]) -> list[str]:
    """The `devices` without a latency row for every architecture of the space (on the dataset
    `device_dataset` reads them on): those `search` picks for on their predictions."""
    series = space_series(wh, space)
    n_archs = space_archs(wh, space).num_rows
    partial = []
    for device in devices:
        if device not in series["device_id"]:
            continue  # the search names the unknown device in its own error
        mine = series.filter((pl.col("device_id") == device)
                             & (pl.col("dataset") == device_dataset(series, space, device)))
        if mine["rows"][0] < n_archs:
            partial.append(device)
    return partial


def search_predicted(wh: Warehouse, space: str, dataset: str, devices: list[str],
                     budgets: BudgetSpec | str, *, confidence: float = DEFAULT_CONFIDENCE,
                     verified_only: bool = False) -> pa.Table:
    """Budget-aware picks of devices that measured only some architectures (issue 13's loop).

    Each device is adapted now from every architecture it measured (its measurement always
    wins over a prediction; a device with a row for every architecture is not adapted), with
    intervals at `confidence`; per budget the most accurate
    architecture measured within it (`verified`) or whose upper bound is within it (`likely`)
    is picked, with the estimated probability it fits; `verified_only` keeps verified picks.
    """
    spec = parse_budget_spec(budgets) if isinstance(budgets, str) else budgets
    parts = []
    for device in devices:
        state = device_state(wh, space, device, dataset)
        adapted = None if state.complete else adapt_device(state, confidence, wh=wh)[1]
        known = (state.measured if adapted is None
                 else np.where(np.isfinite(state.measured), state.measured, adapted.predicted))
        ms = resolve_budgets(spec, known[None, :])[0]
        parts.append(search_picks(state, adapted, ms, verified_only=verified_only))
    return pa.concat_tables(parts)


def search(
    wh: Warehouse,
    space: str,
    dataset: str | None,
    budgets: BudgetSpec | str,
    *,
    devices: list[str] | None = None,
    proxy: str | None = None,
    samples: int | None = None,
    seed: int = 0,
    strategy: str = AUTO,
    engine: Engine | None = None,
    confidence: float | None = None,
    measured_only: bool = False,
) -> SearchOutcome:
    """Most accurate architecture per device under each budget, searched on the device's own
    latency (no `proxy`), on a proxy's (`proxy`), or on AdaProxy predictions adapted with
    `samples` target measurements (`proxy` a device or "auto"; with `confidence`, on the upper
    ends of their intervals at that confidence).

    Named `devices` that measured only part of the space are an error without a proxy (their
    optimum over what they measured is not an answer to ship): `search_predicted` picks on
    their predictions, `measured_only=True` searches what they measured."""
    if proxy is None and devices is not None and not measured_only:
        partial = partial_devices(wh, space, devices)
        if partial:
            raise BadSearchInput(
                f"{', '.join(partial)} measured only part of {space}: search_predicted picks on "
                "their adapted predictions; measured_only=True searches what they measured")
    if samples is not None and proxy is None:
        raise BadSearchInput("samples adapt a proxy's predictor: give a proxy too")
    if confidence is not None and samples is None:
        raise BadSearchInput("a confidence picks on adapted intervals: give a proxy and samples")
    if proxy == AUTO and samples is None:
        raise BadSearchInput("proxy 'auto' chooses by the target's samples: give samples")
    spec = parse_budget_spec(budgets) if isinstance(budgets, str) else budgets
    dataset = search_dataset(wh, space, dataset, devices)
    data = load_search_data(wh, space, dataset, devices, proxy)
    thin = thin_targets(data, samples, proxy) if samples is not None else []
    if thin and len(thin) == len(data.targets):
        raise BadSearchInput(
            f"every target measured fewer than {2 * samples} architectures ({', '.join(thin)}): "
            f"too few to draw {samples} samples and judge the picks on the rest; lower --samples")
    data = drop_targets(data, thin)
    table, evaluation = run_search(data, space, dataset, spec, proxy, samples, seed, strategy,
                                   engine, confidence)
    return SearchOutcome(data, table, evaluation, tuple(thin))
