"""`oneproxy ingest hwnasbench`: HW-NAS-Bench's pickle, written here in exactly its structure."""

from __future__ import annotations

import os
import pickle

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.analytics.predictors.lookup import price
from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.spaces import fbnet, fbnet_ops

from oneproxy.api.latency import latency_series
from oneproxy.cli import main

pytestmark = pytest.mark.integration

HELP_DEVICES = ("pixel3", "raspi4", "eyeriss", "fpga")
FBNET_ARCHS = [[0] * 22, [8] * 11 + [7] * 11, list(range(9)) * 2 + [8, 8, 1, 2]]


def help_series(wh, device: str) -> list[float]:
    rows = query(wh, "SELECT latency_ms FROM latency WHERE space_id = 'nb201' AND device_id = ? "
                 "ORDER BY arch_id", [device]).to_pylist()
    return [r["latency_ms"] for r in rows]


def fbnet_table(scale: float) -> dict[str, float]:
    """A lookup table covering FBNET_ARCHS on cifar100: each key's value from its position."""
    keys = fbnet_ops.layer_op_keys(np.asarray(FBNET_ARCHS), "cifar100")
    unique = sorted(set(keys.get_column("op_key").to_list()))
    return {key: scale * (1 + i / 10) for i, key in enumerate(unique)}


def hwnasbench_dict(wh) -> dict:
    cifar10 = {f"{d}_latency": help_series(wh, d) for d in HELP_DEVICES}
    cifar10["fpga_energy"] = [2 * v for v in cifar10["fpga_latency"]]
    cifar10["eyeriss_arithmetic_intensity"] = [1.0] * len(cifar10["fpga_latency"])
    cifar10["config"] = [{"channel": 16, "num_cells": 5}] * len(cifar10["fpga_latency"])
    cifar100 = {"raspi4_latency": [1.1 * v for v in cifar10["raspi4_latency"]]}
    imagenet = {"raspi4_latency": [0.5 * v for v in cifar10["raspi4_latency"]]}
    return {
        "nasbench201": {"cifar10": cifar10, "cifar100": cifar100, "ImageNet16-120": imagenet},
        "fbnet": {"pixel3_latency": fbnet_table(1.0), "fpga_energy": fbnet_table(3.0)},
    }


def invoke(wh, *args: str):
    return CliRunner().invoke(main, [*args, "--warehouse", str(wh.root)])


@pytest.fixture
def pickle_file(warehouse, tmp_path):
    path = tmp_path / "HW-NAS-Bench-v1_0.pickle"
    path.write_bytes(pickle.dumps(hwnasbench_dict(warehouse), protocol=4))
    return path


def test_pickle_loads_latency_energy_and_fbnet_tables(warehouse, pickle_file):
    before = query(warehouse, "SELECT count(*) AS n FROM latency").to_pylist()[0]["n"]
    result = invoke(warehouse, "ingest", "hwnasbench", "--path", str(pickle_file))
    assert result.exit_code == 0, result.output
    counts = {(r["dataset"], r["device_id"]): r["n"] for r in query(
        warehouse, "SELECT dataset, device_id, count(*) AS n FROM latency "
        "WHERE space_id = 'nb201' GROUP BY ALL").to_pylist()}
    assert counts[("cifar100", "raspi4")] == counts[("ImageNet16-120", "raspi4")] == 15625
    after = query(warehouse, "SELECT count(*) AS n FROM latency").to_pylist()[0]["n"]
    assert after == before + 2 * 15625  # the four cifar10 series are copies of HELP's
    provenance = query(warehouse, "SELECT source_id FROM series_provenance WHERE "
                       "device_id = 'pixel3' AND space_id = 'nb201' AND dataset = 'cifar10'")
    assert {"help", "hwnasbench"} <= set(provenance.column("source_id").to_pylist())
    energy = query(warehouse, "SELECT arch_id, energy_mj FROM energy WHERE device_id = 'fpga' "
                   "ORDER BY arch_id LIMIT 2").to_pylist()
    fpga = help_series(warehouse, "fpga")
    assert [e["energy_mj"] for e in energy] == pytest.approx([2 * fpga[0], 2 * fpga[1]])


def test_fbnet_tables_price_an_architecture_as_hand_summed(warehouse, pickle_file):
    assert invoke(warehouse, "ingest", "hwnasbench", "--path", str(pickle_file)).exit_code == 0
    table = pl.from_arrow(query(warehouse, "SELECT op_key, mean, op_type, input_h, output_c "
                                "FROM op_latency WHERE space_id = 'fbnet' AND device_id = "
                                "'pixel3' AND metric = 'latency_ms'"))
    values = fbnet_table(1.0)
    assert table.height == len(values)
    stem = table.filter(pl.col("op_key") == "ConvNorm_H32_W32_Cin3_Cout16_kernel3_stride1_group1")
    assert stem.select("op_type", "input_h", "output_c").row(0) == ("ConvNorm", 32, 16)
    layers = fbnet_ops.layer_op_keys(np.asarray(FBNET_ARCHS), "cifar100")
    priced = price(layers, table)
    first = layers.filter(pl.col("arch_row") == 0).get_column("op_key").to_list()
    assert len(first) == 26
    assert priced[0] == pytest.approx(sum(values[k] for k in first), abs=0)
    energy = query(warehouse, "SELECT count(*) AS n FROM op_latency WHERE device_id = 'fpga' "
                   "AND metric = 'energy_mj'").to_pylist()[0]["n"]
    assert energy == len(values)
    assert fbnet.SPACE_ID in set(query(warehouse, "SELECT space_id FROM spaces")
                                 .column("space_id").to_pylist())


def test_a_copy_that_disagrees_with_help_is_refused(warehouse, tmp_path, snapshot):
    data = hwnasbench_dict(warehouse)
    data["nasbench201"]["cifar10"]["pixel3_latency"][5] *= 1.01
    path = tmp_path / "bad.pickle"
    path.write_bytes(pickle.dumps(data, protocol=4))
    before = snapshot(warehouse.root)
    result = invoke(warehouse, "ingest", "hwnasbench", "--path", str(path))
    assert result.exit_code == 1
    assert "pixel3" in result.output and "disagree" in result.output
    assert snapshot(warehouse.root) == before


class _Exploit:
    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("content", ["exploit", "truncated", "no_nb201", "short_list",
                                     "unknown_op_key"])
def test_bad_pickles_are_refused(warehouse, tmp_path, snapshot, content):
    marker = tmp_path / "pwned"
    good = {"nasbench201": {ds: {"raspi4_latency": [1.0] * 15625}
                            for ds in ("cifar10", "cifar100", "ImageNet16-120")}}
    payload = {
        "exploit": lambda: pickle.dumps({"nasbench201": _Exploit(marker)}),
        "truncated": lambda: pickle.dumps(good)[:1000],
        "no_nb201": lambda: pickle.dumps({"fbnet": {}}),
        "short_list": lambda: pickle.dumps({"nasbench201": {
            ds: {"raspi4_latency": [1.0] * 10} for ds in ("cifar10", "cifar100",
                                                          "ImageNet16-120")}}),
        "unknown_op_key": lambda: pickle.dumps({**good, "fbnet": {
            "pixel3_latency": {"Mystery_H32_W32": 1.0}}}),
    }[content]()
    path = tmp_path / "HW-NAS-Bench-v1_0.pickle"
    path.write_bytes(payload)
    before = snapshot(warehouse.root)
    result = invoke(warehouse, "ingest", "hwnasbench", "--path", str(path))
    assert result.exit_code == 1
    expected = {"exploit": "system", "truncated": "HW-NAS-Bench-v1_0.pickle",
                "no_nb201": "nasbench201", "short_list": "15625",
                "unknown_op_key": "Mystery_H32_W32"}[content]
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not marker.exists()
    assert snapshot(warehouse.root) == before


def test_commands_default_to_the_dataset_most_devices_measured(warehouse, pickle_file):
    assert invoke(warehouse, "ingest", "hwnasbench", "--path", str(pickle_file)).exit_code == 0
    dataset, series = latency_series(warehouse, "nb201")
    assert dataset == "cifar10" and series.height == 41
    dataset, series = latency_series(warehouse, "nb201", "cifar100")
    assert series["device_id"].to_list() == ["raspi4"]
    result = invoke(warehouse, "adapt", "--device", "fpga", "--proxy", "pixel3",
                    "--samples", "10", "--no-save", "--format", "json")
    assert result.exit_code == 0, result.output
