"""Benchmark: a warm `oneproxy run` (every stage's inputs unchanged) as a whole command, against
the import floor (`python -c "import duckdb, polars"`) measured in the same run.

Run it on a warehouse where `oneproxy run` has completed with the installed code (a change to
the code changes the code version, so the first run after it recomputes every stage: this
bench refuses a run that did not say "nothing changed").

    python -m bench.run_warm --warehouse oneproxy-warehouse [--repeat 5]
"""

import sys
from pathlib import Path

import click

from bench.commands import bytecode_note, import_floor, timed


@click.command()
@click.option("--warehouse", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=Path("oneproxy-warehouse"), show_default=True)
@click.option("--repeat", type=click.IntRange(min=1), default=5, show_default=True,
              help="Warm runs (the best is reported).")
def main(warehouse: Path, repeat: int) -> None:
    run = [sys.executable, "-m", "oneproxy.cli", "run", "--warehouse", str(warehouse)]
    times = []
    for _ in range(repeat):
        seconds, out = timed(run)
        if not out.startswith("nothing changed"):
            raise click.ClickException(f"the run was not warm: {out.strip()[:200]} (run it again)")
        times.append(seconds)
    floor = import_floor(repeat)
    warm = min(times)
    click.echo(f"warm oneproxy run (nothing changed), best of {repeat}: {warm:.2f} s against the "
               f"import floor {floor:.2f} s (import duckdb, polars) -> {warm / floor:.2f}x")
    bytecode_note()


if __name__ == "__main__":
    main()
