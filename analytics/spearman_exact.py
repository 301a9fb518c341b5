"""Exact all-pairs Spearman correlation under partial coverage, each device sorted once.

A device's ranks over any subset S of its architectures follow from its one sort order: with C
the prefix count of S's mask in that order, an architecture whose tie run spans the sorted
positions [s, e) has rank C[s] + (C[e] - C[s] + 1) / 2. Ranks are kept doubled and centred,
v = 2r - (n + 1) = C[s] + C[e] - n: integers of magnitude below n, exact in float32 while
n < 2**24. Their products are summed in float64, exact while the sums stay below 2**53
(n < 3 * 10**5 shared architectures), so a correlation carries only the rounding of its final
division and square root (relative error a few units of 2**-53).

Devices sharing a coverage pattern form a group; the Spearman block of two groups is one blocked
matrix product of their ranks over the shared coverage. Pairs outside large groups (ragged,
per-device coverage) go through the same prefix-count step in batches of pairs: a few NumPy passes
over each pair's architectures and no Python call per pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GEMM_MIN_PAIRS = 16
_BATCH_ELEMENTS = 1 << 21
_GEMM_BYTES = 1 << 26


@dataclass(frozen=True)
class SpearmanPairs:
    """Per pair a < b (device row indices): shared count, correlation, constant flags."""

    a: np.ndarray
    b: np.ndarray
    n_common: np.ndarray
    value: np.ndarray
    const_a: np.ndarray
    const_b: np.ndarray


@dataclass(frozen=True)
class _Sorted:
    """One sort per device: order (absent last); per sorted position its tie run [start, end)."""

    order: np.ndarray
    start: np.ndarray
    end: np.ndarray
    present: np.ndarray
    count: np.ndarray


def spearman_pairs(values: np.ndarray, min_common: int) -> SpearmanPairs:
    """Spearman correlation of every device pair (rows of `values`, NaN = absent) on shared columns.

    `value` is NaN where the pair shares fewer than `min_common` columns or a device is constant
    over them (then its `const_*` flag is set).
    """
    present = ~np.isnan(values)
    groups = coverage_groups(present)
    sorted_ = _sort_devices(values, present)
    parts: list[SpearmanPairs] = []
    ragged_a: list[np.ndarray] = []
    ragged_b: list[np.ndarray] = []
    for g, members_g in enumerate(groups):
        for members_h in groups[g:]:
            same = members_h is members_g
            n_pairs = members_g.size * (members_g.size - 1) // 2 if same else (
                members_g.size * members_h.size)
            if n_pairs == 0:
                continue
            if n_pairs >= GEMM_MIN_PAIRS:
                parts.append(_group_block(sorted_, members_g, members_h, min_common))
            elif same:
                rows, cols = np.triu_indices(members_g.size, k=1)
                ragged_a.append(members_g[rows])
                ragged_b.append(members_g[cols])
            else:
                ragged_a.append(np.repeat(members_g, members_h.size))
                ragged_b.append(np.tile(members_h, members_g.size))
    if ragged_a:
        parts.append(_ragged_pairs(sorted_, np.concatenate(ragged_a), np.concatenate(ragged_b),
                                   min_common))
    return _ordered(parts)


def coverage_groups(present: np.ndarray) -> list[np.ndarray]:
    """Device row indices grouped by identical coverage pattern, in first-seen order."""
    by_pattern: dict[bytes, list[int]] = {}
    for device, pattern in enumerate(np.packbits(present, axis=1)):
        by_pattern.setdefault(pattern.tobytes(), []).append(device)
    return [np.array(members, dtype=np.intp) for members in by_pattern.values()]


def _sort_devices(values: np.ndarray, present: np.ndarray) -> _Sorted:
    n_devices, n_archs = values.shape
    order = np.empty((n_devices, n_archs), dtype=np.int32)
    start = np.empty_like(order)
    end = np.empty_like(order)
    new_run = np.ones(n_archs + 1, dtype=bool)
    for device, row in enumerate(values):
        order[device] = np.argsort(row)
        ordered = row.take(order[device])
        np.not_equal(ordered[1:], ordered[:-1], out=new_run[1:-1])
        start[device], end[device] = _run_bounds(new_run)
    return _Sorted(order, start, end, present, np.count_nonzero(present, axis=1))


def _run_bounds(new_run: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per position of a sorted sequence, its tie run's [start, end); `new_run` has n + 1 flags,
    True where a run starts (and at both ends)."""
    firsts = np.flatnonzero(new_run).astype(np.int32)
    run = np.cumsum(new_run[:-1], dtype=np.int32)
    return firsts.take(run - 1), firsts.take(run)


def _ranks_under(sorted_: _Sorted, devices: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Doubled centred ranks (int32) of each device over its row of `masks`; 0 off the mask."""
    ranks = np.empty(masks.shape, dtype=np.int32)
    counts = np.zeros(masks.shape[1] + 1, dtype=np.int32)
    for row, device in enumerate(devices):
        order, mask = sorted_.order[device], masks[row]
        np.cumsum(mask.take(order), out=counts[1:])
        ranked = counts.take(sorted_.start[device])
        ranked += counts.take(sorted_.end[device])
        ranked -= counts[-1]
        ranks[row, order] = ranked
    ranks *= masks
    return ranks


def _ranks_over(sorted_: _Sorted, devices: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """float32 doubled centred ranks of `devices` over `coverage` (a subset of each device's
    own), one column per covered architecture: the sort filtered to it, runs re-cut."""
    column = np.cumsum(coverage, dtype=np.int32) - 1
    n = int(np.count_nonzero(coverage))
    ranks = np.empty((devices.size, n), dtype=np.float32)
    new_run = np.ones(n + 1, dtype=bool)
    for row, device in enumerate(devices):
        order = sorted_.order[device]
        if sorted_.count[device] == n:
            archs, start, end = order[:n], sorted_.start[device][:n], sorted_.end[device][:n]
        else:
            kept = np.flatnonzero(coverage.take(order))
            archs = order.take(kept)
            np.not_equal(sorted_.start[device].take(kept[1:]),
                         sorted_.start[device].take(kept[:-1]), out=new_run[1:-1])
            start, end = _run_bounds(new_run)
        ranks[row, column.take(archs)] = start + end - n
    return ranks


def _gram(left: np.ndarray, right: np.ndarray | None) -> np.ndarray:
    """left @ right.T (left @ left.T when right is None) in float64, blocked over columns."""
    rows = left.shape[0] + (0 if right is None else right.shape[0])
    step = max(1, _GEMM_BYTES // (8 * max(rows, 1)))
    out = np.zeros((left.shape[0], left.shape[0] if right is None else right.shape[0]))
    for lo in range(0, left.shape[1], step):
        part = left[:, lo:lo + step].astype(np.float64)
        other = part if right is None else right[:, lo:lo + step].astype(np.float64)
        out += part @ other.T
    return out


def _group_block(
    sorted_: _Sorted, members_g: np.ndarray, members_h: np.ndarray, min_common: int
) -> SpearmanPairs:
    same = members_g is members_h
    coverage = sorted_.present[members_g[0]] & sorted_.present[members_h[0]]
    n_common = int(np.count_nonzero(coverage))
    if same:
        rows, cols = np.triu_indices(members_g.size, k=1)
    else:
        rows, cols = (ix.ravel() for ix in np.indices((members_g.size, members_h.size)))
    value = np.full(rows.size, np.nan)
    const_g = np.zeros(members_g.size, dtype=bool)
    const_h = np.zeros(members_h.size, dtype=bool)
    if n_common >= min_common:
        ranks_g = _ranks_over(sorted_, members_g, coverage)
        ranks_h = ranks_g if same else _ranks_over(sorted_, members_h, coverage)
        gram = _gram(ranks_g, None if same else ranks_h)
        norm_g = np.sqrt(np.einsum("ij,ij->i", ranks_g, ranks_g, dtype=np.float64))
        norm_h = norm_g if same else np.sqrt(
            np.einsum("ij,ij->i", ranks_h, ranks_h, dtype=np.float64))
        const_g, const_h = norm_g == 0, norm_h == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            value = gram[rows, cols] / (norm_g[rows] * norm_h[cols])
    return SpearmanPairs(
        members_g[rows], members_h[cols], np.full(rows.size, n_common, dtype=np.int64),
        np.clip(value, -1.0, 1.0), const_g[rows], const_h[cols],
    )


def _ragged_pairs(
    sorted_: _Sorted, a: np.ndarray, b: np.ndarray, min_common: int
) -> SpearmanPairs:
    """Pairs with their own shared coverage, in batches: ranks of both sides under each mask."""
    n_archs = sorted_.present.shape[1]
    n_common = np.zeros(a.size, dtype=np.int64)
    value = np.full(a.size, np.nan)
    const_a = np.zeros(a.size, dtype=bool)
    const_b = np.zeros(a.size, dtype=bool)
    step = max(1, _BATCH_ELEMENTS // max(n_archs, 1))
    for lo in range(0, a.size, step):
        batch_a, batch_b = a[lo:lo + step], b[lo:lo + step]
        masks = sorted_.present[batch_a] & sorted_.present[batch_b]
        counts = np.count_nonzero(masks, axis=1)
        n_common[lo:lo + step] = counts
        keep = counts >= min_common
        if not keep.any():
            continue
        masks = masks[keep]
        ranks_a = _ranks_under(sorted_, batch_a[keep], masks).astype(np.float64)
        ranks_b = _ranks_under(sorted_, batch_b[keep], masks).astype(np.float64)
        cross = np.einsum("ij,ij->i", ranks_a, ranks_b)
        norm_a = np.sqrt(np.einsum("ij,ij->i", ranks_a, ranks_a))
        norm_b = np.sqrt(np.einsum("ij,ij->i", ranks_b, ranks_b))
        where = lo + np.flatnonzero(keep)
        const_a[where], const_b[where] = norm_a == 0, norm_b == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            value[where] = np.clip(cross / (norm_a * norm_b), -1.0, 1.0)
    return SpearmanPairs(a, b, n_common, value, const_a, const_b)


def _ordered(parts: list[SpearmanPairs]) -> SpearmanPairs:
    """All parts concatenated, each pair oriented a < b."""
    if not parts:
        empty = np.zeros(0, dtype=np.intp)
        return SpearmanPairs(empty, empty, empty.astype(np.int64), np.zeros(0),
                             np.zeros(0, bool), np.zeros(0, bool))
    a, b, n, value, const_a, const_b = (
        np.concatenate([getattr(p, f) for p in parts])
        for f in ("a", "b", "n_common", "value", "const_a", "const_b")
    )
    swap = a > b
    return SpearmanPairs(
        np.where(swap, b, a), np.where(swap, a, b), n, value,
        np.where(swap, const_b, const_a), np.where(swap, const_a, const_b),
    )

