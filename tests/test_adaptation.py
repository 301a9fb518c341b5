"""Adaptation strategies: closed form, never-worse, candidates, proxy choice, real device pairs."""

import numpy as np
import polars as pl
import pytest
from oneproxy.analytics.adaproxy import fit_adaptation
from oneproxy.analytics.adaptation import (
    BASELINES,
    CANDIDATES,
    ENCODINGS,
    HIERARCHICAL,
    STRATEGIES,
    Adapted,
    ProxyModels,
    adapt,
    candidates,
    select_proxy,
    select_proxy_models,
)
from oneproxy.analytics.baselines import PRESCREEN, prescreen
from oneproxy.analytics.predictors import InvalidPredictorInput
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.warehouse.spaces import nb201
from scipy.stats import spearmanr


@pytest.fixture(scope="module")
def features():
    return space_features("nb201", [nb201.format_arch(row) for row in nb201.all_op_tuples()])


def linear_latency(features, seed: int) -> np.ndarray:
    """A device whose latency is exactly linear in the one-hot encoding (ms, all > 0)."""
    w = np.random.default_rng(seed).uniform(0.2, 3.0, nb201.ONEHOT_DIM)
    return features.matrix("onehot") @ w


def nonlinear_latency(features, seed: int) -> np.ndarray:
    """Linear latency plus an interaction of the 3×3 convolutions (ms)."""
    n_conv3 = features.matrix("kernel")[:, features.columns["kernel"].index("n_nor_conv_3x3")]
    return linear_latency(features, seed) + 0.4 * n_conv3**2


def samples(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(nb201.N_ARCHS, n, replace=False)


def augmented_fit(s, Z, y, lam):
    """[c, a, b] by lstsq of [1, s, Z] stacked over [0, 0, √λ·I]."""
    n, d = Z.shape
    design = np.vstack([
        np.column_stack([np.ones(n), s, Z]),
        np.column_stack([np.zeros((d, 2)), np.sqrt(lam) * np.eye(d)]),
    ])
    return np.linalg.lstsq(design, np.concatenate([y, np.zeros(d)]), rcond=None)[0]


@pytest.mark.parametrize(("n", "lam"), [(10, 0.3), (20, 5.0), (60, 0.01)])
def test_fit_adaptation_equals_augmented_lstsq_for_any_base(n, lam):
    rng = np.random.default_rng(n)
    s = rng.uniform(1, 10, n)
    Z = rng.normal(size=(n, 31))
    y = 2 * s + Z @ rng.normal(0, 0.3, 31) + rng.normal(0, 0.1, n)
    fit = fit_adaptation(s, Z, y, lambdas=np.array([lam]), never_worse=False)
    c, a, *b = augmented_fit(s, Z, y, lam)
    assert (fit.a, fit.c, fit.lambda_) == (pytest.approx(a), pytest.approx(c), lam)
    np.testing.assert_allclose(fit.b, b, atol=1e-8)
    np.testing.assert_allclose(fit.predict(s, Z), c + a * s + Z @ b, atol=1e-8)
    brute = []
    for i in range(n):
        rest = np.arange(n) != i
        ci, ai, *bi = augmented_fit(s[rest], Z[rest], y[rest], lam)
        brute.append(y[i] - (ci + ai * s[i] + Z[i] @ bi))
    np.testing.assert_allclose(fit.loo_residuals, brute, atol=1e-8)
    assert fit.loo_rmse == pytest.approx(np.sqrt(np.mean(np.square(brute))))


def test_residual_strategy_equals_augmented_lstsq(features):
    proxy = nonlinear_latency(features, seed=1)
    distortion = np.random.default_rng(2).uniform(0.5, 1.5, nb201.ONEHOT_DIM)
    target = (features.matrix("onehot") * distortion) @ np.full(nb201.ONEHOT_DIM, 1.0) + proxy
    idx = samples(25, seed=3)
    out = adapt(features, proxy, idx, target[idx], strategy="residual", lambdas=np.array([0.05]))
    assert isinstance(out, Adapted)
    assert out.strategy == "residual"
    assert not out.proxy_only
    assert set(out.scores) == {f"residual/{e}" for e in ENCODINGS} | set(BASELINES)
    assert out.loo_rmse == min(out.scores.values()) == out.scores[f"residual/{out.encoding}"]
    Z = features.matrix(out.encoding.removeprefix("weighted_"))
    if out.encoding.startswith("weighted_"):
        Z = Z * ProxyModels.of(features, proxy).linear_coef(out.encoding.removeprefix("weighted_"))
    c, a, *b = augmented_fit(proxy[idx], Z[idx], target[idx], 0.05)
    np.testing.assert_allclose(out.predicted, c + a * proxy + Z @ b, atol=1e-7)
    assert spearmanr(out.predicted, target)[0] > spearmanr(proxy, target)[0]


def test_a_target_affine_in_the_proxy_keeps_the_scaled_proxy(features):
    proxy = nonlinear_latency(features, seed=4)
    target = 1.7 * proxy - 0.5
    idx = samples(12, seed=5)
    out = adapt(features, proxy, idx, target[idx], strategy="residual")
    assert out.proxy_only
    assert out.loo_rmse < 1e-9
    np.testing.assert_allclose(out.predicted, target, rtol=1e-10)


def test_a_linear_proxy_is_recovered_exactly_by_the_linear_strategy(features):
    proxy = linear_latency(features, seed=6)
    target = 0.6 * proxy + 2.0
    idx = samples(10, seed=7)
    out = adapt(features, proxy, idx, target[idx], strategy="linear")
    assert (out.strategy, out.proxy_only) == ("linear", True)
    assert set(out.scores) - set(BASELINES) == {f"linear/{e}" for e in HIERARCHICAL}
    np.testing.assert_allclose(out.predicted, target, rtol=1e-9)


def test_auto_tries_linear_and_kernel_and_keeps_the_least_loo(features):
    proxy = nonlinear_latency(features, seed=8)
    rng = np.random.default_rng(9)  # a ms cost per op type on every edge, plus per-edge noise
    per_op = np.tile(rng.uniform(0, 2, nb201.N_OPS), nb201.N_EDGES) + rng.normal(0, 0.3, 30)
    target = proxy + features.matrix("onehot") @ np.append(per_op, 0.0)
    idx = samples(20, seed=10)
    out = adapt(features, proxy, idx, target[idx])
    assert sorted(out.scores) == sorted(
        [f"{s}/{e}" for s in ("linear", "kernel") for e in HIERARCHICAL] + list(BASELINES)
    )
    assert out.strategy in ("linear", "kernel")
    assert out.loo_rmse == min(out.scores.values())
    assert out.scores[f"{out.strategy}/{out.encoding}"] == out.loo_rmse
    assert out.predicted.shape == (nb201.N_ARCHS,)
    assert (out.strategy, out.encoding) == ("kernel", "counts+onehot")  # linear misses x²
    assert spearmanr(out.predicted, target)[0] > spearmanr(proxy, target)[0] + 0.1  # .981, .873


def test_proxy_models_fill_unmeasured_architectures(features):
    proxy = nonlinear_latency(features, seed=11)
    partial = proxy.copy()
    missing = np.random.default_rng(12).random(nb201.N_ARCHS) < 0.3
    partial[missing] = np.nan
    models = ProxyModels.of(features, partial)
    linear = features.matrix("onehot") @ models.linear_coef("onehot")
    np.testing.assert_array_equal(models.filled[~missing], proxy[~missing])
    np.testing.assert_array_equal(models.filled[missing], linear[missing])
    assert models.linear_coef("onehot") is models.linear_coef("onehot")  # fitted once
    assert models.kernel is models.kernel
    assert spearmanr(models.kernel[missing], proxy[missing])[0] > 0.99
    idx = samples(15, seed=13)
    target = 2 * proxy + 1
    for strategy in STRATEGIES:
        out = models.adapt(idx, target[idx], strategy=strategy)
        assert np.isfinite(out.predicted).all()
        assert spearmanr(out.predicted, target)[0] > 0.98


def test_select_proxy_picks_the_generating_device(features):
    proxies = {name: linear_latency(features, seed) for seed, name in enumerate("abc")}
    idx = samples(15, seed=14)
    target = 0.8 * proxies["b"] + 1.0
    name, out, scores = select_proxy(features, proxies, idx, target[idx], strategy="linear")
    assert name == "b"
    assert len(scores) == PRESCREEN == 2 and "b" in scores  # only the screened are adapted
    assert scores["b"] == min(scores.values()) and out.loo_rmse < 1e-9
    np.testing.assert_allclose(out.predicted, target, rtol=1e-9)


def test_only_the_proxies_that_rank_the_samples_best_are_adapted(features):
    rng = np.random.default_rng(7)
    target = linear_latency(features, seed=21)
    proxies = {"exact": 2 * target + 1, "noisy": target * rng.uniform(0.7, 1.3, target.size),
               "reversed": 100.0 - target, "flat": np.full(target.size, 3.0)}
    idx = samples(20, seed=22)
    assert prescreen(proxies, idx, target[idx], keep=2) == ["exact", "noisy"]
    fitted = []
    models = {n: ProxyModels.of(features, row) for n, row in proxies.items() if n != "flat"}
    name, _, scores = select_proxy_models(models, idx, target[idx], on_proxy=fitted.append)
    assert fitted == ["exact", "noisy"] and set(scores) == {"exact", "noisy"} and name == "exact"
    _, _, every = select_proxy_models(models, idx, target[idx], screen=3)
    assert set(every) == {"exact", "noisy", "reversed"}
    with pytest.raises(InvalidPredictorInput, match=r"one latency \(ms\) per entry"):
        select_proxy_models(models, idx, target[idx][:5])  # checked before the screen


def test_candidates_of_each_strategy():
    assert candidates("linear") == (("linear", "counts+onehot"), ("linear", "counts+live_onehot"),
                                    ("linear", "counts+costly_onehot"), ("linear", "counts"))
    assert CANDIDATES["kernel"] == HIERARCHICAL
    assert len(candidates("residual")) == len(ENCODINGS) == 9
    assert candidates("auto") == candidates("linear") + candidates("kernel")


def test_bad_input_is_named(features):
    proxy = linear_latency(features, seed=15)
    idx = samples(10, seed=16)
    y = proxy[idx]
    with pytest.raises(InvalidPredictorInput, match="strategy must be 'auto' or one of"):
        adapt(features, proxy, idx, y, strategy="cubic")
    with pytest.raises(InvalidPredictorInput, match="one value per architecture .*15625"):
        adapt(features, proxy[:-1], idx, y)
    with pytest.raises(InvalidPredictorInput, match="latency ≤ 0 ms at architecture 3"):
        adapt(features, np.where(np.arange(proxy.size) == 3, -1.0, proxy), idx, y)
    with pytest.raises(InvalidPredictorInput, match="the proxy measured 5 architectures"):
        adapt(features, np.where(np.arange(proxy.size) < 5, proxy, np.nan), idx, y)
    with pytest.raises(InvalidPredictorInput, match="sample_idx must index rows 0…15624"):
        adapt(features, proxy, np.array([0, 1, nb201.N_ARCHS]), y[:3])
    with pytest.raises(InvalidPredictorInput, match="sample_idx repeats a row"):
        adapt(features, proxy, np.array([0, 1, 1]), y[:3])
    with pytest.raises(InvalidPredictorInput, match="sample_idx must be a 1-D array of integer"):
        adapt(features, proxy, np.array([0.0, 1.0, 2.0]), y[:3])
    with pytest.raises(InvalidPredictorInput, match=r"one latency \(ms\) per entry .* \(10\)"):
        adapt(features, proxy, idx, y[:9])
    with pytest.raises(InvalidPredictorInput, match="not a positive number at position 2"):
        adapt(features, proxy, idx, np.where(np.arange(10) == 2, np.nan, y))
    with pytest.raises(InvalidPredictorInput, match="2 target samples"):
        adapt(features, proxy, idx[:2], y[:2])
    with pytest.raises(InvalidPredictorInput, match="proxies is empty"):
        select_proxy(features, {}, idx, y)


# (proxy, target): mean SRCC over seeds 0–9 with 20 target samples, as measured —
# raw proxy, the paper's AdaProxy (`linear`), `auto`
REAL_PAIRS = {
    ("pixel3", "raspi4"): (0.9667, 0.9611, 0.9804),
    ("nnmeter_myriadvpu", "eagle_gtx1080ti"): (0.6903, 0.7860, 0.8099),
    ("silver_4114", "gold_6226"): (0.9117, 0.9810, 0.9802),
    ("1080ti_256", "titan_rtx_256"): (0.8117, 0.9977, 0.9977),
    ("samsung_a50", "fpga"): (0.9592, 0.9967, 0.9967),
    ("essential_ph_1", "pixel2"): (0.8564, 0.8717, 0.8957),
    ("pixel3", "eyeriss"): (0.7216, 0.9890, 0.9884),
}


def device_latencies(wh) -> dict[str, np.ndarray]:
    """Every NB201 CIFAR-10 latency series as a row over arch_id 0…15624, NaN where missing."""
    latency = pl.from_arrow(wh.read("latency")).filter(
        (pl.col("space_id") == "nb201")
        & (pl.col("dataset") == "cifar10")
        & pl.col("latency_ms").is_not_null()
    )
    rows = {}
    for (device,), group in latency.group_by(["device_id"]):
        row = np.full(nb201.N_ARCHS, np.nan)
        row[group["arch_id"].to_numpy()] = group["latency_ms"].to_numpy()
        rows[device] = row
    return rows


@pytest.mark.integration
def test_strategies_on_real_device_pairs(ingested):
    arch = pl.from_arrow(ingested.read("architectures")).filter(pl.col("space_id") == "nb201")
    arch = arch.sort("arch_id")
    assert arch["arch_id"].to_list() == list(range(nb201.N_ARCHS))
    features = space_features("nb201", arch["arch_key"].to_list())
    devices = device_latencies(ingested)
    models, measured = {}, {}
    for (proxy, target), (raw_ref, linear_ref, auto_ref) in REAL_PAIRS.items():
        if proxy not in models:
            models[proxy] = ProxyModels.of(features, devices[proxy])
        truth = devices[target]
        pool = np.flatnonzero(np.isfinite(truth))
        raw, linear, auto = [], [], []
        for seed in range(10):
            idx = np.random.default_rng(seed).choice(pool, 20, replace=False)
            rest = np.setdiff1d(pool, idx)
            both = rest[np.isfinite(devices[proxy][rest])]
            raw.append(spearmanr(devices[proxy][both], truth[both])[0])
            for out, strategy in ((linear, "linear"), (auto, "auto")):
                predicted = models[proxy].adapt(idx, truth[idx], strategy=strategy).predicted
                out.append(spearmanr(predicted[rest], truth[rest])[0])
        pair = f"{proxy}→{target}"
        measured[proxy, target] = np.mean(raw), np.mean(auto)
        assert np.mean(raw) == pytest.approx(raw_ref, abs=1e-3), pair
        assert np.mean(linear) > linear_ref - 0.01, pair
        assert np.mean(auto) > auto_ref - 0.01, pair
        assert np.mean(auto) > np.mean(raw), pair  # on every pair adaptation beats the raw proxy
    raw, auto = measured["pixel3", "raspi4"]
    assert auto > raw + 0.005  # the monotone pair: adapted ranks raspi4 better than pixel3 itself
