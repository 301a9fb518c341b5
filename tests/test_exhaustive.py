import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from oneproxy.search.exhaustive import (
    NO_FIT,
    best_under_budget,
    budget_curve,
    pareto_front,
    pareto_overlap,
)

# Few distinct values so that ties in latency and in accuracy are common; NaN = not measured.
LATENCIES = st.sampled_from([1.0, 2.0, 2.5, 3.0, 7.0, np.nan])
ACCURACIES = st.sampled_from([0.1, 0.5, 0.5, 0.9, 0.9, np.nan])
BUDGETS = st.sampled_from([-np.inf, 0.5, 1.0, 2.0, 2.4, 2.5, 3.0, 6.9, 7.0, 100.0, np.inf, np.nan])


def brute_pick(lat: np.ndarray, acc: np.ndarray, budget: float) -> int:
    """O(n) reference: most accurate fitting candidate, then lower latency, then lower index."""
    fits = [
        i for i in range(lat.size)
        if np.isfinite(lat[i]) and np.isfinite(acc[i]) and lat[i] <= budget
    ]
    return min(fits, key=lambda i: (-acc[i], lat[i], i), default=NO_FIT)


def brute_front(lat: np.ndarray, acc: np.ndarray) -> list[int]:
    """O(n^2) reference: i is on the front unless a candidate ordered before it is as accurate."""
    cand = [i for i in range(lat.size) if np.isfinite(lat[i]) and np.isfinite(acc[i])]
    front = [
        i for i in cand
        if not any(
            (lat[j], -acc[j], j) < (lat[i], -acc[i], i) and acc[j] >= acc[i] for j in cand
        )
    ]
    return sorted(front, key=lambda i: (lat[i], i))


@st.composite
def problems(draw):
    n_dev = draw(st.integers(1, 4))
    n_arch = draw(st.integers(0, 25))
    n_bud = draw(st.integers(1, 8))
    lat = draw(hnp.arrays(np.float64, (n_dev, n_arch), elements=LATENCIES))
    acc_shape = draw(st.sampled_from([(n_arch,), (n_dev, n_arch)]))
    acc = draw(hnp.arrays(np.float64, acc_shape, elements=ACCURACIES))
    bud_shape = draw(st.sampled_from([(n_bud,), (n_dev, n_bud)]))
    budgets = draw(hnp.arrays(np.float64, bud_shape, elements=BUDGETS))
    return lat, acc, budgets


@settings(max_examples=300, deadline=None)
@given(problems())
def test_best_under_budget_matches_brute_force(problem):
    lat, acc, budgets = problem
    picks = best_under_budget(lat, acc, budgets)
    acc2 = np.broadcast_to(acc, lat.shape)
    bud2 = np.broadcast_to(budgets, (lat.shape[0], budgets.shape[-1]))
    expected = np.array(
        [[brute_pick(lat[d], acc2[d], b) for b in bud2[d]] for d in range(lat.shape[0])],
        dtype=np.int64,
    ).reshape(bud2.shape)
    np.testing.assert_array_equal(picks.arch_index, expected)
    assert picks.arch_index.dtype == np.int64
    nan_column = np.full((lat.shape[0], 1), np.nan)  # what index -1 picks below
    for picked, values in ((picks.latency, lat), (picks.accuracy, acc2)):
        padded = np.hstack([values, nan_column])
        np.testing.assert_array_equal(picked, np.take_along_axis(padded, expected, axis=1))
    np.testing.assert_array_equal(
        picks.n_searched, (np.isfinite(lat) & np.isfinite(acc2)).sum(axis=1)
    )


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(0, 30), elements=LATENCIES).flatmap(
        lambda lat: st.tuples(
            st.just(lat), hnp.arrays(np.float64, lat.shape, elements=ACCURACIES)
        )
    )
)
def test_pareto_front_matches_brute_force_and_budget_picks(problem):
    lat, acc = problem
    front = pareto_front(lat, acc)
    assert front.tolist() == brute_front(lat, acc)
    picks = best_under_budget(lat[None, :], acc, np.append(lat, np.inf)).arch_index
    assert set(front.tolist()) == set(picks[picks != NO_FIT].tolist())


def test_ties_go_to_lower_latency_then_lower_index():
    lat = np.array([[3.0, 2.0, 2.0, 1.0, 5.0]])
    acc = np.array([0.9, 0.9, 0.9, 0.5, 0.9])
    picks = best_under_budget(lat, acc, np.array([0.5, 1.0, 1.9, 2.0, 3.0, 10.0]))
    assert picks.arch_index.tolist() == [[-1, 3, 3, 1, 1, 1]]
    assert picks.latency[0, 0] != picks.latency[0, 0]  # NaN where nothing fits
    assert picks.accuracy[0, 1:].tolist() == [0.5, 0.5, 0.9, 0.9, 0.9]


def test_budget_above_slowest_gives_global_best_of_measured_archs():
    lat = np.array([[1.0, 2.0, np.nan, 4.0], [np.nan, np.nan, 1.0, 9.0]])
    acc = np.array([0.2, 0.7, 0.99, 0.4])
    picks = best_under_budget(lat, acc, np.array([1e9]))
    assert picks.arch_index.tolist() == [[1], [2]]
    assert picks.n_searched.tolist() == [3, 2]


def test_device_with_no_measurements_gets_no_fit():
    lat = np.array([[np.nan, np.nan], [1.0, 2.0]])
    picks = best_under_budget(lat, np.array([0.5, 0.6]), np.array([[5.0], [5.0]]))
    assert picks.arch_index.tolist() == [[-1], [1]]
    assert picks.n_searched.tolist() == [0, 2]


def test_per_device_budgets_and_accuracy_rows():
    lat = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    acc = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    picks = best_under_budget(lat, acc, np.array([[2.0, 3.0], [1.0, 2.0]]))
    assert picks.arch_index.tolist() == [[1, 2], [2, 1]]


def test_large_and_close_latencies_are_not_rounded_together():
    lat = np.array([[1e6, 1e6 + 1e-6], [1.0, 1.0 + 1e-12]])
    acc = np.array([0.1, 0.2])
    picks = best_under_budget(lat, acc, np.array([[1e6, 1e6 + 1e-6], [1.0, 1.0 + 1e-12]]))
    assert picks.arch_index.tolist() == [[0, 1], [0, 1]]


def test_shape_errors_name_the_parameter():
    with pytest.raises(ValueError, match="latency must be n_devices x n_archs"):
        best_under_budget(np.zeros(3), np.zeros(3), np.zeros(1))
    with pytest.raises(ValueError, match="accuracy must have shape"):
        best_under_budget(np.zeros((2, 3)), np.zeros(4), np.zeros(1))
    with pytest.raises(ValueError, match="budgets must be"):
        best_under_budget(np.zeros((2, 3)), np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="one device"):
        pareto_front(np.zeros((2, 3)), np.zeros(3))


def test_budget_curve_one_device_and_many():
    lat = np.array([1.0, 2.0, 3.0])
    acc = np.array([0.3, 0.1, 0.8])
    curve = budget_curve(lat, acc, np.array([0.5, 1.5, 2.5, 3.5]))
    np.testing.assert_array_equal(curve, [np.nan, 0.3, 0.3, 0.8])
    assert budget_curve(np.vstack([lat, lat]), acc, np.array([3.0])).tolist() == [[0.8], [0.8]]


def test_pareto_front_known_values():
    lat = np.array([5.0, 1.0, 2.0, 2.0, 3.0, np.nan, 4.0, 1.0])
    acc = np.array([0.95, 0.5, 0.4, 0.7, 0.7, 0.99, 0.9, 0.5])
    assert pareto_front(lat, acc).tolist() == [1, 3, 6, 0]
    assert pareto_front(np.array([np.nan]), np.array([0.5])).tolist() == []


def test_pareto_overlap_is_jaccard():
    assert pareto_overlap(np.array([1, 2, 3]), np.array([2, 3, 4])) == 0.5
    assert pareto_overlap(np.array([3, 1]), np.array([1, 3])) == 1.0
    assert pareto_overlap(np.array([1]), np.array([2])) == 0.0
    assert pareto_overlap(np.array([], dtype=np.int64), np.array([], dtype=np.int64)) == 1.0
