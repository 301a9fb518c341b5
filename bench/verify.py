"""Cost of checking a warehouse's files on every open: cold (hashing), warm (cached), none.

    python -m bench.verify --warehouse DIR [--repeats 5]

Times `query(wh, "SELECT count(*) FROM latency")` with the check switched off (the baseline),
with a warm hash cache (what every command pays), and with the cache deleted first (the first
open after a change: every file is hashed), and prints the ratios to the baseline.
"""

from __future__ import annotations

from pathlib import Path

import click
from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.store import VERIFY_CACHE, Warehouse

from bench.common import best_time

SQL = "SELECT count(*) AS n FROM latency"


@click.command()
@click.option("--warehouse", type=click.Path(path_type=Path, file_okay=False, exists=True),
              required=True)
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True)
def main(warehouse: Path, repeats: int) -> None:
    size = sum(p.stat().st_size for p in (warehouse / "tables").rglob("*") if p.is_file())

    def unchecked() -> None:
        wh = Warehouse(warehouse)
        wh.check = lambda names=None: None  # the baseline: no verification
        query(wh, SQL)

    def warm() -> None:
        query(Warehouse(warehouse), SQL)

    def cold() -> None:
        (warehouse / VERIFY_CACHE).unlink(missing_ok=True)
        query(Warehouse(warehouse), SQL)

    warm()  # build the catalog and the cache first
    base, _ = best_time(unchecked, repeats)
    hot, _ = best_time(warm, repeats)
    first, _ = best_time(cold, repeats)
    warm()
    click.echo(f"{size / 1e6:.1f} MB of Parquet; open + query, best of {repeats}:")
    click.echo(f"  no check   {base * 1000:8.1f} ms")
    click.echo(f"  warm cache {hot * 1000:8.1f} ms  ({hot / base:.2f}x)")
    click.echo(f"  cold       {first * 1000:8.1f} ms  ({first / base:.2f}x)")


if __name__ == "__main__":
    main()
