"""One-proxy search evaluation on hand-made matrices: picks, regret, violations, result tables."""

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from oneproxy.analytics.evaluate import TooManySamples
from oneproxy.analytics.predictors import InvalidPredictorInput
from oneproxy.analytics.predictors.encodings import SpaceFeatures, space_features
from oneproxy.search.exhaustive import NO_FIT, best_under_budget
from oneproxy.search.oneproxy import (
    SEARCH_RESULT,
    BadSearchInput,
    RunInfo,
    adapted_matrix,
    auto_adapted_matrix,
    calibrated_method,
    evaluate_picks,
    proxy_matrix,
    search_result_table,
    summarize,
)
from oneproxy.search.plots import draw_pareto
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.matrix import BadMatrixInput, latency_matrix
from oneproxy.warehouse.spaces import nb201
from oneproxy.warehouse.tables import merged

NAN = np.nan
ACC = np.array([70.0, 80.0, 90.0, 60.0])
# The proxy thinks arch 2 takes 3 ms; on target 0 it takes 4 ms, target 1 never measured it.
PREDICTED = np.array([[1.0, 2.0, 3.0, 5.0], [1.0, 2.0, 3.0, 5.0]])
TRUE = np.array([[1.0, 2.0, 4.0, 0.5], [1.0, 2.0, NAN, 0.5]])
BUDGETS = np.array([0.7, 1.5, 3.0, 10.0])


@pytest.fixture(scope="module")
def hand() -> object:
    return evaluate_picks(PREDICTED, TRUE, ACC, BUDGETS)


def test_picks_are_made_with_predictions(hand):
    assert hand.pick.tolist() == [[NO_FIT, 0, 2, 2], [NO_FIT, 0, 2, 2]]
    np.testing.assert_array_equal(hand.pick_predicted_ms[0], [NAN, 1.0, 3.0, 3.0])
    np.testing.assert_array_equal(hand.pick_accuracy[0], [NAN, 70.0, 90.0, 90.0])


def test_optimum_is_the_targets_own(hand):
    assert hand.optimum.tolist() == [[3, 0, 1, 2], [3, 0, 1, 1]]
    np.testing.assert_array_equal(hand.optimum_accuracy, [[60, 70, 80, 90], [60, 70, 80, 80]])
    np.testing.assert_array_equal(hand.optimum_latency_ms[0], [0.5, 1.0, 2.0, 4.0])


def test_regret_and_violation_on_a_fully_measured_target(hand):
    np.testing.assert_array_equal(hand.judged[0], [False, True, True, True])
    np.testing.assert_array_equal(hand.pick_latency_ms[0], [NAN, 1.0, 4.0, 4.0])
    # budget 3 ms: the pick (90 %) truly takes 4 ms, 1 ms over; the optimum is 80 % at 2 ms.
    np.testing.assert_array_equal(hand.regret[0], [NAN, 0.0, -10.0, 0.0])
    np.testing.assert_array_equal(hand.violation[0], [False, False, True, False])
    np.testing.assert_array_equal(hand.violation_ms[0], [NAN, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(hand.violation_pct[0], [NAN, 0.0, 100 / 3, 0.0])


def test_picks_the_target_never_measured_are_not_judged(hand):
    np.testing.assert_array_equal(hand.judged[1], [False, True, False, False])
    np.testing.assert_array_equal(hand.regret[1], [NAN, 0.0, NAN, NAN])
    np.testing.assert_array_equal(hand.violation[1], [False, False, False, False])
    np.testing.assert_array_equal(hand.violation_ms[1], [NAN, 0.0, NAN, NAN])


def test_pareto_overlap_per_target(hand):
    assert [f.tolist() for f in hand.proxy_fronts] == [[0, 1, 2], [0, 1, 2]]
    assert [f.tolist() for f in hand.true_fronts] == [[3, 0, 1, 2], [3, 0, 1]]
    np.testing.assert_allclose(hand.pareto_overlap, [0.75, 0.5])
    assert hand.n_searched.tolist() == [4, 4]


def test_budgets_per_target():
    ev = evaluate_picks(PREDICTED, TRUE, ACC, np.array([[3.0], [1.5]]))
    assert ev.pick.tolist() == [[2], [0]]
    assert ev.violation_ms[0, 0] == 1.0


def test_mismatched_matrices_are_refused():
    with pytest.raises(BadSearchInput, match="same shape"):
        evaluate_picks(PREDICTED, TRUE[:, :3], ACC, BUDGETS)
    with pytest.raises(OneproxyError):
        evaluate_picks(PREDICTED[0], TRUE[0], ACC, BUDGETS)


LATENCIES = st.sampled_from([0.5, 1.0, 2.0, 2.0, 3.5, 8.0, NAN])
ACCURACIES = st.sampled_from([10.0, 50.0, 50.0, 90.0, NAN])
BUDGET_VALUES = st.sampled_from([0.1, 1.0, 1.9, 2.0, 3.0, 100.0, NAN])


@st.composite
def problems(draw):
    n_t, n_a, n_b = draw(st.integers(1, 4)), draw(st.integers(1, 20)), draw(st.integers(1, 6))
    lat = draw(hnp.arrays(np.float64, (n_t, n_a), elements=LATENCIES))
    acc = draw(hnp.arrays(np.float64, (n_a,), elements=ACCURACIES))
    budgets = draw(hnp.arrays(np.float64, (n_b,), elements=BUDGET_VALUES))
    return lat, acc, budgets


@settings(max_examples=200, deadline=None)
@given(problems())
def test_perfect_predictions_have_no_regret_and_no_violation(problem):
    lat, acc, budgets = problem
    ev = evaluate_picks(lat, lat, acc, budgets)
    np.testing.assert_array_equal(ev.pick, ev.optimum)
    np.testing.assert_array_equal(ev.judged, ev.pick != NO_FIT)
    assert (ev.regret[ev.judged] == 0).all()
    assert not ev.violation.any()
    assert (ev.violation_ms[ev.judged] == 0).all()
    np.testing.assert_array_equal(ev.pareto_overlap, 1.0)


@settings(max_examples=100, deadline=None)
@given(problems(), st.integers(0, 2**31))
def test_regret_is_never_negative_for_picks_that_fit(problem, seed):
    lat, acc, budgets = problem
    noise = np.random.default_rng(seed).uniform(0.5, 2.0, lat.shape)
    ev = evaluate_picks(lat * noise, lat, acc, budgets)
    fits = ev.judged & ~ev.violation
    assert (ev.regret[fits] >= 0).all()
    assert (ev.violation_ms[ev.violation] > 0).all()


def test_proxy_matrix_repeats_the_proxy_row():
    m = proxy_matrix(np.array([1.0, NAN, 3.0]), 2)
    assert m.shape == (2, 3)
    np.testing.assert_array_equal(m[1], [1.0, NAN, 3.0])
    with pytest.raises(BadSearchInput, match="one row"):
        proxy_matrix(np.ones((2, 3)), 2)


def test_latency_matrix_pivots_in_device_and_arch_order():
    rows = pa.table({
        "device": [1, 0, 0, 1],
        "arch_id": [10, 30, 10, 20],
        "latency_ms": [1.0, 2.0, None, 4.0],
    })
    m, has_row = latency_matrix(rows, 2, np.array([10, 20, 30]))
    np.testing.assert_array_equal(m, [[NAN, NAN, 2.0], [1.0, 4.0, NAN]])
    np.testing.assert_array_equal(has_row, [[True, False, True], [True, True, False]])
    with pytest.raises(BadMatrixInput, match="architecture 30"):
        latency_matrix(rows, 2, np.array([10, 20]))
    with pytest.raises(BadMatrixInput, match="architecture 5 "):  # below the smallest id
        latency_matrix(rows.set_column(1, "arch_id", pa.array([10, 5, 10, 20])), 2,
                       np.array([10, 20, 30]))
    with pytest.raises(BadMatrixInput, match="0…0: the latency rows name 0…1"):
        latency_matrix(rows, 1, np.array([10, 20, 30]))
    with pytest.raises(BadMatrixInput, match="ascending"):
        latency_matrix(rows, 2, np.array([20, 10]))
    m, has_row = latency_matrix(rows.slice(0, 0), 2, np.array([10, 20]))
    assert np.isnan(m).all() and m.shape == (2, 2) and not has_row.any()


def test_latency_matrix_of_consecutive_arch_ids():
    rows = pa.table({"device": [0, 1, 0], "arch_id": [12, 10, 10], "latency_ms": [3.0, 1.0, None]})
    m, has_row = latency_matrix(rows, 2, np.array([10, 11, 12]))
    np.testing.assert_array_equal(m, [[NAN, NAN, 3.0], [1.0, NAN, NAN]])
    np.testing.assert_array_equal(has_row, [[True, False, True], [True, False, False]])
    for outside in (9, 13):
        with pytest.raises(BadMatrixInput, match=f"architecture {outside} that is not among the 3"):
            latency_matrix(rows.set_column(1, "arch_id", pa.array([12, outside, 10])), 2,
                           np.array([10, 11, 12]))


def _features(n: int, seed: int = 0) -> tuple[SpaceFeatures, np.ndarray]:
    """Features of n random NB201 architectures, and their operator one-hot."""
    ops = np.random.default_rng(seed).integers(0, nb201.N_OPS, (n, nb201.N_EDGES))
    return space_features("nb201", [nb201.format_arch(row) for row in ops]), nb201.onehot(ops)


def test_adapted_predictions_follow_a_rescaled_target():
    features, x = _features(300)
    proxy = x @ np.linspace(0.1, 3.1, nb201.ONEHOT_DIM)
    true = np.vstack([2.0 * proxy + 1.0, 0.5 * proxy])
    true[1, :100] = NAN  # the second target measured only part of the space
    predicted = adapted_matrix(features, proxy, true, n_samples=20, seed=3)
    np.testing.assert_allclose(predicted[0], true[0], rtol=1e-6)
    np.testing.assert_allclose(predicted[1], 0.5 * proxy, rtol=1e-6)
    again = adapted_matrix(features, proxy, true, n_samples=20, seed=3)
    np.testing.assert_array_equal(predicted, again)


def test_auto_adaptation_picks_the_proxy_that_generated_each_target():
    features, x = _features(400)
    slow = x @ np.linspace(0.1, 3.1, nb201.ONEHOT_DIM)
    other = x @ np.random.default_rng(1).uniform(0.1, 3.0, nb201.ONEHOT_DIM)
    true = np.vstack([3.0 * slow + 2.0, 0.25 * other + 0.1])
    predicted, chosen, scores = auto_adapted_matrix(
        features, {"slow": slow, "other": other, "t1": true[1]}, ["t0", "t1"], true, 20, seed=0)
    assert chosen == ["slow", "other"]
    assert set(scores[1]) == {"slow", "other"}  # a target is never its own proxy
    assert scores[0]["slow"] < scores[0]["other"]
    np.testing.assert_allclose(predicted, true, rtol=1e-6)


def test_adapted_matrix_refuses_bad_sample_counts():
    features, x = _features(50)
    proxy = x @ np.linspace(0.1, 3.1, nb201.ONEHOT_DIM)
    true = np.vstack([proxy, np.where(np.arange(50) < 40, NAN, proxy)])
    with pytest.raises(TooManySamples, match="20 samples asked of a target that measured 10"):
        adapted_matrix(features, proxy, true, n_samples=20, seed=0)
    with pytest.raises(InvalidPredictorInput, match="at least 3"):
        adapted_matrix(features, proxy, true, n_samples=2, seed=0)
    with pytest.raises(BadSearchInput, match="same architectures"):
        adapted_matrix(_features(10)[0], proxy, true, n_samples=5, seed=0)


def _table(ev, method="proxy", devices=("t0", "t1"), proxy="p", n_samples=0):
    return search_result_table(
        RunInfo("nb201", "cifar100", method, proxy, n_samples),
        list(devices), ["cifar10"] * len(devices), np.broadcast_to(BUDGETS, (len(devices), 4)),
        np.array([100, 101, 102, 103]), ["k0", "k1", "k2", "k3"], ev, np.array([False, True]),
    )


def test_search_result_table_of_a_proxy_run(hand):
    table = _table(hand)
    assert table.schema == SEARCH_RESULT
    assert table.num_rows == 8
    t0 = table.slice(0, 4).to_pydict()
    assert t0["arch_id"] == [None, 100, 102, 102]
    assert t0["arch_key"] == [None, "k0", "k2", "k2"]
    assert t0["latency_ms"] == [None, 1.0, 4.0, 4.0]
    assert t0["predicted_ms"] == [None, 1.0, 3.0, 3.0]
    assert t0["regret"] == [None, 0.0, -10.0, 0.0]
    assert t0["violation"] == [None, False, True, False]
    assert t0["violation_ms"] == [None, 0.0, 1.0, 0.0]
    t1 = table.slice(4, 4).to_pydict()
    assert t1["violation"] == [None, False, None, None]
    assert t1["partial_coverage"] == [True] * 4
    assert set(table.column("n_searched").to_pylist()) == {4}


def test_search_result_table_of_an_exhaustive_run():
    picks = best_under_budget(TRUE, ACC, BUDGETS)
    table = _table(picks, method="exhaustive", proxy=None, n_samples=None).to_pydict()
    assert table["arch_id"][:4] == [103, 100, 101, 102]
    assert table["accuracy"][:4] == [60.0, 70.0, 80.0, 90.0]
    assert table["regret"] == [None] * 8
    assert table["violation"] == [None] * 8
    assert table["proxy"] == [None] * 8
    assert table["n_searched"] == [4] * 4 + [3] * 4
    with pytest.raises(BadSearchInput, match="method"):
        _table(picks, method="oracle")


def test_merge_replaces_rows_of_the_same_run_and_device(hand):
    def merge_results(old, new):
        return merged("search_result", old, new)

    first = _table(hand)
    assert merge_results(None, first).num_rows == 8
    twice = merge_results(merge_results(None, first), first)
    assert twice.num_rows == 8
    other_run = _table(hand, n_samples=20, method="adaproxy")
    assert merge_results(twice, other_run).num_rows == 16
    one_device = _table(hand, devices=("t0", "t2"))
    rows = pl.from_arrow(merge_results(twice, one_device))
    assert rows.height == 12
    assert sorted(rows["device_id"].unique().to_list()) == ["t0", "t1", "t2"]
    picks = best_under_budget(TRUE, ACC, BUDGETS)
    exhaustive = _table(picks, method="exhaustive", proxy=None, n_samples=None)
    both = merge_results(merge_results(twice, exhaustive), exhaustive)
    assert both.num_rows == 16


def test_summarize_counts_judged_picks_and_regret_of_fitting_ones(hand):
    row = summarize(_table(hand)).to_pylist()[0]
    assert row["picks"] == 8 and row["judged"] == 4
    assert row["no_pick"] == 2 and row["unjudged"] == 2
    assert row["violation_share"] == pytest.approx(0.25)
    assert row["mean_violation_pct"] == pytest.approx(100 / 3)
    assert row["mean_regret_fitting"] == 0.0
    assert row["mean_regret"] == pytest.approx(-2.5)


def test_draw_pareto_writes_a_png(tmp_path):
    path = draw_pareto(tmp_path / "fronts.png", {
        "t0 (true)": (np.array([0.5, 1.0, 2.0]), np.array([60.0, 70.0, 80.0])),
        "t0 via p": (np.array([1.0, 4.0]), np.array([70.0, 90.0])),
    }, "fronts")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(BadSearchInput, match="at least one"):
        draw_pareto(tmp_path / "none.png", {}, "empty")
    with pytest.raises(BadSearchInput, match="'bad'"):
        draw_pareto(tmp_path / "bad.png", {"bad": (np.ones(2), np.ones(3))}, "bad")


def test_calibrated_picks_are_made_on_upper_bounds_and_measured_samples():
    features, x = _features(300)
    proxy = x @ np.linspace(0.1, 3.1, nb201.ONEHOT_DIM)
    noise = np.random.default_rng(4).normal(0, 0.3, 300)
    true = np.vstack([2.0 * proxy + 1.0 + noise])
    point = adapted_matrix(features, proxy, true, n_samples=20, seed=3)
    bound = adapted_matrix(features, proxy, true, n_samples=20, seed=3, confidence=0.9)
    sampled = np.zeros(300, bool)
    sampled[np.random.default_rng(3).choice(300, 20, replace=False)] = True
    np.testing.assert_array_equal(bound[0, sampled], true[0, sampled])  # measured: as measured
    assert (bound[0, ~sampled] > point[0, ~sampled]).all()  # elsewhere the interval's upper end
    wider = adapted_matrix(features, proxy, true, n_samples=20, seed=3, confidence=0.99)
    assert (wider[0, ~sampled] >= bound[0, ~sampled]).all()


def test_calibrated_method_names_carry_their_confidence():
    ev = evaluate_picks(PREDICTED, TRUE, ACC, BUDGETS)
    table = _table(ev, method=calibrated_method(0.9), n_samples=20)
    assert set(table.column("method").to_pylist()) == {"adaproxy@0.9"}
    for bad in ("adaproxy@", "adaproxy@1.5", "adaproxy@x"):
        with pytest.raises(BadSearchInput, match="method must be one of"):
            _table(ev, method=bad, n_samples=20)
