"""`oneproxy search` on the real NB201 data: known optima, proxy judgement, errors, stored rows."""

import json
import shutil

import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.store import Warehouse

from oneproxy.cli import main as CLI

pytestmark = pytest.mark.integration

# cifar100 optima computed once with a direct numpy argmax over the ingested data:
# (device, budget ms) -> (arch_id, test accuracy %, latency ms)
OPTIMA = {
    ("pixel3", 5.0): (12639, 68.4799999572754, 4.749),
    ("pixel3", 10.0): (6787, 70.86999997558593, 9.39167),
    ("fpga", 5.0): (12574, 72.27999999389648, 4.67856),
    ("fpga", 10.0): (9930, 73.51333326009114, 7.42096),
}


def invoke(wh: Warehouse, *args: str):
    return CliRunner().invoke(CLI, ["search", "--warehouse", str(wh.root), *args])


def rows(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def writable(ingested, tmp_path) -> Warehouse:
    """A copy of the shared warehouse that a test may commit into."""
    return Warehouse(shutil.copytree(ingested.root, tmp_path / "wh"))


def test_exhaustive_optima_on_cifar100(ingested):
    out = rows(invoke(ingested, "--dataset", "cifar100", "--devices", "pixel3,fpga",
                      "--budget", "5ms,10ms", "--format", "json", "--no-save"))
    assert [(r["device_id"], r["budget_ms"]) for r in out] == list(OPTIMA)
    for r in out:
        arch, accuracy, latency = OPTIMA[r["device_id"], r["budget_ms"]]
        assert r["arch_id"] == arch
        assert r["accuracy"] == pytest.approx(accuracy)
        assert r["latency_ms"] == pytest.approx(latency)
        assert r["method"] == "exhaustive" and r["proxy"] is None and r["regret"] is None
        assert r["latency_dataset"] == "cifar10" and r["dataset"] == "cifar100"
        assert r["n_searched"] == 15625 and r["partial_coverage"] is False


def test_table_output_is_compact_and_names_the_latency_dataset(ingested):
    result = invoke(ingested, "--dataset", "cifar100", "--devices", "fpga", "--budget", "10ms",
                    "--no-save")
    assert result.exit_code == 0, result.output
    assert "conv3 + conv3 conv3 + skip conv3 conv3" in result.stdout
    assert "73.5133" in result.stdout
    assert "measured on the cifar10 input" in result.stderr


def test_proxy_picks_are_judged_on_the_target(ingested):
    out = rows(invoke(ingested, "--dataset", "cifar100", "--devices", "raspi4", "--proxy",
                      "pixel3", "--budget", "10ms,20ms,40ms,q50", "--format", "json",
                      "--no-save"))
    assert len(out) == 4
    assert {r["method"] for r in out} == {"proxy"}
    assert {r["proxy"] for r in out} == {"pixel3"} and {r["n_samples"] for r in out} == {0}
    judged = [r for r in out if r["violation"] is not None]
    assert len(judged) == 4  # raspi4 measured every architecture
    assert all(r["regret"] >= 0 for r in judged if not r["violation"])
    assert all(r["violation_ms"] > 0 for r in judged if r["violation"])
    share = sum(r["violation"] for r in judged) / len(judged)
    assert 0 <= share <= 1


def test_proxy_summary_line(ingested):
    result = invoke(ingested, "--dataset", "cifar100", "--devices", "raspi4,fpga", "--proxy",
                    "pixel3", "--budget", "q10:q90:5", "--no-save")
    assert result.exit_code == 0, result.output
    assert "via pixel3: 10 of 10 picks judged" in result.stderr


def test_adaproxy_is_seeded(ingested):
    args = ("--dataset", "cifar100", "--devices", "fpga,edgegpu", "--proxy", "pixel3",
            "--samples", "20", "--seed", "7", "--budget", "q25,q75", "--format", "json",
            "--no-save")
    first, again = rows(invoke(ingested, *args)), rows(invoke(ingested, *args))
    assert first == again
    assert {(r["method"], r["n_samples"], r["seed"]) for r in first} == {("adaproxy", 20, 7)}
    assert all(r["regret"] >= 0 for r in first if r["violation"] is False)


def test_confidence_picks_by_the_upper_bound_and_stays_within_budget(ingested):
    args = ("--dataset", "cifar100", "--devices", "raspi4,fpga,eyeriss,edgegpu", "--proxy",
            "pixel3", "--samples", "20", "--budget", "q10,q25,q50,q75,q90", "--format", "json",
            "--no-save")
    point = rows(invoke(ingested, *args))
    result = invoke(ingested, *args, "--confidence", "0.9")
    bound = rows(result)
    assert {r["method"] for r in bound} == {"adaproxy@0.9"}
    assert all(r["predicted_ms"] <= r["budget_ms"] for r in bound)
    # the same samples: the point picks put one of 20 over its budget, the bound picks none
    assert sum(r["violation"] for r in point) == 1
    assert sum(r["violation"] for r in bound) == 0
    assert "0.0% of them over budget" in result.stderr


def test_auto_proxy_is_chosen_per_target_among_full_coverage_devices(ingested):
    result = invoke(ingested, "--dataset", "cifar100", "--devices", "raspi4,fpga", "--proxy",
                    "auto", "--samples", "20", "--budget", "q50", "--format", "json",
                    "--no-save")
    picked = {r["device_id"]: r for r in rows(result)}
    assert {r["proxy"] for r in picked.values()} == {"auto"}
    # pixel3 is raspi4's most monotone partner (SRCC 0.967); 20 samples are enough to find it
    assert picked["raspi4"]["chosen_proxy"] == "pixel3"
    assert picked["fpga"]["chosen_proxy"] not in {"fpga", "edgetpu", "eagle_gtx1080ti"}
    assert "raspi4 <- pixel3" in result.stderr
    refused = invoke(ingested, "--dataset", "cifar100", "--proxy", "auto", "--budget", "q50")
    assert refused.exit_code == 2 and "give --samples N" in refused.stderr


def test_partial_coverage_devices_are_searched_over_what_they_have(ingested):
    result = invoke(ingested, "--dataset", "cifar10", "--devices", "edgetpu", "--budget",
                    "1.5ms", "--measured-only", "--format", "json", "--no-save")
    (row,) = rows(result)
    assert row["partial_coverage"] is True
    assert row["n_searched"] == 1740  # 1,999 rows, 259 failed to compile
    assert row["latency_ms"] <= 1.5
    assert "partial coverage: edgetpu" in result.stderr


def test_a_named_partial_device_is_searched_on_its_predictions(ingested):
    result = invoke(ingested, "--dataset", "cifar10", "--devices", "edgetpu,pixel3", "--budget",
                    "1.5ms,q50", "--format", "json")
    assert result.exit_code == 0, result.output
    picks = {(r["device_id"], r["status"]) for r in json.loads(result.stdout)}
    assert "edgetpu measured only part of nb201: picks on adapted predictions" in result.stderr
    assert {s for d, s in picks if d == "pixel3"} == {"verified"}  # it measured everything
    mine = [r for r in json.loads(result.stdout) if r["device_id"] == "edgetpu"]
    assert {r["status"] for r in mine} <= {"verified", "likely"}
    failed = query(ingested, "SELECT arch_id FROM latency WHERE device_id = 'edgetpu' AND "
                   "space_id = 'nb201' AND latency_ms IS NULL").column("arch_id").to_pylist()
    assert len(failed) == 259 and not {r["arch_id"] for r in mine} & set(failed)
    for r in mine:
        bound = r["measured_ms"] if r["status"] == "verified" else r["upper_ms"]
        assert bound <= r["budget_ms"]


def test_pareto_plot(ingested, tmp_path):
    png = tmp_path / "fronts.png"
    result = invoke(ingested, "--dataset", "cifar100", "--devices", "fpga", "--proxy", "pixel3",
                    "--budget", "5ms", "--pareto", str(png), "--no-save")
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(("args", "message"), [
    (("--devices", "pixel3,nope"), "unknown device 'nope' for this space: use 'all' or some of"),
    (("--devices", "fpga", "--proxy", "nope"), "unknown proxy device 'nope'"),
    (("--devices", "fpga", "--dataset", "imagenet"), "no test accuracies for dataset 'imagenet'"),
    (("--devices", "fpga", "--space", "nb999"), "unknown space 'nb999'"),
    (("--devices", "fpga", "--budget", "5 seconds"), "bad budget '5 seconds'"),
])
def test_user_errors_are_one_line(ingested, args, message):
    base = {"--dataset": "cifar100", "--budget": "5ms"}
    base.update(zip(args[::2], args[1::2], strict=True))
    result = invoke(ingested, *[x for pair in base.items() for x in pair], "--no-save")
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_unknown_device_lists_valid_ones(ingested):
    result = invoke(ingested, "--dataset", "cifar100", "--devices", "nope", "--budget", "5ms")
    assert result.exit_code == 1
    assert "pixel3" in result.stderr and "raspi4" in result.stderr


def test_usage_errors(ingested):
    result = invoke(ingested, "--dataset", "cifar100", "--budget", "5ms", "--samples", "5")
    assert result.exit_code == 2
    assert "--samples adapts a proxy's predictor" in result.stderr
    assert invoke(ingested, "--dataset", "cifar100").exit_code == 2
    result = invoke(ingested, "--dataset", "cifar100", "--budget", "5ms", "--proxy", "pixel3",
                    "--confidence", "0.9")
    assert result.exit_code == 2 and "give --samples N" in result.stderr
    result = invoke(ingested, "--dataset", "cifar100", "--budget", "5ms", "--proxy", "pixel3",
                    "--samples", "20", "--verified-only")
    assert result.exit_code == 2 and "--verified-only picks on named devices'" in result.stderr
    result = invoke(ingested, "--dataset", "cifar100", "--budget", "5ms", "--devices", "edgetpu",
                    "--measured-only", "--confidence", "0.9")
    assert result.exit_code == 2 and "--measured-only searches devices over" in result.stderr


def test_help_has_examples():
    result = CliRunner().invoke(CLI, ["search", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "oneproxy search --dataset cifar100 --devices pixel3,fpga" in result.output


def test_results_are_saved_and_rerun_replaces_them(writable):
    args = ("--dataset", "cifar100", "--devices", "pixel3,fpga", "--budget", "5ms,10ms", "--save")
    assert invoke(writable, *args[:-1]).exit_code == 0
    assert not writable.has("search_result")  # an interactive search stores nothing by default
    assert invoke(writable, *args).exit_code == 0
    first = pl.from_arrow(writable.read("search_result"))
    assert first.height == 4
    assert invoke(writable, *args).exit_code == 0
    assert pl.from_arrow(writable.read("search_result")).equals(first)
    assert invoke(writable, *args, "--proxy", "raspi4").exit_code == 0
    assert invoke(writable, "--dataset", "cifar100", "--devices", "fpga",
                  "--budget", "4ms,5ms,6ms", "--save").exit_code == 0
    stored = pl.from_arrow(writable.read("search_result"))
    counts = stored.group_by("method", "device_id").len().sort("method", "device_id")
    assert counts.rows() == [
        ("exhaustive", "fpga", 3), ("exhaustive", "pixel3", 2),
        ("proxy", "fpga", 2), ("proxy", "pixel3", 2),
    ]
    fpga = stored.filter((pl.col("method") == "exhaustive") & (pl.col("device_id") == "fpga"))
    assert fpga["budget_ms"].to_list() == [4.0, 5.0, 6.0]
    self_proxy = rows(invoke(writable, *args, "--no-save", "--proxy", "fpga", "--format", "json"))
    assert [r["regret"] for r in self_proxy if r["device_id"] == "fpga"] == [0.0, 0.0]
    assert pl.from_arrow(writable.read("search_result")).height == stored.height
