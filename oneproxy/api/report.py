"""The report of a warehouse: one self-contained HTML page and its summary.json."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from oneproxy.api.names import REPORT_HTML, SUMMARY_JSON
from oneproxy.search.loop_eval import summarize_loop
from oneproxy.search.oneproxy import summarize
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import WarehouseEmpty
from oneproxy.warehouse.store import Warehouse

if TYPE_CHECKING:
    from oneproxy.analytics.report import ReportTables


def read_report_tables(wh: Warehouse) -> ReportTables:
    """The rows of each `sql/queries/report_*.sql` whose warehouse tables exist (else None)."""
    from oneproxy.analytics.report import ReportTables  # matplotlib: only when a report is made

    present = set(wh.manifest())

    def rows(name: str, *needs: str) -> pa.Table | None:
        if not set(needs) <= present:
            return None
        return query(wh, sql_text(f"queries/report_{name}.sql"))

    picks = rows("search", "search_result")
    loop = rows("verify_loop", "verify_loop")
    return ReportTables(
        spaces=rows("spaces", "spaces", "latency"),
        coverage=rows("coverage", "latency", "devices"),
        sources=rows("sources", "sources"),
        srcc=rows("srcc", "srcc"),
        adaptation=rows("adaptation", "adaptation"),
        search=picks,
        search_summary=None if picks is None else search_summary(picks),
        verify_loop=None if loop is None or loop.num_rows == 0 else summarize_loop(loop),
    )


def search_summary(picks: pa.Table) -> pa.Table | None:
    """`search.oneproxy.summarize` of the one-proxy runs of each space, with a space_id column."""
    proxied = pl.from_arrow(picks).filter(pl.col("method") != "exhaustive")
    parts = [
        pl.from_arrow(summarize(part.to_arrow())).select(pl.lit(space).alias("space_id"),
                                                         pl.all())
        for (space,), part in proxied.partition_by("space_id", as_dict=True).items()
    ]
    return pl.concat(parts).to_arrow() if parts else None


def write_report(wh: Warehouse, out: Path, run_info: dict | None = None,
                 generated_at: str | None = None) -> tuple[Path, Path]:
    """Write `report.html` and `summary.json` into `out` (each atomically); return both paths.

    `run_info` ({"run_id", "started_at", "fingerprints": {stage: fp}}) comes from `oneproxy run`;
    without it the report identifies its inputs by the warehouse's table fingerprints.
    `generated_at` stamps the page (default: now).
    """
    if not wh.exists():
        raise WarehouseEmpty(
            f"no warehouse at {wh.root}: run `oneproxy ingest --all` first (or pass --warehouse)"
        )
    info = {
        "generated_at": generated_at or datetime.now(UTC).isoformat(timespec="seconds"),
        "version": version("oneproxy"),
        "warehouse": str(wh.root),
        "run": run_info,
        "tables": wh.manifest(),
    }
    from oneproxy.analytics.report import build_report

    page, summary = build_report(read_report_tables(wh), info)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    html_path = _write_atomic(out / REPORT_HTML, page)
    summary_path = _write_atomic(out / SUMMARY_JSON,
                                 json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return html_path, summary_path


def _write_atomic(path: Path, text: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
