"""The ingest stage: load sources, merge series copies, and commit every table in one swap."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import oneproxy.ingest
import oneproxy.warehouse
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
from oneproxy.ingest import eagle, help, nb201_accuracy, ofa_lut, ren_oneproxy
from oneproxy.ingest.batch import Resolver, SourceBatch
from oneproxy.ingest.merge import merge_series
from oneproxy.ingest.nb201_index import load_index
from oneproxy.ingest.registry import source
from oneproxy.warehouse.catalog import ensure_catalog
from oneproxy.warehouse.devices import Device, devices_table
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.schemas import (
    ACCURACY,
    DEVICES,
    ENERGY,
    LATENCY_RAW,
    OP_LATENCY,
    REFERENCE_ARCHS,
    SOURCES,
)
from oneproxy.warehouse.spaces import nb201, spaces_table
from oneproxy.warehouse.store import Warehouse

Loader = Callable[[Resolver], SourceBatch]

LOADERS: dict[str, Loader] = {
    "help": help.load,
    "oneproxy": ren_oneproxy.load,
    "eagle": eagle.load,
    "nb201_acc": nb201_accuracy.load,
    "ofa_note10": ofa_lut.load_note10,
    "ofa_zcu": ofa_lut.load_fpga,
}


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did: which sources, how many rows, which tables changed."""

    sources: tuple[str, ...]
    latency_rows: int
    accuracy_rows: int
    devices: int
    changed_tables: tuple[str, ...]
    seconds: float


@cache
def ingest_code_version() -> str:
    """sha256 of the code behind what ingest writes: every module of `oneproxy.ingest` and
    `oneproxy.warehouse`, byte for byte."""
    h = hashlib.sha256()
    for package in (oneproxy.ingest, oneproxy.warehouse):
        root = Path(next(iter(package.__path__)))
        for path in sorted(root.rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _pinned_fingerprint(source_id: str) -> str:
    """What a registered source's `sources.fingerprint` records: its pinned files, the code."""
    pinned = sorted(f"{f.path} {f.sha256}" for f in source(source_id).files)
    text = "\n".join([*pinned, f"code {ingest_code_version()}"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fingerprint(batch: SourceBatch) -> str:
    if batch.source_id in LOADERS:
        return _pinned_fingerprint(batch.source_id)
    text = "\n".join(sorted(f"{f.path} {f.sha256}" for f in batch.files))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def unchanged(wh: Warehouse, source_ids: list[str]) -> IngestResult | None:
    """The result of ingesting these registered sources when it would write nothing, else None.

    Nothing changes when the `sources` table recorded each source with today's pinned sha256s
    and ingest code version, every file it read is still pinned with the same sha256, and every
    table version of the manifest is on disk (a missing or emptied version is rebuilt).
    """
    start = time.perf_counter()
    manifest = wh.manifest()
    if "sources" not in manifest or any(s not in LOADERS for s in source_ids):
        return None
    for name, version in manifest.items():
        folder = wh.table_dir(name, version)
        if not folder.is_dir() or next(folder.rglob("*.parquet"), None) is None:
            return None
    recorded = {row["source_id"]: row for row in wh.read("sources").to_pylist()}
    pinned = {(f.path, f.sha256) for s in LOADERS for f in source(s).files}
    for source_id in source_ids:
        row = recorded.get(source_id)
        if row is None or row["fingerprint"] != _pinned_fingerprint(source_id):
            return None
        if any((f["path"], f["sha256"]) not in pinned for f in row["files"]):
            return None
    ensure_catalog(wh)
    counts = {name: ds.dataset(wh.table_dir(name), format="parquet").count_rows()
              for name in ("latency", "accuracy", "devices") if name in manifest}
    return IngestResult(
        sources=tuple(source_ids), latency_rows=counts.get("latency", 0),
        accuracy_rows=counts.get("accuracy", 0), devices=counts.get("devices", 0),
        changed_tables=(), seconds=time.perf_counter() - start,
    )


def _source_rows(batches: list[SourceBatch], previous: pa.Table | None) -> pl.DataFrame:
    old = pl.from_arrow(previous) if previous is not None else pl.from_arrow(SOURCES.empty_table())
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    rows = []
    for b in batches:
        fp = _fingerprint(b)
        kept = old.filter((pl.col("source_id") == b.source_id) & (pl.col("fingerprint") == fp))
        rows.append({
            "source_id": b.source_id, "repo": b.repo, "commit": b.commit, "license": b.license,
            "description": b.description,
            "files": [vars(f) for f in sorted(set(b.files), key=lambda f: (f.role, f.path))],
            "fingerprint": fp,
            "ingested_at": kept["ingested_at"][0] if kept.height else stamp,
            "latency_rows": b.latency_table().num_rows,
            "accuracy_rows": b.accuracy_table().num_rows,
        })
    new = pl.from_arrow(pa.Table.from_pylist(rows, schema=SOURCES))
    ids = [b.source_id for b in batches]
    return pl.concat([old.filter(~pl.col("source_id").is_in(ids)), new])


def _replace(previous: pa.Table | None, schema: pa.Schema, ids: list[str],
             new: list[pa.Table]) -> pa.Table:
    """A table with the rows of these sources replaced by their new rows."""
    kept = [] if previous is None else [
        pl.from_arrow(previous).filter(~pl.col("source_id").is_in(ids)).to_arrow().cast(schema)
    ]
    return pa.concat_tables([schema.empty_table(), *kept, *new])


def _devices(previous: pa.Table | None, batches: list[SourceBatch], latency: pa.Table,
             op_latency: pa.Table) -> pa.Table:
    """Registry metadata of every device that has measurements (newest metadata wins)."""
    fresh: dict[str, Device] = {d.device_id: d for b in batches for d in b.devices}
    new = pl.from_arrow(devices_table(list(fresh.values())))
    old = pl.from_arrow(previous if previous is not None else DEVICES.empty_table())
    used = pl.concat([pl.from_arrow(t.select(["device_id"])) for t in (latency, op_latency)])
    used = used.get_column("device_id").unique()
    merged = pl.concat([old.filter(~pl.col("device_id").is_in(list(fresh))), new])
    return merged.filter(pl.col("device_id").is_in(used.implode())).to_arrow().cast(DEVICES)


class ArchKeyConflict(OneproxyError):
    """One (space, arch_id) named by two different arch keys."""


def _architectures(previous: pa.Table | None, batches: list[SourceBatch],
                   resolve: Resolver) -> pa.Table:
    """Every NAS-Bench-201 cell, plus the architectures of other spaces that sources brought."""
    index = load_index(resolve)
    frames = [pl.from_arrow(nb201.arch_table(index.strings, np.arange(nb201.N_ARCHS)))]
    if previous is not None:
        frames.append(pl.from_arrow(previous).filter(pl.col("space_id") != nb201.SPACE_ID))
    frames += [pl.from_arrow(t) for b in batches for t in b.architectures]
    rows = pl.concat(frames, how="diagonal_relaxed")
    keys = rows.select("space_id", "arch_id", "arch_key").unique()
    clash = keys.filter(pl.struct("space_id", "arch_id").is_duplicated())
    if clash.height:
        first = clash.sort("space_id", "arch_id", "arch_key").head(2).rows(named=True)
        raise ArchKeyConflict(
            f"{first[0]['space_id']} arch_id {first[0]['arch_id']} is named by two keys: "
            f"{first[0]['arch_key']!r} and {first[1]['arch_key']!r}"
        )
    return rows.unique(["space_id", "arch_id"], keep="last", maintain_order=True).to_arrow()


def commit_batches(wh: Warehouse, batches: list[SourceBatch], resolve: Resolver) -> IngestResult:
    """Merge the batches with what the warehouse holds and publish the result atomically."""
    start = time.perf_counter()
    ids = [b.source_id for b in batches]
    raw = _replace(wh.read_or_none("latency_raw"), LATENCY_RAW, ids,
                   [b.latency_table() for b in batches])
    accuracy = _replace(wh.read_or_none("accuracy"), ACCURACY, ids,
                        [b.accuracy_table() for b in batches])
    reference = _replace(wh.read_or_none("reference_archs"), REFERENCE_ARCHS, ids,
                         [t for b in batches for t in b.reference])
    op_latency = _replace(wh.read_or_none("op_latency"), OP_LATENCY, ids,
                          [b.op_latency_table() for b in batches])
    energy = _replace(wh.read_or_none("energy"), ENERGY, ids, [b.energy_table() for b in batches])
    latency, provenance = merge_series(raw)
    architectures = _architectures(wh.read_or_none("architectures"), batches, resolve)
    spaces = set(latency["space_id"].to_pylist()) | set(op_latency["space_id"].to_pylist())
    tables = {
        "latency_raw": raw,
        "latency": latency,
        "series_provenance": provenance,
        "accuracy": accuracy,
        "reference_archs": reference,
        "op_latency": op_latency,
        "energy": energy,
        "devices": _devices(wh.read_or_none("devices"), batches, latency, op_latency),
        "sources": _source_rows(batches, wh.read_or_none("sources")).to_arrow().cast(SOURCES),
        "architectures": architectures,
        "spaces": spaces_table(spaces | {nb201.SPACE_ID}),
    }
    changed = wh.commit(tables)
    ensure_catalog(wh)
    return IngestResult(
        sources=tuple(ids), latency_rows=latency.num_rows, accuracy_rows=accuracy.num_rows,
        devices=tables["devices"].num_rows, changed_tables=tuple(sorted(changed)),
        seconds=time.perf_counter() - start,
    )


def load_sources(source_ids: list[str], resolve: Resolver, eagle_dir: Path | None = None,
                 progress: Callable[[str], None] = lambda _: None) -> list[SourceBatch]:
    """Load and validate each source; nothing is written."""
    batches = []
    for source_id in source_ids:
        progress(source_id)
        if source_id == "eagle" and eagle_dir is not None:
            batches.append(eagle.load(resolve, eagle_dir))
        else:
            batches.append(LOADERS[source_id](resolve))
    return batches
