"""The `oneproxy` command line: parses options, calls the Python API, renders the result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from oneproxy.adapt_cmd import adapt, predict
from oneproxy.evaluate_cmd import evaluate
from oneproxy.ingest_cmd import ingest
from oneproxy.lookups import check_space
from oneproxy.lut_cmd import lut_eval
from oneproxy.options import output_options, warehouse_option
from oneproxy.output import render
from oneproxy.plan_cmd import plan
from oneproxy.propose_cmd import propose
from oneproxy.report_cmd import report
from oneproxy.run_cmd import run, runs
from oneproxy.search_cmd import search
from oneproxy.srcc_cmd import srcc
from oneproxy.train_cmd import train
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.store import Warehouse


class OneproxyGroup(click.Group):
    """A group whose commands turn domain errors into one line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OneproxyError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=OneproxyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oneproxy")
def main() -> None:
    """Latency monotonicity, AdaProxy adaptation and hardware-aware NAS over a warehouse of
    public neural-network latency measurements.

    \b
    Start with:
      oneproxy ingest --all          # load every pinned public source
      oneproxy devices --space nb201
      oneproxy sql "SELECT device_id, count(*) FROM latency GROUP BY 1"
    """


@main.command()
@output_options
@warehouse_option
def sources(wh: Warehouse, fmt: str, output: Path | None) -> None:
    """List ingested sources with commit, license, files and row counts.

    \b
    Example:
      oneproxy sources --format json
    """
    render(query(wh, sql_text("queries/sources.sql")), fmt, output, title="sources")


@main.command()
@output_options
@warehouse_option
def spaces(wh: Warehouse, fmt: str, output: Path | None) -> None:
    """List search spaces with their size and how many devices cover them.

    \b
    Example:
      oneproxy spaces
    """
    render(query(wh, sql_text("queries/spaces.sql")), fmt, output, title="spaces")


@main.command()
@click.option("--space", default=None, help="Only devices measured on this space (e.g. nb201).")
@output_options
@warehouse_option
def devices(wh: Warehouse, space: str | None, fmt: str, output: Path | None) -> None:
    """List devices with platform class, framework, precision and coverage.

    \b
    Examples:
      oneproxy devices
      oneproxy devices --space nb201 --format csv
    """
    if space is not None:
        check_space(wh, space)
    render(query(wh, sql_text("queries/devices.sql"), [space]), fmt, output, title="devices")


@main.command()
@click.argument("query_text", metavar="QUERY")
@output_options
@warehouse_option
def sql(wh: Warehouse, query_text: str, fmt: str, output: Path | None) -> None:
    """Run a read-only SQL query over the warehouse catalog (DuckDB).

    Views: latency, latency_raw, latency_detail, coverage, devices, architectures,
    accuracy, sources, series_provenance, spaces.

    \b
    Examples:
      oneproxy sql "SELECT latency_ms FROM latency WHERE device_id = 'pixel3' AND arch_id = 0"
      oneproxy sql "SELECT * FROM coverage" --format csv -o coverage.csv
    """
    table = query(wh, query_text, guard=True)
    render(table, fmt, output)


main.add_command(ingest)
main.add_command(srcc)
main.add_command(search)
main.add_command(adapt)
main.add_command(evaluate)
main.add_command(lut_eval)
main.add_command(predict)
main.add_command(train)
main.add_command(report)
main.add_command(run)
main.add_command(runs)
main.add_command(plan)
main.add_command(propose)

if __name__ == "__main__":
    sys.exit(main())
