"""Integration: HELP's FBNet and OFA data and the OFA lookup tables in the ingested warehouse."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.analytics.predictors.lookup import price
from oneproxy.ingest.registry import file
from oneproxy.ingest.safe_load import load_file
from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.spaces import fbnet, ofa_mbv3

from oneproxy.cli import main

pytestmark = pytest.mark.integration


def _rows(wh, sql, params=None) -> list[dict]:
    return query(wh, sql, params).to_pylist()


def test_fbnet_is_27_settings_of_5000_architectures(ingested):
    rows = _rows(ingested, "SELECT dataset, count(DISTINCT device_id) AS d, count(*) AS n, "
                 "count(DISTINCT arch_id) AS a FROM latency WHERE space_id = 'fbnet' GROUP BY 1")
    assert rows == [{"dataset": "cifar100", "d": 27, "n": 27 * 5000, "a": 5000}]


def test_ofa_is_12_gpu_settings_of_5000_architectures(ingested):
    rows = _rows(ingested, "SELECT l.dataset, count(DISTINCT l.device_id) AS d, count(*) AS n, "
                 "count(DISTINCT d.platform_class) AS p FROM latency l JOIN devices d "
                 "USING (device_id) WHERE space_id = 'ofa_mbv3' GROUP BY 1")
    assert rows == [{"dataset": "imagenet", "d": 12, "n": 12 * 5000, "p": 1}]
    names = {r["device_id"] for r in _rows(ingested, "SELECT DISTINCT device_id FROM latency "
                                           "WHERE space_id = 'ofa_mbv3'")}
    assert {"titanxp_1", "titanxp_64", "v100_32", "2080ti_1"} <= names  # titan_xp_* → titanxp_*


def test_known_latencies_sit_on_the_right_architecture(ingested, resolve):
    arch = load_file(resolve(file("help", "data/fbnet/arch.pt")))
    pixel3 = load_file(resolve(file("help", "data/fbnet/latency/pixel3.pt")))
    key = fbnet.format_key(arch[2])
    row = _rows(ingested, "SELECT l.latency_ms FROM latency l JOIN architectures a "
                "USING (space_id, arch_id) WHERE l.device_id = 'pixel3' AND a.arch_key = ?",
                [key])
    assert row == [{"latency_ms": pytest.approx(pixel3[2], rel=1e-12)}]
    assert pixel3[2] == pytest.approx(13.14025488)
    ofa = load_file(resolve(file("help", "data/ofa/ofa_archs.pt")))["arch"][0]
    v100 = load_file(resolve(file("help", "data/ofa/latency/v100_1.pt")))
    key = ofa_mbv3.NET.canonical(ofa["ks"], ofa["e"], ofa["d"], int(ofa["r"]))
    row = _rows(ingested, "SELECT l.latency_ms FROM latency l JOIN architectures a "
                "USING (space_id, arch_id) WHERE l.device_id = 'v100_1' AND a.arch_key = ?", [key])
    assert row == [{"latency_ms": pytest.approx(v100[0], rel=1e-12)}]
    assert v100[0] == pytest.approx(7.820444107)


@pytest.mark.parametrize(("space", "arch_ids"), [(fbnet.SPACE_ID, fbnet.arch_ids),
                                               (ofa_mbv3.SPACE_ID, ofa_mbv3.NET.arch_ids)])
def test_keys_round_trip_through_ids_for_every_ingested_architecture(ingested, space, arch_ids):
    table = pl.from_arrow(query(ingested, "SELECT arch_id, arch_key FROM architectures "
                                "WHERE space_id = ?", [space]))
    assert table.height == 5000
    keys = table.get_column("arch_key").to_list()
    assert np.array_equal(arch_ids(keys), table.get_column("arch_id").to_numpy())
    by_id = dict(zip(table.get_column("arch_id").to_list(), keys, strict=True))
    assert [by_id[i] for i in arch_ids(keys).tolist()] == keys


def test_reference_architectures_of_every_space(ingested, resolve):
    rows = _rows(ingested, "SELECT space_id, count(*) AS n FROM reference_archs GROUP BY 1 "
                 "ORDER BY 1")
    assert rows == [{"space_id": s, "n": 10} for s in ("fbnet", "nb201", "ofa_mbv3")]
    positions = load_file(resolve(file("help", "data/fbnet/hardware_embedding_index.pt")))
    arch = load_file(resolve(file("help", "data/fbnet/arch.pt")))
    first = _rows(ingested, "SELECT a.arch_key FROM reference_archs r JOIN architectures a "
                  "USING (space_id, arch_id) WHERE space_id = 'fbnet' AND position = 0")
    assert first == [{"arch_key": fbnet.format_key(arch[positions[0]])}]


def test_op_latency_covers_17_note10_and_7_fpga_resolutions(ingested):
    rows = _rows(ingested, "SELECT device_id, space_id, list(DISTINCT resolution ORDER BY "
                 "resolution) AS r, count(*) AS n, count(*) FILTER (op_type IS NULL) AS unparsed "
                 "FROM op_latency GROUP BY ALL ORDER BY 1")
    assert [(r["device_id"], r["space_id"], r["r"]) for r in rows] == [
        ("note10", "ofa_mbv3", list(range(160, 225, 4))),
        ("zynq_dpu", "ofa_fpga", [128, 144, 160, 176, 192, 208, 224]),
    ]
    assert all(r["unparsed"] == 0 for r in rows)


def test_note10_table_prices_an_architecture_by_summing_its_layers(ingested):
    key = ofa_mbv3.NET.canonical([3] * 20, [6] * 20, [2] * 5, 224)
    table = pl.from_arrow(query(ingested, "SELECT op_key, mean FROM op_latency WHERE device_id "
                                "= 'note10' AND resolution = 224"))
    layers = ofa_mbv3.NET.layer_op_keys([key])
    total = price(layers, table)[0]
    means = dict(table.iter_rows())
    assert total == pytest.approx(sum(means[k] for k in layers.get_column("op_key")), abs=0)
    assert 10 < total < 100


def test_devices_of_fbnet_lists_the_27_settings_with_platform_classes(ingested):
    result = CliRunner().invoke(main, ["devices", "--space", "fbnet", "--format", "json",
                                       "--warehouse", str(ingested.root)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 27
    classes = {r["device_id"]: r["platform_class"] for r in rows}
    assert classes["fpga"] == "fpga" and classes["eyeriss"] == "asic"
    assert classes["raspi4"] == "embedded_cpu" and classes["1080ti_64"] == "desktop_gpu"
    assert sum(c == "mobile_cpu" for c in classes.values()) == 5
