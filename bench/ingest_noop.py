"""Benchmark: a no-op `ingest --all`, loaded and merged (today's path) against decided first.

Both run on the warehouse given (ingest it once first); neither writes anything.

    ONEPROXY_MIRROR=../shared/datasets python -m bench.ingest_noop --warehouse DIR
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from oneproxy.ingest.fetch import default_cache_dir, fetch
from oneproxy.ingest.pipeline import LOADERS, commit_batches, load_sources
from oneproxy.warehouse.store import Warehouse

from bench.common import best_time
from oneproxy.api.ingest import ingest


@click.command()
@click.option("--warehouse", type=click.Path(file_okay=False, path_type=Path), required=True)
def main(warehouse: Path) -> None:
    """Time both no-op paths (best of 3)."""
    mirror = os.environ.get("ONEPROXY_MIRROR")
    wh = Warehouse(warehouse)

    def resolve(f):
        return fetch(f, mirror=Path(mirror) if mirror else None, cache=default_cache_dir())

    ids = sorted(LOADERS)
    ingest(wh, ids)  # brings the sources table up to date once
    t_load, loaded = best_time(lambda: commit_batches(wh, load_sources(ids, resolve), resolve), 3)
    t_first, first = best_time(lambda: ingest(wh, ids), 3)
    assert loaded.changed_tables == first.changed_tables == ()
    click.echo(f"no-op ingest of {len(ids)} sources ({first.latency_rows:,} latency rows)")
    click.echo(f"  load + merge + fingerprint, then write nothing  {t_load:7.3f} s")
    click.echo(f"  decided before loading (pipeline.unchanged)     {t_first:7.3f} s   "
               f"ratio {t_load / t_first:6.1f}x")


if __name__ == "__main__":
    main()
