"""Benchmark: all-pairs SRCC (grouped ranks + GEMM) against a scipy loop and pandas.

Part 1 reads the NAS-Bench-201 latencies of DIR/catalog.duckdb (`--warehouse DIR`) and times
`analytics.srcc.srcc_matrix` against (a) a Python loop of `scipy.stats.spearmanr` over every
device pair on the pair's shared architectures and (b) `pandas.DataFrame.corr(method="spearman")`
(pairwise-complete, like ours) when pandas is importable; all start from the same long table.
Part 2 times a generated 1,000 devices x 100,000 architectures table with four coverage patterns
and prints time and peak memory (`--quick`: 200 x 20,000). `--scale-only` skips part 1.

    python bench/srcc.py --warehouse ./oneproxy-warehouse [--quick] [--scale-only]
"""

import gc
import resource
import time
from pathlib import Path

import click
import numpy as np
import polars as pl
from oneproxy.analytics.srcc import srcc_matrix, to_square
from scipy.stats import spearmanr

from bench.common import best_time, read

MIN_COMMON = 30


def load_latency(warehouse: Path) -> pl.DataFrame:
    """NB201 latency series (device_id, arch_id, latency_ms) from the warehouse `latency` view.

    When the view holds several datasets, each (dataset, device) is its own series named
    "dataset/device", so that every series has one row per architecture.
    """
    frame = read(warehouse, "SELECT dataset, device_id, arch_id, latency_ms FROM latency "
                 "WHERE space_id = 'nb201'")
    if frame.height == 0:
        raise click.ClickException(f"{warehouse} holds no nb201 latency; ingest an nb201 source")
    if frame["dataset"].n_unique() > 1:
        frame = frame.with_columns(device_id=pl.format("{}/{}", "dataset", "device_id"))
    return frame.select("device_id", "arch_id", "latency_ms")


def wide(latency: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """Baselines' own pivot: device ids and an (architecture x device) array, NaN where absent."""
    table = latency.pivot(on="device_id", index="arch_id", values="latency_ms").drop("arch_id")
    devices = sorted(table.columns)
    return devices, table.select(devices).fill_null(np.nan).to_numpy()


def scipy_loop(latency: pl.DataFrame) -> np.ndarray:
    """Baseline (a): spearmanr on each pair's shared architectures, one pair at a time."""
    devices, values = wide(latency)
    present = ~np.isnan(values)
    square = np.full((len(devices), len(devices)), np.nan)
    for i in range(len(devices)):
        for j in range(i + 1, len(devices)):
            both = present[:, i] & present[:, j]
            if both.sum() >= MIN_COMMON:
                square[i, j] = square[j, i] = spearmanr(values[both, i], values[both, j]).statistic
    np.fill_diagonal(square, 1.0)
    return square


def pandas_corr(latency: pl.DataFrame) -> np.ndarray:
    """Baseline (b): pandas pivot + DataFrame.corr(method="spearman"), pairwise-complete."""
    import pandas  # bench-only dependency

    table = pandas.DataFrame(latency.to_dict(as_series=False)).pivot(
        index="arch_id", columns="device_id", values="latency_ms"
    )
    corr = table[sorted(table.columns)].corr(method="spearman", min_periods=MIN_COMMON)
    return corr.to_numpy()


def ours(latency: pl.DataFrame) -> np.ndarray:
    return to_square(srcc_matrix(latency, min_common=MIN_COMMON))[0]


def device_set_run(latency: pl.DataFrame) -> None:
    coverage = latency.drop_nulls("latency_ms").group_by("device_id").len()["len"]
    click.echo(
        f"NB201 device set: {latency['device_id'].n_unique()} series, "
        f"{latency['arch_id'].n_unique()} architectures, "
        f"{coverage.n_unique()} distinct coverage sizes ({coverage.min()}..{coverage.max()})"
    )
    t_ours, square = best_time(lambda: ours(latency), repeats=3)
    t_loop, loop = best_time(lambda: scipy_loop(latency), repeats=1)
    click.echo(f"  ours (srcc_matrix, pivot included) {t_ours:8.3f} s")
    click.echo(
        f"  scipy.stats.spearmanr loop         {t_loop:8.3f} s   ratio {t_loop / t_ours:6.1f}x   "
        f"max |diff| {np.nanmax(np.abs(square - loop)):.1e}"
    )
    try:
        import pandas  # noqa: F401
    except ImportError:
        click.echo("  pandas DataFrame.corr             skipped: pandas is not installed")
        return
    t_pandas, frame_corr = best_time(lambda: pandas_corr(latency), repeats=1)
    click.echo(
        f"  pandas DataFrame.corr(spearman)    {t_pandas:8.3f} s   ratio "
        f"{t_pandas / t_ours:6.1f}x   max |diff| {np.nanmax(np.abs(square - frame_corr)):.1e}"
    )


def generated_latency(n_devices: int, n_archs: int, seed: int) -> pl.DataFrame:
    """Correlated log-normal latencies in four coverage patterns, rounded so that ties abound.

    Patterns (share of devices): all architectures (40 %), the first 80 % (30 %), a random
    half (25 %), a fixed 1,999-architecture sample (5 %). Every third device reports whole
    milliseconds, the others hundredths.
    """
    rng = np.random.default_rng(seed)
    size = np.log(rng.lognormal(0.0, 0.6, n_archs))
    patterns = [
        np.arange(n_archs),
        np.arange(int(n_archs * 0.8)),
        np.flatnonzero(rng.random(n_archs) < 0.5),
        np.sort(rng.choice(n_archs, size=min(1_999, n_archs), replace=False)),
    ]
    share = np.cumsum([0.4, 0.3, 0.25, 0.05])
    dev_parts, arch_parts, lat_parts = [], [], []
    for device in range(n_devices):
        archs = patterns[int(np.searchsorted(share, (device + 0.5) / n_devices))]
        log_lat = rng.normal(1.0, 1.0) + rng.uniform(0.6, 1.4) * size[archs]
        lat = np.exp(log_lat + rng.normal(0.0, rng.uniform(0.05, 0.4), archs.size))
        dev_parts.append(np.full(archs.size, device, dtype=np.uint32))
        arch_parts.append(archs)
        lat_parts.append(lat.round(0 if device % 3 == 0 else 2))
    names = pl.Series([f"dev{d:04d}" for d in range(n_devices)])
    return pl.DataFrame(
        {
            "device_id": names.gather(np.concatenate(dev_parts)),
            "arch_id": np.concatenate(arch_parts),
            "latency_ms": np.concatenate(lat_parts),
        }
    )


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of this process (Linux); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _status_gib(field: str) -> float:
    """A memory field of /proc/self/status (Linux) in GiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 2**20
    raise OSError(f"/proc/self/status has no {field}")


def current_rss_gib() -> float:
    try:
        return _status_gib("VmRSS")
    except OSError:
        return float("nan")


def peak_rss_gib() -> float:
    """Peak resident memory since the last reset (VmHWM), else getrusage's lifetime peak."""
    try:
        return _status_gib("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def scale_run(n_devices: int, n_archs: int) -> None:
    start = time.perf_counter()
    latency = generated_latency(n_devices, n_archs, seed=0)
    click.echo(
        f"scale run: {n_devices} devices x {n_archs} architectures, {latency.height:,} rows "
        f"(generated in {time.perf_counter() - start:.1f} s)"
    )
    gc.collect()
    before = current_rss_gib()
    reset = reset_peak_rss()
    start = time.perf_counter()
    pairs = srcc_matrix(latency, min_common=MIN_COMMON)
    elapsed = time.perf_counter() - start
    peak = f"{peak_rss_gib():.2f} GiB" + ("" if reset else " (includes data generation)")
    click.echo(
        f"  ours: {elapsed:.1f} s for {pairs.height:,} pairs; process RSS {before:.2f} GiB "
        f"with the input table, peak {peak}"
    )
    sample_loop_estimate(latency, pairs.height, elapsed)


def sample_loop_estimate(latency: pl.DataFrame, n_pairs: int, ours_seconds: float) -> None:
    """Time spearmanr on 40 random pairs (shared values prepared untimed), extrapolate to all."""
    rng = np.random.default_rng(1)
    devices = latency["device_id"].unique().sort().to_list()
    shared = []
    for i, j in rng.choice(len(devices), size=(40, 2), replace=False):
        both = (
            latency.filter(pl.col("device_id") == devices[i])
            .join(latency.filter(pl.col("device_id") == devices[j]), on="arch_id")
            .drop_nulls()
        )
        shared.append((both["latency_ms"].to_numpy(), both["latency_ms_right"].to_numpy()))
    start = time.perf_counter()
    for x, y in shared:
        spearmanr(x, y)
    per_pair = (time.perf_counter() - start) / len(shared)
    click.echo(
        f"  scipy loop, extrapolated from 40 pairs: {per_pair * n_pairs:.0f} s "
        f"(ratio {per_pair * n_pairs / ours_seconds:.0f}x)"
    )


@click.command()
@click.option(
    "--warehouse",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("oneproxy-warehouse"),
    envvar="ONEPROXY_WAREHOUSE",
    show_default=True,
    help="Warehouse directory holding catalog.duckdb.",
)
@click.option("--quick", is_flag=True, help="Scale run on 200 x 20,000 instead of 1,000 x 100,000.")
@click.option("--scale-only", is_flag=True, help="Skip the NB201 device-set comparison.")
def main(warehouse: Path, quick: bool, scale_only: bool) -> None:
    """Time all-pairs SRCC against a scipy loop and pandas, then at scale."""
    if not scale_only:
        device_set_run(load_latency(warehouse))
    scale_run(*((200, 20_000) if quick else (1_000, 100_000)))


if __name__ == "__main__":
    main()
