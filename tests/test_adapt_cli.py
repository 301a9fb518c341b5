"""`oneproxy evaluate / adapt / predict` on the real NB201 warehouse: tables, rows, errors."""

import json
import shutil

import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.warehouse.store import Warehouse

from oneproxy.cli import main as CLI

pytestmark = pytest.mark.integration

HELP_TARGETS = ["titan_rtx_256", "gold_6226", "fpga", "pixel2", "raspi4", "eyeriss"]


def invoke(wh: Warehouse, *args: str):
    return CliRunner().invoke(CLI, [*args, "--warehouse", str(wh.root)])


def ok(result):
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def writable(ingested, tmp_path_factory) -> Warehouse:
    """A copy of the shared warehouse that these tests commit into."""
    return Warehouse(shutil.copytree(ingested.root, tmp_path_factory.mktemp("adapt") / "wh"))


def test_help_nb201_table_and_stored_rows(writable):
    out = ok(invoke(writable, "evaluate", "--protocol", "help-nb201", "--samples", "20",
                    "--seeds", "3", "--save"))
    lines = out.stdout.splitlines()
    for target in HELP_TARGETS:
        assert any(line.startswith(f"│ {target} ") for line in lines), target
    assert "published n=20" in out.stdout and "0.932" in out.stdout
    assert "proxy at n=20" in out.stdout  # the report's label: the proxy at the largest n
    summary = pl.from_arrow(writable.read("adaptation")).filter(pl.col("method") == "adaproxy")
    for row in summary.iter_rows(named=True):  # the share the report shows, in the table
        assert f"{row['proxy']} ({row['proxy_share']:.0%})" in out.stdout
    assert summary["target"].to_list() == sorted(HELP_TARGETS)
    assert summary["after_srcc_mean"].mean() > summary["before_srcc_mean"].mean()
    assert summary.filter(pl.col("target") == "pixel2")["published_srcc"].to_list() == [0.802]
    per_seed = pl.from_arrow(writable.read("predictor_eval"))
    assert per_seed.height == 6 * 3 * 5  # ours and four baselines
    per_seed = per_seed.filter(pl.col("method") == "adaproxy")
    assert per_seed["n_reference"].unique().to_list() == [10]
    assert per_seed["n_eval"].unique().to_list() == [15625 - 20]
    assert (per_seed["mape_pct"].is_finite()).all()


def test_oneproxy_nb201_on_the_shared_1999(ingested):
    out = ok(invoke(ingested, "evaluate", "--protocol", "oneproxy-nb201", "--samples", "20",
                    "--seeds", "3", "--format", "json", "--no-save"))
    every = json.loads(out.stdout)
    assert len(every) == 17 * 5
    rows = [r for r in every if r["method"] == "adaproxy"]
    assert {r["proxy"] for r in rows} == {"nnmeter_myriadvpu"}
    n_eval = {r["target"]: r["n_eval_mean"] for r in rows}
    assert n_eval["raspi4"] == 1999 - 20
    assert n_eval["edgetpu"] == 1740 - 20  # 259 models did not compile on the Edge TPU
    assert sum(r["after_srcc_mean"] for r in rows) > sum(r["before_srcc_mean"] for r in rows)
    assert not ingested.has("adaptation")


def test_adapt_with_samples_stores_the_whole_space(writable):
    out = ok(invoke(writable, "adapt", "--device", "raspi4", "--proxy", "pixel3",
                    "--samples", "20", "--seed", "1", "--format", "json"))
    summary = json.loads(out.stdout)[0]
    assert summary["proxy"] == "pixel3" and summary["n_samples"] == 20
    assert summary["n_rest"] == 15625 - 20 and summary["srcc_rest"] > 0.9
    assert "not sampled: SRCC" in out.stderr
    stored = pl.from_arrow(writable.read("predictions")).filter(pl.col("device_id") == "raspi4")
    assert stored.height == 15625 and stored["arch_id"].n_unique() == 15625
    assert stored["predicted_ms"].is_finite().all() and stored["seed"].unique().to_list() == [1]

    shown = ok(invoke(writable, "predict", "--device", "raspi4", "--archs", "3,0",
                      "--format", "json"))
    rows = json.loads(shown.stdout)
    assert [r["arch_id"] for r in rows] == [3, 0]
    # raspi4 measured both: its own measurement comes first, the prediction is shown beside it
    assert {r["source"] for r in rows} == {"measured"}
    assert all(r["latency_ms"] == r["measured_ms"] and r["predicted_ms"] is not None
               and r["proxy"] == "pixel3" for r in rows)


def test_adapt_from_measured_predicts_the_space(writable):
    out = ok(invoke(writable, "adapt", "--device", "nnmeter_adreno640", "--proxy", "pixel3",
                    "--from-measured", "--strategy", "linear", "--format", "csv"))
    assert "nnmeter_adreno640,pixel3,linear" in out.stdout
    stored = pl.from_arrow(writable.read("predictions"))
    mine = stored.filter(pl.col("device_id") == "nnmeter_adreno640")
    assert mine.height == 15625 and mine["n_samples"].unique().to_list() == [1999]
    assert mine["seed"].null_count() == 15625
    assert stored["device_id"].unique().sort().to_list() in (
        ["nnmeter_adreno640"], ["nnmeter_adreno640", "raspi4"])


def test_predict_falls_back_to_measured(ingested):
    out = ok(invoke(ingested, "predict", "--device", "nnmeter_myriadvpu", "--archs", "0,1",
                    "--format", "json"))
    rows = json.loads(out.stdout)
    assert [r["source"] for r in rows] == ["none", "measured"]
    assert rows[1]["latency_ms"] == rows[1]["measured_ms"] == pytest.approx(5.566)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["adapt", "--space", "ofa_fpga", "--device", "zynq_dpu", "--samples", "10"],
         "space ofa_fpga has no whole-network latency in the warehouse"),
        (["evaluate", "--protocol", "help-nb999"], "unknown protocol 'help-nb999'"),
        (["adapt", "--device", "nosuch", "--samples", "10"], "unknown target device 'nosuch'"),
        (["adapt", "--device", "raspi4", "--proxy", "nosuch", "--samples", "10"],
         "unknown proxy device 'nosuch'"),
        (["adapt", "--space", "nb999", "--device", "raspi4", "--samples", "10"],
         "unknown space 'nb999'"),
        (["adapt", "--device", "nnmeter_adreno640", "--proxy", "pixel3", "--samples", "5000"],
         "5000 samples asked of a target that measured 1999"),
        (["predict", "--device", "raspi4", "--archs", "99999"], "arch id 99999 is not"),
        (["predict", "--device", "nosuch"], "device 'nosuch' has neither"),
    ],
)
def test_errors_are_one_line(ingested, args, message):
    result = invoke(ingested, *args)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_usage_errors_exit_2(ingested):
    assert invoke(ingested, "adapt", "--device", "raspi4").exit_code == 2
    assert invoke(ingested, "evaluate", "--protocol", "help-nb201", "--samples", "a").exit_code == 2


def test_every_command_has_help_with_an_example():
    for name in ("adapt", "evaluate", "predict"):
        out = ok(CliRunner().invoke(CLI, [name, "--help"])).stdout
        assert f"oneproxy {name} --" in out and "Examples:" in out
