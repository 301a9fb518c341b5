"""KernelLatencyPredictor: accuracy on a known function, determinism, save/load, bad input."""

import json

import lightgbm
import numpy as np
import pytest
from oneproxy.analytics.predictors import InvalidPredictorInput, NotFittedError
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.analytics.predictors.kernel import KernelLatencyPredictor
from oneproxy.warehouse.spaces import nb201
from scipy.stats import spearmanr


@pytest.fixture(scope="module")
def problem():
    """Kernel features of 3,000 NB201 cells; latency = a product of per-op factors (ms)."""
    rng = np.random.default_rng(0)
    ops = nb201.all_op_tuples()[rng.choice(nb201.N_ARCHS, 3_000, replace=False)]
    X = space_features("nb201", [nb201.format_arch(row) for row in ops]).matrix("kernel")
    factors = np.array([1.0, 1.05, 1.2, 1.6, 1.1])
    y = 2.0 * factors[ops].prod(axis=1) * np.where(nb201.disconnected(ops), 0.5, 1.0)
    return X, y


def small(**kwargs) -> KernelLatencyPredictor:
    return KernelLatencyPredictor(n_estimators=60, **kwargs)


def test_fit_predicts_milliseconds(problem):
    X, y = problem
    model = small().fit(X[:2_000], y[:2_000], space="nb201", device="toy", encoding="kernel")
    held_out = model.predict(X[2_000:])
    assert held_out.shape == (1_000,)
    assert (held_out > 0).all()
    assert spearmanr(held_out, y[2_000:])[0] > 0.99
    assert np.median(np.abs(held_out / y[2_000:] - 1)) < 0.02
    assert model.n_features_in_ == 30
    assert model.training_rows_ == 2_000


def test_same_seed_same_predictions(problem):
    X, y = problem
    first = small(seed=3).fit(X, y).predict(X)
    np.testing.assert_array_equal(small(seed=3).fit(X, y).predict(X), first)


def test_save_load_round_trip(problem, tmp_path):
    X, y = problem
    model = small(learning_rate=0.2).fit(X, y, space="nb201", device="toy", encoding="kernel")
    path = tmp_path / "toy.lgb.txt"
    model.save(path)
    meta = json.loads((tmp_path / "toy.lgb.txt.json").read_text())
    assert meta["kind"] == "kernel_latency_predictor"
    assert meta["params"]["learning_rate"] == 0.2
    assert meta["params"]["n_estimators"] == 60
    assert (meta["space"], meta["device"], meta["encoding"]) == ("nb201", "toy", "kernel")
    assert (meta["training_rows"], meta["n_features_in"]) == (3_000, 30)
    assert meta["lightgbm_version"] == lightgbm.__version__
    assert path.read_text().startswith("tree\n")  # LightGBM's text format, not a pickle
    loaded = KernelLatencyPredictor.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.get_params() == model.get_params()
    assert (loaded.space_, loaded.device_, loaded.encoding_) == ("nb201", "toy", "kernel")


def test_load_refuses_missing_or_foreign_files(problem, tmp_path):
    X, y = problem
    with pytest.raises(InvalidPredictorInput, match="nothing.txt does not exist"):
        KernelLatencyPredictor.load(tmp_path / "nothing.txt")
    path = tmp_path / "m.txt"
    small().fit(X, y).save(path)
    meta_path = tmp_path / "m.txt.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "kind": "linear_latency_predictor"}))
    with pytest.raises(InvalidPredictorInput, match="field 'kind' must be 'kernel_latency"):
        KernelLatencyPredictor.load(path)
    meta_path.write_text(json.dumps({**meta, "n_features_in": 31}))
    with pytest.raises(InvalidPredictorInput, match="has 30 features but .* says 31"):
        KernelLatencyPredictor.load(path)
    meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k != "training_rows"}))
    with pytest.raises(InvalidPredictorInput, match="lacks the field 'training_rows'"):
        KernelLatencyPredictor.load(path)
    meta_path.write_text("{not json")
    with pytest.raises(InvalidPredictorInput, match="m.txt.json is not valid JSON"):
        KernelLatencyPredictor.load(path)


def test_unfitted_model_raises(tmp_path):
    with pytest.raises(NotFittedError, match="predict called before fit"):
        KernelLatencyPredictor().predict(np.ones((2, 3)))
    with pytest.raises(NotFittedError, match="save called before fit"):
        KernelLatencyPredictor().save(tmp_path / "m.txt")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_estimators": 0}, "n_estimators must be an integer from 1"),
        ({"n_estimators": 10.5}, "n_estimators must be an integer"),
        ({"learning_rate": 0.0}, "learning_rate must be a number"),
        ({"num_leaves": 1}, "num_leaves must be an integer from 2"),
        ({"min_child_samples": True}, "min_child_samples must be an integer"),
        ({"seed": -1}, "seed must be an integer from 0"),
    ],
)
def test_bad_parameters_are_named(problem, kwargs, message):
    X, y = problem
    with pytest.raises(InvalidPredictorInput, match=message):
        KernelLatencyPredictor(**kwargs).fit(X[:50], y[:50])


def test_bad_data_is_named(problem):
    X, y = problem
    with pytest.raises(InvalidPredictorInput, match=r"y\[1\] = 0 ms: latencies must be > 0"):
        small().fit(X[:3], np.array([1.0, 0.0, 2.0]))
    with pytest.raises(InvalidPredictorInput, match="y holds NaN"):
        small().fit(X[:3], np.array([1.0, np.nan, 2.0]))
    with pytest.raises(InvalidPredictorInput, match="X must have 30 feature columns"):
        small().fit(X[:100], y[:100]).predict(X[:5, :29])
