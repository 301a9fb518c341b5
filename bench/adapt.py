"""Benchmark: `oneproxy adapt --proxy auto --samples 20` as a whole command, cold and warm.

Cold: no stored proxy fits (the warehouse's models/ folder removed first), so every prescreened
candidate's predictors are fitted and stored; warm: the same command again, reading them back.
The baseline is the cold run; the ratio is cold / warm. Also times the import floor
(`python -c "import duckdb, polars"`) and `oneproxy --help` against it.

    python -m bench.adapt --warehouse oneproxy-warehouse [--target raspi4] [--repeat 3]
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import click


def _seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


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
    cold = _seconds(adapt)
    warm = min(_seconds(adapt) for _ in range(repeat))
    floor = min(_seconds([sys.executable, "-c", "import duckdb, polars"]) for _ in range(repeat))
    help_ = min(_seconds([*cli, "--help"]) for _ in range(repeat))
    click.echo(f"adapt --proxy auto --samples 20 ({target}): cold {cold:.2f} s, warm {warm:.2f} s"
               f" -> cold / warm {cold / warm:.1f}x")
    click.echo(f"oneproxy --help {help_:.2f} s against the import floor {floor:.2f} s "
               f"(import duckdb, polars) -> {help_ / floor:.2f}x")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        click.echo("note: PYTHONDONTWRITEBYTECODE is set: modules without a .pyc are compiled on "
                   "every run (an installed package has them)", err=True)


if __name__ == "__main__":
    main()
