"""Adaptation is never worse than the baselines, never scales a proxy negatively, never < 0 ms."""

import numpy as np
import pytest
from oneproxy.analytics.adaproxy import fit_adaptation
from oneproxy.analytics.adaptation import (
    BASELINES,
    FLOOR_SHARE,
    ProxyModels,
    adapt,
    select_proxy,
)
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.warehouse.spaces import nb201
from scipy.stats import spearmanr


@pytest.fixture(scope="module")
def features():
    return space_features("nb201", [nb201.format_arch(row) for row in nb201.all_op_tuples()])


def column(features, name: str) -> np.ndarray:
    return features.matrix("kernel")[:, features.columns["kernel"].index(name)]


def onehot_device(features, seed: int) -> np.ndarray:
    w = np.random.default_rng(seed).uniform(0.2, 3.0, nb201.ONEHOT_DIM)
    return features.matrix("onehot") @ w


def test_a_negative_scale_is_refitted_at_zero():
    rng = np.random.default_rng(0)
    s = rng.uniform(1, 10, 12)
    y = 30 - 2 * s + rng.normal(0, 0.1, 12)  # anti-correlated with the proxy
    free = fit_adaptation(s, np.zeros((12, 1)), y, never_worse=False)
    assert free.a == 0.0 and free.scale_clamped
    assert free.c == pytest.approx(y.mean())
    loo = (y - y.mean()) * 12 / 11  # LOO residuals of the mean
    np.testing.assert_allclose(free.loo_residuals, loo)


def test_an_anti_correlated_device_gets_no_negative_scale(features):
    proxy = onehot_device(features, 1)
    target = 5 * proxy.max() - 2 * proxy + column(features, "flops_m") * 0.05
    idx = np.random.default_rng(2).choice(nb201.N_ARCHS, 5, replace=False)
    models = ProxyModels.of(features, proxy)
    _, y, cands = models.candidates(idx, target[idx])
    assert all(c.fit.a >= 0 for c in cands)
    assert any(c.fit.scale_clamped for c in cands)
    out = models.adapt(idx, target[idx])
    assert spearmanr(out.predicted, target)[0] > 0  # never the proxy's reversed ranking


def test_predictions_are_positive(features):
    proxy = onehot_device(features, 3)
    # a runtime that folds disconnected cells: far faster than any sample on them
    target = np.where(column(features, "disconnected") > 0, 0.01, proxy + 50.0)
    idx = np.random.default_rng(4).choice(np.flatnonzero(target > 1), 10, replace=False)
    out = adapt(features, proxy, idx, target[idx], strategy="residual")
    floor = FLOOR_SHARE * target[idx].min()
    assert out.predicted.min() >= floor > 0
    assert (out.lower >= 0).all() and (out.upper >= out.predicted).all()


def test_the_choice_is_never_worse_than_the_flops_fit(features):
    proxy = np.random.default_rng(5).uniform(1, 10, nb201.N_ARCHS)  # a useless proxy
    target = 0.2 * column(features, "live_flops_m") + 1.0  # a pruning runtime, linear in FLOPs
    idx = np.random.default_rng(6).choice(nb201.N_ARCHS, 15, replace=False)
    models = ProxyModels.of(features, proxy)
    _, _, cands = models.candidates(idx, target[idx])
    out = models.adapt(idx, target[idx])
    bar = max(c.loo_srcc for c in cands if c.baseline)
    assert bar > 0.99  # flops/pruned ranks the samples (ties in FLOPs aside)
    assert out.loo_srcc >= bar
    assert spearmanr(out.predicted, target)[0] > 0.99
    assert set(BASELINES) <= set(out.scores)


def test_the_best_raw_proxy_sets_the_bar_across_proxies(features):
    good = onehot_device(features, 7)
    proxies = {"bad": np.random.default_rng(8).uniform(1, 10, nb201.N_ARCHS), "good": good}
    target = 3 * good + 1
    idx = np.random.default_rng(9).choice(nb201.N_ARCHS, 12, replace=False)
    name, out, scores = select_proxy(features, proxies, idx, target[idx])
    assert name == "good" and sorted(scores) == ["bad", "good"]
    assert spearmanr(out.predicted, target)[0] > 0.999
