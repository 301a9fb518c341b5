"""`oneproxy plan`: which architectures to measure first on a new device."""

from __future__ import annotations

from pathlib import Path

import click

from oneproxy.api.plan import plan_measurements
from oneproxy.options import output_options, space_option, warehouse_option
from oneproxy.output import format_for, render
from oneproxy.warehouse.store import Warehouse


@click.command()
@space_option
@click.option("--n", "n", type=int, default=20, show_default=True,
              help="How many architectures to measure first.")
@output_options
@warehouse_option
def plan(wh: Warehouse, space: str, n: int, fmt: str, output: Path | None) -> None:
    """List the architectures to measure first on a new device, chosen for information.

    A greedy D-optimal design over the space's op encodings, with every cell class (fully live,
    dead ops, disconnected) represented; deterministic. Measure them, then
    `oneproxy ingest table FILE --device D` and `oneproxy adapt`.

    \b
    Example:
      oneproxy plan --space nb201 --n 20 --format csv -o to_measure.csv
    """
    render(plan_measurements(wh, space, n), format_for(fmt, output), output,
           title=f"first {n} to measure")
