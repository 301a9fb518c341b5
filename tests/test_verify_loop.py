"""The verify loop simulated over a protocol (`evaluate --search`): rows, summary, CLI, report."""

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.analytics.evaluate import ProtocolData
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.analytics.protocols import Protocol, get_protocol
from oneproxy.analytics.report import ReportTables, build_report
from oneproxy.search.budgets import BadBudget
from oneproxy.search.loop_eval import ALL_TARGETS, LoopSettings, simulate_protocol, summarize_loop
from oneproxy.search.picks import BadPickInput
from oneproxy.warehouse.schemas import VERIFY_LOOP
from oneproxy.warehouse.spaces import nb201

from oneproxy.api.loop import LOOP_TABLE, simulate_loop
from oneproxy.cli import main as CLI

PROTOCOL = Protocol(name="synthetic-loop", space="nb201", proxies=("proxy",),
                    targets=("pruning", "flat"), samples=(20,), seeds=3, proxy_mode="fixed",
                    first_seed=7)


@pytest.fixture(scope="module")
def data() -> tuple[ProtocolData, np.ndarray]:
    """1,500 cells: the proxy executes every op, 'pruning' prunes dead ops, 'flat' scales."""
    rng = np.random.default_rng(3)
    ops = nb201.all_op_tuples()[rng.choice(nb201.N_ARCHS, 1500, replace=False)]
    features = space_features("nb201", [nb201.format_arch(o) for o in ops])
    w = rng.uniform(0.2, 3.0, nb201.ONEHOT_DIM)
    proxy = features.matrix("onehot") @ w
    pruning = features.matrix("live_onehot") @ w * 1.3 * np.exp(rng.normal(0, 0.03, proxy.size))
    flat = 0.5 * proxy * np.exp(rng.normal(0, 0.05, proxy.size))
    flat[:40] = np.nan  # 'flat' did not measure 40 cells
    accuracy = 60 + 30 * proxy / proxy.max() + rng.normal(0, 1, proxy.size)
    latency = np.stack([proxy, pruning, flat])
    return ProtocolData(["proxy", "pruning", "flat"], latency, features,
                        np.zeros(0, np.int64)), accuracy


@pytest.fixture(scope="module")
def runs(data):
    protocol_data, accuracy = data
    steps = []
    table = simulate_protocol(PROTOCOL, protocol_data, accuracy, "cifar10",
                              LoopSettings(budgets="q10,q50,q90", rounds=4, per_budget=2),
                              steps.append)
    assert steps == ["pruning n=20", "flat n=20"]
    return table


def test_one_row_per_target_draw_and_seed(runs):
    assert runs.schema == VERIFY_LOOP
    rows = pl.from_arrow(runs)
    assert rows.select("target", "draw", "seed").rows() == [
        (t, d, s) for t in ("pruning", "flat") for d, s in
        (("random", 7), ("random", 8), ("random", 9), ("planned", None))]
    assert rows.select(pl.col("protocol", "space_id", "strategy", "accuracy_dataset", "budgets",
                              "confidence", "max_rounds", "per_budget", "min_gain_pp",
                              "n_budgets").unique()
                       ).rows() == [("synthetic-loop", "nb201", "auto", "cifar10",
                                     "q10,q50,q90", 0.9, 4, 2, 0.05, 3)]


def test_shipped_picks_are_measured_within_budget_and_the_loop_ends(runs):
    rows = pl.from_arrow(runs)
    assert (rows["final_over"] == 0).all()
    assert (rows["final_picks"] <= rows["n_budgets"]).all()
    assert (rows["pending_over"] <= rows["pending"]).all()
    assert (rows["rounds"] <= 4).all()
    assert (rows["extra"] <= rows["rounds"] * 2 * 3).all()
    assert (rows.filter(~pl.col("settled"))["rounds"] == 4).all()  # settled, or the cap
    assert (rows["first_over"] <= rows["first_picks"]).all()
    assert rows["first_coverage"].is_between(0.7, 1.0).all()
    assert (rows["mean_regret_pp"] <= rows["max_regret_pp"]).all()
    assert rows.filter(pl.col("target") == "flat")["mean_regret_pp"].mean() < 1.0
    assert (rows["first_srcc"] > 0.8).all() and rows["baseline_srcc"].is_not_null().all()


def test_the_summary_pools_the_runs(runs):
    rows = pl.from_arrow(runs)
    summary = pl.from_arrow(summarize_loop(runs))
    assert summary.select("draw", "target", "runs").rows() == [
        ("planned", "pruning", 1), ("planned", "flat", 1), ("planned", ALL_TARGETS, 2),
        ("random", "pruning", 3), ("random", "flat", 3), ("random", ALL_TARGETS, 6)]
    random = rows.filter(pl.col("draw") == "random")
    every = summary.filter((pl.col("draw") == "random") & (pl.col("target") == ALL_TARGETS))
    every = every.row(0, named=True)
    assert every["extra_per_budget"] == pytest.approx(random["extra"].sum() / 18)
    assert every["final_none_share"] == pytest.approx(1 - random["final_picks"].sum() / 18)
    first = random["first_over"].sum() / random["first_picks"].sum()
    assert every["first_over_share"] == pytest.approx(first)
    assert every["final_over_share"] == 0.0
    weighted = (random["mean_regret_pp"] * random["final_picks"]).sum()
    assert every["mean_regret_pp"] == pytest.approx(weighted / random["final_picks"].sum())
    assert every["max_regret_pp"] == random["max_regret_pp"].max()
    assert every["first_coverage"] == pytest.approx(random["first_coverage"].mean())


def test_a_round_cap_ships_measured_picks_only(data):
    protocol_data, accuracy = data
    one = replace(PROTOCOL, targets=("pruning",), seeds=2)
    rows = pl.from_arrow(simulate_protocol(one, protocol_data, accuracy, "cifar10",
                                           LoopSettings(rounds=1, draws=("random",))))
    assert (rows["rounds"] == 1).all() and (rows["extra"] <= 5).all()
    assert (rows["final_over"] == 0).all() and (~rows["settled"]).all()
    assert rows["pending"].sum() > 0  # one round leaves likely picks: they are not shipped


def test_tasks_on_an_engine_give_the_same_rows(data):
    protocol_data, accuracy = data
    small = replace(PROTOCOL, seeds=1)
    settings = LoopSettings(rounds=1, draws=("random",))
    finished = []

    def backwards(fn, items, shared, on_done):  # an engine that finishes the last task first
        results = {i: fn(items[i], **shared) for i in reversed(range(len(items)))}
        for i in reversed(range(len(items))):
            on_done(i)
            finished.append(i)
        return [results[i] for i in range(len(items))]

    here = simulate_protocol(small, protocol_data, accuracy, "cifar10", settings)
    there = simulate_protocol(small, protocol_data, accuracy, "cifar10", settings,
                              lambda label: None, backwards)
    assert finished == [1, 0]
    assert here.drop_columns("computed_at").equals(there.drop_columns("computed_at"))


@pytest.mark.parametrize(("settings", "error", "message"), [
    ({"rounds": 0}, BadPickInput, "--rounds must be at least 1"),
    ({"per_budget": 0}, BadPickInput, "--per-budget must be at least 1"),
    ({"draws": ("lucky",)}, BadPickInput, "draw must be one of random, planned"),
    ({"min_gain": -1.0}, BadPickInput, "--min-gain must be a non-negative accuracy gain"),
    ({"budgets": "q10,fast"}, BadBudget, "bad budget 'fast'"),
])
def test_bad_settings_are_named(settings, error, message):
    with pytest.raises(error, match=message):
        LoopSettings(**settings)


def test_the_report_shows_the_loop_or_says_it_is_missing(runs):
    page, summary = build_report(ReportTables(verify_loop=summarize_loop(runs)), {})
    assert "Verify loop: picks you can ship" in page and "synthetic-loop · n = 20" in page
    assert summary["verify_loop"][2]["target"] == ALL_TARGETS
    page, summary = build_report(ReportTables(), {})
    assert "No verify-loop results in the warehouse yet" in page
    assert summary["verify_loop"] is None


TOML = """space = "nb201"
proxies = ["phone_a"]
targets = ["gpu_a"]
samples = [20]
seeds = 2
proxy_mode = "fixed"
"""


def invoke(wh, *args):
    return CliRunner().invoke(CLI, ["evaluate", "--warehouse", str(wh.root), *args])


def test_cli_search_prints_stores_and_reports(synth, tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TOML)
    out = tmp_path / "loop.csv"
    result = invoke(synth, "--protocol", str(spec), "--search", "--budgets", "q25,q75",
                    "--rounds", "2", "--draw", "random", "--save", "-o", str(out))
    assert result.exit_code == 0, result.output
    summary = pl.read_csv(out)
    assert summary.select("draw", "target", "runs").rows() == [
        ("random", "gpu_a", 2), ("random", ALL_TARGETS, 2)]
    assert (summary["final_over_share"] == 0).all()
    stored = pl.from_arrow(synth.read(LOOP_TABLE))
    assert stored.select("target", "seed", "n_budgets", "max_rounds", "accuracy_dataset").rows(
    ) == [("gpu_a", 0, 2, 2, "cifar10"), ("gpu_a", 1, 2, 2, "cifar10")]
    again = invoke(synth, "--protocol", str(spec), "--search", "--seeds", "1", "--budgets",
                   "q50", "--draw", "random", "--save")
    assert again.exit_code == 0, again.output
    assert synth.read(LOOP_TABLE).num_rows == 1  # a re-run replaces its group's rows
    report = CliRunner().invoke(CLI, ["report", "--warehouse", str(synth.root), "--out",
                                      str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    assert "tiny · n = 20" in (tmp_path / "report" / "report.html").read_text()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--protocol", "nope", "--search"], 1, "unknown protocol 'nope'"),
    (["--protocol", "help-nb201", "--search", "--budgets", "q10,,q90"], 2, "empty item"),
    (["--protocol", "help-nb201", "--search", "--rounds", "0"], 2, "--rounds"),
    (["--protocol", "help-nb201", "--rounds", "3"], 2, "--rounds apply to --search only"),
    (["--protocol", "help-nb201", "--min-gain", "1"], 2, "--min-gain apply to --search only"),
    (["--protocol", "help-nb201", "--search", "--min-gain", "-1"], 2, "--min-gain"),
])
def test_cli_bad_input_is_one_clear_message(synth, args, code, message):
    result = invoke(synth, *args)
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


@pytest.mark.integration
def test_the_loop_on_real_targets(ingested):
    protocol = replace(get_protocol("oneproxy-nb201"), targets=("fpga", "pixel3"),
                       samples=(20,), seeds=2, first_seed=100)
    rows = pl.from_arrow(simulate_loop(ingested, protocol, LoopSettings()))
    assert rows.height == 2 * 3 and (rows["final_over"] == 0).all()
    assert (rows["n_budgets"] == 5).all() and rows["first_coverage"].is_between(0.6, 1).all()
    summary = pl.from_arrow(summarize_loop(rows.to_arrow()))
    every = summary.filter(pl.col("target") == ALL_TARGETS)
    assert (every["mean_regret_pp"] < 1.0).all() and (every["extra_per_budget"] <= 5).all()
