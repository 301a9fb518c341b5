"""bench/hidden_runtimes: the synthetic runtimes change latency by cell class only."""

import numpy as np
import pytest

from bench.hidden_runtimes import DEAD, DISCONNECTED, LIVE, costly, execute


def test_costly_makes_disconnected_cells_the_slowest_and_dead_ops_dearer():
    latency = np.arange(1.0, 101.0)
    classes = np.full(100, LIVE)
    classes[[3, 50]] = DISCONNECTED
    classes[[10, 90]] = DEAD
    out = costly(latency, classes, np.random.default_rng(0))
    slowest = np.quantile(latency, 0.99)
    assert 0.9 * slowest <= out[3] <= 1.1 * slowest and 0.9 * slowest <= out[50] <= 1.1 * slowest
    assert out[[10, 90]] == pytest.approx(1.3 * latency[[10, 90]])
    live = classes == LIVE
    assert (out[live] == latency[live]).all()


def test_execute_charges_dead_and_disconnected_cells_for_the_ops_they_run():
    latency = np.array([2.0, 2.0, 2.0])
    out = execute(latency, np.array([LIVE, DEAD, DISCONNECTED]), np.random.default_rng(0))
    assert out.tolist() == [2.0, 3.0, 4.0]
