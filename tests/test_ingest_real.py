"""Integration: `ingest --all` on the pinned public files gives the documented warehouse."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pyarrow.compute as pc
import pytest
from oneproxy.ingest.pipeline import LOADERS, commit_batches, load_sources
from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.spaces import nb201
from oneproxy.warehouse.store import Warehouse

pytestmark = pytest.mark.integration

HELP_SETTINGS = 27
ONEPROXY_ONLY = 13  # 18 OneProxy series less its copies of pixel3, raspi4, eyeriss, fpga, eagle_i7
EAGLE_I7_ROWS = 15_284


def _one(wh, sql, params=None):
    return query(wh, sql, params).to_pylist()[0]


def test_latency_row_count_is_every_series_once(ingested):
    expected = HELP_SETTINGS * nb201.N_ARCHS + EAGLE_I7_ROWS + ONEPROXY_ONLY * 1_999
    assert expected == 463_146
    row = _one(ingested, "SELECT count(*) AS n, count(DISTINCT device_id) AS d FROM latency "
               "WHERE space_id = 'nb201'")
    assert row == {"n": expected, "d": HELP_SETTINGS + 1 + ONEPROXY_ONLY}
    dupes = _one(ingested, "SELECT count(*) AS n FROM (SELECT device_id, arch_id FROM latency "
                 "GROUP BY ALL HAVING count(*) > 1)")
    assert dupes["n"] == 0


def test_known_values(ingested):
    def latency(device, arch):
        return _one(ingested, "SELECT latency_ms FROM latency WHERE device_id = ? AND arch_id = ?",
                    [device, arch])["latency_ms"]

    assert latency("pixel3", 0) == pytest.approx(3.60585, abs=5e-6)
    assert latency("raspi4", 0) == pytest.approx(10.48198, abs=5e-6)
    arch = _one(ingested, "SELECT arch_id FROM architectures WHERE e0 = 0 AND e1 = 0 AND e2 = 0 "
                "AND e3 = 2 AND e4 = 2 AND e5 = 4")["arch_id"]
    assert latency("eagle_i7", arch) == pytest.approx(0.0015538465976715089 * 1000, rel=1e-12)
    acc = _one(ingested, "SELECT value FROM accuracy WHERE dataset = 'cifar10' AND arch_id = 1")
    assert acc["value"] == pytest.approx(93.66, abs=1e-9)
    assert latency("pixel2", 0) == round(latency("pixel2", 0))


def test_accuracy_covers_three_datasets(ingested):
    rows = query(ingested, "SELECT dataset, count(*) AS n FROM accuracy WHERE space_id = 'nb201' "
                 "GROUP BY 1 ORDER BY 1")
    assert rows.to_pylist() == [{"dataset": d, "n": nb201.N_ARCHS}
                                for d in ("ImageNet16-120", "cifar10", "cifar100")]


def test_failed_measurements_are_nulls_not_latencies(ingested):
    assert _one(ingested, "SELECT count(*) AS n FROM latency WHERE latency_ms <= 0")["n"] == 0
    failed = _one(ingested, "SELECT count(*) AS n, count(latency_ms) AS values FROM latency "
                  "WHERE status = 'failed' AND space_id = 'nb201'")
    assert failed == {"n": 259, "values": 0}
    assert _one(ingested, "SELECT DISTINCT device_id FROM latency WHERE status = 'failed' "
                "AND space_id = 'nb201'") == {"device_id": "edgetpu"}


def test_copies_are_stored_once_with_both_files_in_provenance(ingested):
    rows = query(ingested, "SELECT source_id, file, rows, rows_shared, max_rel_diff, role "
                 "FROM series_provenance WHERE device_id = 'pixel3' AND space_id = 'nb201' "
                 "ORDER BY role").to_pylist()
    assert rows == [
        {"source_id": "help", "file": "data/nasbench201/latency/pixel3.pt", "rows": 15_625,
         "rows_shared": 15_625, "max_rel_diff": 0.0, "role": "stored"},
        {"source_id": "oneproxy", "file": "latency_data/rice_pixel3.pickle", "rows": 1_999,
         "rows_shared": 1_999, "max_rel_diff": 0.0, "role": "verified copy"},
    ]
    eagle = query(ingested, "SELECT source_id, role FROM series_provenance "
                  "WHERE device_id = 'eagle_i7' ORDER BY role").to_pylist()
    assert eagle == [{"source_id": "eagle", "role": "stored"},
                     {"source_id": "oneproxy", "role": "verified copy"}]


def test_eagle_left_out_exactly_the_disconnected_architectures(ingested):
    row = _one(ingested, "SELECT count(*) AS n FROM architectures a WHERE a.disconnected AND "
               "EXISTS (SELECT 1 FROM latency l WHERE l.device_id = 'eagle_i7' "
               "AND l.arch_id = a.arch_id)")
    assert row["n"] == 0
    assert _one(ingested, "SELECT count(*) AS n FROM architectures WHERE disconnected")["n"] == 341


def test_devices_have_registry_metadata(ingested):
    rows = query(ingested, "SELECT device_id, platform_class, batch_size, resolution_ms "
                 "FROM devices WHERE device_id IN ('1080ti_256', 'pixel2', 'nnmeter_myriadvpu', "
                 "'fpga') ORDER BY device_id").to_pylist()
    assert rows == [
        {"device_id": "1080ti_256", "platform_class": "desktop_gpu", "batch_size": 256,
         "resolution_ms": None},
        {"device_id": "fpga", "platform_class": "fpga", "batch_size": 1, "resolution_ms": None},
        {"device_id": "nnmeter_myriadvpu", "platform_class": "vpu", "batch_size": 1,
         "resolution_ms": None},
        {"device_id": "pixel2", "platform_class": "mobile_cpu", "batch_size": 1,
         "resolution_ms": 1.0},
    ]


def _tree_digest(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "tables").rglob("*")) if p.is_file()}


def test_reingest_is_byte_identical(ingested, resolve, tmp_path):
    copy = Warehouse(tmp_path / "wh")
    shutil.copytree(ingested.root, copy.root)
    before = _tree_digest(copy.root), copy.manifest_path.read_bytes()
    result = commit_batches(copy, load_sources(sorted(LOADERS), resolve), resolve)
    assert result.changed_tables == ()
    assert (_tree_digest(copy.root), copy.manifest_path.read_bytes()) == before
    fresh = Warehouse(tmp_path / "fresh")
    commit_batches(fresh, load_sources(sorted(LOADERS), resolve), resolve)

    def data_tables(digest):  # `sources` carries the ingest time, so it differs between warehouses
        return {k: v for k, v in digest.items() if not k.startswith("tables/sources/")}

    assert data_tables(_tree_digest(fresh.root)) == data_tables(before[0])


def test_architectures_table_matches_index(ingested):
    table = ingested.read("architectures").filter(pc.equal(pc.field("space_id"), "nb201"))
    assert table.num_rows == nb201.N_ARCHS
    assert np.array_equal(table["arch_id"].to_numpy(), np.arange(nb201.N_ARCHS))
    assert table["flops_m_cifar10"][0].as_py() == pytest.approx(15.64737, abs=1e-5)


def test_help_reference_architectures(ingested):
    rows = query(ingested, "SELECT arch_id FROM reference_archs WHERE space_id = 'nb201' "
                 "ORDER BY position")
    assert rows.column("arch_id").to_pylist() == [11982, 431, 55, 9, 14451, 8636, 9881, 13479,
                                                  6196, 1462]
