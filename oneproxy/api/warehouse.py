"""Opening a warehouse, and checks of user-given names against what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from oneproxy.warehouse.errors import WarehouseEmpty
from oneproxy.warehouse.names import check_space_name
from oneproxy.warehouse.store import Warehouse

if TYPE_CHECKING:
    import pyarrow as pa

SPACES_SQL = "SELECT space_id FROM spaces ORDER BY 1"  # the rows `check_known_space` reads


def open_warehouse(path: Path | str) -> Warehouse:
    """The warehouse in folder `path` (it need not exist yet: ingest creates it)."""
    return Warehouse(Path(path))


def require_warehouse(wh: Warehouse) -> None:
    """Raise `WarehouseEmpty` when there is no warehouse in the folder at all."""
    if not wh.exists():
        raise WarehouseEmpty(f"no warehouse at {wh.root}: run `oneproxy ingest --all` first "
                             "(or pass --warehouse DIR)")


def check_space(wh: Warehouse, space: str) -> None:
    """Raise `UnknownSpace` naming the spaces the warehouse has, unless it has `space`."""
    from oneproxy.warehouse.catalog import query  # DuckDB: not loaded by commands that never query

    check_known_space(query(wh, SPACES_SQL), space)


def check_known_space(spaces: pa.Table, space: str) -> None:
    """`check_space` against the rows of `SPACES_SQL` the caller has read."""
    check_space_name(space, spaces.column("space_id").to_pylist(), "the warehouse has")
