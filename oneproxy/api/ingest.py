"""Ingest on the warehouse: pinned public sources, HW-NAS-Bench's pickle, users' own tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from oneproxy import settings
from oneproxy.api.errors import UnknownDataset
from oneproxy.api.progress import Progress, silent
from oneproxy.ingest import hwnasbench, user_table
from oneproxy.ingest.batch import Resolver
from oneproxy.ingest.fetch import fetch
from oneproxy.ingest.pipeline import (
    LOADERS,
    IngestResult,
    commit_batches,
    load_sources,
    unchanged,
)
from oneproxy.ingest.user_table import TableSpec
from oneproxy.warehouse import spaces
from oneproxy.warehouse.names import did_you_mean
from oneproxy.warehouse.store import Warehouse


def resolver(mirror: Path | None, cache: Path | None) -> Resolver:
    """Mirror → cache → HTTPS resolution of registry files, with the settings' defaults."""
    mirror_dir = settings.mirror_dir(mirror)
    cache_dir = settings.cache_dir(cache)

    def resolve(f: Any) -> Path:
        return fetch(f, mirror=mirror_dir, cache=cache_dir)

    return resolve


def ingest(wh: Warehouse, source_ids: list[str] | None = None, *, mirror: Path | None = None,
           cache: Path | None = None, eagle_dir: Path | None = None,
           on_progress: Progress = silent) -> IngestResult:
    """Load pinned sources (default: every one) and commit them in one atomic swap.

    Files are found in `mirror` (default $ONEPROXY_MIRROR), then `cache`, then downloaded.
    """
    ids = sorted(LOADERS) if source_ids is None else list(dict.fromkeys(source_ids))
    total = len(ids) + 1
    if eagle_dir is None and (result := unchanged(wh, ids)) is not None:
        return result  # the pinned files and the ingest code are those already ingested
    resolve = resolver(mirror, cache)
    batches = load_sources(ids, resolve, eagle_dir,
                           lambda name: on_progress(f"ingest {name}", ids.index(name), total))
    on_progress("ingest: merge and commit", len(ids), total)
    result = commit_batches(wh, batches, resolve)
    on_progress("ingest", total, total)
    return result


def ingest_table(wh: Warehouse, spec: TableSpec, *, existing: pa.Table | None = None,
                 mirror: Path | None = None, cache: Path | None = None) -> IngestResult:
    """A user's own measurements of one device (see `oneproxy.ingest.user_table`).

    `existing` (`user_table.existing_rows`) appends the rows to the device's stored series
    instead of replacing it. A warehouse that holds the space's architectures needs no upstream
    file.
    """
    resolve = resolver(mirror, cache)
    architectures = looking(wh).read_or_none("architectures")
    return commit_batches(wh, [user_table.load(spec, resolve, existing, architectures)], resolve)


def looking(wh: Warehouse) -> Warehouse:
    """A second handle on the warehouse for checks made before a commit: what it reads is not
    what the commit replaces, so a concurrent writer's commit in between is no conflict."""
    return Warehouse(wh.root)


def check_dataset(wh: Warehouse, space: str, dataset: str) -> None:
    """Raise `UnknownDataset` unless `dataset` is one of the space's datasets: its default and
    those the warehouse has latency or accuracy rows of."""
    known = {spaces.get(space).default_dataset}
    for table in ("latency", "accuracy"):
        if wh.has(table):
            rows = pl.from_arrow(looking(wh).read(table).select(["space_id", "dataset"]))
            known |= set(rows.filter(pl.col("space_id") == space)["dataset"].unique())
    if dataset not in known:
        shown = ", ".join(sorted(known))
        raise UnknownDataset(f"unknown dataset '{dataset}' for space {space}: use one of "
                             f"{shown}{did_you_mean(dataset, sorted(known))}")


def stale_predictions(wh: Warehouse, device_id: str, space: str) -> int:
    """How many stored AdaProxy predictions of the device on the space there are."""
    if not wh.has("predictions"):
        return 0
    rows = pl.from_arrow(looking(wh).read("predictions").select(["space_id", "device_id"]))
    return rows.filter((pl.col("space_id") == space) & (pl.col("device_id") == device_id)).height


def ingest_hwnasbench(wh: Warehouse, path: Path, *, mirror: Path | None = None,
                      cache: Path | None = None) -> IngestResult:
    """HW-NAS-Bench's pickle: NB201 latency and energy, FBNet operator tables."""
    return commit_batches(wh, [hwnasbench.load(path)], resolver(mirror, cache))
