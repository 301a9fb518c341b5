"""AdaProxy: closed form and LOO against brute force, never-worse, proxy choice, real pairs."""

import numpy as np
import polars as pl
import pytest
from oneproxy.analytics.adaproxy import AdaProxy, fit_adaptation
from oneproxy.analytics.predictors import InvalidPredictorInput, NotFittedError
from oneproxy.analytics.predictors.linear import LinearLatencyPredictor
from oneproxy.warehouse.spaces import nb201
from scipy.stats import spearmanr


def target_problem(n: int, seed: int, noise: float = 0.3):
    """n NB201 one-hot rows, positive proxy weights, target = distorted proxy + noise."""
    rng = np.random.default_rng(seed)
    X = nb201.onehot(nb201.all_op_tuples()[rng.choice(nb201.N_ARCHS, n, replace=False)])
    w = rng.uniform(0.5, 5.0, nb201.ONEHOT_DIM)
    y = X @ (w * rng.uniform(0.5, 1.5, w.size)) + 3.0 + rng.normal(0, noise, n)
    return X, y, w


def augmented_fit(X: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float) -> np.ndarray:
    """[c, a, b] by lstsq of [1, s, Z] stacked over [0, 0, √λ·I]."""
    s, Z = X @ w, X * w
    n, d = Z.shape
    design = np.vstack(
        [
            np.column_stack([np.ones(n), s, Z]),
            np.column_stack([np.zeros((d, 2)), np.sqrt(lam) * np.eye(d)]),
        ]
    )
    return np.linalg.lstsq(design, np.concatenate([y, np.zeros(d)]), rcond=None)[0]


@pytest.mark.parametrize(("n", "lam"), [(12, 0.5), (12, 40.0), (80, 0.01), (80, 3.0)])
def test_closed_form_equals_augmented_lstsq(n, lam):
    X, y, w = target_problem(n, seed=n)
    model = AdaProxy(lambdas=np.array([lam]), never_worse=False).fit(X, y, w)
    expected = augmented_fit(X, y, w, lam)
    assert model.lambda_ == lam
    assert not model.proxy_only_
    np.testing.assert_allclose([model.c_, model.a_], expected[:2], rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.b_, expected[2:], rtol=0, atol=1e-8)
    np.testing.assert_allclose(
        model.predict(X), expected[0] + expected[1] * (X @ w) + (X * w) @ expected[2:], atol=1e-8
    )


@pytest.mark.parametrize("n", [10, 20, 60])
def test_loo_shortcut_equals_brute_force_refitting(n):
    X, y, w = target_problem(n, seed=100 + n)
    lambdas = np.array([1e-3, 0.1, 1.0, 10.0, 1e3])
    model = AdaProxy(lambdas=lambdas, never_worse=False).fit(X, y, w)
    s, Z = X @ w, X * w
    for k, lam in enumerate(lambdas):
        errors = []
        for i in range(n):
            rest = np.arange(n) != i
            c, a, *b = augmented_fit(X[rest], y[rest], w, lam)
            errors.append(y[i] - (c + a * s[i] + Z[i] @ b))
        assert model.loo_path_[k] == pytest.approx(np.sqrt(np.mean(np.square(errors))), abs=1e-8)


def test_scaled_proxy_loo_equals_brute_force():
    X, y, w = target_problem(15, seed=7)
    s = X @ w
    errors = []
    for i in range(15):
        rest = np.arange(15) != i
        c, a = np.polynomial.polynomial.polyfit(s[rest], y[rest], 1)
        errors.append(y[i] - (c + a * s[i]))
    model = AdaProxy().fit(X, y, w)
    assert model.scaled_proxy_loo_rmse_ == pytest.approx(np.sqrt(np.mean(np.square(errors))))


def test_lambdas_that_interpolate_a_sample_are_invalid():
    X, y, w = target_problem(6, seed=8)  # 6 samples, 31 features: λ → 0 interpolates them all
    model = AdaProxy(lambdas=np.array([1e-14, 1.0, 10.0]), never_worse=False).fit(X, y, w)
    assert np.isnan(model.loo_path_[0])
    assert np.isfinite(model.loo_path_[1:]).all()
    assert model.lambda_ in (1.0, 10.0)


def test_no_defined_lambda_falls_back_to_the_scaled_proxy_or_raises():
    X, y, w = target_problem(6, seed=18)
    tiny = np.array([1e-15, 1e-14])
    model = AdaProxy(lambdas=tiny).fit(X, y, w)
    assert np.isnan(model.loo_path_).all()
    assert model.proxy_only_
    assert model.loo_rmse_ == model.scaled_proxy_loo_rmse_
    with pytest.raises(InvalidPredictorInput, match="no λ in lambdas .* gives a defined"):
        AdaProxy(lambdas=tiny, never_worse=False).fit(X, y, w)


def test_never_worse_keeps_the_scaled_proxy_when_the_target_is_affine_in_it():
    rng = np.random.default_rng(9)
    everything = nb201.onehot(nb201.all_op_tuples())
    chosen = 0
    for seed in range(10):
        X, _, w = target_problem(12, seed=seed)
        y = 2.5 * (X @ w) + 4.0 + rng.normal(0, 0.5, 12)
        model = AdaProxy().fit(X, y, w)
        assert model.loo_rmse_ <= model.scaled_proxy_loo_rmse_
        assert spearmanr(model.predict(everything), everything @ w)[0] > 0.998
        if model.proxy_only_:
            chosen += 1
            assert model.lambda_ == np.inf
            assert not model.b_.any()
            c, a = np.polynomial.polynomial.polyfit(X @ w, y, 1)
            assert (model.c_, model.a_) == (pytest.approx(c), pytest.approx(a))
            assert model.loo_rmse_ == model.scaled_proxy_loo_rmse_
            np.testing.assert_allclose(model.coef_, a * w)
        else:
            assert model.loo_rmse_ < model.scaled_proxy_loo_rmse_
    assert chosen >= 3  # 4 of these 10; otherwise only a λ that beat the proxy's LOO


def test_exact_affine_target_gives_the_scaled_proxy_exactly():
    X, _, w = target_problem(10, seed=10)
    y = 1.7 * (X @ w) - 2.0
    model = AdaProxy().fit(X, y, w)
    assert model.proxy_only_
    assert (model.a_, model.c_) == (pytest.approx(1.7), pytest.approx(-2.0))
    np.testing.assert_allclose(model.predict(X), y, atol=1e-9)


def test_selection_rules():
    X, y, w = target_problem(20, seed=11, noise=0.05)
    smallest = AdaProxy(selection="min").fit(X, y, w)
    one_se = AdaProxy(selection="1se").fit(X, y, w)
    assert not smallest.proxy_only_
    assert not one_se.proxy_only_
    assert smallest.loo_rmse_ == np.nanmin(smallest.loo_path_)
    assert smallest.loo_rmse_ < smallest.scaled_proxy_loo_rmse_
    assert one_se.lambda_ >= smallest.lambda_
    assert one_se.loo_rmse_ >= smallest.loo_rmse_
    assert one_se.loo_rmse_ < one_se.scaled_proxy_loo_rmse_
    assert one_se.loo_rmse_ == one_se.loo_path_[list(np.logspace(-6, 6, 49)).index(one_se.lambda_)]


def test_adapted_model_beats_the_proxy_on_unseen_architectures():
    rng = np.random.default_rng(12)
    w = rng.uniform(0.5, 5.0, nb201.ONEHOT_DIM)
    target_w = w * rng.uniform(0.3, 2.0, w.size)
    everything = nb201.onehot(nb201.all_op_tuples())
    truth = everything @ target_w
    idx = rng.choice(nb201.N_ARCHS, 20, replace=False)
    adapted = AdaProxy().fit(everything[idx], truth[idx] + rng.normal(0, 0.1, 20), w).predict(
        everything)
    assert adapted.shape == (nb201.N_ARCHS,)
    raw_srcc = spearmanr(everything @ w, truth)[0]
    assert spearmanr(adapted, truth)[0] > raw_srcc + 0.05


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lambdas": np.array([])}, "lambdas must be a non-empty 1-D array of finite penalties"),
        ({"lambdas": np.array([1.0, 0.0])}, "lambdas must be .* > 0"),
        ({"lambdas": np.ones((2, 2))}, "lambdas must be a non-empty 1-D array"),
        ({"never_worse": "yes"}, "never_worse must be True or False, got 'yes'"),
        ({"selection": "median"}, "selection must be one of '1se', 'min', got 'median'"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    X, y, w = target_problem(10, seed=15)
    with pytest.raises(InvalidPredictorInput, match=message):
        AdaProxy(**kwargs).fit(X, y, w)


def test_bad_inputs_are_named():
    X, y, w = target_problem(10, seed=16)
    with pytest.raises(InvalidPredictorInput, match=r"proxy_coef must be a 1-D array of 31 values"):
        AdaProxy().fit(X, y, w[:30])
    with pytest.raises(InvalidPredictorInput, match=r"y must be a 1-D array of 10 values"):
        AdaProxy().fit(X, y[:9], w)
    with pytest.raises(InvalidPredictorInput, match="2 target samples: .* at least 3"):
        AdaProxy().fit(X[:2], y[:2], w)
    with pytest.raises(InvalidPredictorInput, match="predicts the same latency"):
        AdaProxy().fit(X, y, np.zeros(31))
    lone = X.copy()
    lone[1:] = X[1]  # every sample but the first is the same architecture
    with pytest.raises(InvalidPredictorInput, match="target sample 0 is the only one"):
        AdaProxy().fit(lone, y, w)
    with pytest.raises(NotFittedError, match="before fit"):
        AdaProxy().predict(X)
    with pytest.raises(InvalidPredictorInput, match="X must have 31 feature columns"):
        AdaProxy().fit(X, y, w).predict(X[:, :30])


def device_pair(wh, proxy: str, target: str):
    """One-hot X and the proxy's and target's latencies over the architectures both measured."""
    latency = pl.from_arrow(wh.read("latency")).filter(
        (pl.col("space_id") == "nb201") & (pl.col("status") == "ok")
    )
    arch = pl.from_arrow(wh.read("architectures")).filter(pl.col("space_id") == "nb201")

    def series(device: str) -> pl.DataFrame:
        return latency.filter(pl.col("device_id") == device).select("arch_id", "latency_ms")

    joined = (
        series(proxy)
        .join(series(target), on="arch_id", suffix="_target")
        .join(arch.select("arch_id", *[f"e{e}" for e in range(nb201.N_EDGES)]), on="arch_id")
        .sort("arch_id")
    )
    X = nb201.onehot(joined.select([f"e{e}" for e in range(nb201.N_EDGES)]).to_numpy())
    return X, joined["latency_ms"].to_numpy(), joined["latency_ms_target"].to_numpy()


def srcc_over_seeds(X, y_proxy, y_target, n_samples: int, seeds: int = 20):
    """Mean SRCC on the unsampled architectures: raw proxy predictor, then adapted."""
    proxy = LinearLatencyPredictor().fit(X, y_proxy)
    raw_prediction = proxy.predict(X)
    raw, adapted = [], []
    for seed in range(seeds):
        idx = np.random.default_rng(seed).choice(y_target.size, n_samples, replace=False)
        rest = np.setdiff1d(np.arange(y_target.size), idx)
        prediction = AdaProxy().fit(X[idx], y_target[idx], proxy.coef_).predict(X)
        raw.append(spearmanr(raw_prediction[rest], y_target[rest])[0])
        adapted.append(spearmanr(prediction[rest], y_target[rest])[0])
    return float(np.mean(raw)), float(np.mean(adapted))


@pytest.mark.integration
def test_adaptation_on_real_device_pairs(ingested):
    X, pixel3, raspi4 = device_pair(ingested, "pixel3", "raspi4")
    assert X.shape == (15_625, 31)
    assert spearmanr(pixel3, raspi4)[0] == pytest.approx(0.967, abs=5e-4)
    raw, adapted = srcc_over_seeds(X, pixel3, raspi4, n_samples=10)
    assert raw == pytest.approx(0.9385, abs=5e-4)  # the linear proxy predictor's own ceiling
    assert adapted >= raw - 0.005  # a monotone pair: adaptation must not hurt

    X, vpu, gtx = device_pair(ingested, "nnmeter_myriadvpu", "eagle_gtx1080ti")
    assert X.shape == (1_999, 31)
    assert spearmanr(vpu, gtx)[0] == pytest.approx(0.69, abs=5e-3)
    raw, adapted = srcc_over_seeds(X, vpu, gtx, n_samples=20)
    assert raw == pytest.approx(0.696, abs=5e-3)
    assert adapted >= raw + 0.05  # a hard pair: 20 target samples lift the ranking clearly


def test_a_repeated_fit_is_the_same_and_owns_its_arrays():
    """Fits of inputs seen before are reused: equal to the bit, and a caller writing into one
    fit's arrays changes no other fit."""
    rng = np.random.default_rng(7)
    s, Z = rng.uniform(1, 10, 12), rng.normal(size=(12, 5))
    y = 2 * s + Z @ rng.normal(size=5) + rng.normal(0, 0.1, 12)
    first = fit_adaptation(s, Z, y)
    expected = [first.b.copy(), first.loo_path.copy(), first.loo_residuals.copy()]
    for values in (first.b, first.loo_path, first.loo_residuals):
        values[:] = -1.0
    again = fit_adaptation(s.copy(), Z.copy(), y.copy())
    for got, want in zip((again.b, again.loo_path, again.loo_residuals), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert (again.a, again.c, again.lambda_) == (first.a, first.c, first.lambda_)
