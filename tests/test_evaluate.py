"""Scores of predicted vs true latency, the sampling rule with reference archs, a synthetic run."""

import dataclasses

import numpy as np
import polars as pl
import pyarrow.compute as pc
import pytest
from oneproxy.analytics import baselines
from oneproxy.analytics.baselines import METHODS
from oneproxy.analytics.evaluate import (
    BadEvaluationInput,
    ProtocolData,
    TooManySamples,
    draw_samples,
    run_protocol,
    score,
    score_rows,
    with_method,
)
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.analytics.protocols import Protocol
from oneproxy.warehouse.schemas import ADAPTATION, PREDICTOR_EVAL
from oneproxy.warehouse.spaces import nb201
from oneproxy.warehouse.tables import merged
from scipy.stats import kendalltau, spearmanr


def test_perfect_prediction():
    s = score([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])
    assert s == {"srcc": 1.0, "kendall": 1.0, "rmse_ms": 0.0, "mape_pct": 0.0,
                 "mape_dropped": 0, "mape_reason": None, "within10": 1.0, "n_eval": 4}


def test_hand_example():
    s = score([2.0, 2.0, 3.0, 5.0], [1.0, 2.0, 3.0, 4.0])
    assert s["rmse_ms"] == pytest.approx(np.sqrt(0.5))
    assert s["mape_pct"] == pytest.approx(100 * (1 + 0 + 0 + 0.25) / 4)
    assert s["within10"] == 0.5  # rows 2 and 3 are exact, 1 and 4 are 100% and 25% off
    assert s["srcc"] == pytest.approx(spearmanr([2, 2, 3, 5], [1, 2, 3, 4]).statistic)
    assert s["kendall"] == pytest.approx(kendalltau([2, 2, 3, 5], [1, 2, 3, 4]).statistic)


def test_mape_leaves_out_near_zero_true_latency():
    # 0.001 ms is below 1% of the median (10.5 ms): left out, counted, never infinite
    s = score([1.0, 10.0, 11.0, 12.0], [0.001, 10.0, 11.0, 12.0])
    assert s["mape_pct"] == 0.0
    assert s["mape_dropped"] == 1
    assert s["within10"] == 0.75  # ±10% is judged on every row (no division)


def test_mape_is_null_with_a_reason_when_no_row_is_above_the_floor():
    s = score([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert s["mape_pct"] is None
    assert "no true latency above 1% of the median" in s["mape_reason"]
    assert s["mape_dropped"] == 3
    assert s["rmse_ms"] == pytest.approx(np.sqrt(14 / 3))
    assert s["srcc"] is None  # constant true latency has no ranking


def test_rows_are_scored_on_their_own_finite_entries():
    true = np.array([[1.0, np.nan, 3.0, 4.0, 5.0], [np.nan, np.nan, np.nan, np.nan, np.nan]])
    pred = np.array([[5.0, 100.0, 3.0, 4.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    out = score_rows(pred, true)
    assert out["n_eval"].to_list() == [4, 0]
    assert out["srcc"][0] == pytest.approx(spearmanr([5, 3, 4, 1], [1, 3, 4, 5]).statistic)
    assert out.row(1, named=True) | {"n_eval": 0} == {
        "srcc": None, "kendall": None, "rmse_ms": None, "mape_pct": None, "mape_dropped": 0,
        "mape_reason": "no architecture to evaluate", "within10": None, "n_eval": 0}


def test_batched_scores_match_scipy_with_ties_and_masks():
    rng = np.random.default_rng(0)
    true = rng.integers(1, 30, size=(6, 200)).astype(float)  # many ties, like whole-ms phones
    pred = true + rng.normal(0, 5, size=true.shape)
    true[rng.random(true.shape) < 0.2] = np.nan
    out = score_rows(pred, true)
    for i in range(true.shape[0]):
        m = np.isfinite(true[i])
        assert out["srcc"][i] == pytest.approx(spearmanr(pred[i, m], true[i, m]).statistic)
        assert out["kendall"][i] == pytest.approx(kendalltau(pred[i, m], true[i, m]).statistic)
        assert out["n_eval"][i] == m.sum()


def test_shape_mismatch_is_an_error():
    with pytest.raises(BadEvaluationInput, match="same shape"):
        score_rows(np.ones((2, 3)), np.ones((2, 4)))


MEASURED = np.arange(100, 200)
REFERENCE = np.array([150, 110, 190, 120, 130, 140, 160, 170, 180, 101])


def test_reference_archs_are_part_of_the_samples():
    s20 = draw_samples(MEASURED, 20, seed=3, reference=REFERENCE)
    assert s20[:10].tolist() == REFERENCE.tolist()
    assert np.unique(s20).size == 20 and np.isin(s20, MEASURED).all()
    assert not np.isin(s20[10:], REFERENCE).any()
    for seed in range(3):
        assert draw_samples(MEASURED, 10, seed, REFERENCE).tolist() == REFERENCE.tolist()


def test_fewer_samples_than_references_are_random_among_all_measured():
    s5 = draw_samples(MEASURED, 5, seed=7, reference=REFERENCE)
    expected = np.random.default_rng(7).choice(MEASURED, size=5, replace=False)
    assert s5.tolist() == expected.tolist()
    assert draw_samples(MEASURED, 5, seed=7).tolist() == expected.tolist()


def test_draws_depend_on_the_seed_only():
    a = draw_samples(MEASURED, 15, seed=1, reference=REFERENCE)
    assert a.tolist() == draw_samples(MEASURED, 15, seed=1, reference=REFERENCE).tolist()
    assert a.tolist() != draw_samples(MEASURED, 15, seed=2, reference=REFERENCE).tolist()


def test_references_the_target_did_not_measure_are_not_drawn():
    s = draw_samples(MEASURED, 12, seed=0, reference=np.array([5, 150, 6]))
    assert s[0] == 150 and np.isin(s, MEASURED).all() and s.size == 12


def test_too_many_samples():
    with pytest.raises(TooManySamples, match="measured 100 architectures: use at most 99"):
        draw_samples(MEASURED, 100, seed=0)


@pytest.fixture(scope="module")
def synthetic() -> ProtocolData:
    """400 NB201 architectures; targets are linear in the ops, 'good' shares their weights."""
    rng = np.random.default_rng(0)
    ops = nb201.all_op_tuples()[rng.choice(nb201.N_ARCHS, 400, replace=False)]
    x = nb201.onehot(ops)
    w = rng.uniform(0.5, 5.0, x.shape[1])
    target_a = x @ (w * rng.uniform(0.6, 1.4, w.size)) + 2.0
    target_b = x @ (w * rng.uniform(0.6, 1.4, w.size)) + 1.0
    target_b[:50] = np.nan  # b did not measure 50 architectures
    good = x @ w + rng.normal(0, 0.05, 400)
    bad = rng.uniform(1.0, 50.0, 400)  # unrelated to the architectures
    keys = [nb201.format_arch(o) for o in ops]
    return ProtocolData(["a", "b", "good", "bad"], np.stack([target_a, target_b, good, bad]),
                        space_features("nb201", keys), np.arange(200, 210))


PROTOCOL = Protocol(name="synthetic", space="nb201", proxies=("good", "bad"), targets=("a", "b"),
                    samples=(10, 20), seeds=4, proxy_mode="auto", strategy="linear",
                    reference=True, published={"a": 0.9}, published_samples=20)


def test_synthetic_protocol_end_to_end(synthetic):
    steps = []
    result = run_protocol(PROTOCOL, synthetic, steps.append)
    assert steps == ["a n=10", "a n=20", "b n=10", "b n=20"]
    every = pl.from_arrow(result.long)
    assert result.long.schema == PREDICTOR_EVAL and result.summary.schema == ADAPTATION
    assert sorted(every["method"].unique()) == sorted(METHODS)
    assert every.height == 2 * 2 * 4 * len(METHODS)
    long = every.filter(pl.col("method") == "adaproxy")
    assert long["proxy"].unique().to_list() == ["good"]
    assert (long["after_srcc"] > 0.85).all()
    assert long["after_srcc"].mean() > long["before_srcc"].mean() + 0.01  # .905, .890
    assert long.filter(pl.col("n_samples") == 10)["n_reference"].to_list() == [10] * 8
    n_eval = long.select("target", "n_samples", "n_eval").unique().sort("target", "n_samples")
    assert n_eval.rows() == [("a", 10, 390), ("a", 20, 380), ("b", 10, 340), ("b", 20, 330)]
    summary = pl.from_arrow(result.summary).filter(pl.col("method") == "adaproxy")
    assert summary.select("target", "n_samples", "seeds", "proxy", "proxy_share").rows() == [
        ("a", 10, 4, "good", 1.0), ("a", 20, 4, "good", 1.0),
        ("b", 10, 4, "good", 1.0), ("b", 20, 4, "good", 1.0)]
    assert summary["published_srcc"].to_list() == [None, 0.9, None, None]
    mean_a20 = long.filter((pl.col("target") == "a") & (pl.col("n_samples") == 20))["after_srcc"]
    assert summary["after_srcc_mean"][1] == pytest.approx(mean_a20.mean())
    overall = pl.from_arrow(result.overall)
    assert overall["method"].to_list() == [m for m in METHODS for _ in (10, 20)]
    assert overall["n_samples"].to_list() == [10, 20] * len(METHODS)


def test_baselines_are_scored_on_the_same_samples(synthetic):
    every = pl.from_arrow(run_protocol(PROTOCOL, synthetic).long)
    a20 = every.filter((pl.col("target") == "a") & (pl.col("n_samples") == 20))
    raw = a20.filter(pl.col("method") == "raw_proxy")
    assert raw["proxy"].to_list() == ["good"] * 4  # 'bad' does not rank the samples
    ours = a20.filter(pl.col("method") == "adaproxy")
    assert raw["n_eval"].to_list() == ours["n_eval"].to_list() == [380] * 4
    # FLOPs ranks by cost alone: the same SRCC as scipy on the evaluation set of seed 0
    idx = draw_samples(np.arange(400), 20, 0, np.arange(200, 210))
    rest = np.setdiff1d(np.arange(400), idx)
    flops = baselines.cost(synthetic.features, "flops")
    want = spearmanr(flops[rest], synthetic.row("a")[rest]).statistic
    got = a20.filter((pl.col("method") == "flops") & (pl.col("seed") == 0))["after_srcc"][0]
    assert got == pytest.approx(want)
    ridge = a20.filter(pl.col("method") == "ridge")
    assert (ridge["encoding"] == "onehot").all() and (ridge["loo_rmse_ms"] > 0).all()


def test_fixed_proxy_and_too_many_samples(synthetic):
    fixed = dataclasses.replace(PROTOCOL, proxies=("bad",), proxy_mode="fixed", seeds=2,
                                samples=(10,), published={}, published_samples=None)
    long = pl.from_arrow(run_protocol(fixed, synthetic).long).filter(
        pl.col("method") == "adaproxy")
    assert long["proxy"].unique().to_list() == ["bad"]
    assert long["before_srcc"].abs().max() < 0.3  # an unrelated proxy does not rank
    with pytest.raises(TooManySamples, match="target 'b' has only 350 architectures"):
        run_protocol(dataclasses.replace(fixed, samples=(360,)), synthetic)


def test_a_device_missing_from_the_data_is_an_error(synthetic):
    with pytest.raises(BadEvaluationInput, match="device 'c' has no latency row"):
        run_protocol(dataclasses.replace(PROTOCOL, targets=("a", "c"), published={"a": 0.9}),
                     synthetic)


def test_rows_stored_before_the_baselines_become_ours(synthetic):
    summary = run_protocol(PROTOCOL, synthetic).summary
    old = summary.filter(pc.equal(summary["method"], "adaproxy")).drop_columns(["method"])
    upgraded = with_method(old, ADAPTATION)
    assert upgraded.schema == ADAPTATION and set(upgraded["method"].to_pylist()) == {"adaproxy"}
    rows = merged("adaptation", upgraded, summary)
    assert rows.num_rows == summary.num_rows  # the new run replaced every old row
    assert with_method(summary, ADAPTATION) is summary
