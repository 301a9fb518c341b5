"""LinearLatencyPredictor: exact recovery, ridge, JSON round trip, and errors on bad input."""

import json

import numpy as np
import pytest
from oneproxy.analytics.predictors import InvalidPredictorInput, NotFittedError
from oneproxy.analytics.predictors.linear import LinearLatencyPredictor
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.spaces import nb201


def gaussian_problem(n: int = 50, d: int = 7, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    return X, w, X @ w


def test_recovers_exact_weights_on_noiseless_data():
    X, w, y = gaussian_problem()
    model = LinearLatencyPredictor()
    assert model.fit(X, y) is model
    np.testing.assert_allclose(model.coef_, w, rtol=0, atol=1e-12)
    assert model.n_features_in_ == 7
    assert model.training_rows_ == 50
    np.testing.assert_allclose(model.predict(X[:3]), y[:3], rtol=0, atol=1e-12)


def test_onehot_collinearity_gives_the_minimum_norm_exact_fit():
    ops = nb201.all_op_tuples()[::7]
    X = nb201.onehot(ops)
    rng = np.random.default_rng(1)
    truth = rng.uniform(0, 5, nb201.ONEHOT_DIM)
    model = LinearLatencyPredictor().fit(X, X @ truth)
    everything = nb201.onehot(nb201.all_op_tuples())
    np.testing.assert_allclose(model.predict(everything), everything @ truth, rtol=0, atol=1e-9)
    # the 6 one-hot blocks each sum to the bias column: 6 directions are free, min-norm sets them
    assert np.linalg.matrix_rank(X) == nb201.ONEHOT_DIM - nb201.N_EDGES
    assert np.linalg.norm(model.coef_) < np.linalg.norm(truth)


def test_ridge_matches_the_closed_form():
    X, _, y = gaussian_problem(n=30, d=5, seed=2)
    alpha = 3.5
    model = LinearLatencyPredictor(alpha=alpha).fit(X, y)
    expected = np.linalg.solve(X.T @ X + alpha * np.eye(5), X.T @ y)
    np.testing.assert_allclose(model.coef_, expected, rtol=1e-12)
    assert model.alpha == alpha


def test_json_round_trip_predicts_identically():
    X, _, y = gaussian_problem(n=40, d=31, seed=3)
    model = LinearLatencyPredictor(alpha=0.25).fit(
        X, y, space="nb201", device="pixel3", encoding="onehot"
    )
    document = json.loads(json.dumps(model.to_json()))
    assert document["kind"] == "linear_latency_predictor"
    assert document["format_version"] == 1
    assert document["space"] == "nb201"
    assert document["device"] == "pixel3"
    assert document["encoding"] == "onehot"
    assert document["training_rows"] == 40
    assert document["n_features_in"] == 31
    assert document["numpy_version"] == np.__version__
    loaded = LinearLatencyPredictor.from_json(document)
    assert loaded.alpha == 0.25
    assert (loaded.device_, loaded.space_, loaded.encoding_) == ("pixel3", "nb201", "onehot")
    probe = np.random.default_rng(4).normal(size=(100, 31))
    assert np.array_equal(loaded.predict(probe), model.predict(probe))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "pickle"}, "field 'kind' must be 'linear_latency_predictor'"),
        ({"format_version": 99}, "field 'format_version' must be 1"),
        ({"coef": [1.0, 2.0]}, "coef must be a 1-D array of 3 values"),
        ({"coef": [1.0, None, 2.0]}, "coef holds NaN"),
        ({"n_features_in": "3"}, "field 'n_features_in' has the wrong type"),
        ({"alpha": -1.0}, "alpha must be a finite number ≥ 0"),
    ],
)
def test_from_json_rejects_malformed_documents(change, message):
    X, _, y = gaussian_problem(n=10, d=3, seed=5)
    document = {**LinearLatencyPredictor().fit(X, y).to_json(), **change}
    with pytest.raises(InvalidPredictorInput, match=message):
        LinearLatencyPredictor.from_json(document)


def test_from_json_names_a_missing_field():
    X, _, y = gaussian_problem(n=10, d=3, seed=5)
    document = LinearLatencyPredictor().fit(X, y).to_json()
    del document["training_rows"]
    with pytest.raises(InvalidPredictorInput, match="lacks the field 'training_rows'"):
        LinearLatencyPredictor.from_json(document)


def test_unfitted_predictor_raises():
    model = LinearLatencyPredictor()
    with pytest.raises(NotFittedError, match=r"predict called before fit"):
        model.predict(np.ones((2, 3)))
    with pytest.raises(NotFittedError, match=r"to_json called before fit"):
        model.to_json()
    assert issubclass(NotFittedError, OneproxyError)


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.ones(5), np.ones(5), r"X must be a non-empty 2-D array .* got shape \(5,\)"),
        (np.ones((0, 3)), np.ones(0), r"X must be a non-empty 2-D array .* got shape \(0, 3\)"),
        (np.ones((5, 3)), np.ones(4), r"y must be a 1-D array of 5 values, got shape \(4,\)"),
        (np.ones((5, 3)), np.ones((5, 1)), r"y must be a 1-D array of 5 values, .*\(5, 1\)"),
        (np.full((2, 2), np.nan), np.ones(2), r"X holds NaN or infinite values \(first at index"),
        (np.ones((2, 2)), [1.0, np.inf], r"y holds NaN or infinite values \(first at index \(1,\)"),
        ([["a", "b"]], [1.0], "X must be numeric"),
    ],
)
def test_fit_rejects_bad_shapes_naming_the_parameter(X, y, message):
    with pytest.raises(InvalidPredictorInput, match=message):
        LinearLatencyPredictor().fit(X, y)


@pytest.mark.parametrize("alpha", [-0.1, np.inf, np.nan, "1", True, None])
def test_fit_rejects_bad_alpha(alpha):
    with pytest.raises(InvalidPredictorInput, match="alpha must be a finite number ≥ 0"):
        LinearLatencyPredictor(alpha=alpha).fit(np.eye(3), np.ones(3))


def test_predict_rejects_the_wrong_number_of_features():
    X, _, y = gaussian_problem(n=10, d=4, seed=6)
    model = LinearLatencyPredictor().fit(X, y)
    with pytest.raises(InvalidPredictorInput, match=r"X must have 4 feature columns, got shape"):
        model.predict(np.ones((3, 5)))
    assert issubclass(InvalidPredictorInput, ValueError)
