"""The cvxpy reference of bench/adaproxy.py solves the paper's problem on toy data.

cvxpy is a test and bench extra, never a runtime dependency.
"""

from pathlib import Path

import click
import numpy as np
import pytest
from oneproxy.analytics.adaproxy import fit_adaptation

from bench.adaproxy import (
    N_LAMBDAS,
    PaperProblem,
    ReferencePath,
    choose,
    load_latency,
    paper_lambdas,
    reference_path,
)


def toy(n: int, d: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Z = X ⊙ w of n one-hot-like rows, and y = 2·Z·(1 + b) + 3 + noise."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 2, size=(n, d)).astype(float)
    X[:, -1] = 1.0  # the bias column
    Z = X * rng.uniform(0.5, 2.0, d)
    y = Z @ (2.0 + rng.normal(0.0, 0.3, d)) + 3.0 + rng.normal(0.0, 0.05, n)
    return Z, y


def test_path_ends_at_the_scaled_proxy_and_solves_every_lambda():
    Z, y = toy(8)
    problem = PaperProblem(8, 5)
    path = reference_path(problem, Z, y)
    assert problem.not_solved == 0
    assert path.scale.shape == (N_LAMBDAS, 5) and path.loo_pred.shape == (N_LAMBDAS, 8)
    assert np.isfinite(path.loo_pred).all()
    # at λ_max, b = 0: every feature has the same scale a, and (c, a) is least squares on [1, s]
    c, a = np.linalg.lstsq(np.column_stack([np.ones(8), Z.sum(axis=1)]), y, rcond=None)[0]
    np.testing.assert_allclose(path.scale[-1], a, rtol=1e-5)
    assert path.intercept[-1] == pytest.approx(c, rel=1e-5)
    # just under λ_max, b is no longer 0
    assert np.ptp(path.scale[-2]) > 1e-6
    fit_error = [np.sum((y - Z @ s - c) ** 2) for s, c in zip(path.scale, path.intercept,
                                                               strict=True)]
    assert fit_error[0] < fit_error[-1]


def test_masked_row_is_the_same_as_a_removed_row():
    Z, y = toy(9, seed=1)
    mask = np.ones(9)
    mask[4] = 0.0
    keep = mask.astype(bool)
    masked = PaperProblem(9, 5).solve(Z, y, mask, 0.7)
    removed = PaperProblem(8, 5).solve(Z[keep], y[keep], np.ones(8), 0.7)
    np.testing.assert_allclose(masked[0], removed[0], rtol=1e-6)
    assert masked[1] == pytest.approx(removed[1], rel=1e-6)


def test_squared_penalty_reproduces_the_closed_form():
    Z, y = toy(12, seed=2)
    s = Z.sum(axis=1)
    ours = fit_adaptation(s, Z, y, lambdas=np.array([0.5]), never_worse=False)
    scale, c = PaperProblem(12, 5, "squared").solve(Z, y, np.ones(12), 0.5)
    np.testing.assert_allclose(scale, ours.a + ours.b, rtol=1e-6)
    assert c == pytest.approx(ours.c, rel=1e-6)


def test_lambda_grid_is_relative_to_lambda_max():
    Z, y = toy(10, seed=3)
    lambdas = paper_lambdas(Z, y)
    assert lambdas.size == N_LAMBDAS
    assert lambdas[-1] / lambdas[0] == pytest.approx(1e4)
    assert paper_lambdas(Z, 10 * y)[-1] == pytest.approx(10 * lambdas[-1])


def test_selection_rules():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    loo_pred = np.array([
        [1.0, 2.0, 3.0, 4.0],  # λ0: exact
        [1.1, 1.9, 3.1, 3.9],  # λ1: MSE 0.01, same ranks
        [4.0, 3.0, 2.0, 1.0],  # λ2: reversed
        [1.5, 2.5, 3.5, 4.5],  # λ3: same ranks as y, offset
    ])
    path = ReferencePath(np.arange(1.0, 5.0), np.zeros((4, 1)), np.zeros(4), loo_pred,
                         np.zeros(4))
    assert choose(path, y, "min") == 0
    assert choose(path, y, "1se") == 0  # the least MSE is 0 with no spread: nothing is near
    assert choose(path, y, "srcc") == 3  # λ0, λ1 and λ3 rank perfectly: the largest λ wins
    noisy = loo_pred.copy()
    noisy[0] = [1.2, 1.8, 3.2, 3.8]
    path = ReferencePath(path.lambdas, path.scale, path.intercept, noisy, path.solve_seconds)
    assert choose(path, y, "min") == 1
    assert choose(path, y, "1se") == 1  # λ0's MSE 0.04 is above 0.01 + SE 0
    path = ReferencePath(path.lambdas, path.scale, path.intercept,
                         np.array([[1.0, 2.0, 3.0, 4.5], [1.0, 2.0, 3.0, 4.6], noisy[2],
                                   [9.0, 9.0, 9.0, 9.0]]), path.solve_seconds)
    assert choose(path, y, "min") == 0
    assert choose(path, y, "1se") == 1  # MSE 0.09 ≤ 0.0625 + SE 0.0625, and the larger λ
    assert choose(path, y, "srcc") == 1  # λ0 and λ1 rank perfectly; λ3 (constant) has no SRCC


def test_missing_catalog_is_a_user_error(tmp_path: Path):
    with pytest.raises(click.ClickException, match="oneproxy ingest --all"):
        load_latency(tmp_path, ["pixel3"])
