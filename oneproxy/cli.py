"""The `oneproxy` command line: parses options, calls the Python API, renders the result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ingest.fetch import fetch
from ingest.pipeline import LOADERS, IngestResult, commit_batches, load_sources
from oneproxy import settings
from oneproxy.adapt_cmd import adapt, predict
from oneproxy.evaluate_cmd import evaluate
from oneproxy.lookups import check_space
from oneproxy.options import fetch_options, output_options, warehouse_option
from oneproxy.output import render
from oneproxy.progress import progress_bar
from oneproxy.search_cmd import search
from oneproxy.srcc_cmd import srcc
from warehouse.catalog import query, sql_text
from warehouse.errors import OneproxyError
from warehouse.store import Warehouse


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


def run_ingest(wh: Warehouse, source_ids: list[str], mirror: Path | None, cache: Path | None,
               eagle_dir: Path | None = None) -> IngestResult:
    """Load the sources with a progress bar, then commit them in one atomic swap."""
    mirror_dir = settings.mirror_dir(mirror)
    cache_dir = settings.cache_dir(cache)

    def resolve(f: Any) -> Path:
        return fetch(f, mirror=mirror_dir, cache=cache_dir)

    with progress_bar() as progress:
        task = progress.add_task("ingest", total=len(source_ids) + 1)

        def step(name: str) -> None:
            progress.update(task, description=f"ingest {name}", completed=source_ids.index(name))

        batches = load_sources(source_ids, resolve, eagle_dir, step)
        progress.update(task, description="ingest: merge and commit", completed=len(source_ids))
        result = commit_batches(wh, batches, resolve)
        progress.update(task, completed=len(source_ids) + 1)
    return result


def _print_ingest(result: IngestResult, wh: Warehouse) -> None:
    changed = ", ".join(result.changed_tables) or "nothing changed"
    click.echo(
        f"ingested {', '.join(result.sources)} into {wh.root} in {result.seconds:.1f}s: "
        f"{result.latency_rows:,} latency rows, {result.accuracy_rows:,} accuracy rows, "
        f"{result.devices} devices; tables written: {changed}"
    )


@main.command()
@click.argument("sources", nargs=-1, type=click.Choice(sorted(LOADERS)))
@click.option("--all", "all_sources", is_flag=True, help="Ingest every known source.")
@click.option("--path", "eagle_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=None, help="With `eagle`: a folder of your own Eagle latency files.")
@fetch_options
@warehouse_option
def ingest(wh: Warehouse, sources: tuple[str, ...], all_sources: bool, eagle_dir: Path | None,
           mirror: Path | None, cache: Path | None) -> None:
    """Load upstream sources into the warehouse (sha256-verified, atomic, idempotent).

    \b
    Examples:
      ONEPROXY_MIRROR=../shared/datasets oneproxy ingest --all
      oneproxy ingest help oneproxy --mirror ../shared/datasets
      oneproxy ingest eagle --path ~/eagle-latency-files
    """
    if all_sources == bool(sources):
        raise click.UsageError("name SOURCES or give --all, not both or neither")
    if eagle_dir is not None and "eagle" not in sources:
        raise click.UsageError("--path goes with the `eagle` source")
    source_ids = sorted(LOADERS) if all_sources else list(dict.fromkeys(sources))
    _print_ingest(run_ingest(wh, source_ids, mirror, cache, eagle_dir), wh)


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


@main.command()
@fetch_options
@warehouse_option
def run(wh: Warehouse, mirror: Path | None, cache: Path | None) -> None:
    """The whole batch: ingest every source, then print the coverage summary.

    \b
    Example:
      ONEPROXY_MIRROR=../shared/datasets oneproxy run
    """
    _print_ingest(run_ingest(wh, sorted(LOADERS), mirror, cache), wh)
    render(query(wh, sql_text("queries/coverage_summary.sql")), "table", title="coverage")


main.add_command(srcc)
main.add_command(search)
main.add_command(adapt)
main.add_command(evaluate)
main.add_command(predict)

if __name__ == "__main__":
    sys.exit(main())
