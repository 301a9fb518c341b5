"""The one replace path: a table's stored rows with a new result's rows in place of theirs."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.schemas import REGISTRY
from oneproxy.warehouse.store import Warehouse, canonical, replace_rows


def merged(name: str, old: pa.Table | None, new: pa.Table,
           scope: Sequence[str] | None = None) -> pa.Table:
    """Table `name` with `new` replacing the rows of `old` that share its declared replace key.

    `scope` (wider columns, e.g. ("space_id", "dataset", "method") for an SRCC run over a whole
    space) replaces more: every old row sharing those values with a new row.
    """
    if name not in REGISTRY:
        raise OneproxyError(f"no warehouse table named {name!r}: known {', '.join(REGISTRY)}")
    table = REGISTRY[name]
    rows = new if table.schema is None else new.select(table.schema.names).cast(table.schema)
    return canonical(name, replace_rows(old, rows, list(scope or table.replaces_by)))


def updated(wh: Warehouse, name: str, new: pa.Table,
            scope: Sequence[str] | None = None) -> pa.Table:
    """`merged` with the warehouse's stored version of the table."""
    return merged(name, wh.read_or_none(name), new, scope)


def publish(wh: Warehouse, name: str, new: pa.Table, scope: Sequence[str] | None = None) -> None:
    """Commit `updated(wh, name, new, scope)` as the table's new version."""
    wh.commit({name: updated(wh, name, new, scope)})
