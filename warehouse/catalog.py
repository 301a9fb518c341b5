"""The DuckDB catalog: views over the current Parquet versions, defined by the files in `sql/`."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa
from oneproxy.warehouse.errors import QueryRefused, WarehouseEmpty
from oneproxy.warehouse.schemas import PARTITIONS
from oneproxy.warehouse.store import Warehouse

SQL_DIR = Path(str(resources.files("oneproxy.sql")))  # package data, also when installed
CATALOG = "catalog.duckdb"
_REQUIRES = re.compile(r"^--\s*requires:\s*(.+)$", re.MULTILINE)
READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN"}


def sql_text(name: str) -> str:
    """The text of one file in `sql/`."""
    return (SQL_DIR / name).read_text()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _definitions(tables: set[str]) -> list[str]:
    """SQL files whose required tables all exist, in name order."""
    out = []
    for path in sorted(SQL_DIR.glob("*.sql")):
        if path.name == "table_view.sql":
            continue
        text = path.read_text()
        match = _REQUIRES.search(text)
        needed = {t.strip() for t in match.group(1).split(",")} if match else set()
        if needed <= tables:
            out.append(text)
    return out


def _stamp(wh: Warehouse) -> str:
    """What a catalog was built from: the root, the manifest and the view definitions."""
    views = "".join(p.read_text() for p in sorted(SQL_DIR.glob("*.sql")))
    return "\n".join([str(wh.root), wh.manifest_path.read_text(),
                      hashlib.sha256(views.encode()).hexdigest()])


def build_catalog(wh: Warehouse) -> Path:
    """Write the catalog file anew for the warehouse's current tables (atomic replace)."""
    tables = wh.manifest()
    template = sql_text("table_view.sql")
    fd, tmp = tempfile.mkstemp(prefix=".catalog.", suffix=".duckdb", dir=wh.root)
    os.close(fd)
    os.unlink(tmp)
    try:
        con = duckdb.connect(tmp)
        for name in sorted(tables):
            glob = str(wh.table_dir(name, tables[name]) / "**" / "*.parquet")
            hive = "true" if name in PARTITIONS else "false"
            con.execute(template.format(name=name, glob=_quote(glob), hive=hive))
        for text in _definitions(set(tables)):
            con.execute(text)
        con.execute("CREATE OR REPLACE TABLE catalog_info AS SELECT ? AS stamp", [_stamp(wh)])
        con.close()
        os.replace(tmp, wh.root / CATALOG)
    finally:
        for leftover in (tmp, tmp + ".wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return wh.root / CATALOG


def _catalog_current(wh: Warehouse, path: Path) -> bool:
    if not path.exists():
        return False
    con = duckdb.connect(str(path), read_only=True)
    try:
        (stamp,) = con.execute("SELECT stamp FROM catalog_info").fetchone()
    except duckdb.Error:
        return False
    finally:
        con.close()
    return stamp == _stamp(wh)


def ensure_catalog(wh: Warehouse) -> Path:
    """The catalog file, rebuilt only when the warehouse, its place or the views changed."""
    path = wh.root / CATALOG
    return path if _catalog_current(wh, path) else build_catalog(wh)


def connect(wh: Warehouse) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog, rebuilt first if the warehouse moved or changed."""
    if not wh.exists():
        raise WarehouseEmpty(
            f"no warehouse at {wh.root}: run `oneproxy ingest --all` first "
            "(or pass --warehouse DIR)"
        )
    return duckdb.connect(str(ensure_catalog(wh)), read_only=True)


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but SELECT / EXPLAIN statements, naming the statement type."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"SQL does not parse: {str(exc).splitlines()[0]}") from None
    if not statements:
        raise QueryRefused("empty SQL: give a SELECT statement")
    for statement in statements:
        kind = statement.type.name
        if kind not in READ_ONLY_STATEMENTS:
            raise QueryRefused(
                f"{kind} statements are refused: the catalog is read-only; only SELECT queries run"
            )


def query(wh: Warehouse, sql: str, params: list | None = None, *, guard: bool = False) -> pa.Table:
    """Run SQL on a read-only catalog connection and return an Arrow table.

    With `guard`, anything but SELECT / EXPLAIN is refused first (for SQL typed by users).
    Errors from DuckDB become one-line `QueryRefused` messages.
    """
    con = connect(wh)
    try:
        if guard:
            check_read_only(con, sql)
        return con.sql(sql, params=params).to_arrow_table()
    except duckdb.Error as exc:
        raise QueryRefused(f"query failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
