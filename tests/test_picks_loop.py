"""Budget-aware picks, proposals, planning and the verify loop on synthetic devices."""

import numpy as np
import pytest
from oneproxy.analytics.adaptation import ProxyModels
from oneproxy.analytics.intervals import cell_class
from oneproxy.analytics.planning import class_quota, greedy_design, plan
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.search.exhaustive import best_under_budget
from oneproxy.search.loop import run_loop
from oneproxy.search.picks import LEADING, UNCERTAINTY, BadPickInput, pick_budgets, propose
from oneproxy.warehouse.spaces import nb201

NAN = np.nan


def constant_p(p: float):
    return lambda budget: np.full(5, p)


def test_a_measured_latency_overrides_the_prediction():
    acc = np.array([90.0, 80.0, 70.0, 60.0, 50.0])
    pred = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    upper = pred * 1.5
    measured = np.array([9.0, NAN, 2.5, NAN, NAN])  # arch 0 measured far over its prediction
    picks = pick_budgets(acc, pred, upper, measured, [3.0, 2.6, 1.0], constant_p(0.8))
    assert picks.arch.tolist() == [1, 2, -1]  # 0 is measured over 3 ms; 1 likely (upper 3.0)
    assert picks.status.tolist() == ["likely", "verified", "none"]
    np.testing.assert_allclose(picks.p_fit, [0.8, 1.0, NAN])


def test_an_accuracy_tie_goes_to_the_measured_architecture():
    acc = np.array([94.0, 94.0, 80.0])  # 0 and 1 are isomorphic twins of the same accuracy
    pred = np.array([1.0, 0.5, 1.0])
    measured = np.array([1.0, NAN, NAN])
    picks = pick_budgets(acc, pred, pred * 1.1, measured, [2.0], constant_p(0.99))
    assert picks.arch.tolist() == [0] and picks.status.tolist() == ["verified"]


def test_never_a_pick_whose_upper_end_is_over_the_budget():
    acc = np.array([90.0, 80.0, 70.0, 60.0, 50.0])
    pred = np.full(5, 1.0)
    upper = np.array([2.1, 2.1, 2.1, 1.9, 2.1])
    picks = pick_budgets(acc, pred, upper, np.full(5, NAN), [2.0], constant_p(0.9))
    assert picks.arch.tolist() == [3]
    verified = pick_budgets(acc, pred, upper, np.full(5, NAN), [2.0], constant_p(0.9),
                            verified_only=True)
    assert verified.status.tolist() == ["none"]


def test_bad_pick_input_is_named():
    with pytest.raises(BadPickInput, match="same architectures"):
        pick_budgets(np.ones(3), np.ones(4), np.ones(3), np.ones(3), [1.0], constant_p(1))
    with pytest.raises(BadPickInput, match="per_budget must be at least 1"):
        propose(np.ones(5), np.ones(5), np.full(5, NAN), [1.0], constant_p(1), per_budget=0)
    with pytest.raises(BadPickInput, match="min_gain must be a non-negative accuracy gain"):
        propose(np.ones(5), np.ones(5), np.full(5, NAN), [1.0], constant_p(1), min_gain=-0.1)


def test_propose_leads_with_the_expected_gain_and_skips_hopeless_ones():
    acc = np.array([95.0, 90.0, 85.0, 80.0, 70.0])
    measured = np.array([NAN, NAN, NAN, NAN, 1.0])  # arch 4 verified at 70 %

    def p_fit(budget):
        return np.array([0.01, 0.5, 0.9, 0.9, 1.0])  # arch 0 almost surely over

    out = propose(acc, np.ones(5), measured, [2.0], p_fit, per_budget=2)
    assert [i for i, _ in out] == [2, 1]  # gains 0.9·15 = 13.5 and 0.5·20 = 10
    assert all(reason.startswith(LEADING) for _, reason in out)
    design = np.eye(5)
    out = propose(acc, np.ones(5), measured, [2.0], p_fit, per_budget=1, design=design)
    assert out[0][0] == 2 and out[1][1].startswith(UNCERTAINTY)


def test_propose_measures_no_more_once_no_candidate_is_worth_min_gain():
    acc = np.array([90.3, 90.1, 90.02, 90.0, 50.0])
    measured = np.array([NAN, NAN, NAN, 1.0, NAN])  # arch 3 verified at 90.0 %

    def p_fit(budget):
        return np.array([0.2, 0.6, 0.9, 1.0, 0.9])

    # expected gains over the verified pick: 0.2·0.3 = 0.06, 0.6·0.1 = 0.06, 0.9·0.02 = 0.018
    def chosen(**options):
        return sorted(i for i, _ in propose(acc, np.ones(5), measured, [2.0], p_fit,
                                            per_budget=5, **options))

    assert chosen(min_gain=0.0) == [0, 1, 2]
    assert chosen() == [0, 1]  # MIN_GAIN_PP = 0.05 leaves out the 0.018 pp gamble
    assert chosen(min_gain=0.1) == []
    # without a verified pick every candidate that may fit is worth a look, whatever its gain
    unverified = np.full(5, NAN)
    assert len(propose(acc, np.ones(5), unverified, [2.0], p_fit, per_budget=5,
                       min_gain=100.0)) == 5


@pytest.fixture(scope="module")
def features():
    ops = nb201.all_op_tuples()[np.random.default_rng(0).choice(nb201.N_ARCHS, 2000, replace=False)]
    return space_features("nb201", [nb201.format_arch(row) for row in ops])


def test_plan_is_deterministic_and_covers_every_cell_class(features):
    first = plan(features, 20)
    assert first.tolist() == plan(features, 20).tolist()
    assert np.unique(first).size == 20
    classes = cell_class(features)
    counts = np.bincount(classes[first], minlength=3)
    assert (counts >= 1).all()
    assert counts.tolist() == [class_quota(classes, 20)[k] for k in range(3)]


def test_greedy_design_spans_the_columns():
    X = np.vstack([np.eye(4)] * 3)
    chosen = greedy_design(X, 4)
    assert sorted(X[chosen].argmax(axis=1).tolist()) == [0, 1, 2, 3]


def test_the_loop_verifies_its_picks_on_a_device_that_prunes_dead_ops(features):
    """The proxy executes every op; the target prunes dead ops and folds disconnected cells."""
    rng = np.random.default_rng(1)
    w = rng.uniform(0.2, 3.0, nb201.ONEHOT_DIM)
    proxy = features.matrix("onehot") @ w
    true = (features.matrix("live_onehot") @ w) * 1.3 * np.exp(rng.normal(0, 0.03, proxy.size))
    accuracy = 60 + 30 * (proxy / proxy.max()) + rng.normal(0, 1, proxy.size)
    budgets = np.percentile(true, [10, 25, 50, 75, 90])
    models = {"proxy": ProxyModels.of(features, proxy)}
    out = run_loop(true, models, accuracy, budgets, plan(features, 20), rounds=6, per_budget=2)
    assert not out.final_over.any() and out.final_over.size == budgets.size
    assert (out.final.status == "verified").all()
    assert out.first_over.size == (out.first.arch >= 0).sum()
    optimum = best_under_budget(true[None, :], accuracy, budgets).accuracy[0]
    np.testing.assert_allclose(out.regret, optimum - accuracy[out.final.arch])
    assert np.nanmean(out.regret) < 1.0
    assert 0 < out.extra <= 6 * 2 * budgets.size and out.rounds <= 6
    assert 0.7 <= out.first_coverage <= 1.0


def test_the_loop_stops_when_nothing_is_left_to_propose(features):
    rng = np.random.default_rng(2)
    proxy = features.matrix("onehot") @ rng.uniform(0.2, 3.0, nb201.ONEHOT_DIM)
    true = 2.0 * proxy
    accuracy = np.full(proxy.size, 50.0)
    accuracy[np.argmin(true)] = 99.0  # the fastest is also the most accurate: one check settles
    models = {"proxy": ProxyModels.of(features, proxy)}
    out = run_loop(true, models, accuracy, [np.median(true)], plan(features, 20), rounds=10)
    assert out.rounds <= 1 and out.final.status.tolist() == ["verified"]
    assert out.regret.tolist() == [0.0] and out.settled and not out.pending.any()
    with pytest.raises(BadPickInput, match="rounds must be at least 1"):
        run_loop(true, models, accuracy, [1.0], plan(features, 20), rounds=0)


def test_a_higher_min_gain_settles_the_loop_sooner(features):
    """The loop stops at `min_gain` as `propose` does: with every candidate worth a look it
    measures more than when only a 100 pp gain would be."""
    rng = np.random.default_rng(1)
    proxy = features.matrix("onehot") @ rng.uniform(0.2, 3.0, nb201.ONEHOT_DIM)
    true = 1.3 * proxy * np.exp(rng.normal(0, 0.03, proxy.size))
    accuracy = 60 + 30 * (proxy / proxy.max()) + rng.normal(0, 1, proxy.size)
    budgets = np.percentile(true, [25, 75])
    models = {"proxy": ProxyModels.of(features, proxy)}
    runs = {g: run_loop(true, models, accuracy, budgets, plan(features, 20), rounds=6,
                        min_gain=g) for g in (0.0, 100.0)}
    assert runs[100.0].settled and runs[100.0].extra < runs[0.0].extra
    with pytest.raises(BadPickInput, match="min_gain must be a non-negative"):
        run_loop(true, models, accuracy, budgets, plan(features, 20), min_gain=-1.0)


def test_when_the_rounds_run_out_only_measured_picks_ship(features):
    """One round cannot verify everything: the likely picks left are pending, not shipped."""
    rng = np.random.default_rng(5)
    proxy = features.matrix("onehot") @ rng.uniform(0.2, 3.0, nb201.ONEHOT_DIM)
    true = 1.7 * proxy * np.exp(rng.normal(0, 0.01, proxy.size))
    accuracy = 60 + 30 * (proxy / proxy.max()) + rng.normal(0, 1, proxy.size)
    budgets = np.percentile(true, [10, 25, 50, 75, 90])
    models = {"proxy": ProxyModels.of(features, proxy)}
    out = run_loop(true, models, accuracy, budgets, plan(features, 20), rounds=1)
    assert out.rounds == 1 and not out.settled and out.pending.tolist() == [0, 1, 0, 0, 0]
    assert set(out.final.status.tolist()) <= {"verified", "none"}
    assert out.regret[1] > 0  # budget 2 ships its best measured pick, not the pending one
    shipped = out.final.arch[out.final.arch >= 0]
    assert (true[shipped] <= out.final.budget[out.final.arch >= 0]).all()
    assert (out.pending_over <= out.pending).all()
    assert np.isnan(out.regret[out.final.arch < 0]).all()
