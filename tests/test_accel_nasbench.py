"""Accel-NASBench: codec, result JSON parsing, and the real archive through ingest and search."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.ingest.accel_nasbench import parse_results
from oneproxy.ingest.errors import CorruptFile
from oneproxy.ingest.registry import file
from oneproxy.ingest.safe_tar import read_members
from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.spaces import accel

from oneproxy.cli import main

ARCH = {f"block{b}_{f}": v for b in range(7)
        for f, v in (("e", 6 if b else 1), ("k", 3), ("l", 1 + b % 3), ("se", b == 6))}
KEY = "e1k3l1s0-e6k3l2s0-e6k3l3s0-e6k3l1s0-e6k3l2s0-e6k3l3s0-e6k3l1s1"


def _result(top1: float, zcu: float | None = 2.0) -> dict:
    perf = {f"latency_{d}": {"latency_mean": zcu, "latency_std": None}
            for d in ("zcu102", "vck190")}
    perf |= {f"throughput_{d}": {"throughput_mean": 100.0, "throughput_std": 1.0}
             for d in ("a100", "3090", "tpuv2", "tpuv3", "zcu102", "vck190")}
    return {"architecture": ARCH, "metrics": {"val_top1": top1, "val_top5": 80.0},
            "model_info": {"macs": 300.0, "params": 3.0}, "platform_perf": perf}


def test_keys_round_trip_and_encodings_have_documented_shapes():
    assert accel.key_of(ARCH) == KEY
    arr = accel.matrix([KEY])
    assert accel.format_keys(arr) == [KEY]
    f = space_features(accel.SPACE_ID, [KEY])
    assert f.matrix("onehot").shape == (1, 7 * 11 + 1) and f.matrix("onehot").sum() == 7 * 4 + 1
    counts = dict(zip(accel.COUNT_COLUMNS, f.matrix("counts")[0], strict=True))
    assert counts["n_blocks_e6"] == 6 and counts["n_layers"] == 13 and counts["n_layers_se"] == 1
    assert counts["n_layers_e6"] == 12 and counts["n_blocks_k3"] == 7
    with pytest.raises(accel.BadArchKey, match="block 0 k=7 is not one of"):
        accel.matrix([KEY.replace("e1k3", "e1k7", 1)])
    with pytest.raises(accel.BadArchKey, match="is not 7 blocks"):
        accel.matrix(["e1k3l1s0"])


def test_results_parse_in_result_order_with_nulls_as_nan():
    members = {"anb_dataset_jsons/result_1.json": json.dumps(_result(61.0, None)).encode(),
               "anb_dataset_jsons/result_0.json": json.dumps(_result(60.0)).encode()}
    r = parse_results(members, "a.tar.gz")
    assert r.arch_id.tolist() == [0, 1] and r.keys == [KEY, KEY]
    assert r.values["val_top1"].tolist() == [60.0, 61.0]
    assert np.isnan(r.values["latency_zcu102.mean"][1])


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["metrics"].pop("val_top1"), "missing or malformed field 'val_top1'"),
    (lambda d: d["metrics"].update(val_top1="high"), "'high' is not a number"),
    (lambda d: d["architecture"].update(block3_e=5), "block 3 e=5 is not one of"),
])
def test_bad_results_are_named(change, message):
    raw = _result(60.0)
    raw["architecture"] = dict(ARCH)
    change(raw)
    with pytest.raises(CorruptFile, match=message):
        parse_results({"anb_dataset_jsons/result_0.json": json.dumps(raw).encode()}, "a.tar.gz")


def test_results_from_an_archive_built_here(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = json.dumps(_result(59.5)).encode()
        info = tarfile.TarInfo("./anb_dataset_jsons/result_7.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "a.tar.gz"
    path.write_bytes(buffer.getvalue())
    members = read_members(path, hashlib.sha256(path.read_bytes()).hexdigest())
    assert parse_results(members, "a.tar.gz").arch_id.tolist() == [7]


def _raw(mirror) -> pl.DataFrame:
    upstream = file("accel_nasbench", "anb_dataset/anb_dataset_jsons.tar.gz")
    rows = []
    with tarfile.open(mirror / upstream.mirror_relpath) as tar:
        for m in tar:
            if m.isfile():
                d = json.loads(tar.extractfile(m).read())
                rows.append({"arch_id": int(m.name.split("_")[-1].split(".")[0]),
                             "top1": d["metrics"]["val_top1"],
                             "zcu": d["platform_perf"]["latency_zcu102"]["latency_mean"],
                             "vck": d["platform_perf"]["latency_vck190"]["latency_mean"],
                             "a100": d["platform_perf"]["throughput_a100"]["throughput_mean"]})
    return pl.DataFrame(rows)


@pytest.mark.integration
def test_real_archive_counts_and_values(ingested, mirror):
    raw = _raw(mirror)
    n = query(ingested, """SELECT count(DISTINCT arch_id) AS n FROM accuracy
        WHERE space_id = 'accel_nasbench' AND metric = 'test_accuracy'""").to_pylist()[0]["n"]
    assert n == 5138 == raw.height
    got = pl.from_arrow(query(ingested, """
        SELECT a.arch_id, a.value AS top1, z.latency_ms AS zcu, t.images_per_s AS a100
        FROM accuracy a
        JOIN latency z ON z.space_id = a.space_id AND z.arch_id = a.arch_id
            AND z.device_id = 'anb_zcu102'
        JOIN throughput t ON t.space_id = a.space_id AND t.arch_id = a.arch_id
            AND t.device_id = 'anb_a100'
        WHERE a.space_id = 'accel_nasbench' AND a.metric = 'test_accuracy' ORDER BY 1"""))
    both = got.join(raw, on="arch_id", suffix="_raw")
    assert both.height == 5138
    for c in ("top1", "a100"):
        np.testing.assert_allclose(both[c].to_numpy(), both[f"{c}_raw"].to_numpy())
    ok = both.filter(pl.col("zcu_raw").is_not_null())
    np.testing.assert_allclose(ok["zcu"].to_numpy(), ok["zcu_raw"].to_numpy())
    assert both.filter(pl.col("zcu_raw").is_null())["zcu"].null_count() == 2


@pytest.mark.integration
def test_search_under_fpga_budgets_finds_the_raw_optimum(warehouse, mirror):
    raw = _raw(mirror)
    runner = CliRunner()
    for device, column in (("anb_zcu102", "zcu"), ("anb_vck190", "vck")):
        result = runner.invoke(main, [
            "search", "--space", "accel_nasbench", "--dataset", "imagenet", "--devices", device,
            "--budget", "3ms,4ms", "--format", "csv", "--no-save",
            "--warehouse", str(warehouse.root)])
        assert result.exit_code == 0, result.output
        rows = pl.read_csv(io.StringIO(result.stdout))
        for budget in (3.0, 4.0):
            fits = raw.filter(pl.col(column) <= budget)
            best = fits.filter(pl.col("top1") == fits["top1"].max())
            row = rows.filter(pl.col("budget_ms") == budget)
            assert row["accuracy"][0] == pytest.approx(best["top1"][0])
            assert row["arch_id"][0] in best["arch_id"].to_list()
    result = runner.invoke(main, [
        "search", "--space", "accel_nasbench", "--dataset", "imagenet", "--devices",
        "anb_vck190", "--budget", "3ms", "--proxy", "anb_zcu102", "--format", "csv",
        "--no-save", "--warehouse", str(warehouse.root)])
    assert result.exit_code == 0, result.output
    pick = pl.read_csv(io.StringIO(result.stdout)).row(0, named=True)
    fits = raw.filter(pl.col("zcu") <= 3.0)
    assert pick["accuracy"] == pytest.approx(fits["top1"].max())
    assert pick["regret"] >= 0


@pytest.mark.integration
def test_a_malicious_archive_through_ingest_leaves_the_warehouse_as_it_was(
        warehouse, tmp_path, refused_ingest, monkeypatch):
    from dataclasses import replace

    from oneproxy.ingest import accel_nasbench

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../anb_dataset_jsons/result_0.json")
        data = json.dumps(_result(60.0)).encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    real = file("accel_nasbench", "anb_dataset/anb_dataset_jsons.tar.gz")
    evil = replace(real, sha256=hashlib.sha256(buffer.getvalue()).hexdigest(),
                   bytes=len(buffer.getvalue()))
    target = tmp_path / "mirror" / evil.mirror_relpath
    target.parent.mkdir(parents=True)
    target.write_bytes(buffer.getvalue())
    monkeypatch.setattr(accel_nasbench, "file", lambda *_: evil)
    refused_ingest(warehouse, "accel_nasbench",
                   "member '../../anb_dataset_jsons/result_0.json' has an unsafe path")
    assert not (tmp_path.parent / "anb_dataset_jsons").exists()
