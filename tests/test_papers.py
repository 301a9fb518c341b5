"""The papers' own protocols on the real warehouse: HELP's split, the notebook, NASFLAT."""

import json

import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.analytics.baselines import METHODS
from oneproxy.analytics.protocols import BUILTIN, NASFLAT_MISSING, NASFLAT_PROTOCOLS
from oneproxy.warehouse.catalog import query

from oneproxy.cli import main as CLI

HELP_FLOPS = {"titan_rtx_256": 0.950, "gold_6226": 0.826, "fpga": 0.900, "pixel2": 0.765}


def evaluate(wh, *args: str) -> list[dict]:
    result = CliRunner().invoke(CLI, ["evaluate", *args, "--format", "json", "--no-save",
                                      "--warehouse", str(wh.root)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.integration
def test_help_nb201_paper_rows_and_its_flops_row(ingested):
    rows = evaluate(ingested, "--protocol", "help-nb201-paper", "--samples", "10",
                    "--seeds", "2")
    targets = BUILTIN["help-nb201-paper"].targets
    assert {(r["target"], r["method"]) for r in rows} == {(t, m) for t in targets
                                                          for m in METHODS}
    assert {r["n_eval_mean"] for r in rows} == {800.0}  # HELP's 1,000 query rows cut to 10–90%
    flops = {r["target"]: r["after_srcc_mean"] for r in rows if r["method"] == "flops"}
    for target, published in HELP_FLOPS.items():  # HELP's Table 2, FLOPs row
        assert flops[target] == pytest.approx(published, abs=0.006)
    ours = [r for r in rows if r["method"] == "adaproxy"]
    assert all(r["published_srcc"] is None for r in ours)  # published at n=20 only
    assert all(r["proxy"] in BUILTIN["help-nb201-paper"].proxies for r in ours)


@pytest.mark.integration
def test_help_fbnet_paper_scores_on_helps_800(ingested):
    rows = evaluate(ingested, "--protocol", "help-fbnet-paper", "--samples", "20",
                    "--seeds", "1")
    assert {r["n_eval_mean"] for r in rows} == {800.0}
    ours = {r["target"]: r for r in rows if r["method"] == "adaproxy"}
    assert {t: r["published_srcc"] for t, r in ours.items()} == BUILTIN["help-fbnet"].published


@pytest.mark.integration
def test_oneproxy_notebook_scores_all_1999(ingested):
    rows = evaluate(ingested, "--protocol", "oneproxy-notebook", "--seeds", "1")
    raspi4 = [r for r in rows if r["target"] == "raspi4"]
    assert {r["n_eval_mean"] for r in raspi4} == {1999.0}  # the 70 samples are scored too
    assert {r["n_samples"] for r in rows} == {70}


@pytest.mark.integration
def test_nasflat_tasks_name_devices_the_warehouse_holds(ingested):
    held = pl.from_arrow(query(ingested, "SELECT DISTINCT space_id, device_id FROM latency"))
    for protocol in NASFLAT_PROTOCOLS:
        devices = set(held.filter(pl.col("space_id") == protocol.space)["device_id"])
        assert set(protocol.proxies + protocol.targets) <= devices, protocol.name
    assert not set(NASFLAT_MISSING) & set(BUILTIN)


@pytest.mark.integration
def test_too_many_samples_for_helps_pool(warehouse, snapshot):
    query(warehouse, "SELECT 1")  # the copy's catalog is rebuilt on first use
    before = snapshot(warehouse.root)
    result = CliRunner().invoke(CLI, ["evaluate", "--protocol", "help-nb201-paper", "--samples",
                                      "900", "--seeds", "1", "--warehouse", str(warehouse.root)])
    assert result.exit_code == 1
    assert "n=900 samples but target 'titan_rtx_256' has only" in result.output
    assert "Traceback" not in result.output
    assert snapshot(warehouse.root) == before
