"""Benchmark: `oneproxy adapt --proxy auto --samples 20` as a whole command, cold and warm.

Cold: no stored proxy fits (the warehouse's models/ folder removed first), so every prescreened
candidate's predictors are fitted and stored; warm: the same command again, reading them back.
The baseline is the cold run; the ratio is cold / warm. Also times the import floor
(`python -c "import duckdb, polars"`) and `oneproxy --help` against it.

    python -m bench.adapt --warehouse oneproxy-warehouse [--target raspi4] [--repeat 3]
"""

import shutil
import sys
from pathlib import Path

import click

from bench.commands import best, bytecode_note, import_floor, timed


@click.command()
@click.option("--warehouse", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=Path("oneproxy-warehouse"), show_default=True)
@click.option("--target", default="raspi4", show_default=True)
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Warm runs (the best is reported).")
def main(warehouse: Path, target: str, repeat: int) -> None:
    cli = [sys.executable, "-m", "oneproxy.cli"]
    adapt = [*cli, "adapt", "--device", target, "--proxy", "auto", "--samples", "20",
             "--no-save", "--format", "json", "--warehouse", str(warehouse)]
    shutil.rmtree(warehouse / "models", ignore_errors=True)
    cold = timed(adapt)[0]
    warm = best(adapt, repeat)
    floor = import_floor(repeat)
    help_ = best([*cli, "--help"], repeat)
    click.echo(f"adapt --proxy auto --samples 20 ({target}): cold {cold:.2f} s, warm {warm:.2f} s"
               f" -> cold / warm {cold / warm:.1f}x")
    click.echo(f"oneproxy --help {help_:.2f} s against the import floor {floor:.2f} s "
               f"(import duckdb, polars) -> {help_ / floor:.2f}x")
    bytecode_note()


if __name__ == "__main__":
    main()
