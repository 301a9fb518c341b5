"""Check a warehouse against its manifest, and repair what is damaged.

`verify` checks the manifest, every table's files (sha256 and size as recorded, then a full read)
and the catalog. `repair` recovers a lost manifest from the version folders, re-ingests the
pinned sources the warehouse holds (every damaged table they produce is written anew), drops
damaged tables that no ingest produces (results of `run`, `srcc`, …: run those commands again)
and rebuilds the catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from oneproxy.ingest.batch import Resolver
from oneproxy.ingest.pipeline import LOADERS, commit_batches, load_sources
from oneproxy.warehouse.catalog import build_catalog, catalog_state
from oneproxy.warehouse.errors import WarehouseDamaged, WarehouseEmpty
from oneproxy.warehouse.store import Warehouse

OK, DAMAGED = "ok", "damaged"


@dataclass(frozen=True)
class Finding:
    """The state of one part of the warehouse: the manifest, a table, or the catalog."""

    part: str
    status: str  # ok | damaged | stale | missing
    detail: str


@dataclass(frozen=True)
class RepairOutcome:
    """What `repair` found and did."""

    before: tuple[Finding, ...]
    reingested: tuple[str, ...]
    dropped: tuple[str, ...]
    not_rebuilt: tuple[str, ...]  # sources of users' own files: ingest them again
    after: tuple[Finding, ...]


def _table(wh: Warehouse, name: str) -> Finding:
    try:
        wh.read(name)
    except WarehouseDamaged as exc:
        return Finding(name, DAMAGED, str(exc))
    return Finding(name, OK, f"version {wh.manifest()[name]}")


def verify(wh: Warehouse) -> list[Finding]:
    """One finding for the manifest, each table, and the catalog."""
    if not wh.exists() and not (wh.root / "tables").is_dir():
        raise WarehouseEmpty(f"no warehouse at {wh.root}: run `oneproxy ingest --all` first")
    try:
        names = sorted(wh.manifest())
    except WarehouseDamaged as exc:
        return [Finding("manifest", DAMAGED, str(exc))]
    if not wh.exists():
        return [Finding("manifest", DAMAGED, f"{wh.manifest_path} is missing beside "
                        "version folders: `oneproxy verify --repair` recovers it")]
    findings = [Finding("manifest", OK, f"{len(names)} tables"),
                *(_table(wh, name) for name in names)]
    state = catalog_state(wh)
    findings.append(Finding("catalog", OK if state == "current" else state,
                            "rebuilt by the next query" if state != "current" else "current"))
    return findings


def _damaged(findings: list[Finding]) -> list[str]:
    return [f.part for f in findings if f.status == DAMAGED and f.part not in ("manifest",
                                                                              "catalog")]


def _recorded_sources(wh: Warehouse) -> pa.Table | None:
    try:
        return wh.read_or_none("sources")
    except WarehouseDamaged:
        return None


def repair(wh: Warehouse, resolve: Resolver,
           progress: Callable[[str], None] = lambda _: None) -> RepairOutcome:
    """Make the warehouse whole again (see the module docstring); returns what was done."""
    before = verify(wh)
    reingested: list[str] = []
    dropped: list[str] = []
    not_rebuilt: list[str] = []
    with wh.writing(rebuild=True):  # recovers a lost or damaged manifest first
        findings = verify(wh)
        if _damaged(findings):
            sources = _recorded_sources(wh)
            held = sorted(LOADERS) if sources is None else sources["source_id"].to_pylist()
            reingested = [s for s in sorted(set(held)) if s in LOADERS]
            not_rebuilt = [s for s in sorted(set(held)) if s not in LOADERS]
            if reingested:
                commit_batches(wh, load_sources(reingested, resolve, progress=progress), resolve)
            dropped = _damaged(verify(wh))
            wh.drop(dropped)
        build_catalog(wh)
    return RepairOutcome(tuple(before), tuple(reingested), tuple(dropped), tuple(not_rebuilt),
                         tuple(verify(wh)))
