"""Scale-out benchmark: SRCC and an evaluation sweep in one process and on a local Dask cluster.

Synthetic data, built here from a seed: devices × architectures of latency in three coverage
patterns (every architecture, the first 60%, the first 30%) rounded to 0.01 ms so that ties are
common; and an evaluation sweep of AdaProxy adaptations over the NAS-Bench-201 cells (features of
the real space, made-up device op costs). Each run happens in a fresh process (the baseline) or
on a new 2-worker `LocalCluster` of processes, and prints wall time, the peak resident memory of
the process or of each worker, and whether the results are equal.

    python bench/scale.py --quick            # 200 devices × 20,000, 200 adaptations
    python bench/scale.py                    # 1,000 devices × 100,000, 10,000 adaptations

On a machine with fewer cores than workers a cluster cannot be faster for CPU-bound work; the
ratio then measures its overhead (process start, shipping blocks, the 2× work of block pairs).
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
import polars as pl
from oneproxy.analytics.evaluate import ProtocolData, run_protocol
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.analytics.protocols import Protocol
from oneproxy.analytics.srcc import srcc_matrix
from oneproxy.warehouse.spaces import nb201

from oneproxy.scale.engine import dask_engine, seeds_per_task
from oneproxy.scale.srcc import blocked_srcc

COVERAGE = (1.0, 0.6, 0.3)


def latency_rows(n_devices: int, n_archs: int, seed: int = 0) -> pl.DataFrame:
    """Long rows (device_id, arch_id, latency_ms): device d measured the first
    COVERAGE[d % 3] of the architectures; latencies rounded to 0.01 ms (ties)."""
    rng = np.random.default_rng(seed)
    base = rng.lognormal(1.0, 0.5, n_archs)
    frames = []
    for d in range(n_devices):
        keep = int(n_archs * COVERAGE[d % len(COVERAGE)])
        noise = rng.normal(0, 0.05, keep)
        lat = np.round(base[:keep] * rng.uniform(0.3, 3.0) * (1 + noise), 2)
        frames.append(pl.DataFrame({"device_id": pl.Series([f"dev{d:04d}"] * keep),
                                    "arch_id": np.arange(keep, dtype=np.int64),
                                    "latency_ms": lat}))
    return pl.concat(frames)


def sweep(adaptations: int, n_samples: tuple[int, ...] = (10, 20),
          seeds: int = 50) -> tuple[Protocol, ProtocolData]:
    """A fixed-proxy, linear-strategy protocol of `adaptations` target × n × seed runs."""
    targets = max(1, adaptations // (len(n_samples) * seeds))
    ops = nb201.all_op_tuples()
    x = nb201.onehot(ops)
    rng = np.random.default_rng(1)
    cost = rng.uniform(0.05, 1.0, x.shape[1])
    devices = ["proxy", *(f"t{i:03d}" for i in range(targets))]
    latency = np.stack([x @ (cost * rng.uniform(0.6, 1.6, cost.size))
                        * (1 + 0.03 * rng.standard_normal(len(ops))) for _ in devices])
    features = space_features("nb201", [nb201.format_arch(o) for o in ops])
    protocol = Protocol(name="bench", space="nb201", proxies=("proxy",),
                        targets=tuple(devices[1:]), samples=n_samples, seeds=seeds,
                        proxy_mode="fixed", strategy="linear")
    return protocol, ProtocolData(devices, latency, features, np.zeros(0, dtype=np.int64))


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not carried over from the
    process that started it)."""
    status = Path("/proc/self/status")
    if status.is_file():
        line = next(li for li in status.read_text().splitlines() if li.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(job: Callable[..., Any], args: tuple, out: Any) -> None:
    start = time.perf_counter()
    result = job(*args)
    out.send((time.perf_counter() - start, _peak_mb(), result))


def in_process(job: Callable[..., Any], *args: Any) -> tuple[float, float, Any]:
    """(seconds, peak MB, result) of `job(*args)` in a fresh process: the one-machine baseline
    (spawned, not forked: Polars' thread pool does not survive a fork)."""
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(job, args, send))
    child.start()
    got = receive.recv()
    child.join()
    return got


def _protocol_rows(protocol: Protocol, data: ProtocolData) -> pl.DataFrame:
    return pl.from_arrow(run_protocol(protocol, data).long)


def on_cluster(job: Callable[[Any], Any], workers: int) -> tuple[float, float, list[float], Any]:
    """(seconds with start-up, seconds of the job, worker peak MB, result) on a new cluster."""
    start = time.perf_counter()
    engine = dask_engine(workers=workers)
    try:
        engine.client.wait_for_workers(workers)
        begin = time.perf_counter()
        result = job(engine)
        job_s = time.perf_counter() - begin
        peaks = sorted(engine.client.run(_peak_mb).values())
    finally:
        engine.close()
    return time.perf_counter() - start, job_s, peaks, result


def _row(label: str, seconds: float, peak: str, note: str = "") -> None:
    click.echo(f"  {label:<34} {seconds:8.1f} s   peak {peak:<22} {note}")


def bench_srcc(devices: int, archs: int, workers: int) -> None:
    rows = latency_rows(devices, archs)
    click.echo(f"SRCC, {devices:,} devices × {archs:,} architectures "
               f"({rows.height:,} rows, coverage {COVERAGE}, rounded to 0.01 ms):")
    local_s, local_mb, local = in_process(srcc_matrix, rows)
    _row("1 process (srcc_matrix)", local_s, f"{local_mb:,.0f} MB")
    total_s, job_s, peaks, spread = on_cluster(lambda e: blocked_srcc(rows, e), workers)
    diff = np.nanmax(np.abs(spread["value"].to_numpy() - local["value"].to_numpy()))
    same = spread.select("device_a", "device_b", "reason").equals(
        local.select("device_a", "device_b", "reason"))
    _row(f"{workers}-worker LocalCluster (blocks)", job_s,
         " / ".join(f"{p:,.0f}" for p in peaks) + " MB",
         f"+{total_s - job_s:.1f} s start; same pairs {same}, max |Δ| {diff:.1e}")
    click.echo(f"  cluster / one process: {job_s / local_s:.2f}× (job), "
               f"{total_s / local_s:.2f}× (with start-up)")


def bench_growth(sizes: list[int], archs: int) -> None:
    click.echo(f"SRCC time as the devices grow ({archs:,} architectures, 1 process):")
    first = None
    for n in sizes:
        rows = latency_rows(n, archs)
        seconds, mb, _ = in_process(srcc_matrix, rows)
        first = first or (n, seconds)
        click.echo(f"  {n:>6,} devices  {seconds:8.1f} s  peak {mb:,.0f} MB   "
                   f"{seconds / first[1]:6.1f}× the time of {first[0]} devices "
                   f"({(n / first[0]) ** 2:.0f}× the pairs)")


def bench_sweep(adaptations: int, workers: int) -> None:
    protocol, data = sweep(adaptations)
    runs = len(protocol.targets) * len(protocol.samples) * protocol.seeds
    click.echo(f"evaluation sweep, {runs:,} adaptations ({len(protocol.targets)} targets × n "
               f"{protocol.samples} × {protocol.seeds} seeds, strategy {protocol.strategy}, "
               f"{data.latency.shape[1]:,} architectures):")
    local_s, local_mb, local = in_process(_protocol_rows, protocol, data)
    _row("1 process (run_protocol)", local_s, f"{local_mb:,.0f} MB")
    groups = len(protocol.targets) * len(protocol.samples)
    per_task = seeds_per_task(groups, protocol.seeds, workers)
    total_s, job_s, peaks, spread = on_cluster(
        lambda e: pl.from_arrow(run_protocol(protocol, data, map_tasks=e.map,
                                             seeds_per_task=per_task).long), workers)
    same = spread.drop("computed_at").equals(local.drop("computed_at"))
    _row(f"{workers}-worker LocalCluster (tasks)", job_s,
         " / ".join(f"{p:,.0f}" for p in peaks) + " MB",
         f"+{total_s - job_s:.1f} s start; same rows {same}")
    click.echo(f"  cluster / one process: {job_s / local_s:.2f}× (job), "
               f"{total_s / local_s:.2f}× (with start-up)")


@click.command()
@click.option("--quick", is_flag=True, help="A small size: 200 devices × 20,000 architectures, "
              "200 adaptations.")
@click.option("--devices", type=int, default=1_000, show_default=True)
@click.option("--archs", type=int, default=100_000, show_default=True)
@click.option("--adaptations", type=int, default=10_000, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--only", type=click.Choice(["srcc", "growth", "sweep"]), default=None,
              help="Run one part only.")
def main(quick: bool, devices: int, archs: int, adaptations: int, workers: int,
         only: str | None) -> None:
    """Time SRCC and an evaluation sweep in one process and on a local Dask cluster."""
    if quick:
        devices, archs, adaptations = 200, 20_000, 200
    click.echo(f"{mp.cpu_count()} cores; {workers} workers of 1 thread each")
    if only in (None, "srcc"):
        bench_srcc(devices, archs, workers)
    if only in (None, "growth"):
        bench_growth(sorted({max(devices // 10, 3), max(devices // 3, 3), devices}), archs)
    if only in (None, "sweep"):
        bench_sweep(adaptations, workers)


if __name__ == "__main__":
    main()
