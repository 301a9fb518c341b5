"""The Parquet store: content-addressed table versions published by one atomic manifest swap.

Layout of a warehouse directory::

    manifest.json                      which version of each table is current
    tables/<name>/<fingerprint>/...    one immutable Parquet version (hive-partitioned if big)
    catalog.duckdb                     views over the current versions (see `warehouse.catalog`)

A commit writes new versions beside the old ones, then replaces `manifest.json` in one rename.
A crash or an error before that rename leaves the previous warehouse exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from oneproxy.warehouse.errors import WarehouseEmpty
from oneproxy.warehouse.schemas import PARTITIONS, SORT_KEYS, TABLES

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


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
    """Hive partitions `column=value/part-0.parquet`, written one by one so bytes are repeatable."""
    values = table[column]
    for value in pc.unique(values).to_pylist():
        part = folder / f"{column}={value}"
        part.mkdir()
        rows = table.filter(pc.equal(values, value)).drop_columns([column])
        pq.write_table(rows, part / "part-0.parquet", compression="zstd")


class Warehouse:
    """A warehouse directory: read current tables, commit new versions atomically."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).absolute()

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict[str, str]:
        """Table name → fingerprint of its current version (empty for a new warehouse)."""
        if not self.manifest_path.exists():
            return {}
        return json.loads(self.manifest_path.read_text())["tables"]

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def has(self, name: str) -> bool:
        return name in self.manifest()

    def table_dir(self, name: str, fingerprint: str | None = None) -> Path:
        fp = fingerprint or self.manifest()[name]
        return self.root / "tables" / name / fp

    def read(self, name: str) -> pa.Table:
        """The current version of a table."""
        tables = self.manifest()
        if name not in tables:
            raise WarehouseEmpty(
                f"table '{name}' is not in the warehouse at {self.root}: "
                "run `oneproxy ingest --all` first"
            )
        path = self.table_dir(name, tables[name])
        partitioning = "hive" if name in PARTITIONS else None
        dataset = ds.dataset(path, format="parquet", partitioning=partitioning)
        table = dataset.to_table()
        if name in TABLES:
            table = table.select(TABLES[name].names).cast(TABLES[name])
        return canonical(name, table)

    def read_or_none(self, name: str) -> pa.Table | None:
        return self.read(name) if self.has(name) else None

    def commit(self, tables: dict[str, pa.Table]) -> dict[str, str]:
        """Publish new versions of these tables at once; returns name → fingerprint of changed."""
        current = self.manifest()
        created: list[Path] = []
        changed: dict[str, str] = {}
        try:
            for name, table in tables.items():
                table = canonical(name, table)
                fp = table_fingerprint(table)
                if current.get(name) == fp:
                    continue
                target = self.table_dir(name, fp)
                if not target.exists():
                    self._write_version(name, table, target)
                    created.append(target)
                changed[name] = fp
            if changed:
                self._write_manifest({**current, **changed})
        except BaseException:
            for path in created:
                shutil.rmtree(path, ignore_errors=True)
            raise
        self._drop_unreferenced()
        return changed

    def _write_version(self, name: str, table: pa.Table, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            if name in PARTITIONS:
                _write_partitions(table, PARTITIONS[name], tmp)
            else:
                pq.write_table(table, tmp / "part-0.parquet", compression="zstd")
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _write_manifest(self, tables: dict[str, str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"format": FORMAT_VERSION, "tables": dict(sorted(tables.items()))},
                          indent=1)
        fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=self.root)
        with os.fdopen(fd, "w") as f:
            f.write(body + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.manifest_path)

    def _drop_unreferenced(self) -> None:
        """Remove table versions no longer in the manifest (and leftovers of interrupted writes)."""
        current = self.manifest()
        tables_dir = self.root / "tables"
        if not tables_dir.exists():
            return
        for table_dir in tables_dir.iterdir():
            for version in table_dir.iterdir():
                if current.get(table_dir.name) != version.name:
                    shutil.rmtree(version, ignore_errors=True)
