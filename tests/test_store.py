"""Unit tests of the Parquet store and the DuckDB catalog on small tables."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest
from oneproxy.warehouse import catalog
from oneproxy.warehouse.catalog import (
    build_catalog,
    check_read_only,
    connect,
    ensure_catalog,
    query,
)
from oneproxy.warehouse.errors import QueryRefused, WarehouseEmpty
from oneproxy.warehouse.schemas import LATENCY
from oneproxy.warehouse.store import Warehouse, replace_rows


def latency(values: list[float]) -> pa.Table:
    return pa.Table.from_pylist([
        {"space_id": "nb201", "dataset": "cifar10", "device_id": "dev", "arch_id": i,
         "latency_ms": v, "status": "ok", "source_id": "test"} for i, v in enumerate(values)
    ], schema=LATENCY)


def test_commit_then_read_round_trips_in_canonical_order(tmp_path):
    wh = Warehouse(tmp_path)
    table = latency([3.0, 1.0, 2.0]).take([2, 0, 1])
    changed = wh.commit({"latency": table})
    assert list(changed) == ["latency"]
    back = wh.read("latency")
    assert back.schema == LATENCY
    assert back["arch_id"].to_pylist() == [0, 1, 2]
    assert back["latency_ms"].to_pylist() == [3.0, 1.0, 2.0]


def test_a_version_written_before_a_column_was_added_reads_it_as_null(tmp_path):
    """Tables gain columns (verify_loop gained min_gain_pp): an older version reads in today's
    schema, the new column null, and a replacement keeps its rows."""
    wh = Warehouse(tmp_path)
    wh.commit({"latency": latency([3.0, 1.0]).drop_columns(["source_id"])})
    back = wh.read("latency")
    assert back.schema == LATENCY
    assert back["source_id"].to_pylist() == [None, None]
    assert back["latency_ms"].to_pylist() == [3.0, 1.0]
    merged = replace_rows(back, latency([7.0]), ["arch_id"])
    assert sorted(merged.select(["arch_id", "latency_ms", "source_id"]).to_pylist(),
                  key=lambda r: r["arch_id"]) == [
        {"arch_id": 0, "latency_ms": 7.0, "source_id": "test"},
        {"arch_id": 1, "latency_ms": 1.0, "source_id": None}]


def test_same_content_commits_nothing(tmp_path):
    wh = Warehouse(tmp_path)
    wh.commit({"latency": latency([1.0, 2.0])})
    manifest = wh.manifest_path.read_bytes()
    assert wh.commit({"latency": latency([1.0, 2.0]).take([1, 0])}) == {}
    assert wh.manifest_path.read_bytes() == manifest


def test_failure_before_manifest_swap_leaves_the_warehouse_as_it_was(tmp_path, monkeypatch):
    wh = Warehouse(tmp_path)
    wh.commit({"latency": latency([1.0])})
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    def crash(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(Warehouse, "_write_manifest", crash)
    with pytest.raises(OSError, match="disk full"):
        wh.commit({"latency": latency([5.0, 6.0])})
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert wh.read("latency")["latency_ms"].to_pylist() == [1.0]


def test_old_versions_are_dropped_once_their_grace_period_is_over(tmp_path, monkeypatch):
    wh = Warehouse(tmp_path)
    wh.commit({"latency": latency([1.0])})
    wh.commit({"latency": latency([2.0])})
    assert len(list((tmp_path / "tables" / "latency").iterdir())) == 2  # a reader may hold it
    monkeypatch.setattr(Warehouse, "grace_seconds", 0.0)
    wh.commit({"latency": latency([3.0])})
    assert len(list((tmp_path / "tables" / "latency").iterdir())) == 1


def test_reading_a_missing_table_says_how_to_fill_it(tmp_path):
    with pytest.raises(WarehouseEmpty, match="oneproxy ingest --all"):
        Warehouse(tmp_path).read("latency")
    with pytest.raises(WarehouseEmpty, match="no warehouse"):
        connect(Warehouse(tmp_path / "nothing"))


def test_catalog_views_follow_a_moved_warehouse(tmp_path):
    wh = Warehouse(tmp_path / "a")
    wh.commit({"latency": latency([1.0, 4.0])})
    build_catalog(wh)
    moved = Warehouse(tmp_path / "b")
    shutil.move(wh.root, moved.root)
    table = query(moved, "SELECT sum(latency_ms) AS s, any_value(space_id) AS sp FROM latency")
    assert table.to_pylist() == [{"s": 5.0, "sp": "nb201"}]


def test_catalog_is_rebuilt_only_when_the_manifest_or_the_views_change(tmp_path, monkeypatch):
    wh = Warehouse(tmp_path / "wh")
    wh.commit({"latency": latency([1.0])})
    path = ensure_catalog(wh)
    built = path.stat().st_mtime_ns
    assert ensure_catalog(wh).stat().st_mtime_ns == built
    views = shutil.copytree(catalog.SQL_DIR, tmp_path / "sql")
    (views / "zz_extra.sql").write_text("CREATE VIEW extra AS SELECT 42 AS answer;\n")
    monkeypatch.setattr(catalog, "SQL_DIR", views)
    assert query(wh, "SELECT answer FROM extra").to_pylist() == [{"answer": 42}]
    assert path.stat().st_mtime_ns != built


@pytest.mark.parametrize("sql", ["DROP VIEW latency", "INSERT INTO latency VALUES (1)",
                                 "CREATE TABLE t AS SELECT 1", "COPY latency TO 'x.csv'",
                                 "SELECT 1; DELETE FROM latency", "ATTACH 'x.db'"])
def test_only_read_statements_pass_the_guard(tmp_path, sql):
    wh = Warehouse(tmp_path)
    wh.commit({"latency": latency([1.0])})
    con = connect(wh)
    with pytest.raises(QueryRefused, match="refused"):
        check_read_only(con, sql)
    check_read_only(con, "SELECT * FROM latency")


def test_query_errors_are_one_line(tmp_path):
    wh = Warehouse(tmp_path)
    wh.commit({"latency": latency([1.0])})
    with pytest.raises(QueryRefused) as info:
        query(wh, "SELECT * FROM nope")
    assert "\n" not in str(info.value) and "nope" in str(info.value)
