"""A no-op ingest is decided before loading: pinned sha256s, code version, versions on disk."""

import dataclasses

import pytest
from oneproxy.ingest import pipeline
from oneproxy.ingest.pipeline import LOADERS, unchanged
from oneproxy.ingest.registry import source
from oneproxy.warehouse.catalog import ensure_catalog

from oneproxy.api import ingest as api

pytestmark = pytest.mark.integration
ALL = sorted(LOADERS)


def test_unchanged_sources_write_nothing_and_report_the_tables(warehouse, snapshot):
    ensure_catalog(warehouse)  # the copied warehouse moved: its catalog is rebuilt once
    before = snapshot(warehouse.root)
    result = unchanged(warehouse, ALL)
    assert result is not None and result.changed_tables == ()
    assert result.latency_rows == warehouse.read("latency").num_rows
    assert result.devices == warehouse.read("devices").num_rows
    assert api.ingest(warehouse, ALL).changed_tables == ()
    assert snapshot(warehouse.root) == before


def test_a_damaged_version_sends_ingest_through_load_and_merge(warehouse, monkeypatch):
    for part in warehouse.table_dir("accuracy").rglob("*.parquet"):
        part.unlink()
    assert unchanged(warehouse, ALL) is None
    calls = []
    monkeypatch.setattr(api, "load_sources", lambda ids, *a: calls.append(ids) or [])
    monkeypatch.setattr(api, "commit_batches", lambda wh, batches, r: ("committed", batches))
    assert api.ingest(warehouse, ALL) == ("committed", [])
    assert calls == [ALL]


def test_changed_code_or_pin_is_not_a_no_op(warehouse, monkeypatch):
    monkeypatch.setattr(pipeline, "ingest_code_version", lambda: "another-version")
    assert unchanged(warehouse, ALL) is None
    monkeypatch.undo()
    pinned = source("help")
    first = dataclasses.replace(pinned.files[0], sha256="0" * 64)
    moved = dataclasses.replace(pinned, files=(first, *pinned.files[1:]))
    monkeypatch.setattr(pipeline, "source", lambda s: moved if s == "help" else source(s))
    assert unchanged(warehouse, ["help"]) is None
    assert unchanged(warehouse, ["ofa_zcu"]) is not None


def test_unregistered_or_empty_warehouse_is_not_a_no_op(warehouse, tmp_path):
    from oneproxy.warehouse.store import Warehouse

    assert unchanged(Warehouse(tmp_path / "empty"), ALL) is None
    assert unchanged(warehouse, ["table:my_phone:nb201:cifar10"]) is None
