"""Research bench: where `srcc_matrix`'s time goes on the real NB201 set, and how much it varies.

Times each stage of the exact Spearman path `calls` times in one process and prints the best and
the median (ms): reading every device's series from the long table, sorting them
(`spearman_exact.sort_devices`), the coverage-group blocks and ragged pairs
(`spearman_exact.spearman_pairs`), the result frame, and the whole `srcc_matrix`. The spread of
the whole call (best to worst) is what the same code costs from call to call on this machine.
The allocator is set as the CLI sets it (`oneproxy.allocator`; $ONEPROXY_MALLOC=system for
glibc's own thresholds).

    python -m bench.srcc_stages --warehouse DIR [--calls 20]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import click
from oneproxy.analytics import srcc
from oneproxy.analytics.spearman_exact import sort_devices, spearman_pairs

from bench.srcc import MIN_COMMON, real_latency
from oneproxy.allocator import keep_freed_memory


def timed(fn: Callable[[], object], calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


@click.command()
@click.option("--warehouse", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=Path("oneproxy-warehouse"), show_default=True)
@click.option("--calls", type=click.IntRange(min=1), default=20, show_default=True)
def main(warehouse: Path, calls: int) -> None:
    keep_freed_memory()
    latency = real_latency(warehouse, full_only=False)
    devices, n_archs, series = srcc._device_series(latency)
    read = list(series)
    sorted_ = sort_devices(read, (len(devices), n_archs))
    pairs = spearman_pairs(sorted_, MIN_COMMON)
    stages = {
        "read every device's series": lambda: list(srcc._device_series(latency)[2]),
        "sort the devices": lambda: sort_devices(read, (len(devices), n_archs)),
        "group blocks and ragged pairs": lambda: spearman_pairs(sorted_, MIN_COMMON),
        "result frame": lambda: srcc._finish(srcc._spearman_frame(pairs), devices, "spearman",
                                             MIN_COMMON),
        "whole srcc_matrix": lambda: srcc.srcc_matrix(latency, min_common=MIN_COMMON),
    }
    click.echo(f"real NB201 set: {len(devices)} series, {latency.height:,} rows; "
               f"{calls} calls each")
    for name, fn in stages.items():
        t = timed(fn, calls)
        click.echo(f"  {name:32s} best {min(t) * 1e3:6.1f} ms  median "
                   f"{statistics.median(t) * 1e3:6.1f} ms  worst {max(t) * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()
