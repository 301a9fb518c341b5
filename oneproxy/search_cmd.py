"""`oneproxy search`: best architecture per device and latency budget, exhaustive or via a proxy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import polars as pl
import pyarrow as pa

from oneproxy.analytics.adaptation import STRATEGIES
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.api.features import attributes_of
from oneproxy.lookups import check_space
from oneproxy.options import output_options, save_option, space_option, warehouse_option
from oneproxy.output import render
from oneproxy.search.budgets import parse_budgets
from oneproxy.search.exhaustive import best_under_budget, pareto_front
from oneproxy.search.oneproxy import (
    ProxyEval,
    RunInfo,
    adapted_matrix,
    auto_adapted_matrix,
    evaluate_picks,
    latency_matrix,
    merge_results,
    proxy_matrix,
    search_result_table,
    summarize,
)
from oneproxy.search.plots import draw_pareto
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import OneproxyError, UnknownDevice
from oneproxy.warehouse.store import Warehouse

RESULT_TABLE = "search_result"
AUTO = "auto"
_SHORT_OPS = {
    "nor_conv_3x3": "conv3", "nor_conv_1x1": "conv1", "skip_connect": "skip",
    "avg_pool_3x3": "pool",
}


class UnknownSearchDataset(OneproxyError):
    """A dataset without accuracies for the searched space."""


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
            f"{', '.join(known.to_pylist()) or '(none: ingest nb201_acc)'}"
        )


def _choose(series: pa.Table, spec: str, proxy: str | None) -> list[str]:
    """Target devices named by `--devices` (all = every device but the proxy)."""
    known = series.column("device_id").to_pylist()
    if spec.strip() == "all":
        return [d for d in known if d != proxy]
    wanted = list(dict.fromkeys(d.strip() for d in spec.split(",") if d.strip()))
    unknown = [d for d in [*wanted, *([proxy] if proxy else [])] if d not in known]
    if unknown or not wanted:
        raise UnknownDevice(
            f"unknown device '{unknown[0] if unknown else spec}' for this space: "
            f"use 'all' or some of {', '.join(known)}"
        )
    return wanted


def _full_coverage(series: pl.DataFrame, n_archs: int) -> list[str]:
    """Candidate proxies for "auto": devices that measured every architecture of the space.

    A proxy is the well-measured device; a predictor fitted on a 1,999-architecture series
    extrapolates poorly to the rest of the space.
    """
    return series.filter(pl.col("measured") == n_archs)["device_id"].to_list()


def load_search_data(
    wh: Warehouse, space: str, dataset: str, device_spec: str, proxy: str | None
) -> SearchData:
    """Read the latency series and accuracies a search needs, as matrices."""
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
        )
    targets = _choose(series, device_spec, proxy)
    if not targets:
        raise UnknownDevice(f"no target devices left in space '{space}' besides the proxy")
    info = pl.from_arrow(series)
    archs = query(wh, sql_text("queries/search_accuracy.sql"), [space, dataset])
    pool = _full_coverage(info, archs.num_rows) if auto else [proxy] if proxy else []
    chosen = list(dict.fromkeys([*targets, *pool]))
    lat_ds = dict(zip(info["device_id"], info["latency_dataset"], strict=True))
    rows = query(wh, sql_text("queries/search_latency.sql"),
                 [space, chosen, [lat_ds[d] for d in chosen]])
    arch_ids = archs.column("arch_id").to_numpy()
    matrix = latency_matrix(rows, chosen, arch_ids)
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


def run_search(
    data: SearchData, space: str, dataset: str, budget_spec: str, proxy: str | None,
    samples: int | None, seed: int, strategy: str = "auto",
) -> tuple[pa.Table, ProxyEval | None]:
    """The `search_result` rows of one search, and the proxy evaluation when a proxy is used.

    A target is searched over the architectures it measured: predictions of the others are
    dropped, so proxy picks are judged against the target's optimum over the same candidates.
    """
    budgets = parse_budgets(budget_spec, data.true)
    if proxy is None:
        outcome = best_under_budget(data.true, data.accuracy, budgets)
        run = RunInfo(space, dataset, "exhaustive")
        evaluation = None
    else:
        if samples is None:
            predicted = proxy_matrix(data.proxy, len(data.targets))
            run = RunInfo(space, dataset, "proxy", proxy, 0)
        else:
            features = space_features(space, data.arch_keys, attributes=data.attributes)
            if proxy == AUTO:
                predicted, chosen, _ = auto_adapted_matrix(
                    features, data.candidates, data.targets, data.true, samples, seed, strategy)
                run = RunInfo(space, dataset, "adaproxy", AUTO, samples, seed, tuple(chosen))
            else:
                predicted = adapted_matrix(features, data.proxy, data.true, samples, seed,
                                           strategy)
                run = RunInfo(space, dataset, "adaproxy", proxy, samples, seed)
        predicted = np.where(np.isfinite(data.true), predicted, np.nan)
        outcome = evaluation = evaluate_picks(predicted, data.true, data.accuracy, budgets)
    table = search_result_table(run, data.targets, data.latency_datasets, budgets, data.arch_ids,
                                data.arch_keys, outcome, data.partial)
    return table, evaluation


def save_results(wh: Warehouse, table: pa.Table) -> None:
    """Store the rows in `search_result`, replacing earlier rows of the same runs and devices."""
    wh.commit({RESULT_TABLE: merge_results(wh.read_or_none(RESULT_TABLE), table)})


def _compact(table: pa.Table, with_proxy: bool) -> pa.Table:
    """The columns worth a terminal: device, budget, short arch string, accuracy, latency."""
    short = pl.col("arch_key").str.replace_all(r"~\d+", "").str.strip_chars("|")
    short = short.str.replace_all("|+|", " + ", literal=True)
    short = short.str.replace_all("|", " ", literal=True)
    for name, abbrev in _SHORT_OPS.items():
        short = short.str.replace_all(name, abbrev, literal=True)
    columns = [
        pl.col("device_id").alias("device"), pl.col("budget_ms"),
        short.fill_null("(nothing fits)").alias("arch"),
        pl.col("accuracy"), pl.col("latency_ms"),
    ]
    if with_proxy:
        columns += [pl.col("predicted_ms"), pl.col("regret"), pl.col("violation_ms")]
    return pl.from_arrow(table).select(columns).to_arrow()


def _pp(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} pp"


def _notes(data: SearchData, dataset: str, table: pa.Table, proxy: str | None) -> list[str]:
    notes = []
    partial = [d for d, p in zip(data.targets, data.partial, strict=True) if p]
    if partial:
        notes.append(
            f"partial coverage: {', '.join(partial)} measured fewer than the space's "
            f"{data.arch_ids.size:,} architectures and were searched over what they have"
        )
    other = sorted({d for d in data.latency_datasets if d != dataset})
    if other:
        notes.append(
            f"latency is measured on the {', '.join(other)} input for every device; it is "
            f"paired with {dataset} accuracy"
        )
    if proxy == AUTO:
        chosen = pl.from_arrow(table).unique("device_id", maintain_order=True)
        picks = ", ".join(f"{d} <- {p}" for d, p in zip(chosen["device_id"],
                                                         chosen["chosen_proxy"], strict=True))
        notes.append(f"proxy chosen per target by leave-one-out error of the adapted model: "
                     f"{picks}")
    if proxy is not None:
        s = summarize(table).to_pylist()[0]
        notes.append(
            f"via {proxy}: {s['judged']} of {s['picks']} picks judged, "
            f"{100 * (s['violation_share'] or 0):.1f}% of them over budget; regret of the picks "
            f"that fit: mean {_pp(s['mean_regret_fitting'])}, max {_pp(s['max_regret_fitting'])}"
            f"; {s['no_pick']} budgets without a pick, {s['unjudged']} picks the target never "
            "measured"
        )
    return notes


def _fronts(data: SearchData, evaluation: ProxyEval | None, proxy: str | None) -> dict:
    """Per target: its true front, and the proxy-derived set placed at its true latencies."""
    fronts = {}
    for t, device in enumerate(data.targets):
        if evaluation is None:
            true_idx = pareto_front(data.true[t], data.accuracy)
            fronts[f"{device} (true)"] = (data.true[t, true_idx], data.accuracy[true_idx])
            continue
        for idx, label in ((evaluation.true_fronts[t], "(true)"),
                           (evaluation.proxy_fronts[t], f"via {proxy}")):
            fronts[f"{device} {label}"] = (data.true[t, idx], data.accuracy[idx])
    return fronts


@click.command()
@space_option
@click.option("--dataset", required=True,
              help="Accuracy dataset: cifar10, cifar100 or ImageNet16-120 for nb201.")
@click.option("--devices", "device_spec", default="all", show_default=True,
              help="Target devices: 'all' or a comma list such as pixel3,fpga.")
@click.option("--budget", "budget_spec", required=True,
              help="Latency budgets: '5ms,10ms', 'q10,q50' (per-device percentiles) or "
              "'q5:q95:50' (a range of 50).")
@click.option("--proxy", default=None,
              help="Pick with this device's latencies and judge the picks on each target; "
              "'auto' (with --samples) chooses per target the device whose adapted predictor "
              "has the lowest leave-one-out error.")
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="With --proxy: adapt the proxy's linear predictor with N target samples "
              "(AdaProxy).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the target-sample draw.")
@click.option("--strategy", type=click.Choice(["auto", *STRATEGIES]), default="auto",
              show_default=True, help="With --samples: how the proxy is adapted (see "
              "`oneproxy adapt --help`); auto keeps the lowest leave-one-out error.")
@click.option("--pareto", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Draw the Pareto fronts of the target devices to FILE.png.")
@save_option(RESULT_TABLE)
@output_options
@warehouse_option
def search(wh: Warehouse, space: str, dataset: str, device_spec: str, budget_spec: str,
           proxy: str | None, samples: int | None, seed: int, strategy: str,
           pareto: Path | None, save: bool, fmt: str, output: Path | None) -> None:
    """Most accurate architecture per device under each latency budget.

    Without --proxy each device is searched with its own latencies (the optimum). With
    --proxy P the picks are made with P's latencies (or, with --samples N, AdaProxy
    predictions adapted with N target measurements) and judged on each target: regret is the
    target's optimum accuracy minus the picked one, a violation is a pick whose true latency
    exceeds the budget. NAS-Bench-201 latency is measured on the CIFAR-10 input on every
    device; a search on cifar100 or ImageNet16-120 pairs it with that dataset's accuracy.
    Devices that measured only part of the space are searched over what they have.

    \b
    Examples:
      oneproxy search --dataset cifar100 --devices pixel3,fpga --budget 5ms,10ms
      oneproxy search --dataset cifar100 --budget q5:q95:50 --proxy pixel3 --format csv
      oneproxy search --dataset cifar10 --devices raspi4 --budget 20ms --proxy pixel3 \\
          --samples 20 --seed 1 --pareto raspi4.png
      oneproxy search --dataset cifar100 --devices fpga,eyeriss --budget q10,q50 \\
          --proxy auto --samples 20
    """
    if samples is not None and proxy is None:
        raise click.UsageError("--samples adapts a proxy's predictor: give --proxy too")
    if proxy == AUTO and samples is None:
        raise click.UsageError("--proxy auto chooses by the target's samples: give --samples N")
    data = load_search_data(wh, space, dataset, device_spec, proxy)
    table, evaluation = run_search(data, space, dataset, budget_spec, proxy, samples, seed,
                                   strategy)
    if save:
        save_results(wh, table)
    if pareto is not None:
        via = f", picks via {proxy}" if proxy else ""
        draw_pareto(pareto, _fronts(data, evaluation, proxy),
                    f"{space} {dataset}: accuracy vs latency Pareto fronts{via}")
    shown = _compact(table, proxy is not None) if fmt == "table" else table
    render(shown, fmt, output, title=f"search {space} {dataset}")
    for note in _notes(data, dataset, table, proxy):
        click.echo(note, err=True)
