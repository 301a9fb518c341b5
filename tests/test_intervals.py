"""Conformal intervals from LOO residuals: coverage on synthetic devices, strata, p_fit."""

import numpy as np
import pytest
from oneproxy.analytics.adaptation import ProxyModels
from oneproxy.analytics.intervals import Calibration, cell_class, check_confidence
from oneproxy.analytics.predictors import InvalidPredictorInput
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.warehouse.spaces import nb201


@pytest.fixture(scope="module")
def features():
    ops = nb201.all_op_tuples()[np.random.default_rng(0).choice(nb201.N_ARCHS, 1500, replace=False)]
    return space_features("nb201", [nb201.format_arch(row) for row in ops])


def test_cell_classes_follow_liveness(features):
    classes = cell_class(features)
    ops = nb201.ops_matrix(features.arch_keys)
    dead = ((ops != nb201.NONE) & ~nb201.live_mask(ops)).any(axis=1)
    np.testing.assert_array_equal(classes == 2, nb201.disconnected(ops))
    np.testing.assert_array_equal(classes == 1, dead & ~nb201.disconnected(ops))


def test_coverage_is_calibrated_over_seeds(features):
    rng = np.random.default_rng(1)
    proxy = features.matrix("onehot") @ rng.uniform(0.2, 3.0, nb201.ONEHOT_DIM)
    models = ProxyModels.of(features, proxy)
    coverage = []
    for seed in range(200):
        r = np.random.default_rng(100 + seed)
        target = 1.5 * proxy * np.exp(r.normal(0, 0.08, proxy.size))  # 8% multiplicative noise
        idx = r.choice(proxy.size, 20, replace=False)
        out = models.adapt(idx, target[idx], strategy="linear", confidence=0.9)
        rest = np.setdiff1d(np.arange(proxy.size), idx)
        inside = (out.lower[rest] <= target[rest]) & (target[rest] <= out.upper[rest])
        coverage.append(inside.mean())
    assert 0.85 <= np.mean(coverage) <= 0.95


def test_a_class_with_enough_samples_uses_its_own_residuals():
    ratios = np.log(np.r_[np.full(19, 1.01), np.full(19, 2.0)])
    cal = Calibration(ratios, np.r_[np.zeros(19, int), np.ones(19, int)])
    lower, upper = cal.bounds(np.array([10.0, 10.0]), np.array([0, 1]), 0.9)
    np.testing.assert_allclose(upper, [10.1, 20.0])
    np.testing.assert_allclose(lower, [10.1, 20.0])


def test_a_thin_class_uses_the_pooled_residuals_widened_to_its_own():
    ratios = np.log(np.r_[np.linspace(0.9, 1.1, 19), 3.0])
    cal = Calibration(ratios, np.r_[np.zeros(19, int), [2]])
    lower, upper = cal.bounds(np.array([10.0, 10.0, 10.0]), np.array([0, 2, 1]), 0.9)
    assert upper[1] == pytest.approx(30.0)  # the disconnected sample's own ratio
    assert upper[2] == pytest.approx(30.0)  # an unsampled class: the pooled maximum
    assert upper[0] == pytest.approx(11.0)


def test_too_few_samples_give_an_unbounded_upper_end():
    cal = Calibration(np.log(np.array([1.0, 1.1, 0.9, 1.05])), np.zeros(4, int))
    lower, upper = cal.bounds(np.array([5.0]), np.array([0]), 0.9)
    assert upper[0] == np.inf and lower[0] == 0.0


def test_p_fit_is_the_conformal_share_below_the_budget():
    cal = Calibration(np.log(np.array([0.8, 0.9, 1.0, 1.1, 1.2])), np.zeros(5, int))
    p = cal.p_fit(np.array([10.0, 10.0, 10.0, 100.0]), np.zeros(4, int), 10.5)
    np.testing.assert_allclose(p, [3 / 6, 3 / 6, 3 / 6, 0.0])
    assert cal.p_fit(np.array([1.0]), np.zeros(1, int), 100.0)[0] == pytest.approx(5 / 6)


def test_bad_confidence_and_latencies_are_named():
    with pytest.raises(InvalidPredictorInput, match="confidence must be strictly between 0 and 1"):
        check_confidence(1.0)
    with pytest.raises(InvalidPredictorInput, match="positive measured and LOO-predicted"):
        Calibration.of(np.array([1.0, -1.0]), np.array([1.0, 1.0]), np.zeros(2, int))
