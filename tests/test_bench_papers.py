"""The paper benches: the notebook's solver and sampling, and the tuning variants."""

import random

import numpy as np
from oneproxy.analytics import adaptation

from bench.adaptation_tuning import LOGGED, VARIANTS
from bench.oneproxy_notebook import N_TRAIN, N_VAL, notebook_samples, notebook_solver


def test_notebook_samples_are_pythons_random_sample_with_seed_1():
    train, val = notebook_samples(1999)
    random.seed(1)
    want = random.sample(range(1999), 70)
    assert train.tolist() == want[:N_TRAIN] and val.tolist() == want[N_TRAIN:]
    assert len(set(want)) == N_TRAIN + N_VAL


def test_notebook_solver_fits_a_scaled_proxy_exactly():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, (40, 6)).astype(float)
    w = rng.uniform(1, 3, 6)
    y = 2.5 * (X @ w) + 0.7  # the target is the proxy scaled: b = 0 fits exactly
    weights, c, b_norm = notebook_solver(w, X, y, lam=1.0)
    assert np.allclose(X @ weights + c, y, atol=1e-4) and b_norm < 1e-4
    y2 = X @ (w * np.array([1, 1, 1, 3, 1, 1])) + 0.7  # one op 3× slower on the target
    weights, c, _ = notebook_solver(w, X, y2, lam=1e-6)
    assert np.allclose(X @ weights + c, y2, atol=1e-3)


def test_tuning_variants_name_known_encodings():
    assert VARIANTS["hierarchical"] == {s: adaptation.CANDIDATES[s] for s in ("linear", "kernel")}
    for lists in VARIANTS.values():
        assert set(lists) <= set(adaptation.STRATEGIES)
        assert all(set(encodings) <= set(adaptation.ENCODINGS) for encodings in lists.values())
    assert set(LOGGED) == set(VARIANTS)

