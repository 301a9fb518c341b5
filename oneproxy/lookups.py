"""Checks of user-given names against what the warehouse holds, shared by the commands."""

from __future__ import annotations

from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.errors import UnknownSpace
from oneproxy.warehouse.store import Warehouse


def check_space(wh: Warehouse, space: str) -> None:
    """Raise `UnknownSpace` naming the spaces the warehouse has, unless it has `space`."""
    known = query(wh, "SELECT space_id FROM spaces ORDER BY 1").column("space_id").to_pylist()
    if space not in known:
        raise UnknownSpace(f"unknown space '{space}': the warehouse has {', '.join(known)}")
