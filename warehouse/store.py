"""The Parquet store: content-addressed table versions published by one atomic manifest swap.

Layout of a warehouse directory::

    manifest.json                      which version of each table is current, with the sha256
                                       and size of every file of it
    tables/<name>/<fingerprint>/...    one immutable Parquet version (hive-partitioned if big)
    catalog.duckdb                     views over the current versions (see `warehouse.catalog`)
    .write.lock                        the write lock (see `warehouse.lock`)
    .verified.json                     cache of checked file hashes, keyed by size and mtime

A commit holds the write lock, re-reads the manifest, writes new versions beside the old ones,
then replaces `manifest.json` in one rename with only its own tables changed. A crash or an
error before that rename leaves the previous warehouse exactly as it was. A replaced version
stays on disk for `grace_seconds`, so that a reader that opened the previous manifest still
finds its files; every read checks the files of a version against the manifest.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from oneproxy.warehouse.atomic import atomic_write_bytes
from oneproxy.warehouse.errors import (
    DiskFull,
    WarehouseConflict,
    WarehouseDamaged,
    WarehouseEmpty,
    WriteFailed,
)
from oneproxy.warehouse.lock import write_lock
from oneproxy.warehouse.schemas import PARTITIONS, SORT_KEYS, TABLES

MANIFEST = "manifest.json"
FORMAT_VERSION = 2  # 2: per-file sha256 ("files") and retired versions ("retired")
READABLE_FORMATS = (1, 2)
VERIFY_CACHE = ".verified.json"
STALE_TEMP_S = 600.0  # temp files of readers (catalog builds) older than this are leftovers
REPAIR_HINT = "run `oneproxy verify --repair` (or `oneproxy ingest --all`) to rebuild it"

_NOT_READ = object()


FINGERPRINT_MEMO = "_fingerprints.json"


def table_fingerprint(table: pa.Table | Callable[[], pa.Table], *, version: Path | None = None,
                      part: str = "") -> str:
    """sha256 of a table's schema and content, independent of chunking.

    With `version`, the folder of the table version the rows come from (tables/<name>/<fp>:
    content-addressed, so immutable), the fingerprint of `part` of it (e.g. one space's rows) is
    memoised in the folder's `_fingerprints.json` (Parquet readers skip `_` files); `table` may
    then be a callable, built and hashed only when the memo lacks `part`.
    """
    memo_path = None if version is None else version / FINGERPRINT_MEMO
    memo = _read_memo(memo_path)
    if part in memo:
        return memo[part]
    rows = table() if callable(table) else table
    h = hashlib.sha256(rows.schema.serialize().to_pybytes())
    for batch in rows.combine_chunks().to_batches():
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        h.update(sink.getvalue().to_pybytes())
    fingerprint = h.hexdigest()[:16]
    if memo_path is not None and memo_path.parent.is_dir():
        _write_memo(memo_path, {**_read_memo(memo_path), part: fingerprint})
    return fingerprint


def _read_memo(path: Path | None) -> dict[str, str]:
    try:
        memo = json.loads(path.read_text(encoding="utf-8")) if path is not None else {}
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def _write_memo(path: Path, memo: dict[str, str]) -> None:
    """Write the memo under a temporary name and rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="_tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(memo, out, sort_keys=True)
    os.replace(tmp, path)


def canonical(name: str, table: pa.Table) -> pa.Table:
    """The table in the deterministic row order its name prescribes."""
    keys = [k for k in SORT_KEYS.get(name, ()) if k in table.column_names]
    if keys:
        table = table.sort_by([(k, "ascending") for k in keys])
    return table.combine_chunks()


def in_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` as `schema`: its columns in that order and type; a nullable column the schema
    gained after the table was written reads as null (any other missing column is an error)."""
    for field in schema:
        if field.name not in table.column_names and field.nullable:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table.select(schema.names).cast(schema)


def replace_rows(old: pa.Table | None, new: pa.Table, keys: list[str]) -> pa.Table:
    """`new` plus the rows of `old` whose `keys` no row of `new` has (nulls match nulls)."""
    if old is None:
        return new
    fresh = pl.from_arrow(new)
    kept = pl.from_arrow(old.cast(new.schema)).join(
        fresh.select(keys).unique(), on=keys, how="anti", nulls_equal=True
    )
    return pl.concat([kept, fresh]).to_arrow().cast(new.schema)


def _write_partitions(table: pa.Table, column: str, folder: Path) -> None:
    """Hive partitions `column=value/part-0.parquet`, written one by one so bytes are repeatable.

    An empty table is one unpartitioned file that keeps every column, so that readers (and the
    catalog's views) still see its schema."""
    if table.num_rows == 0:
        pq.write_table(table, folder / "part-0.parquet", compression="zstd")
        return
    import pyarrow.compute as pc  # writers only: a command that only reads never loads it

    values = table[column]
    for value in pc.unique(values).to_pylist():
        part = folder / f"{column}={value}"
        part.mkdir()
        rows = table.filter(pc.equal(values, value)).drop_columns([column])
        pq.write_table(rows, part / "part-0.parquet", compression="zstd")


def _read_version(folder: Path, partitioning: str | None) -> pa.Table:
    """Every Parquet file of a version folder as one table (hive partitions as columns).

    A version of one unpartitioned file (every table but the partitioned ones) is read as that
    file, the same table the dataset reader returns, without loading pyarrow.dataset (and
    pyarrow.compute): the ledger read of a warm `oneproxy run` needs neither.
    """
    files = [] if partitioning else _data_files(folder)
    if len(files) == 1 and files[0].parent == folder and not files[0].name.startswith("."):
        return pq.ParquetFile(files[0]).read()
    import pyarrow.dataset as ds

    return ds.dataset(folder, format="parquet", partitioning=partitioning).to_table()


def sha256_of(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _data_files(folder: Path) -> list[Path]:
    """The files of a version folder that readers read (`_` files, such as the fingerprint memo,
    are skipped by Parquet readers and are not part of the version)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("_"))


def _file_hashes(folder: Path) -> dict[str, list]:
    """Relative path → [sha256, size] of every file of a version folder."""
    return {str(p.relative_to(folder)): [sha256_of(p), p.stat().st_size]
            for p in _data_files(folder)}


class Manifest:
    """The parsed manifest: current fingerprints, their files, and retired versions."""

    def __init__(self, tables: dict[str, str], files: dict[str, dict[str, list]],
                 retired: dict[str, float]) -> None:
        self.tables, self.files, self.retired = tables, files, retired

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT_VERSION, "tables": dict(sorted(self.tables.items())),
                           "files": dict(sorted(self.files.items())),
                           "retired": dict(sorted(self.retired.items()))}, indent=1) + "\n"


def _parse_manifest(text: str, where: Path) -> Manifest:
    def bad(why: str) -> WarehouseDamaged:
        return WarehouseDamaged(f"{where} is damaged ({why}); {REPAIR_HINT}")

    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise bad(f"not JSON: {str(exc)[:80]}") from None
    if not isinstance(doc, dict):
        raise bad("not a JSON object")
    if doc.get("format") not in READABLE_FORMATS:
        raise bad(f"format {str(doc.get('format'))[:20]!r}, this version reads "
                  f"{', '.join(map(str, READABLE_FORMATS))}")
    tables, files, retired = doc.get("tables"), doc.get("files", {}), doc.get("retired", {})
    if not (isinstance(tables, dict) and all(isinstance(k, str) and isinstance(v, str)
                                             and v.isalnum() for k, v in tables.items())):
        raise bad("'tables' is not a map of table name to fingerprint")
    if not (isinstance(files, dict) and isinstance(retired, dict)):
        raise bad("'files' or 'retired' is not a map")
    return Manifest(tables, files, retired)


class Warehouse:
    """A warehouse directory: read current tables, commit new versions atomically."""

    grace_seconds: float = float(os.environ.get("ONEPROXY_VERSION_GRACE", "120"))

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).absolute()
        self._base: dict[str, str | None] = {}  # fingerprint of each table as this writer read it
        self._verified: dict[str, list] | None = None
        self._salvage = False
        self.rebuilt: list[str] = []  # damaged tables a rebuilding writer read as missing

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def _manifest(self) -> Manifest:
        try:
            text = self.manifest_path.read_text()
        except FileNotFoundError:
            return Manifest({}, {}, {})
        except (OSError, UnicodeDecodeError) as exc:
            raise WarehouseDamaged(f"{self.manifest_path} cannot be read ({exc}); "
                                   f"{REPAIR_HINT}") from None
        return _parse_manifest(text, self.manifest_path)

    def manifest(self) -> dict[str, str]:
        """Table name → fingerprint of its current version (empty for a new warehouse)."""
        return self._manifest().tables

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def has(self, name: str) -> bool:
        return name in self.manifest()

    def partition_values(self, name: str) -> list[str] | None:
        """The sorted values of a hive-partitioned table's partition column, read from the file
        list the manifest records (one `column=value/` folder per value present, none for an empty
        table: see `_write_partitions`); None when the table is absent, not partitioned, or its
        manifest records no files (format 1). No file is opened."""
        manifest = self._manifest()
        column = PARTITIONS.get(name)
        recorded = manifest.files.get(name)
        if column is None or name not in manifest.tables or recorded is None:
            return None
        prefix = f"{column}="
        return sorted({rel.split("/", 1)[0][len(prefix):] for rel in recorded
                       if rel.startswith(prefix) and "/" in rel})

    def table_dir(self, name: str, fingerprint: str | None = None) -> Path:
        fp = fingerprint or self.manifest()[name]
        return self.root / "tables" / name / fp

    # -- reading and verifying -------------------------------------------------------------

    def problem(self, name: str, manifest: Manifest | None = None) -> str | None:
        """What is wrong with the current version of `name` (None when its files are intact)."""
        manifest = manifest or self._manifest()
        folder = self.table_dir(name, manifest.tables[name])
        if not folder.is_dir():
            return f"its version folder {folder} is missing"
        recorded = manifest.files.get(name)
        if recorded is None:  # a format-1 manifest: nothing recorded to check against
            return None
        found = {str(p.relative_to(folder)): p for p in _data_files(folder)}
        for rel in sorted(set(recorded) - set(found)):
            return f"file {folder / rel} is missing"
        for rel in sorted(set(found) - set(recorded)):
            return f"file {folder / rel} is not part of the version"
        cache = self._cache()
        for rel, (sha, size) in sorted(recorded.items()):
            path = found[rel]
            st = path.stat()
            if st.st_size != size:
                return f"file {path} has {st.st_size} bytes, the manifest recorded {size}"
            key = str(path.relative_to(self.root))
            stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
            hit = cache.get(key)
            if hit is None or hit[:3] != stamp:
                hit = cache[key] = [*stamp, sha256_of(path)]
                self._cache_dirty = True
            if hit[3] != sha:
                return f"file {path} does not match its recorded sha256 (damaged or edited)"
        return None

    def check(self, names: list[str] | None = None) -> None:
        """Raise WarehouseDamaged naming the first damaged table among `names` (all if None)."""
        manifest = self._manifest()
        try:
            for name in sorted(manifest.tables if names is None else names):
                if name in manifest.tables and (why := self.problem(name, manifest)):
                    raise WarehouseDamaged(f"table '{name}' of {self.root} is damaged: {why}; "
                                           f"{REPAIR_HINT}")
        finally:
            self._save_cache()

    def _cache(self) -> dict[str, list]:
        if self._verified is None:
            self._cache_dirty = False
            try:
                loaded = json.loads((self.root / VERIFY_CACHE).read_text())
                self._verified = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self._verified = {}
        return self._verified

    def _save_cache(self) -> None:
        if self._verified is None or not self._cache_dirty:
            return
        live = {k: v for k, v in self._verified.items() if (self.root / k).exists()}
        try:
            atomic_write_bytes(self.root / VERIFY_CACHE, json.dumps(live).encode())
            self._cache_dirty = False
        except (WriteFailed, DiskFull):
            pass  # a read-only or full warehouse: the cache lives in this process only

    def read(self, name: str) -> pa.Table:
        """The current version of a table, checked against the manifest."""
        manifest = self._manifest()
        if name not in manifest.tables:
            raise WarehouseEmpty(
                f"table '{name}' is not in the warehouse at {self.root}: "
                "run `oneproxy ingest --all` first"
            )
        self.check([name])
        path = self.table_dir(name, manifest.tables[name])
        partitioning = "hive" if name in PARTITIONS else None
        try:
            table = _read_version(path, partitioning)
            if name in TABLES:
                table = in_schema(table, TABLES[name])
        except (OSError, pa.ArrowException, KeyError) as exc:
            raise WarehouseDamaged(f"table '{name}' of {self.root} cannot be read "
                                   f"({' '.join(str(exc).split())[:200]}); {REPAIR_HINT}") from None
        self._base[name] = manifest.tables[name]
        return canonical(name, table)

    def read_or_none(self, name: str) -> pa.Table | None:
        """The table, or None if absent (or damaged, inside `writing(rebuild=True)`)."""
        if self.has(name):
            try:
                return self.read(name)
            except WarehouseDamaged:
                if not self._salvage:
                    raise
                self.rebuilt.append(name)
        self._base[name] = None
        return None

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def writing(self, rebuild: bool = False) -> Iterator[None]:
        """Hold the write lock for a read-modify-commit block; a lost or damaged manifest is
        recovered from the version folders first. With `rebuild`, a damaged table reads as
        missing, so that the block's commit writes it anew from what the block loaded."""
        with write_lock(self.root):
            self._recover_manifest_if_lost()
            outer, self._salvage = self._salvage, self._salvage or rebuild
            try:
                yield
            finally:
                self._salvage = outer

    def commit(self, tables: dict[str, pa.Table]) -> dict[str, str]:
        """Publish new versions of these tables at once; returns name → fingerprint of changed.

        Under the write lock the manifest is read again and only these tables are replaced, so
        a concurrent writer's tables are kept. A table this writer read before another writer
        changed it is refused (WarehouseConflict): its rows would overwrite the other's.
        A current version whose files are damaged is written again.
        """
        with self.writing():
            current = self._manifest()
            self._check_base(current, tables)
            created: list[Path] = []
            changed: dict[str, str] = {}
            files = dict(current.files)
            for name, fp in current.tables.items():  # a format-1 manifest: record what is there
                if name not in files and self.table_dir(name, fp).is_dir():
                    files[name] = _file_hashes(self.table_dir(name, fp))
            try:
                for name, table in tables.items():
                    table = canonical(name, table)
                    fp = table_fingerprint(table)
                    if (current.tables.get(name) == fp and name not in self.rebuilt
                            and not self.problem(name, current)):
                        continue
                    target = self.table_dir(name, fp)
                    self._write_version(name, table, target)
                    created.append(target)
                    files[name] = _file_hashes(target)
                    changed[name] = fp
                if changed:
                    now = time.time()
                    retired = dict(current.retired)
                    for name, fp in changed.items():
                        old = current.tables.get(name)
                        if old is not None and old != fp:
                            retired[f"{name}/{old}"] = now
                        retired.pop(f"{name}/{fp}", None)
                    self._write_manifest(Manifest({**current.tables, **changed}, files, retired))
            except BaseException as exc:
                for path in created:
                    if current.tables.get(path.parent.name) != path.name:
                        shutil.rmtree(path, ignore_errors=True)
                if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise DiskFull(f"no space left on the device of {self.root} ({exc.strerror});"
                                   " nothing was replaced: free some space and run the command "
                                   "again") from None
                raise
            self._base.update(changed)
            self._drop_unreferenced()
            self._save_cache()
        return changed

    def drop(self, names: list[str]) -> None:
        """Remove these tables from the manifest (their folders go after the grace period)."""
        with self.writing():
            current = self._manifest()
            gone = [n for n in names if n in current.tables]
            if not gone:
                return
            now = time.time()
            retired = {**current.retired, **{f"{n}/{current.tables[n]}": now for n in gone}}
            self._write_manifest(Manifest(
                {k: v for k, v in current.tables.items() if k not in gone},
                {k: v for k, v in current.files.items() if k not in gone}, retired))
            for name in gone:
                self._base[name] = None

    def _check_base(self, current: Manifest, tables: dict[str, pa.Table]) -> None:
        for name in tables:
            seen = self._base.get(name, _NOT_READ)
            if seen is not _NOT_READ and seen != current.tables.get(name):
                raise WarehouseConflict(
                    f"table '{name}' of {self.root} was changed by another writer after this "
                    "command read it; nothing was written: run the command again"
                )

    def _write_version(self, name: str, table: pa.Table, target: Path) -> None:
        """Write a version folder; one already there (damaged or retired) is replaced."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            if name in PARTITIONS:
                _write_partitions(table, PARTITIONS[name], tmp)
            else:
                pq.write_table(table, tmp / "part-0.parquet", compression="zstd")
            if target.exists():
                trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
                os.replace(target, trash / "v")
                shutil.rmtree(trash, ignore_errors=True)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _write_manifest(self, manifest: Manifest) -> None:
        atomic_write_bytes(self.manifest_path, manifest.to_json().encode(), fsync=True)

    def _drop_unreferenced(self) -> None:
        """Under the lock: remove versions retired longer than the grace period, versions no
        manifest names, and temp files of interrupted writers."""
        manifest = self._manifest()
        now = time.time()
        for leftover in self.root.glob(".manifest.*"):
            leftover.unlink(missing_ok=True)
        for leftover in [*self.root.glob(".catalog.*"), *self.root.glob(f"{VERIFY_CACHE}.*")]:
            if now - _mtime(leftover) > STALE_TEMP_S:
                leftover.unlink(missing_ok=True)
        tables_dir = self.root / "tables"
        if not tables_dir.exists():
            return
        for table_dir in tables_dir.iterdir():
            for version in table_dir.iterdir():
                if manifest.tables.get(table_dir.name) == version.name:
                    continue
                retired_at = manifest.retired.get(f"{table_dir.name}/{version.name}")
                if retired_at is None or now - retired_at >= self.grace_seconds:
                    shutil.rmtree(version, ignore_errors=True)

    def _recover_manifest_if_lost(self) -> None:
        """A missing or unreadable manifest beside version folders: name the newest intact
        version of each table current again, so that no table is dropped by the next commit."""
        try:
            if self.exists() or not (self.root / "tables").is_dir():
                self._manifest()
                return
        except WarehouseDamaged:
            pass
        tables: dict[str, str] = {}
        files: dict[str, dict[str, list]] = {}
        for table_dir in sorted((self.root / "tables").iterdir()):
            versions = sorted((v for v in table_dir.iterdir() if not v.name.startswith(".")),
                              key=_mtime, reverse=True)
            for version in versions:
                partitioning = "hive" if table_dir.name in PARTITIONS else None
                try:
                    _read_version(version, partitioning)
                except (OSError, pa.ArrowException):
                    continue
                tables[table_dir.name] = version.name
                files[table_dir.name] = _file_hashes(version)
                break
        if tables:
            self._write_manifest(Manifest(tables, files, {}))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
