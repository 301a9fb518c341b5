"""Vectorized exhaustive search: the most accurate architecture under each latency budget.

An architecture is a candidate on a device when both its latency there and its accuracy are
finite (NaN marks a failed or missing measurement). An architecture fits a budget when its
latency is <= the budget. Among the candidates that fit, the pick is the most accurate one;
ties in accuracy go to the lower latency, then to the lower architecture index. A budget that
nothing fits (below the fastest candidate, or NaN) yields arch_index -1.
"""

from dataclasses import dataclass

import numpy as np

NO_FIT = -1


@dataclass(frozen=True)
class BestPicks:
    """Best architecture per (device, budget): n_devices x n_budgets arrays, plus coverage."""

    arch_index: np.ndarray  # int64, NO_FIT (-1) when no architecture fits the budget
    accuracy: np.ndarray  # float64, NaN when no architecture fits
    latency: np.ndarray  # float64 milliseconds, NaN when no architecture fits
    n_searched: np.ndarray  # int64, candidates each device had (shape n_devices)


def _as_device_rows(latency: np.ndarray, accuracy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return latency with non-candidates set to NaN, and accuracy broadcast to its shape."""
    lat = np.asarray(latency, dtype=np.float64)
    if lat.ndim != 2:
        raise ValueError(f"latency must be n_devices x n_archs, got shape {lat.shape}")
    acc = np.asarray(accuracy, dtype=np.float64)
    if acc.shape not in (lat.shape[1:], lat.shape):
        raise ValueError(
            f"accuracy must have shape {lat.shape[1:]} or {lat.shape} to match latency, "
            f"got {acc.shape}"
        )
    acc = np.broadcast_to(acc, lat.shape)
    lat = np.where(np.isfinite(lat) & np.isfinite(acc), lat, np.nan)
    return lat, acc


def _as_budget_rows(budgets: np.ndarray, n_devices: int) -> np.ndarray:
    b = np.asarray(budgets, dtype=np.float64)
    if b.ndim == 1:
        return np.broadcast_to(b, (n_devices, b.size))
    if b.ndim != 2 or b.shape[0] != n_devices:
        raise ValueError(
            f"budgets must be (n_budgets,) or ({n_devices}, n_budgets) for {n_devices} "
            f"devices, got shape {b.shape}"
        )
    return b


def _prefix_argmax(values: np.ndarray) -> np.ndarray:
    """Per row, the position of the first maximum of values[:k + 1] for every k."""
    running = np.maximum.accumulate(values, axis=1)
    improves = np.empty(values.shape, dtype=bool)
    improves[:, 0] = True
    improves[:, 1:] = values[:, 1:] > running[:, :-1]
    positions = np.where(improves, np.arange(values.shape[1]), 0)
    return np.maximum.accumulate(positions, axis=1)


def _device_keys(device: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """Complex numbers device + i*latency: NumPy orders complex values lexicographically."""
    keys = np.empty(np.broadcast_shapes(device.shape, latency.shape), dtype=np.complex128)
    keys.real, keys.imag = device, latency
    return keys


def _count_fitting(sorted_lat: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """Per row, how many of the ascending latencies (NaN last) are <= each budget.

    One np.searchsorted over all devices at once, exact: every (device, latency) pair becomes
    the complex key device + i*latency, and complex order is (real, imag) lexicographic, so the
    rows laid end to end are one sorted array and each budget is searched within its own row.
    """
    n_devices, n_archs = sorted_lat.shape
    device = np.arange(n_devices, dtype=np.float64)[:, None]
    keys = _device_keys(device, np.where(np.isnan(sorted_lat), np.inf, sorted_lat)).ravel()
    positions = np.searchsorted(keys, _device_keys(device, budgets), side="right")
    counts = positions - np.arange(n_devices, dtype=np.int64)[:, None] * n_archs
    n_measured = np.isfinite(sorted_lat).sum(axis=1, keepdims=True)
    return np.where(np.isnan(budgets), 0, np.minimum(counts, n_measured))


def best_under_budget(
    latency: np.ndarray, accuracy: np.ndarray, budgets: np.ndarray
) -> BestPicks:
    """Most accurate architecture with latency <= budget, for every device and budget.

    latency: n_devices x n_archs milliseconds, NaN where not measured.
    accuracy: n_archs, or n_devices x n_archs (e.g. one row per device and dataset).
    budgets: n_budgets (the same for every device) or n_devices x n_budgets milliseconds.
    """
    lat, acc = _as_device_rows(latency, accuracy)
    b = _as_budget_rows(budgets, lat.shape[0])
    order = np.argsort(lat, axis=1, kind="stable")
    sorted_lat = np.take_along_axis(lat, order, axis=1)
    sorted_acc = np.where(
        np.isnan(sorted_lat), -np.inf, np.take_along_axis(acc, order, axis=1)
    )
    n_searched = np.isfinite(lat).sum(axis=1).astype(np.int64)
    if lat.shape[1] == 0:
        none = np.full(b.shape, NO_FIT, dtype=np.int64)
        return BestPicks(none, np.full(b.shape, np.nan), np.full(b.shape, np.nan), n_searched)
    best_pos = _prefix_argmax(sorted_acc)
    counts = _count_fitting(sorted_lat, b)
    fits = counts > 0
    pos = np.take_along_axis(best_pos, np.maximum(counts - 1, 0), axis=1)
    arch = np.take_along_axis(order, pos, axis=1)
    return BestPicks(
        arch_index=np.where(fits, arch, NO_FIT).astype(np.int64),
        accuracy=np.where(fits, np.take_along_axis(acc, arch, axis=1), np.nan),
        latency=np.where(fits, np.take_along_axis(lat, arch, axis=1), np.nan),
        n_searched=n_searched,
    )


def budget_curve(latency: np.ndarray, accuracy: np.ndarray, budgets: np.ndarray) -> np.ndarray:
    """Best accuracy per budget (NaN where nothing fits); 1-D latency means one device."""
    one_device = np.ndim(latency) == 1
    picks = best_under_budget(np.atleast_2d(latency), accuracy, budgets)
    return picks.accuracy[0] if one_device else picks.accuracy


def pareto_front(latency: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of one device's accuracy-vs-latency Pareto set, in ascending latency.

    An architecture is on the front when every faster-or-equal candidate is strictly less
    accurate; of exact (latency, accuracy) duplicates only the lowest index is kept. These are
    exactly the distinct picks of best_under_budget over all budgets. NaNs are ignored.
    """
    lat, acc = _as_device_rows(np.atleast_2d(latency), accuracy)
    if lat.shape[0] != 1:
        raise ValueError(f"pareto_front takes one device's latency, got shape {np.shape(latency)}")
    lat, acc = lat[0], acc[0]
    candidates = np.flatnonzero(np.isfinite(lat))
    order = candidates[np.lexsort((candidates, -acc[candidates], lat[candidates]))]
    if order.size == 0:
        return order.astype(np.int64)
    ordered_acc = acc[order]
    improves = np.empty(order.size, dtype=bool)
    improves[0] = True
    improves[1:] = ordered_acc[1:] > np.maximum.accumulate(ordered_acc)[:-1]
    return order[improves].astype(np.int64)


def pareto_overlap(a_idx: np.ndarray, b_idx: np.ndarray) -> float:
    """Jaccard index |A ∩ B| / |A ∪ B| of two Pareto sets of indices; 1.0 when both are empty.

    Symmetric, so the argument order does not matter: 1.0 means the same front, 0.0 disjoint.
    """
    a = np.unique(np.asarray(a_idx, dtype=np.int64))
    b = np.unique(np.asarray(b_idx, dtype=np.int64))
    union = np.union1d(a, b).size
    if union == 0:
        return 1.0
    return np.intersect1d(a, b, assume_unique=True).size / union
