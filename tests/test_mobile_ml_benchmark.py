"""mobile-ml-benchmark: parsing e2e files, environment devices, encodings, and the real files."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from oneproxy.analytics.predictors import InvalidPredictorInput
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.ingest.errors import CorruptFile
from oneproxy.ingest.mobile_ml_benchmark import parse_e2e
from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.devices import UnknownMobileEnvironment, mobile_device

CSV = {
    "model": ["NAS0", "NAS1", "NAS2"],
    "FLOPS": ["2000", "1000", "3000"],
    "size": ["40", "20", "60"],
    "pixel4|1large|float|mean": ["2000.0", "1000.0", "N/A"],
    "pixel4|1large|float|std": ["10", "5", ""],
    "s10|gpu|float|mean": ["500", "250", "750"],
    "s10|gpu|float|std": ["1", "2", "3"],
}


def test_parse_splits_environments_and_converts_microseconds():
    table = parse_e2e(pl.DataFrame(CSV), "t.csv")
    assert table.environments == [("pixel4", "1large", "float"), ("s10", "gpu", "float")]
    assert table.models == ["NAS0", "NAS1", "NAS2"]
    np.testing.assert_allclose(table.mean_ms[0, :2], [2.0, 1.0])
    assert np.isnan(table.mean_ms[0, 2]) and np.isnan(table.std_ms[0, 2])
    np.testing.assert_allclose(table.std_ms[1], [0.001, 0.002, 0.003])
    np.testing.assert_allclose(table.flops, [2000, 1000, 3000])


@pytest.mark.parametrize(("change", "message"), [
    ({"pixel4|1large|float|mean": ["2000", "x", "1"]}, r"line 3, column 'pixel4\|1large"),
    ({"model": ["NAS0", "NAS0", "NAS2"]}, "model 'NAS0' occurs more than once"),
    ({"size": ["40", "-1", "60"]}, "positive FLOPs and size"),
])
def test_bad_files_are_named(change, message):
    with pytest.raises(CorruptFile, match=message):
        parse_e2e(pl.DataFrame(CSV | change), "t.csv")


def test_missing_std_column_is_refused():
    bad = {k: v for k, v in CSV.items() if k != "s10|gpu|float|std"}
    with pytest.raises(CorruptFile, match=r"s10\|gpu\|float lacks its mean or std"):
        parse_e2e(pl.DataFrame(bad), "t.csv")


def test_environment_devices_carry_hardware_cores_framework_precision():
    gpu = mobile_device("tflite", "s10", "gpu", "float")
    assert (gpu.device_id, gpu.platform_class, gpu.framework, gpu.precision, gpu.cores) == (
        "mmb_tflite_s10_gpu_float", "mobile_gpu", "TFLite", "fp32", "gpu")
    cpu = mobile_device("torch", "pixel4", "1large1med", "quant")
    assert (cpu.platform_class, cpu.framework, cpu.precision) == (
        "mobile_cpu", "PyTorch Mobile", "int8")
    assert "Snapdragon 855" in cpu.hardware
    with pytest.raises(UnknownMobileEnvironment, match="phone 'nokia3310'"):
        mobile_device("tflite", "nokia3310", "1large", "float")
    with pytest.raises(UnknownMobileEnvironment, match="core configuration 'many'"):
        mobile_device("tflite", "pixel4", "many", "float")


def test_cost_encodings_need_flops_and_size():
    costs = {"flops": np.array([2e9, 1e9]), "size_bytes": np.array([4e6, 2e6])}
    f = space_features("mobile_nas", ["NAS0", "NAS1"], attributes=costs)
    np.testing.assert_allclose(f.matrix("onehot"), [[2, 4, 1], [1, 2, 1]])
    assert f.columns["counts"] == ("gflops", "size_mb")
    with pytest.raises(InvalidPredictorInput, match="by their flops, size_bytes"):
        space_features("mobile_nas", ["NAS0"])


@pytest.mark.integration
def test_real_files_give_174_environments_and_the_model_counts(ingested, mirror):
    counts = pl.from_arrow(query(ingested, """
        SELECT space_id, count(DISTINCT device_id) AS devices, count(DISTINCT arch_id) AS archs
        FROM latency WHERE source_id = 'mobile_ml_benchmark' GROUP BY 1 ORDER BY 1"""))
    assert counts.rows() == [("mobile_cnn", 174, 102), ("mobile_nas", 174, 1000),
                             ("mobile_transformer", 160, 69)]
    fw = pl.from_arrow(query(ingested, """
        SELECT framework, count(DISTINCT l.device_id) AS n FROM latency l JOIN devices USING
        (device_id) WHERE space_id = 'mobile_nas' GROUP BY 1 ORDER BY 1"""))
    assert fw.rows() == [("PyTorch Mobile", 84), ("TFLite", 90)]
    raw = pl.read_csv(mirror / "qed-usc__mobile-ml-benchmark/dataset/torch_cnn_e2e.csv",
                      infer_schema=False).filter(pl.col("model") == "mobilenetv2_w1")
    row = query(ingested, """
        SELECT l.latency_ms, s.latency_std_ms, a.flops_torch FROM latency l
        JOIN latency_std s USING (space_id, dataset, device_id, arch_id)
        JOIN architectures a USING (space_id, arch_id)
        WHERE l.space_id = 'mobile_cnn' AND a.arch_key = 'mobilenetv2_w1'
          AND l.device_id = 'mmb_torch_pixel4_1large_float'""").to_pylist()[0]
    assert row["latency_ms"] == pytest.approx(float(raw["pixel4|1large|float|mean"][0]) / 1000)
    assert row["latency_std_ms"] == pytest.approx(float(raw["pixel4|1large|float|std"][0]) / 1000)
    assert row["flops_torch"] == float(raw["flops"][0])
    failed = query(ingested, """SELECT count(*) AS n FROM latency WHERE space_id = 'mobile_cnn'
        AND device_id = 'mmb_torch_s10_gpu_float' AND status = 'failed'""").to_pylist()[0]["n"]
    assert failed == 17


@pytest.mark.integration
def test_a_bad_cell_through_ingest_is_named_and_nothing_is_written(
        warehouse, mirror, tmp_path, refused_ingest, monkeypatch):
    import hashlib
    from dataclasses import replace

    from oneproxy.ingest import mobile_ml_benchmark
    from oneproxy.ingest.registry import file

    real = file("mobile_ml_benchmark", "dataset/torch_cnn_e2e.csv")
    lines = (mirror / real.mirror_relpath).read_text().splitlines()
    cells = lines[3].split(",")
    cells[3] = "fast"
    data = "\n".join([*lines[:3], ",".join(cells), *lines[4:]]).encode()
    bad = replace(real, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    target = tmp_path / "mirror" / bad.mirror_relpath
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    for f in ("tflite_cnn_e2e.csv", "tflite_nas_e2e.csv", "torch_nas_e2e.csv"):
        (tmp_path / "mirror" / bad.mirror_relpath).with_name(f).symlink_to(
            (mirror / real.mirror_relpath).with_name(f))
    monkeypatch.setattr(mobile_ml_benchmark, "file",
                        lambda s, p: bad if p == real.path else file(s, p))
    refused_ingest(warehouse, "mobile_ml_benchmark",
                   "line 4, column 'pixel4|1large|float|mean': 'fast' is not a number")
