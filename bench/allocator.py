"""Benchmark: the real-set SRCC (`srcc_matrix`) with glibc's own thresholds and with
`oneproxy.allocator.keep_freed_memory()`, as the CLI runs it, in the same run.

Each setting runs in its own child process (the allocator is set before anything is loaded), the
two taking turns for `--rounds` rounds; a child warms up with 3 calls and then times `--calls`
calls, counting the minor page faults of each (getrusage). Printed per setting: the best and the
median call, the median faults per call, and the ratios system / keep.

    python -m bench.allocator --warehouse DIR [--rounds 3] [--calls 15]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import click

SETTINGS = ("system", "keep")


def child(warehouse: Path, calls: int) -> dict:
    """Time `calls` srcc_matrix calls on the real set after 3 warm-up calls, at this process's
    $ONEPROXY_MALLOC setting; seconds and minor faults of each call."""
    from oneproxy.allocator import keep_freed_memory

    keep_freed_memory()
    import resource
    import time

    from oneproxy.analytics.srcc import srcc_matrix

    from bench.srcc import MIN_COMMON, real_latency

    latency = real_latency(warehouse, full_only=False)
    for _ in range(3):
        srcc_matrix(latency, min_common=MIN_COMMON)
    seconds, faults = [], []
    for _ in range(calls):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        srcc_matrix(latency, min_common=MIN_COMMON)
        seconds.append(time.perf_counter() - start)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return {"seconds": seconds, "faults": faults}


def _run_child(setting: str, warehouse: Path, calls: int) -> dict:
    env = {**os.environ, "ONEPROXY_MALLOC": setting, "PYTHONPATH": str(Path.cwd())}
    done = subprocess.run(
        [sys.executable, "-m", "bench.allocator", "--child", "--warehouse", str(warehouse),
         "--calls", str(calls)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise click.ClickException(f"child ({setting}) failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@click.command()
@click.option("--warehouse", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=Path("oneproxy-warehouse"), show_default=True)
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--calls", type=click.IntRange(min=1), default=15, show_default=True)
@click.option("--child", "as_child", is_flag=True, hidden=True)
def main(warehouse: Path, rounds: int, calls: int, as_child: bool) -> None:
    if as_child:
        click.echo(json.dumps(child(warehouse, calls)))
        return
    seconds = {s: [] for s in SETTINGS}
    faults = {s: [] for s in SETTINGS}
    for _ in range(rounds):
        for setting in SETTINGS:
            result = _run_child(setting, warehouse, calls)
            seconds[setting] += result["seconds"]
            faults[setting] += result["faults"]
    click.echo(f"srcc_matrix on the real NB201 set, {rounds} rounds x {calls} calls per setting")
    best = {s: min(seconds[s]) for s in SETTINGS}
    median = {s: statistics.median(seconds[s]) for s in SETTINGS}
    for setting in SETTINGS:
        click.echo(f"  ONEPROXY_MALLOC={setting:6s} best {best[setting] * 1e3:6.1f} ms  median "
                   f"{median[setting] * 1e3:6.1f} ms  faults per call "
                   f"{statistics.median(faults[setting]):,.0f}")
    click.echo(f"  system / keep: best {best['system'] / best['keep']:.2f}x, "
               f"median {median['system'] / median['keep']:.2f}x")


if __name__ == "__main__":
    main()
