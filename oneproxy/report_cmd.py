"""`oneproxy report`: write the HTML report and summary.json (`oneproxy.api.report`)."""

from __future__ import annotations

from pathlib import Path

import click

from oneproxy.api.report import write_report
from oneproxy.options import check_parent, warehouse_option
from oneproxy.warehouse.store import Warehouse


@click.command()
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              callback=check_parent,
              help="Folder for report.html and summary.json [default: <warehouse>/report].")
@warehouse_option
def report(wh: Warehouse, out: Path | None) -> None:
    """Write a self-contained HTML report (figures embedded, opens offline) and summary.json.

    Sections: coverage (spaces, devices, sources), SRCC heatmaps with the most and least
    monotone pairs, AdaProxy before / after SRCC per protocol next to published numbers, and
    one-proxy search curves with regret and violations. A section whose results are missing
    names the command that makes them. Prints the path of report.html.

    \b
    Examples:
      oneproxy report
      oneproxy report --out site/ && xdg-open site/report.html
    """
    html_path, summary_path = write_report(wh, out if out is not None else wh.root / "report")
    click.echo(str(html_path))
    click.echo(f"summary: {summary_path}", err=True)

