"""Timing whole `oneproxy` commands against the import floor every command pays."""

import os
import subprocess
import sys
import time

import click

FLOOR = [sys.executable, "-c", "import duckdb, polars"]


def timed(command: list[str]) -> tuple[float, str]:
    """Wall seconds of one run of `command` and its standard output (it must succeed)."""
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout


def best(command: list[str], repeat: int) -> float:
    """The least wall seconds of `repeat` runs of `command`."""
    return min(timed(command)[0] for _ in range(repeat))


def import_floor(repeat: int) -> float:
    """`best` of `python -c "import duckdb, polars"`."""
    return best(FLOOR, repeat)


def bytecode_note() -> None:
    """Say on stderr when every run compiles the modules (PYTHONDONTWRITEBYTECODE, no .pyc)."""
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        click.echo("note: PYTHONDONTWRITEBYTECODE is set: modules without a .pyc are compiled on "
                   "every run (an installed package has them)", err=True)
