"""`oneproxy measure`: time NAS-Bench-201 networks with ONNX Runtime on this machine's CPU."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from oneproxy import settings as paths
from oneproxy.measure_options import arch_options, chosen_archs
from oneproxy.progress import stderr


def _bar() -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    return Progress(*columns, console=stderr, transient=True)


@click.command()
@arch_options
@click.option("-o", "--output", "out", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="CSV to write; an existing one is appended to and its architectures skipped.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="ONNX Runtime intra-op threads.")
@click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True,
              help="Untimed runs before timing each model.")
@click.option("--repeat", type=click.IntRange(min=3), default=50, show_default=True,
              help="Timed runs per model (median and IQR are recorded).")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Input batch size.")
@click.option("--check", type=click.IntRange(min=0), default=0, show_default=True,
              help="Re-time K architectures at the end: SRCC between passes, median change.")
def measure(space: str, archs: str | None, sample: int | None, seed: int, dataset: str,
            out: Path, threads: int, warmup: int, repeat: int, batch: int, check: int,
            mirror: Path | None, cache: Path | None) -> None:
    """Time NAS-Bench-201 networks with ONNX Runtime on this CPU; write a CSV for `ingest table`.

    Each architecture is exported in memory (checked against the codec's params / FLOPs),
    run WARMUP times, then timed REPEAT times. The CSV (arch, latency_ms median, IQR, std,
    repeats, settings) goes as is to `oneproxy ingest table`; the sidecar OUTPUT.json holds
    the machine (CPU model, cores, ONNX Runtime version, threads, batch) that `ingest table`
    puts in the device's row. One `measure` runs at a time on a machine (a lock in the cache
    folder). Needs `pip install 'oneproxy[measure]'`.

    \b
    Examples:
      oneproxy measure --sample 20 --seed 0 -o measured.csv --check 10
      oneproxy ingest table measured.csv --space nb201 --device my_laptop
    """
    keys = chosen_archs(archs, sample, seed, mirror, cache)
    from oneproxy.api.measure import measure_archs
    from oneproxy.measure.lock import LOCK_NAME
    from oneproxy.measure.timing import TimingSettings

    timing = TimingSettings(threads=threads, warmup=warmup, repeat=repeat, batch=batch)
    with _bar() as bar:
        task = bar.add_task("measure", total=None)

        def step(done: int, total: int, key: str) -> None:
            bar.update(task, completed=done, total=total)

        report = measure_archs(keys, out, lock=paths.cache_dir(cache) / LOCK_NAME,
                               dataset=dataset, settings=timing, seed=seed, check=check,
                               progress=step)
    click.echo(f"measured {report.measured} {space} architectures ({dataset}, {threads} "
               f"thread(s), batch {batch}, {warmup}+{repeat} runs) in {report.seconds:.1f}s; "
               f"skipped {report.skipped} already in {out}; {report.total_rows} rows in total")
    if report.check is not None:
        c = report.check
        click.echo(f"check: {c.k} architectures re-timed: SRCC between passes {c.srcc:.4f}, "
                   f"median relative change {c.median_rel_change:.2%}")
        if c.noisy:
            click.echo("warning: this machine is too noisy for close latency budgets (SRCC "
                       "< 0.95 or median change > 5%); raise --repeat, use fewer --threads or "
                       "a quieter machine", err=True)
