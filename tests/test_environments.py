"""Pairs of mobile environments by the attribute they differ in, findings, heatmap groups."""

import polars as pl
import pytest
from oneproxy.analytics.environments import (
    environment_summary,
    findings,
    heatmap_groups,
    pair_kinds,
)
from oneproxy.warehouse.devices import mobile_environment

PAIRS = pl.DataFrame({
    "device_a": ["mmb_tflite_pixel4_1large_float", "mmb_tflite_pixel4_1large_float",
                 "mmb_tflite_pixel4_1large_float", "mmb_tflite_pixel4_1large_float",
                 "mmb_tflite_pixel4_1large_float", "mmb_tflite_s10_1large_float", "pixel3"],
    "device_b": ["mmb_torch_pixel4_1large_float", "mmb_tflite_s10_1large_float",
                 "mmb_tflite_pixel4_gpu_float", "mmb_tflite_pixel4_2med_float",
                 "mmb_torch_s10_1large_quant", "mmb_torch_s10_1large_float", "raspi4"],
    "value": [0.5, 0.97, 0.7, 0.99, 0.4, 0.6, 0.9],
})


def test_environment_ids_parse_back():
    assert mobile_environment("mmb_torch_s10_1large2med_quant") == (
        "torch", "s10", "1large2med", "quant")
    assert mobile_environment("pixel3") is None
    assert mobile_environment("mmb_tflite_nokia_1large_float") is None


def test_pairs_are_kinded_by_the_one_attribute_that_differs():
    assert pair_kinds(PAIRS)["differs"].to_list() == [
        "framework", "phone", "cpu_vs_gpu", "cores", "several", "framework", None]


def test_summary_and_findings_compare_framework_with_phone():
    summary = environment_summary(PAIRS)
    rows = {r["differs"]: r for r in summary.iter_rows(named=True)}
    assert rows["framework"]["pairs"] == 2 and rows["framework"]["median"] == pytest.approx(0.55)
    assert rows["phone"]["share_at_least_threshold"] == 1.0
    text = findings(summary)
    assert ("Switching the framework on one phone is less monotone than switching the phone on "
            "one framework (median 0.550 vs 0.970).") in text
    assert text[-1].startswith("The least monotone change is TFLite vs PyTorch Mobile")


def test_heatmap_groups_by_phone_or_framework_keep_other_devices_platform():
    devices = ["mmb_tflite_pixel4_1large_float", "mmb_torch_s10_gpu_quant", "pixel3"]
    platform = {d: "mobile_cpu" for d in devices}
    assert heatmap_groups(devices, platform, "phone") == {
        devices[0]: "Google Pixel 4", devices[1]: "Samsung Galaxy S10", "pixel3": "mobile_cpu"}
    assert heatmap_groups(devices, platform, "framework")[devices[1]] == "PyTorch Mobile"
    assert heatmap_groups(devices, platform, "platform") == platform
