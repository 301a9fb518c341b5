"""The DuckDB catalog: views over the current Parquet versions, defined by the files in `sql/`.

Users' SQL runs on a connection that cannot write or reach outside the warehouse: external
access is limited to the warehouse folder, the configuration is locked, extensions are neither
installed nor loaded, and only one SELECT (or EXPLAIN of a SELECT) runs per call.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa
from oneproxy.warehouse.atomic import write_error
from oneproxy.warehouse.errors import QueryRefused, WarehouseEmpty
from oneproxy.warehouse.schemas import PARTITIONS
from oneproxy.warehouse.store import Warehouse

SQL_DIR = Path(str(resources.files("oneproxy.sql")))  # package data, also when installed
CATALOG = "catalog.duckdb"
_REQUIRES = re.compile(r"^--\s*requires:\s*(.+)$", re.MULTILINE)
READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN"}
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)
_NO_EXTENSIONS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
MAX_MESSAGE = 300
_FOUND_CURRENT: set[tuple] = set()  # (catalog file, its identity, stamp) found current
_HELD: dict[str, tuple[tuple, duckdb.DuckDBPyConnection]] = {}  # path -> (identity, connection)
_HELD_LOCK = threading.RLock()


def sql_text(name: str) -> str:
    """The text of one file in `sql/`."""
    return (SQL_DIR / name).read_text()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE] + "…"


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


def catalog_path(wh: Warehouse) -> Path:
    """`<root>/catalog.duckdb`, or a file in the temp folder when the warehouse is read-only."""
    if os.access(wh.root, os.W_OK):
        return wh.root / CATALOG
    key = hashlib.sha256(str(wh.root).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"oneproxy-catalog-{os.getuid()}-{key}.duckdb"


def build_catalog(wh: Warehouse) -> Path:
    """Write the catalog file anew for the warehouse's current tables (atomic replace)."""
    tables = wh.manifest()
    target = catalog_path(wh)
    template = sql_text("table_view.sql")
    fd, tmp = tempfile.mkstemp(prefix=".catalog.", suffix=".duckdb", dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        con = duckdb.connect(tmp, config=dict(_NO_EXTENSIONS))
        for name in sorted(tables):
            glob = str(wh.table_dir(name, tables[name]) / "**" / "*.parquet")
            hive = "true" if name in PARTITIONS else "false"
            con.execute(template.format(name=name, glob=_quote(glob), hive=hive))
        for text in _definitions(set(tables)):
            con.execute(text)
        con.execute("CREATE OR REPLACE TABLE catalog_info AS SELECT ? AS stamp", [_stamp(wh)])
        con.close()
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)  # a damaged catalog: a folder where the file belongs
        os.replace(tmp, target)
    except OSError as exc:
        raise write_error(exc, target) from None
    finally:
        for leftover in (tmp, tmp + ".wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return target


def _catalog_current(wh: Warehouse, path: Path) -> bool:
    """True if `path` is a readable catalog stamped with the warehouse's current state (a file
    found current is not opened again while it and the stamp stay the same)."""
    try:
        key = (str(path), *_identity(path), _stamp(wh))
    except OSError:
        return False
    if key in _FOUND_CURRENT:
        return True
    if _stamp_in(path) != key[-1]:
        return False
    _FOUND_CURRENT.add(key)
    return True


def _stamp_in(path: Path) -> str | None:
    """The stamp a catalog file was built with (None when it cannot be read)."""
    try:
        row = _held(path).cursor().execute("SELECT stamp FROM catalog_info").fetchone()
    except (duckdb.Error, OSError):
        _release(path)
        return None  # garbage or truncated: it is rebuilt
    return row[0] if row else None


def catalog_state(wh: Warehouse) -> str:
    """'current', 'stale' (built from another manifest or views), 'damaged' or 'missing'."""
    path = catalog_path(wh)
    if not path.exists():
        return "missing"
    if _catalog_current(wh, path):
        return "current"
    return "damaged" if _stamp_in(path) is None else "stale"


def ensure_catalog(wh: Warehouse) -> Path:
    """The catalog file, rebuilt when missing, damaged, or when the warehouse, its place or the
    views changed."""
    path = catalog_path(wh)
    return path if _catalog_current(wh, path) else build_catalog(wh)


def connect(wh: Warehouse, *, user: bool = False,
            allow_files: bool = False) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the catalog, after checking every table's files.

    `user` (for SQL typed by users) locks a fresh connection down: file access only inside the
    warehouse (anywhere with `allow_files`), no extensions, configuration locked. Otherwise it
    is a cursor on a connection kept open while the catalog file stays the same (close it
    after use, as any connection).
    """
    if not wh.exists():
        raise WarehouseEmpty(
            f"no warehouse at {wh.root}: run `oneproxy ingest --all` first "
            "(or pass --warehouse DIR)"
        )
    wh.check()
    path = ensure_catalog(wh)
    if not user:
        return _held(path).cursor()
    _release(path)  # DuckDB shares one database per file: settings locked below would stay on it
    con = duckdb.connect(str(path), read_only=True, config=dict(_NO_EXTENSIONS))
    if not allow_files:
        con.execute(f"SET allowed_directories = [{_quote(str(wh.root) + os.sep)}]")
        con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _identity(path: Path) -> tuple:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns, info.st_size


def _held(path: Path) -> duckdb.DuckDBPyConnection:
    """The process's open read-only connection to the catalog file `path` (reopened when the
    file was replaced)."""
    identity = _identity(path)
    with _HELD_LOCK:
        held = _HELD.get(str(path))
        if held is None or held[0] != identity:
            _release(path)
            held = _HELD[str(path)] = (identity, duckdb.connect(str(path), read_only=True,
                                                               config=dict(_NO_EXTENSIONS)))
        return held[1]


def _release(path: Path) -> None:
    """Close the held connection to `path`, if any (DuckDB would hand its old database back to
    a new connection on the same path while it is open)."""
    with _HELD_LOCK:
        held = _HELD.pop(str(path), None)
    if held is not None:
        held[1].close()


def _keyword(text: str) -> str:
    return (text.split(None, 1) or ["(empty)"])[0].upper().rstrip(";")


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but one SELECT, or EXPLAIN of one SELECT, naming what was refused."""
    try:
        statements = con.extract_statements(sql)
    except (duckdb.Error, ValueError) as exc:
        raise QueryRefused(f"SQL does not parse: {_one_line(str(exc).splitlines()[0])}") from None
    if not statements:
        raise QueryRefused("empty SQL: give a SELECT statement")
    for statement in statements:
        kind = statement.type.name
        if kind not in READ_ONLY_STATEMENTS:
            raise QueryRefused(
                f"{_keyword(statement.query)} statements are refused: the catalog is read-only; "
                "only SELECT queries run"
            )
        if kind == "EXPLAIN":
            inner = _EXPLAIN.sub("", statement.query, count=1)
            if _keyword(inner) in ("EXPLAIN", "(EMPTY)"):
                raise QueryRefused("EXPLAIN of this statement is refused: explain one SELECT")
            check_read_only(con, inner)
    if len(statements) > 1:
        raise QueryRefused(f"{len(statements)} statements given: one statement per call "
                           "(split them, or join them with UNION ALL / a CTE)")


def query(wh: Warehouse, sql: str, params: list | None = None, *, guard: bool = False,
          allow_files: bool = False, timeout: float | None = None,
          max_rows: int | None = None) -> pa.Table:
    """Run SQL on a read-only catalog connection and return an Arrow table.

    With `guard` (for SQL typed by users) the connection is locked down (see `connect`), and
    anything but one SELECT / EXPLAIN SELECT is refused first. `timeout` interrupts the query
    after that many seconds; more than `max_rows` rows is an error. DuckDB's errors become
    one-line `QueryRefused` messages.
    """
    con = connect(wh, user=guard, allow_files=allow_files)
    try:
        if guard:
            check_read_only(con, sql)
        return _run(con, sql, params, timeout, max_rows)
    finally:
        con.close()


def queries(wh: Warehouse, statements: Sequence[tuple[str, list | None]]) -> list[pa.Table]:
    """Run several plain queries (SQL, params) on one catalog connection, the warehouse checked
    once: one Arrow table per statement, errors as in `query`."""
    con = connect(wh)
    try:
        return [_run(con, sql, params) for sql, params in statements]
    finally:
        con.close()


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list | None,
         timeout: float | None = None, max_rows: int | None = None) -> pa.Table:
    """One statement's result (see `query`)."""
    timer = threading.Timer(timeout, con.interrupt) if timeout else None
    try:
        if timer is not None:
            timer.start()
        result = con.sql(sql, params=params)
        if result is None:
            return pa.table({})
        if max_rows is None:
            return result.to_arrow_table()
        return _at_most(result.to_arrow_reader(), max_rows)
    except duckdb.InterruptException:
        raise QueryRefused(f"query interrupted after the {timeout:g}s timeout "
                           "(raise --timeout, or narrow the query)") from None
    except duckdb.Error as exc:
        raise QueryRefused(f"query failed: {_one_line(str(exc).splitlines()[0])}") from None
    finally:
        if timer is not None:
            timer.cancel()


def _at_most(reader: pa.RecordBatchReader, max_rows: int) -> pa.Table:
    batches, rows = [], 0
    for batch in reader:
        rows += batch.num_rows
        if rows > max_rows:
            raise QueryRefused(f"the query returns more than {max_rows:,} rows (--max-rows): "
                               "add a LIMIT or raise --max-rows")
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=reader.schema)
