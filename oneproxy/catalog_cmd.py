"""`oneproxy sources`, `spaces`, `devices`, `sql`: what the warehouse holds; read-only SQL."""

from __future__ import annotations

from pathlib import Path

import click

from oneproxy.api.devices import remove_device
from oneproxy.api.warehouse import check_space
from oneproxy.options import output_options, space_option, warehouse_option
from oneproxy.output import render
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.store import Warehouse


@click.command()
@output_options
@warehouse_option
def sources(wh: Warehouse, fmt: str, output: Path | None) -> None:
    """List ingested sources with commit, license, files and row counts.

    \b
    Example:
      oneproxy sources --format json
    """
    render(query(wh, sql_text("queries/sources.sql")), fmt, output, title="sources")


@click.command()
@output_options
@warehouse_option
def spaces(wh: Warehouse, fmt: str, output: Path | None) -> None:
    """List search spaces with their size and how many devices cover them.

    \b
    Example:
      oneproxy spaces
    """
    render(query(wh, sql_text("queries/spaces.sql")), fmt, output, title="spaces")


@click.group(invoke_without_command=True)
@space_option(default=None, help="Only devices measured on this space (e.g. nb201).")
@output_options
@warehouse_option
@click.pass_context
def devices(ctx: click.Context, wh: Warehouse, space: str | None, fmt: str,
            output: Path | None) -> None:
    """List devices with platform class, framework, precision and coverage.

    `oneproxy devices remove D` removes a device and every row derived from it.

    \b
    Examples:
      oneproxy devices
      oneproxy devices --space nb201 --format csv
      oneproxy devices remove my_phone
    """
    if ctx.invoked_subcommand is not None:
        return
    if space is not None:
        check_space(wh, space)
    render(query(wh, sql_text("queries/devices.sql"), [space]), fmt, output, title="devices")


@devices.command("remove")
@click.argument("device")
@space_option(default=None, help="Only the device's series of this space [default: all].")
@warehouse_option
def remove(wh: Warehouse, device: str, space: str | None) -> None:
    """Remove a device's series and what was derived from them, in one atomic commit.

    Latency rows (merged and raw), series provenance, energy, stored predictions, SRCC pairs
    and search results of the device go; the device itself goes when no series is left.
    Nothing is asked and nothing changes on an unknown device.

    \b
    Examples:
      oneproxy devices remove my_phone
      oneproxy devices remove my_phone --space fbnet
    """
    click.echo(remove_device(wh, device, space).summary())


@click.command()
@click.argument("query_text", metavar="QUERY")
@click.option("--allow-files", is_flag=True,
              help="Let DuckDB's file functions (read_csv, glob, …) read any file of this machine; "
              "by default only the warehouse folder is readable.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=300,
              show_default=True, help="Interrupt the query after this many seconds.")
@click.option("--max-rows", type=click.IntRange(min=1), default=10_000_000, show_default=True,
              help="Refuse a result of more rows than this.")
@output_options
@warehouse_option
def sql(wh: Warehouse, query_text: str, allow_files: bool, timeout: float, max_rows: int,
        fmt: str, output: Path | None) -> None:
    """Run one read-only SQL query (SELECT, or EXPLAIN of a SELECT) over the warehouse catalog
    (DuckDB). It cannot write, install or load extensions, change settings, or read files
    outside the warehouse (unless --allow-files).

    Views: latency, latency_raw, latency_detail, coverage, devices, architectures,
    accuracy, sources, series_provenance, spaces.

    \b
    Examples:
      oneproxy sql "SELECT latency_ms FROM latency WHERE device_id = 'pixel3' AND arch_id = 0"
      oneproxy sql "SELECT * FROM coverage" --format csv -o coverage.csv
    """
    table = query(wh, query_text, guard=True, allow_files=allow_files, timeout=timeout,
                  max_rows=max_rows)
    render(table, fmt, output)
