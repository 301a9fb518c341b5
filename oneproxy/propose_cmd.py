"""`oneproxy propose`: which architectures to measure next on a device to verify its picks."""

from __future__ import annotations

from pathlib import Path

import click

from oneproxy.analytics.intervals import DEFAULT_CONFIDENCE
from oneproxy.api.propose import propose_measurements
from oneproxy.options import output_options, space_option, warehouse_option
from oneproxy.output import format_for, render
from oneproxy.search.picks import MIN_GAIN_PP
from oneproxy.warehouse.store import Warehouse


@click.command()
@space_option
@click.option("--device", required=True, help="The device whose picks to verify.")
@click.option("--dataset", default=None,
              help="Accuracy dataset [default: the dataset the device was imported with].")
@click.option("--budget", "budgets", required=True,
              help="Latency budgets, e.g. '5ms,10ms' or 'q10,q50' (percentiles of the device's "
              "predicted latency).")
@click.option("--per-budget", type=click.IntRange(min=1), default=3, show_default=True,
              help="Leading candidates to measure per budget.")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=DEFAULT_CONFIDENCE, show_default=True, help="Confidence of the intervals.")
@click.option("--min-gain", type=click.FloatRange(min=0), default=MIN_GAIN_PP, show_default=True,
              help="Once a budget has a verified pick, measure only candidates expected to gain "
              "at least this much accuracy (pp) over it; 0 lists every candidate that may fit.")
@output_options
@warehouse_option
def propose(wh: Warehouse, space: str, device: str, dataset: str | None, budgets: str,
            per_budget: int, confidence: float, min_gain: float, fmt: str,
            output: Path | None) -> None:
    """List the architectures to measure next on a device, with why.

    Per budget: its leading candidates (more accurate than the budget's verified pick, by
    expected gain: probability of fitting × accuracy gained), and the sample that adds most
    information where the budget's decision is uncertain. Measure them, then
    `oneproxy ingest table measured.csv --device D --space S --append` and search again. When
    nothing is listed, no candidate is expected to gain --min-gain over any budget's verified
    pick: the picks `search` gives are final.

    \b
    Example:
      oneproxy propose --space nb201 --device my_phone --budget 5ms,10ms -o to_measure.csv
    """
    table = propose_measurements(wh, space, device, budgets, dataset=dataset,
                                 per_budget=per_budget, confidence=confidence, min_gain=min_gain)
    render(table, format_for(fmt, output), output, title=f"measure next on {device}")
    if table.num_rows == 0:
        click.echo(f"nothing left worth measuring on {device}: no unmeasured architecture may "
                   f"fit a budget and is expected to beat its verified pick by {min_gain:g} pp; "
                   f"the picks of `oneproxy search --verified-only` are final", err=True)
