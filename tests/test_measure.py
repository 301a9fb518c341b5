"""`oneproxy measure`: ONNX Runtime timings, resumable, locked, noise check, ingestible CSV."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.spaces import nb201

from oneproxy.api.measure import COLUMNS, noise_check, sample_keys
from oneproxy.cli import main
from oneproxy.measure.lock import LOCK_NAME, MachineBusy, machine_lock
from oneproxy.measure.timing import BadTimingSettings, TimingSettings, summarize

FAST = ["--warmup", "1", "--repeat", "3"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder, so that the machine lock is the test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("ONEPROXY_CACHE", str(folder))
    return folder


def measure(*args: str):
    return CliRunner().invoke(main, ["measure", *FAST, *args])


def rows(path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_five_archs_get_positive_latencies_and_a_sidecar(cache, tmp_path):
    out = tmp_path / "measured.csv"
    result = measure("--sample", "5", "--seed", "1", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "measured 5 nb201 architectures (cifar10, 1 thread(s), batch 1, 1+3 runs)" in (
        result.output)
    got = rows(out)
    assert list(got[0]) == list(COLUMNS)
    assert [r["arch"] for r in got] == sample_keys(5, 1)
    assert all(0 < float(r["latency_min_ms"]) <= float(r["latency_ms"]) for r in got)
    assert all(float(r["latency_iqr_ms"]) >= 0 for r in got)
    assert {(r["repeats"], r["warmup"], r["threads"], r["batch"]) for r in got} == {
        ("3", "1", "1", "1")}
    for r in got:
        ops = nb201.parse_arch(r["arch"])
        assert float(r["flops_m"]) == pytest.approx(nb201.flops(ops, "cifar10")[0], abs=1e-6)
    side = json.loads((tmp_path / "measured.csv.json").read_text())
    assert side["machine"]["threads"] == 1
    assert side["machine"]["onnxruntime"]
    assert side["device"]["batch_size"] == 1
    assert "ONNX Runtime" in side["device"]["framework"]


def test_resume_skips_measured_rows(cache, tmp_path):
    out = tmp_path / "m.csv"
    keys = sample_keys(5, 2)
    assert measure("--archs", ",".join(keys[:3]), "-o", str(out)).exit_code == 0
    first = rows(out)
    result = measure("--archs", ",".join(keys), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "measured 2 nb201 architectures" in result.output
    assert "skipped 3 already in" in result.output
    again = rows(out)
    assert again[:3] == first
    assert [r["arch"] for r in again] == keys


def test_resume_refuses_other_settings(cache, tmp_path):
    out = tmp_path / "m.csv"
    assert measure("--sample", "2", "-o", str(out)).exit_code == 0
    before = out.read_bytes()
    result = measure("--sample", "2", "--batch", "2", "-o", str(out))
    assert result.exit_code == 1
    assert f"{out} line 2: batch=1 but this run uses batch=2" in result.output
    assert out.read_bytes() == before


def test_a_second_measure_is_refused_while_the_lock_is_held(cache, tmp_path):
    with machine_lock(cache / LOCK_NAME):
        result = measure("--sample", "2", "-o", str(tmp_path / "m.csv"))
        with pytest.raises(MachineBusy, match=f"pid {os.getpid()}"), \
                machine_lock(cache / LOCK_NAME):
            pass
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: another `oneproxy measure` (pid {os.getpid()}) holds the machine lock "
        f"{cache / LOCK_NAME}; wait for it to finish, timings taken side by side are not "
        "comparable"]
    assert not (tmp_path / "m.csv").exists()
    assert measure("--sample", "2", "-o", str(tmp_path / "m.csv")).exit_code == 0


def test_check_reports_rank_stability(cache, tmp_path):
    out = tmp_path / "m.csv"
    result = measure("--archs", ",".join(nb201.format_arch([op] * 6) for op in (0, 2, 3)),
                     "--check", "3", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "check: 3 architectures re-timed: SRCC between passes" in result.output
    check = json.loads((tmp_path / "m.csv.json").read_text())["check"]
    assert check["k"] == 3
    assert -1 <= check["srcc"] <= 1
    assert check["median_rel_change"] >= 0


def test_noise_check_and_summary_statistics():
    first = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    calm = noise_check(first, {"a": 1.01, "b": 2.02, "c": 2.97, "d": 4.0})
    assert calm.srcc == pytest.approx(1.0)
    assert calm.median_rel_change == pytest.approx(0.01)
    assert not calm.noisy
    shaky = noise_check(first, {"a": 2.5, "b": 2.0, "c": 1.0, "d": 4.4})
    assert shaky.noisy
    t = summarize(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))
    assert (t.median_ms, t.iqr_ms, t.min_ms, t.repeats) == (3.0, 2.0, 1.0, 5)


@pytest.mark.parametrize("bad", [{"threads": 0}, {"repeat": 2}, {"batch": 1.5}])
def test_bad_timing_settings_name_the_setting(bad):
    with pytest.raises(BadTimingSettings, match=next(iter(bad))):
        TimingSettings(**bad)


def test_unknown_dataset_is_refused_before_timing(cache, tmp_path):
    result = measure("--sample", "2", "--dataset", "mnist", "-o", str(tmp_path / "m.csv"))
    assert result.exit_code == 2
    assert "mnist" in result.output


@pytest.mark.integration
def test_measured_csv_goes_through_ingest_table_with_the_sidecar(cache, tmp_path, warehouse):
    out = tmp_path / "here.csv"
    assert measure("--sample", "5", "--seed", "4", "-o", str(out)).exit_code == 0
    result = CliRunner().invoke(main, ["ingest", "table", str(out), "--space", "nb201",
                                       "--device", "this_cpu", "--warehouse", str(warehouse.root)])
    assert result.exit_code == 0, result.output
    got = query(warehouse, "SELECT a.arch_key, l.latency_ms FROM latency l JOIN architectures a "
                "USING (space_id, arch_id) WHERE l.device_id = 'this_cpu'").to_pylist()
    measured = {r["arch"]: float(r["latency_ms"]) for r in rows(out)}
    assert {r["arch_key"]: r["latency_ms"] for r in got} == pytest.approx(measured)
    device = query(warehouse, "SELECT * FROM devices WHERE device_id = 'this_cpu'").to_pylist()[0]
    side = json.loads((tmp_path / "here.csv.json").read_text())["device"]
    assert device["platform_class"] == "desktop_cpu"
    assert device["hardware"] == side["hardware"]
    assert device["framework"].startswith("ONNX Runtime ") and "1 intra-op thread" in (
        device["framework"])
    assert device["batch_size"] == 1
    assert "threads=1" in device["notes"]


@pytest.mark.integration
def test_options_win_over_the_sidecar(cache, tmp_path, warehouse):
    out = tmp_path / "here.csv"
    assert measure("--sample", "3", "-o", str(out)).exit_code == 0
    result = CliRunner().invoke(main, ["ingest", "table", str(out), "--space", "nb201",
                                       "--device", "this_cpu", "--hardware", "my box",
                                       "--warehouse", str(warehouse.root)])
    assert result.exit_code == 0, result.output
    device = query(warehouse, "SELECT * FROM devices WHERE device_id = 'this_cpu'").to_pylist()[0]
    assert device["hardware"] == "my box"
    assert device["framework"].startswith("ONNX Runtime ")


@pytest.mark.integration
@pytest.mark.parametrize("sidecar", ['{"device": {"batch_size": "one"}}', "not json",
                                     '{"machine": {}}'])
def test_a_bad_sidecar_is_one_line_and_writes_nothing(cache, tmp_path, warehouse, snapshot,
                                                      sidecar):
    out = tmp_path / "here.csv"
    assert measure("--sample", "3", "-o", str(out)).exit_code == 0
    (tmp_path / "here.csv.json").write_text(sidecar)
    before = snapshot(warehouse.root)
    result = CliRunner().invoke(main, ["ingest", "table", str(out), "--space", "nb201",
                                       "--device", "this_cpu", "--warehouse", str(warehouse.root)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {tmp_path / 'here.csv.json'}: ")
    assert len(result.output.strip().splitlines()) == 1
    assert snapshot(warehouse.root) == before


@pytest.mark.integration
def test_measure_ingest_adapt_end_to_end(cache, tmp_path, warehouse):
    """The walk-through at CI size: measure 30 archs, ingest them, adapt from 10, search."""
    out = tmp_path / "ci.csv"
    assert measure("--sample", "30", "--seed", "5", "-o", str(out)).exit_code == 0
    wh = ["--warehouse", str(warehouse.root)]
    steps = [
        ["ingest", "table", str(out), "--space", "nb201", "--device", "ci_cpu", *wh],
        ["adapt", "--device", "ci_cpu", "--samples", "10", "--proxy", "auto", *wh],
        ["search", "--dataset", "cifar10", "--devices", "ci_cpu", "--budget", "q50", *wh],
    ]
    for step in steps:
        result = CliRunner().invoke(main, step)
        assert result.exit_code == 0, (step, result.output)
    n = query(warehouse, "SELECT count(*) AS n FROM predictions WHERE device_id = 'ci_cpu'")
    assert n.to_pylist()[0]["n"] == nb201.N_ARCHS
