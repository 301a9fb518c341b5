"""Benchmark: vectorized exhaustive search against a per-budget mask loop and a pure Python loop.

Every (device, dataset) row of NAS-Bench-201 latencies is searched under every budget. By
default the inputs are generated (seeded) at the real shape: 45 devices x 15,625 architectures
x 3 datasets x 1,000 budgets; `--warehouse DIR` reads the `latency` and `accuracy` views of
DIR/catalog.duckdb instead. Run from the repository root as a module, since a script named
search.py would shadow the `search` package: python -m bench.search [--warehouse DIR]
"""

import time
from pathlib import Path

import click
import numpy as np
from oneproxy.search.budgets import parse_budgets
from oneproxy.search.exhaustive import NO_FIT, best_under_budget

from bench.common import best_time, read

NB201_ARCHS = 15_625
NB201_OPS = 5  # none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3
NB201_EDGES = 6
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def generated_inputs(
    n_devices: int, seed: int
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Row labels, latency (rows x archs, ms, NaN = failed) and accuracy (rows x archs, %)."""
    rng = np.random.default_rng(seed)
    arch = np.arange(NB201_ARCHS)
    ops = (arch[:, None] // NB201_OPS ** np.arange(NB201_EDGES)) % NB201_OPS
    op_counts = np.stack([(ops == op).sum(axis=1) for op in range(NB201_OPS)], axis=1)
    op_cost = np.array([0.0, 0.05, 0.4, 1.0, 0.3])  # relative cost of one cell edge per op
    labels, latency, accuracy = [], [], []
    acc_level = {"cifar10": 93.0, "cifar100": 70.0, "ImageNet16-120": 45.0}
    acc_gain = np.array([-6.0, 0.5, 1.0, 2.0, 0.2])  # accuracy points per edge of each op
    for d_i, dataset in enumerate(DATASETS):
        quality = op_counts @ acc_gain + rng.normal(0.0, 1.5, NB201_ARCHS)
        acc = np.clip(acc_level[dataset] + quality - quality.max(), 10.0, 100.0).round(2)
        resolution = 0.35 if dataset == "ImageNet16-120" else 1.0
        for device in range(n_devices):
            per_op = op_cost * rng.lognormal(0.0, 0.4, NB201_OPS)
            base = rng.uniform(0.5, 20.0)
            lat = base * (1.0 + resolution * (op_counts @ per_op))
            lat *= rng.lognormal(0.0, 0.05, NB201_ARCHS)
            lat = lat.round(3)  # 1 microsecond timer resolution, so latencies tie
            if device % 9 == 0:  # partial coverage, like EdgeTPU models that did not compile
                lat[rng.random(NB201_ARCHS) < 0.1 * (1 + d_i)] = np.nan
            labels.append(f"{dataset}/device{device:02d}")
            latency.append(lat)
            accuracy.append(acc)
    return labels, np.vstack(latency), np.vstack(accuracy)


def warehouse_inputs(
    warehouse: Path, metric: str | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The same arrays from DIR/catalog.duckdb: one row per (accuracy dataset, device) of nb201.

    NAS-Bench-201 latency is measured on the CIFAR-10 input on every device, so each device's
    series is searched under each dataset's accuracies, as `oneproxy search` does.
    """
    metrics = read(warehouse, "SELECT DISTINCT metric FROM accuracy WHERE space_id = 'nb201' "
                   "ORDER BY metric")["metric"].to_list()
    if metric is None and len(metrics) != 1:
        raise click.ClickException(f"pick one accuracy metric with --metric: {metrics}")
    metric = metric or metrics[0]
    if metric not in metrics:
        raise click.ClickException(f"metric {metric!r} not in the warehouse: {metrics}")
    lat = read(warehouse, "SELECT device_id, arch_id, latency_ms FROM latency "
               "WHERE space_id = 'nb201' AND dataset = 'cifar10'")
    acc = read(warehouse, "SELECT dataset, arch_id, value FROM accuracy "
               "WHERE space_id = 'nb201' AND metric = ?", [metric])
    if lat.height == 0:
        raise click.ClickException(f"no nb201 latency in {warehouse}")
    acc_dataset = acc["dataset"].to_numpy()
    datasets, ds_code = np.unique(acc_dataset, return_inverse=True)
    acc_by_dataset = np.full((datasets.size, NB201_ARCHS), np.nan)
    acc_by_dataset[ds_code, acc["arch_id"].to_numpy()] = acc["value"].to_numpy()
    devices, row = np.unique(lat["device_id"].to_numpy(), return_inverse=True)
    device_latency = np.full((devices.size, NB201_ARCHS), np.nan)
    device_latency[row, lat["arch_id"].to_numpy()] = lat["latency_ms"].to_numpy()
    latency = np.tile(device_latency, (datasets.size, 1))
    accuracy = np.repeat(acc_by_dataset, devices.size, axis=0)
    labels = np.array([f"{d}/{device}" for d in datasets for device in devices])
    return labels.tolist(), latency, accuracy


def mask_baseline(lat: np.ndarray, acc: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """Per row and budget: boolean mask, max accuracy, then the fastest, lowest-index of ties."""
    picks = np.full(budgets.shape, NO_FIT, dtype=np.int64)
    usable = np.isfinite(lat) & np.isfinite(acc)
    for r in range(lat.shape[0]):
        for j, budget in enumerate(budgets[r]):
            masked = np.where(usable[r] & (lat[r] <= budget), acc[r], -np.inf)
            best = masked.max()
            if best == -np.inf:
                continue
            tied = np.flatnonzero(masked == best)
            picks[r, j] = tied[np.argmin(lat[r, tied])]
    return picks


def python_pick(lat: list[float], acc: list[float], budget: float) -> int:
    """One budget, one device, a loop over architectures in plain Python."""
    best, best_key = NO_FIT, None
    for i, (latency, accuracy) in enumerate(zip(lat, acc, strict=True)):
        if latency == latency and accuracy == accuracy and latency <= budget:
            key = (-accuracy, latency, i)
            if best_key is None or key < best_key:
                best, best_key = i, key
    return best


@click.command()
@click.option("--warehouse", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Read nb201 latency and accuracy from DIR/catalog.duckdb instead of generating.")
@click.option("--metric", default=None, help="Accuracy metric to maximise (warehouse mode).")
@click.option("--devices", default=45, show_default=True, help="Generated devices.")
@click.option("--budgets", "n_budgets", default=1000, show_default=True,
              help="Budgets per row, evenly spaced from each row's fastest to slowest latency.")
@click.option("--seed", default=0, show_default=True)
@click.option("--mask-rows", default=None, type=int,
              help="Time the mask baseline on this many rows and extrapolate (default: all).")
@click.option("--python-pairs", default=100, show_default=True,
              help="(row, budget) pairs the pure Python loop runs; its total is extrapolated.")
def main(warehouse: Path | None, metric: str | None, devices: int, n_budgets: int, seed: int,
         mask_rows: int | None, python_pairs: int) -> None:
    """Time best_under_budget against a NumPy mask loop and a pure Python loop, same inputs."""
    if warehouse is None:
        labels, lat, acc = generated_inputs(devices, seed)
        source = f"generated (seed {seed})"
    else:
        labels, lat, acc = warehouse_inputs(warehouse, metric)
        source = f"warehouse {warehouse}"
    n_rows, n_archs = lat.shape
    budgets = parse_budgets(f"q0:q100:{n_budgets}", lat)
    pairs = budgets.size
    click.echo(f"inputs: {source}; {n_rows} (dataset, device) rows x {n_archs} archs "
               f"x {n_budgets} budgets = {pairs:,} searches; "
               f"{np.isnan(lat).sum():,} unmeasured latencies")

    parse_s = best_time(lambda: parse_budgets(f"q0:q100:{n_budgets}", lat), 3)[0]
    ours_s = best_time(lambda: best_under_budget(lat, acc, budgets), 5)[0]
    ours = best_under_budget(lat, acc, budgets).arch_index

    rows = n_rows if mask_rows is None else min(mask_rows, n_rows)
    start = time.perf_counter()
    mask = mask_baseline(lat[:rows], acc[:rows], budgets[:rows])
    mask_s = (time.perf_counter() - start) * n_rows / rows
    mask_agrees = np.array_equal(mask, ours[:rows])

    rng = np.random.default_rng(seed + 1)
    sample = rng.choice(pairs, size=min(python_pairs, pairs), replace=False)
    sample_rows, sample_cols = np.unravel_index(sample, budgets.shape)
    lat_lists, acc_lists = lat.tolist(), acc.tolist()
    start = time.perf_counter()
    python = [python_pick(lat_lists[r], acc_lists[r], budgets[r, c])
              for r, c in zip(sample_rows, sample_cols, strict=True)]
    python_s = (time.perf_counter() - start) * pairs / sample.size
    python_agrees = python == ours[sample_rows, sample_cols].tolist()

    click.echo(f"budget parsing (q0:q100:{n_budgets}, per row): {parse_s * 1e3:8.1f} ms")
    click.echo(f"ours, best_under_budget (sort + running argmax + searchsorted), best of 5: "
               f"{ours_s * 1e3:8.1f} ms")
    click.echo(f"(a) NumPy mask + argmax per budget, {rows} of {n_rows} rows"
               f"{'' if rows == n_rows else ', extrapolated'}: {mask_s:8.2f} s  "
               f"= {mask_s / ours_s:,.0f}x ours; picks agree: {mask_agrees}")
    click.echo(f"(b) pure Python loop, extrapolated from {sample.size} of {pairs:,} searches: "
               f"{python_s:8.1f} s  = {python_s / ours_s:,.0f}x ours; picks agree: "
               f"{python_agrees}")
    if not (mask_agrees and python_agrees):
        raise click.ClickException("a baseline picked different architectures than ours")


if __name__ == "__main__":
    main()
