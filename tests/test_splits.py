"""HELP's loader split, the notebook's score-on-all, and the ridge / raw-proxy baselines."""

import dataclasses

import numpy as np
import pytest
from oneproxy.analytics import baselines
from oneproxy.analytics.protocols import BUILTIN, InvalidProtocol, Protocol, sample_label
from oneproxy.analytics.splits import all_split, help_split, trimmed


def test_trimmed_keeps_the_10_to_90_percent_by_latency():
    latency = np.arange(100, 0, -1, dtype=float)  # column 0 is the slowest
    kept = trimmed(latency, np.arange(100))
    assert kept.size == 80 and set(kept) == set(range(10, 90))


def test_help_split_follows_file_order_and_cuts_each_part():
    rng = np.random.default_rng(1)
    latency = rng.uniform(1, 2, 30)
    order = rng.permutation(30)  # the file order is not the column order
    split = help_split(latency, order, 10, 20)
    assert set(split.pool) <= set(order[:10]) and split.pool.size == 8
    assert set(split.scored) <= set(order[10:30]) and split.scored.size == 16
    slowest = order[10:30][np.argmax(latency[order[10:30]])]
    assert slowest not in split.scored
    with pytest.raises(ValueError, match="needs 10 \\+ 30"):
        help_split(latency, order, 10, 30)


def test_all_split_is_every_measured_architecture():
    split = all_split(np.array([1.0, np.nan, 3.0]))
    assert split.pool.tolist() == [0, 2] and split.scored is None


def test_paper_protocols():
    nb = BUILTIN["help-nb201-paper"]
    assert (nb.split, nb.train_rows, nb.query_rows) == ("help", 900, 1000)
    assert BUILTIN["help-fbnet-paper"].train_rows == 4000
    note = BUILTIN["oneproxy-notebook"]
    assert note.samples == (70,) and note.validation == 10 and note.score_on == "all"
    assert sample_label(note, 70) == "n=70 (60 training + 10 validation)"
    assert sample_label(nb, 10) == "n=10 (the 10 reference archs)"
    assert sample_label(nb, 20) == "n=20 (10 reference + 10 samples)"
    assert sample_label(nb, 5) == "n=5"


def test_bad_split_keys():
    base = dict(name="x", space="nb201", proxies=("a",), targets=("b",), samples=(10,))
    with pytest.raises(InvalidProtocol, match="split 'help' needs 'train_rows'"):
        Protocol(**base, split="help")
    with pytest.raises(InvalidProtocol, match="'split' must be one of all, help"):
        Protocol(**base, split="mine")
    with pytest.raises(InvalidProtocol, match="apply to split 'help' only"):
        Protocol(**base, train_rows=5)
    with pytest.raises(InvalidProtocol, match="'validation' must be"):
        dataclasses.replace(BUILTIN["oneproxy-notebook"], validation=70)


def test_ridge_recovers_a_linear_target_and_its_loo_error():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, (200, 6)).astype(float)
    y = X @ np.array([1.0, 2.0, 3.0, 0.5, 0.0, 4.0]) + 7.0
    idx = np.arange(40)
    pred, rmse = baselines.ridge_fit_predict(X, idx, y[idx])
    assert np.abs(pred - y).max() < 0.05 and rmse < 0.05
    # exact LOO: refit without each row and compare with the closed form at the same λ
    noisy = y + rng.normal(0, 0.5, 200)
    _, loo = baselines.ridge_fit_predict(X, idx, noisy[idx], lambdas=np.array([0.1]))
    errors = []
    for i in idx:
        rest = idx[idx != i]
        p, _ = baselines.ridge_fit_predict(X, rest, noisy[rest], lambdas=np.array([0.1]))
        errors.append(noisy[i] - p[i])
    # λ is relative to the top eigenvalue of the fitted rows, which leaving a row out moves
    assert loo == pytest.approx(np.sqrt(np.mean(np.square(errors))), rel=0.05)


def test_best_raw_proxy_ranks_the_samples():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    proxies = {"b": np.array([4.0, 3.0, 2.0, 1.0]), "a": np.array([1.0, 2.0, 4.0, 3.0]),
               "c": np.array([2.0, 4.0, 6.0, 8.0])}
    assert baselines.best_raw_proxy(proxies, np.arange(4), y) == "c"
    assert baselines.best_raw_proxy({"z": y, "y": y}, np.arange(4), y) == "y"  # ties: sorted


def test_proxies_rank_by_the_spearman_of_their_raw_latency_on_the_samples():
    from oneproxy.analytics.baselines import ranked_raw_proxies

    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    proxies = {"flat": np.full(5, 2.0), "reversed": y[::-1].copy(), "same": 3 * y,
               "noisy": np.array([1.0, 3.0, 2.0, 4.0, 5.0]), "gap": np.full(5, np.nan)}
    assert ranked_raw_proxies(proxies, np.arange(5), y) == [
        "same", "noisy", "reversed", "flat", "gap"]
