"""Benchmark: all-pairs SRCC (`analytics.srcc.srcc_matrix`) against scipy, pandas and rank + GEMM.

Scenarios: the real NB201 set of `--warehouse DIR` (41 series, partial coverage, and its
full-coverage subset), then generated fleets of 1,000 devices x 100,000 architectures (`--quick`:
200 x 20,000) with full coverage, with 10 coverage groups (each group misses its own random 10 %)
and with per-device gaps (each device misses its own random 10 %). Latencies are rounded, so ties
abound. Every method starts from the same long table (device_id, arch_id, latency_ms; its pivot
is timed) and runs in its own subprocess, which reports wall time and its peak RSS
(including the input it was handed, see below). Baselines:

- scipy pair loop: `scipy.stats.spearmanr` on each pair's shared architectures. At fleet scale it
  is timed on 40 random pairs and extrapolated to all pairs (printed "extrapolated").
- scipy matrix: `spearmanr(values, axis=1)` (full coverage only: it cannot skip absent values).
- pandas: `DataFrame.corr(method="spearman")`, pairwise-complete; at fleet scale on the first
  devices only, extrapolated by the number of pairs.
- rank + GEMM floor: `scipy.stats.rankdata` of every device once and one float64 matrix product,
  coverage ignored (its answer is wrong under partial coverage: a floor, not a competitor).

Ours on per-device gaps, twice: `ragged="approx"` (masked matrix products, the reference of that
scenario's ratios) in full, and exact, where the pivot and the sort of every device run in full
(so the peak RSS is the real one), 1 % of the pairs (25 % with `--quick`; `--ragged-share`) go
through the batched exact pair kernel and the rest is extrapolated, printed as such
(`--ragged-share 1` computes all). The exact row's max |diff| is the approximation's error.

On the real set each method's child runs in `REAL_ROUNDS` rounds, the methods taking turns, and
the best time of each is compared: the speed of a shared machine drifts over seconds
(`python -m bench.srcc_stages` prints the call-to-call spread), and turns keep that drift out of
the ratios. Every method gets the same number of calls, 3 per round.

Peak RSS is the process's high-water mark from the moment its input is built (reset through
/proc/self/clear_refs), so it is the input plus what the method adds; the input is printed beside.

The measured float64 GEMM throughput and the implied time of the scenario's one product are
printed, and the BLAS thread comparison (1 vs 2 threads for the SRCC block product, quiet and with
a competing busy process) that `oneproxy.threads` defaults on.

    python -m bench.srcc --warehouse ./oneproxy-warehouse [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np
import polars as pl

MIN_COMMON = 30
SAMPLE_PAIRS = 40
REAL_ROUNDS = 3
SCENARIOS = ("real", "real_full", "full", "block", "ragged")
METHODS = {
    "real": ("ours", "scipy_loop", "pandas"),
    "real_full": ("ours", "scipy_matrix", "rank_gemm"),
    "full": ("ours", "scipy_loop", "scipy_matrix", "pandas", "rank_gemm"),
    "block": ("ours", "scipy_loop", "pandas", "rank_gemm"),
    "ragged": ("ours_approx", "ours", "scipy_loop", "pandas"),
}
LABELS = {
    "ours": "ours (srcc_matrix, exact)",
    "ours_approx": "ours, ragged='approx' (masked GEMMs)",
    "scipy_loop": "scipy.stats.spearmanr pair loop",
    "scipy_matrix": "scipy.stats.spearmanr(matrix)",
    "pandas": "pandas DataFrame.corr(spearman)",
    "rank_gemm": "rank + GEMM floor (coverage ignored)",
}


# ---- inputs ---------------------------------------------------------------------------------


def real_latency(warehouse: Path, full_only: bool) -> pl.DataFrame:
    """NB201 series of the warehouse (dataset/device when several datasets), optionally only
    those measured on every architecture."""
    from bench.common import read

    frame = read(warehouse, "SELECT dataset, device_id, arch_id, latency_ms FROM latency "
                 "WHERE space_id = 'nb201'")
    if frame.height == 0:
        raise click.ClickException(f"{warehouse} holds no nb201 latency; ingest an nb201 source")
    if frame["dataset"].n_unique() > 1:
        frame = frame.with_columns(device_id=pl.format("{}/{}", "dataset", "device_id"))
    frame = frame.select("device_id", "arch_id", "latency_ms")
    if full_only:
        counts = frame.drop_nulls("latency_ms").group_by("device_id").len()
        full = counts.filter(pl.col("len") == frame["arch_id"].n_unique())["device_id"]
        frame = frame.filter(pl.col("device_id").is_in(full.implode()))
    return frame


def generated_latency(n_devices: int, n_archs: int, coverage: str, seed: int = 0) -> pl.DataFrame:
    """Correlated log-normal latencies rounded to 2 or 0 decimals (ties), in a coverage pattern.

    coverage: "full"; "block" (10 groups, each missing its own random 10 %); "ragged" (each
    device missing its own random 10 %).
    """
    rng = np.random.default_rng(seed)
    size = np.log(rng.lognormal(0.0, 0.6, n_archs))
    group_missing = rng.random((10, n_archs)) < 0.1
    devices, archs, lats = [], [], []
    for device in range(n_devices):
        if coverage == "full":
            keep = np.arange(n_archs)
        elif coverage == "block":
            keep = np.flatnonzero(~group_missing[device * 10 // n_devices])
        else:
            keep = np.flatnonzero(rng.random(n_archs) >= 0.1)
        log_lat = rng.normal(1.0, 1.0) + rng.uniform(0.6, 1.4) * size[keep]
        lat = np.exp(log_lat + rng.normal(0.0, rng.uniform(0.05, 0.4), keep.size))
        devices.append(np.full(keep.size, device, dtype=np.uint32))
        archs.append(keep.astype(np.uint32))
        lats.append(lat.round(0 if device % 3 == 0 else 2))
    names = pl.Series([f"dev{d:04d}" for d in range(n_devices)])
    return pl.DataFrame({
        "device_id": names.gather(np.concatenate(devices)),
        "arch_id": np.concatenate(archs),
        "latency_ms": np.concatenate(lats),
    })


def wide(latency: pl.DataFrame) -> np.ndarray:
    """Baselines' (device x architecture) float64 matrix, NaN where absent, devices sorted."""
    devices = latency["device_id"].unique().sort()
    rows = latency["device_id"].cast(pl.Enum(devices)).to_physical().to_numpy()
    cols = latency["arch_id"].rank("dense").cast(pl.Int64).to_numpy() - 1
    values = np.full((devices.len(), int(cols.max()) + 1), np.nan)
    values[rows, cols] = latency["latency_ms"].fill_null(np.nan).to_numpy()
    return values


# ---- methods (each returns a square matrix, NaN where not computed, and a note) --------------


def ours(latency: pl.DataFrame, ragged: str = "auto") -> tuple[np.ndarray, float]:
    from oneproxy.analytics.srcc import srcc_matrix, to_square

    return to_square(srcc_matrix(latency, min_common=MIN_COMMON, ragged=ragged))[0], 1.0


def ours_sampled(latency: pl.DataFrame, share: float) -> tuple[np.ndarray, float, float]:
    """Ours on per-device gaps with the pair work sampled: the pivot and the sort of every device
    run in full (their memory is measured), a random `share` of the pairs goes through the same
    batched pair kernel; returns the square, the share and the extrapolated seconds."""
    from oneproxy.analytics.spearman_exact import _ragged_pairs
    from oneproxy.analytics.srcc import _sorted

    start = time.perf_counter()
    sorted_ = _sorted(latency)[1]
    fixed = time.perf_counter() - start
    n = sorted_.start.shape[0]
    rows, cols = np.triu_indices(n, k=1)
    pick = np.sort(np.random.default_rng(2).choice(rows.size, max(1, int(share * rows.size)),
                                                   replace=False))
    start = time.perf_counter()
    pairs = _ragged_pairs(sorted_, rows[pick], cols[pick], MIN_COMMON)
    sampled = time.perf_counter() - start
    square = np.full((n, n), np.nan)
    square[pairs.a, pairs.b] = square[pairs.b, pairs.a] = pairs.value
    np.fill_diagonal(square, 1.0)
    return square, pick.size / rows.size, fixed + sampled * rows.size / pick.size


def scipy_loop(values: np.ndarray, sample: bool) -> tuple[np.ndarray, float]:
    from scipy.stats import spearmanr

    n = values.shape[0]
    rows, cols = np.triu_indices(n, k=1)
    if sample:
        pick = np.random.default_rng(1).choice(rows.size, size=min(SAMPLE_PAIRS, rows.size),
                                               replace=False)
        rows, cols = rows[pick], cols[pick]
    present = ~np.isnan(values)
    square = np.full((n, n), np.nan)
    for i, j in zip(rows, cols, strict=True):
        both = present[i] & present[j]
        if both.sum() >= MIN_COMMON:
            square[i, j] = square[j, i] = spearmanr(values[i, both], values[j, both]).statistic
    np.fill_diagonal(square, 1.0)
    return square, rows.size / (n * (n - 1) / 2)


def scipy_matrix(values: np.ndarray) -> tuple[np.ndarray, float]:
    from scipy.stats import spearmanr

    return spearmanr(values, axis=1).statistic, 1.0


def pandas_corr(values: np.ndarray, sample: bool) -> tuple[np.ndarray, float]:
    import pandas  # bench-only dependency

    n = values.shape[0]
    k = min(n, 40) if sample else n
    corr = pandas.DataFrame(values[:k].T).corr(method="spearman", min_periods=MIN_COMMON)
    square = np.full((n, n), np.nan)
    square[:k, :k] = corr.to_numpy()
    return square, k * (k - 1) / (n * (n - 1))


def rank_gemm(values: np.ndarray) -> tuple[np.ndarray, float]:
    from scipy.stats import rankdata

    ranks = rankdata(np.where(np.isnan(values), np.inf, values), axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    gram = ranks @ ranks.T
    norm = np.sqrt(np.diag(gram))
    return gram / np.outer(norm, norm), 1.0


# ---- child process: one method on one scenario ----------------------------------------------


def _status_gib(field: str) -> float:
    """A /proc/self/status memory field (VmRSS, VmHWM) in GiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def _reset_peak() -> None:
    """Start the high-water mark (VmHWM) afresh at the current RSS."""
    Path("/proc/self/clear_refs").write_text("5")


def run_case(scenario: str, method: str, size: tuple[int, int], warehouse: Path,
             out: Path, ragged_share: float) -> dict:
    """Load the scenario's input, time the method (best of 3 on the real set, else once) at the
    CLI's `oneproxy.threads` and `oneproxy.allocator` settings, save its square matrix to `out`."""
    import oneproxy.analytics.srcc  # noqa: F401
    import pandas  # noqa: F401  (imports stay out of the timings)
    import scipy.stats  # noqa: F401

    from oneproxy.allocator import keep_freed_memory
    from oneproxy.threads import apply_thread_setting

    apply_thread_setting()
    keep_freed_memory()
    if scenario.startswith("real"):
        latency = real_latency(warehouse, full_only=scenario == "real_full")
    else:
        latency = generated_latency(*size, coverage=scenario)
    sample = not scenario.startswith("real")
    calls: dict[str, Callable[[], tuple[np.ndarray, float]]] = {
        "ours": lambda: ours(latency),
        "ours_approx": lambda: ours(latency, "approx"),
        "scipy_loop": lambda: scipy_loop(wide(latency), sample),
        "scipy_matrix": lambda: scipy_matrix(wide(latency)),
        "pandas": lambda: pandas_corr(wide(latency), sample),
        "rank_gemm": lambda: rank_gemm(wide(latency)),
    }
    input_gib = _status_gib("VmRSS")
    _reset_peak()
    if scenario == "ragged" and method == "ours" and ragged_share < 1:
        square, fraction, seconds = ours_sampled(latency, ragged_share)
    else:
        seconds = float("inf")
        for _ in range(3 if scenario.startswith("real") else 1):
            start = time.perf_counter()
            square, fraction = calls[method]()
            seconds = min(seconds, time.perf_counter() - start)
        seconds /= fraction
    peak = _status_gib("VmHWM")
    np.save(out, square)
    return {"seconds": seconds, "fraction": fraction, "peak_gib": peak,
            "input_gib": input_gib}


def gemm_throughput() -> dict:
    """Best float64 GFLOP/s of a 2,000^3 product, at the `oneproxy.threads` setting."""
    from oneproxy.threads import apply_thread_setting

    apply_thread_setting()
    a = np.random.default_rng(0).random((2000, 2000))
    best = min(_timed(lambda: a @ a) for _ in range(3))
    return {"gflops": 2 * 2000**3 / best / 1e9}


def thread_comparison(size: tuple[int, int]) -> dict:
    """Block-product time (the SRCC `gram`) at 1 and 2 BLAS threads, quiet and beside a busy
    process that stands for the rest of the batch."""
    from oneproxy.analytics.spearman_exact import gram
    from threadpoolctl import threadpool_limits

    rows, cols = min(size[0], 500), min(size[1], 50_000)
    ranks = np.random.default_rng(0).integers(-cols, cols, (rows, cols)).astype(np.float32)
    result = {}
    for load in ("quiet", "loaded"):
        busy = (subprocess.Popen([sys.executable, "-c", "while True: pass"])
                if load == "loaded" else None)
        try:
            for threads in (1, 2):
                with threadpool_limits(limits=threads, user_api="blas"):
                    result[f"{load}_{threads}"] = min(_timed(lambda: gram(ranks, None))
                                                      for _ in range(3))
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    result["shape"] = [rows, cols]
    return result


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---- parent: run every case in a subprocess and print ratios --------------------------------


def _child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.srcc", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    if done.returncode != 0:
        raise click.ClickException(f"bench case {args} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _shape_text(scenario: str, size: tuple[int, int]) -> str:
    if scenario == "real":
        return "real NB201 set, all series (partial coverage)"
    if scenario == "real_full":
        return "real NB201 set, full-coverage series"
    what = {"full": "full coverage", "block": "10 coverage groups, each missing its own 10 %",
            "ragged": "per-device gaps, each device missing its own 10 %"}[scenario]
    return f"{size[0]:,} devices x {size[1]:,} architectures, {what}"


def best_of_rounds(rounds: list[dict]) -> dict:
    """One method's child results over interleaved rounds: the fastest time, the highest peak RSS
    (and the input of that round), the pair share of the first."""
    highest = max(rounds, key=lambda r: r["peak_gib"])
    return {"seconds": min(r["seconds"] for r in rounds), "fraction": rounds[0]["fraction"],
            "peak_gib": highest["peak_gib"], "input_gib": highest["input_gib"]}


def report(scenario: str, size: tuple[int, int], warehouse: Path, tmp: Path, gflops: float,
           ragged_share: float):
    click.echo(_shape_text(scenario, size))
    runs: dict[str, list[dict]] = {method: [] for method in METHODS[scenario]}
    squares = {}
    for _ in range(REAL_ROUNDS if scenario.startswith("real") else 1):
        for method in METHODS[scenario]:
            out = tmp / f"{scenario}_{method}.npy"
            runs[method].append(_child([
                "--case", scenario, method, "--size", str(size[0]), str(size[1]),
                "--warehouse", str(warehouse), "--out", str(out),
                "--ragged-share", str(ragged_share)]))
            squares[method] = np.load(out)
    results = {method: best_of_rounds(rounds) for method, rounds in runs.items()}
    reference = METHODS[scenario][0]
    n = squares[reference].shape[0]
    n_archs = size[1] if not scenario.startswith("real") else 15_625
    mine = results[reference]["seconds"]
    for method, res in results.items():
        full_time = res["seconds"]
        note = (f" (extrapolated from {res['fraction']:.2%} of the pairs)"
                if res["fraction"] < 1 else "")
        line = (f"  {LABELS[method]:38s} {full_time:9.3f} s  peak RSS {res['peak_gib']:5.2f} GiB "
                f"(input {res['input_gib']:.2f})")
        if method != reference:
            both = ~np.isnan(squares[method]) & ~np.isnan(squares[reference])
            diff = (np.abs(squares[method] - squares[reference])[both].max() if both.any()
                    else np.nan)
            line += f"  ratio {full_time / mine:7.1f}x  max |diff| {diff:.1e}{note}"
        click.echo(line)
    click.echo(f"  one {n:,}^2 x {n_archs:,} float64 product at {gflops:.0f} GFLOP/s: "
               f"{n * n * n_archs / gflops / 1e9:.3f} s (symmetric: n^2 k multiply-adds)")


@click.command()
@click.option("--warehouse", type=click.Path(file_okay=False, path_type=Path),
              default=Path("oneproxy-warehouse"), envvar="ONEPROXY_WAREHOUSE",
              show_default=True, help="Warehouse directory holding the real NB201 latencies.")
@click.option("--quick", is_flag=True, help="Fleets of 200 x 20,000 instead of 1,000 x 100,000.")
@click.option("--only", multiple=True, type=click.Choice(SCENARIOS),
              help="Run only these scenarios (repeatable).")
@click.option("--case", nargs=2, hidden=True, help="Child mode: SCENARIO METHOD.")
@click.option("--size", nargs=2, type=int, hidden=True)
@click.option("--out", type=click.Path(path_type=Path), hidden=True)
@click.option("--ragged-share", type=float, default=None,
              help="Share of the pairs ours computes on per-device gaps, the rest extrapolated "
                   "[default: 25 % with --quick, 1 % at full size].")
@click.option("--measure", type=click.Choice(["gemm", "threads"]), hidden=True)
def main(warehouse, quick, only, case, size, out, ragged_share, measure) -> None:
    """Time all-pairs SRCC against scipy, pandas and rank + GEMM, on real and fleet-scale data."""
    if measure == "gemm":
        click.echo(json.dumps(gemm_throughput()))
        return
    if measure == "threads":
        click.echo(json.dumps(thread_comparison(tuple(size))))
        return
    if case:
        click.echo(json.dumps(run_case(*case, tuple(size), warehouse, out, ragged_share)))
        return
    fleet = (200, 20_000) if quick else (1_000, 100_000)
    if ragged_share is None:
        ragged_share = 0.25 if quick else 0.01
    gflops = _child(["--measure", "gemm"])["gflops"]
    click.echo(f"float64 GEMM throughput on this machine: {gflops:.1f} GFLOP/s")
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in only or SCENARIOS:
            report(scenario, fleet, warehouse, Path(tmp), gflops, ragged_share)
    threads = _child(["--measure", "threads", "--size", *map(str, fleet)])
    rows, cols = threads["shape"]
    click.echo(f"BLAS threads, SRCC block product {rows} x {cols} (best of 3):")
    for load in ("quiet", "loaded"):
        one, two = threads[f"{load}_1"], threads[f"{load}_2"]
        click.echo(f"  {load:6s} 1 thread {one:.3f} s, 2 threads {two:.3f} s: "
                   f"2 threads take {two / one:.2f}x the time of 1")


if __name__ == "__main__":
    main()
