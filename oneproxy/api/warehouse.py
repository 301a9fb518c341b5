"""Opening a warehouse, and checks of user-given names against what it holds."""

from __future__ import annotations

from pathlib import Path

from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.errors import UnknownSpace
from oneproxy.warehouse.store import Warehouse


def open_warehouse(path: Path | str) -> Warehouse:
    """The warehouse in folder `path` (it need not exist yet: ingest creates it)."""
    return Warehouse(Path(path))


def check_space(wh: Warehouse, space: str) -> None:
    """Raise `UnknownSpace` naming the spaces the warehouse has, unless it has `space`."""
    known = query(wh, "SELECT space_id FROM spaces ORDER BY 1").column("space_id").to_pylist()
    if space not in known:
        raise UnknownSpace(f"unknown space '{space}': the warehouse has {', '.join(known)}")
