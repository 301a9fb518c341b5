"""`oneproxy verify [--repair]`: check every file of the warehouse, and repair what is damaged."""

from __future__ import annotations

from pathlib import Path

import click
import pyarrow as pa

from oneproxy.api.ingest import resolver
from oneproxy.api.verify import DAMAGED, Finding, repair, verify
from oneproxy.options import fetch_options, output_options, warehouse_option
from oneproxy.output import render
from oneproxy.warehouse.errors import WarehouseDamaged
from oneproxy.warehouse.store import Warehouse


def _table(findings: tuple[Finding, ...] | list[Finding]) -> pa.Table:
    return pa.Table.from_pylist([vars(f) for f in findings],
                                schema=pa.schema([("part", pa.string()), ("status", pa.string()),
                                                  ("detail", pa.string())]))


@click.command("verify")
@click.option("--repair", "fix", is_flag=True,
              help="Rebuild what is damaged: re-ingest the pinned sources, drop damaged result "
              "tables, rebuild the manifest and the catalog.")
@fetch_options
@output_options
@warehouse_option
def verify_command(wh: Warehouse, fix: bool, mirror: Path | None, cache: Path | None, fmt: str,
                   output: Path | None) -> None:
    """Check the manifest, every table's files (sha256 as recorded) and the catalog.

    Exit code 1 when something is damaged (without --repair) or still damaged after it.

    \b
    Examples:
      oneproxy verify
      oneproxy verify --repair
    """
    if not fix:
        findings = verify(wh)
        render(_table(findings), fmt, output, title=f"verify {wh.root}")
        bad = [f.part for f in findings if f.status == DAMAGED]
        if bad:
            raise WarehouseDamaged(f"damaged: {', '.join(bad)}; run `oneproxy verify --repair`")
        return
    outcome = repair(wh, resolver(mirror, cache))
    render(_table(outcome.after), fmt, output, title=f"verify {wh.root} after repair")
    click.echo(f"re-ingested: {', '.join(outcome.reingested) or 'nothing'}; dropped (run their "
               f"commands again): {', '.join(outcome.dropped) or 'nothing'}", err=True)
    if outcome.not_rebuilt and (outcome.reingested or outcome.dropped):
        click.echo(f"not rebuilt from pinned files (ingest them again if their rows are "
                   f"missing): {', '.join(outcome.not_rebuilt)}", err=True)
    still = [f.part for f in outcome.after if f.status == DAMAGED]
    if still:
        raise WarehouseDamaged(f"still damaged after repair: {', '.join(still)}")
