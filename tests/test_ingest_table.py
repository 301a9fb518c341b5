"""`oneproxy ingest table`: users' own measurements, validated row by row, written atomically."""

from __future__ import annotations

import re

import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.spaces import fbnet, nb201

from oneproxy.cli import main

pytestmark = pytest.mark.integration

PIXEL3_IDS = [1, 7, 42, 100, 256, 999, 1234, 2048, 3000, 4096,
              5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000, 13000, 15624]


def invoke(wh, *args: str):
    return CliRunner().invoke(main, [*args, "--warehouse", str(wh.root)])


def pixel3(wh, ids: list[int]) -> dict[int, float]:
    rows = query(wh, "SELECT arch_id, latency_ms FROM latency WHERE space_id = 'nb201' "
                 "AND device_id = 'pixel3' AND arch_id IN (SELECT unnest(?))", [ids]).to_pylist()
    return {r["arch_id"]: r["latency_ms"] for r in rows}


@pytest.fixture
def measured(warehouse, tmp_path):
    """A CSV of 20 NB201 measurements: pixel3's latencies × 1.5, half by index, half by string."""
    values = pixel3(warehouse, PIXEL3_IDS)
    strings = query(warehouse, "SELECT arch_id, arch_key FROM architectures "
                    "WHERE space_id = 'nb201'").to_pylist()
    key = {r["arch_id"]: r["arch_key"] for r in strings}
    rows = [{"arch": str(i) if n % 2 else key[i], "latency_ms": values[i] * 1.5}
            for n, i in enumerate(PIXEL3_IDS)]
    path = tmp_path / "my_phone.csv"
    pl.DataFrame(rows).write_csv(path)
    return path, values


def test_twenty_nb201_measurements_add_the_device(warehouse, measured):
    path, values = measured
    result = invoke(warehouse, "ingest", "table", str(path), "--space", "nb201",
                    "--device", "my_phone", "--platform", "mobile_cpu", "--framework", "TFLite",
                    "--hardware", "Google Tensor G2")
    assert result.exit_code == 0, result.output
    rows = query(warehouse, "SELECT arch_id, latency_ms, dataset, source_id FROM latency "
                 "WHERE device_id = 'my_phone' ORDER BY arch_id").to_pylist()
    assert [r["arch_id"] for r in rows] == PIXEL3_IDS
    assert [r["latency_ms"] for r in rows] == pytest.approx([values[i] * 1.5 for i in PIXEL3_IDS])
    assert {r["dataset"] for r in rows} == {"cifar10"}
    assert {r["source_id"] for r in rows} == {"table:my_phone:nb201:cifar10"}
    device = query(warehouse, "SELECT * FROM devices WHERE device_id = 'my_phone'").to_pylist()
    assert device[0]["platform_class"] == "mobile_cpu"
    assert device[0]["hardware"] == "Google Tensor G2"
    assert device[0]["framework"] == "TFLite"
    assert pixel3(warehouse, PIXEL3_IDS) == values


def test_reimporting_the_same_file_changes_nothing(warehouse, measured, snapshot):
    path, _ = measured
    args = ("ingest", "table", str(path), "--space", "nb201", "--device", "my_phone")
    assert invoke(warehouse, *args).exit_code == 0
    before = snapshot(warehouse.root)
    result = invoke(warehouse, *args)
    assert result.exit_code == 0, result.output
    assert "nothing changed" in result.output
    assert snapshot(warehouse.root) == before


def test_a_changed_file_replaces_the_series(warehouse, measured):
    path, values = measured
    args = ("ingest", "table", str(path), "--space", "nb201", "--device", "my_phone")
    assert invoke(warehouse, *args).exit_code == 0
    pl.DataFrame({"arch_id": [5, 6], "latency_us": [1500.0, 2500.0]}).write_csv(path)
    result = invoke(warehouse, *args, "--unit", "us", "--latency-column", "latency_us")
    assert result.exit_code == 0, result.output
    rows = query(warehouse, "SELECT arch_id, latency_ms FROM latency "
                 "WHERE device_id = 'my_phone' ORDER BY arch_id").to_pylist()
    assert rows == [{"arch_id": 5, "latency_ms": 1.5}, {"arch_id": 6, "latency_ms": 2.5}]


@pytest.mark.parametrize(("rows", "message"), [
    ({"arch_id": ["1", "99999", "abc"], "latency_ms": ["1.0", "2.0", "3.0"]},
     r"2 of 3 rows.*line 3: unknown architecture '99999'.*line 4: unknown architecture 'abc'"),
    ({"arch_id": ["1", "2", "3"], "latency_ms": ["1.0", "-2.0", "fast"]},
     r"line 3: latency '-2.0' is not positive.*line 4: latency 'fast' is not a number"),
    ({"arch_id": ["1", "2", "1"], "latency_ms": ["1.0", "2.0", "1.5"]},
     r"line 4: architecture repeated with a different latency than line 2"),
    ({"arch_id": ["1", "2"], "latency_ms": ["1.0", ""]}, r"line 3: latency is missing"),
])
def test_bad_rows_are_listed_and_nothing_is_written(warehouse, tmp_path, snapshot, rows, message):
    path = tmp_path / "bad.csv"
    pl.DataFrame(rows).write_csv(path)
    before = snapshot(warehouse.root)
    result = invoke(warehouse, "ingest", "table", str(path), "--space", "nb201", "--device", "x")
    assert result.exit_code == 1
    assert "nothing was written" in result.output
    assert re.search(message, result.output, re.S), result.output
    assert snapshot(warehouse.root) == before


def test_equal_repeats_are_kept_once(warehouse, tmp_path):
    path = tmp_path / "repeats.csv"
    pl.DataFrame({"index": [3, 3, 4], "ms": [2.0, 2.0, 3.0]}).write_csv(path)
    result = invoke(warehouse, "ingest", "table", str(path), "--space", "nb201", "--device", "rep")
    assert result.exit_code == 0, result.output
    count = query(warehouse, "SELECT count(*) AS n FROM latency WHERE device_id = 'rep'")
    assert count.to_pylist() == [{"n": 2}]


def test_missing_columns_and_bad_device_names_are_usage_errors(warehouse, tmp_path, snapshot):
    path = tmp_path / "cols.csv"
    pl.DataFrame({"model": [1], "speed": [2.0]}).write_csv(path)
    before = snapshot(warehouse.root)
    result = invoke(warehouse, "ingest", "table", str(path), "--space", "nb201", "--device", "d")
    assert result.exit_code == 1
    assert "no arch column found among model, speed" in result.output
    result = invoke(warehouse, "ingest", "table", str(path), "--space", "nb201",
                    "--device", "My Phone", "--arch-column", "model", "--latency-column", "speed")
    assert result.exit_code == 2
    assert "lowercase letters" in result.output
    assert snapshot(warehouse.root) == before


def test_fbnet_op_lists_are_keyed_and_added_to_architectures(warehouse, tmp_path):
    ops = [["k3_e1"] * 22, ["skip"] * 11 + ["k5_e6"] * 11]
    path = tmp_path / "fbnet.parquet"
    pl.DataFrame({"ops": [" ".join(o) for o in ops], "latency_ms": [3.0, 4.0]}).write_parquet(path)
    result = invoke(warehouse, "ingest", "table", str(path), "--space", "fbnet",
                    "--device", "my_fpga", "--platform", "fpga")
    assert result.exit_code == 0, result.output
    keys = ["-".join(o) for o in ops]
    ids = fbnet.arch_ids(keys).tolist()
    rows = query(warehouse, "SELECT l.arch_id, a.arch_key, l.dataset FROM latency l JOIN "
                 "architectures a USING (space_id, arch_id) WHERE l.device_id = 'my_fpga' "
                 "ORDER BY l.latency_ms").to_pylist()
    assert [r["arch_id"] for r in rows] == ids
    assert [r["arch_key"] for r in rows] == keys
    assert {r["dataset"] for r in rows} == {"cifar100"}


def test_nb201_strings_resolve_to_official_indices(warehouse, tmp_path):
    path = tmp_path / "strings.csv"
    string = nb201.format_arch((3, 3, 3, 3, 3, 3))
    pl.DataFrame({"arch_str": [string], "latency": [9.0]}).write_csv(path)
    assert invoke(warehouse, "ingest", "table", str(path), "--space", "nb201",
                  "--device", "s").exit_code == 0
    row = query(warehouse, "SELECT l.arch_id, a.arch_key FROM latency l JOIN architectures a "
                "USING (space_id, arch_id) WHERE device_id = 's'").to_pylist()
    assert row[0]["arch_key"] == string


def test_a_known_device_is_a_copy_checked_against_the_stored_series(warehouse, tmp_path,
                                                                    snapshot):
    values = pixel3(warehouse, PIXEL3_IDS)
    path = tmp_path / "pixel3.csv"
    pl.DataFrame({"arch_id": PIXEL3_IDS, "latency_ms": [values[i] for i in PIXEL3_IDS]}) \
        .write_csv(path)
    result = invoke(warehouse, "ingest", "table", str(path), "--space", "nb201",
                    "--device", "pixel3", "--platform", "fpga")
    assert result.exit_code == 0, result.output
    device = query(warehouse, "SELECT platform_class FROM devices WHERE device_id = 'pixel3'")
    assert device.to_pylist() == [{"platform_class": "mobile_cpu"}]
    roles = query(warehouse, "SELECT role FROM series_provenance WHERE device_id = 'pixel3' AND "
                  "source_id = 'table:pixel3:nb201:cifar10'").column("role").to_pylist()
    assert roles == ["verified copy"]
    pl.DataFrame({"arch_id": PIXEL3_IDS, "latency_ms": [2 * values[i] for i in PIXEL3_IDS]}) \
        .write_csv(path)
    before = snapshot(warehouse.root)
    result = invoke(warehouse, "ingest", "table", str(path), "--space", "nb201",
                    "--device", "pixel3")
    assert result.exit_code == 1 and "disagree" in result.output
    assert snapshot(warehouse.root) == before
