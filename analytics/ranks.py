"""Average ranks and Spearman correlation in NumPy (scipy.stats costs a second to import).

Ties get the average of the ranks they span and NaN is absent, as in `scipy.stats.rankdata(...,
nan_policy="omit")` and `scipy.stats.spearmanr`. Every rank is a half-integer, exact in float64,
however it is computed.

`centred_ranks` ranks many rows that are parts of the same few vectors (an evaluation scores
one target's latencies on a different held-out set per seed): rows that agree wherever both are
finite share one sort, and each row's ranks over its own finite entries follow from counts of
the positions in that sort (as in `analytics.spearman_exact`).
"""

from __future__ import annotations

import numpy as np


def sort_order(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """`np.argsort(values, axis)` up to the order of equal values (NaN last), through int64 keys
    that order like the float64 values: NumPy sorts int64 about three times faster."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    bits = values.view(np.int64)
    keys = bits ^ ((bits >> 63) & np.int64(0x7FFF_FFFF_FFFF_FFFF))  # negatives: flip magnitude
    keys[np.isnan(values)] = np.iinfo(np.int64).max
    return np.argsort(keys, axis=axis)


def average_ranks(rows: np.ndarray) -> np.ndarray:
    """Each row's average ranks (1-based) over its finite entries; NaN where a row has NaN."""
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    if rows.size == 0:
        return rows.copy()
    order = sort_order(rows, axis=1)  # NaN last
    ordered = np.take_along_axis(rows, order, axis=1)
    m = rows.shape[1]
    new_run = np.ones(rows.shape, dtype=bool)
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=new_run[:, 1:])
    ends_run = np.ones(rows.shape, dtype=bool)
    ends_run[:, :-1] = new_run[:, 1:]
    positions = np.arange(m)
    first = np.maximum.accumulate(np.where(new_run, positions, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends_run, positions, m - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(rows.shape)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=1)
    ranks[np.isnan(rows)] = np.nan
    return ranks


def centred_ranks(rows: np.ndarray) -> np.ndarray:
    """Each row's average ranks over its n finite entries minus their mean (n + 1) / 2, 0 where
    a row is NaN: half-integers, equal to `average_ranks(rows) - (n + 1) / 2` to the bit."""
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    if rows.size == 0:
        return np.zeros(rows.shape)
    codes = shared_codes(rows)
    span = rows.shape[1] + 1  # codes are below span - 1, the bucket of the NaN entries
    keys = np.where(codes < 0, span - 1, codes) + np.arange(0, rows.shape[0] * span, span)[:, None]
    counts = np.bincount(keys.ravel(), minlength=rows.shape[0] * span).reshape(-1, span)
    n = rows.shape[1] - counts[:, -1]
    doubled = 2 * np.cumsum(counts, axis=1) - counts - n[:, None]  # 2·below + ties − n
    doubled[:, -1] = 0
    return doubled.ravel().take(keys) / 2


def shared_codes(rows: np.ndarray) -> np.ndarray:
    """Per entry, how many entries of the vector its row is part of are strictly smaller
    (int64, −1 where NaN): comparing two entries' codes compares their values.

    Rows that agree wherever both are finite are parts of one vector and share one sort.
    """
    codes = np.full(rows.shape, -1, dtype=np.int64)
    for members, vector in _shared_vectors(rows):
        starts = _run_starts(vector)
        for i in members:
            finite = ~np.isnan(rows[i])
            codes[i, finite] = starts[finite]
    return codes


def _shared_vectors(rows: np.ndarray) -> list[tuple[list[int], np.ndarray]]:
    """Groups of rows that agree wherever both are finite, each with the union of its rows."""
    finite = ~np.isnan(rows)
    everywhere = finite.all(axis=0)
    candidates: dict[bytes, list[int]] = {}
    for i, row in enumerate(rows):  # rows of one group are equal where all rows are finite
        candidates.setdefault(row[everywhere].tobytes(), []).append(i)
    groups: list[tuple[list[int], np.ndarray]] = []
    for members in candidates.values():
        open_: list[tuple[list[int], np.ndarray]] = []
        for i in members:
            for group, vector in open_:
                both = finite[i] & ~np.isnan(vector)
                if np.array_equal(vector[both], rows[i, both]):
                    group.append(i)
                    np.copyto(vector, rows[i], where=finite[i])
                    break
            else:
                open_.append(([i], rows[i].copy()))
        groups.extend(open_)
    return groups


def _run_starts(vector: np.ndarray) -> np.ndarray:
    """For each finite entry, the number of finite entries strictly smaller (0 where NaN)."""
    order = sort_order(vector)  # NaN last
    ordered = vector[order]
    new_run = np.ones(vector.size, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=new_run[1:])
    starts = np.empty(vector.size, dtype=np.int64)
    starts[order] = np.maximum.accumulate(np.where(new_run, np.arange(vector.size), 0))
    return starts


def spearman_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Spearman correlation of vector `x` with each row of `rows` (no NaN; NaN where a row or `x`
    is constant)."""
    ranks = average_ranks(np.vstack([x, rows]))
    centred = ranks - ranks.mean(axis=1, keepdims=True)
    norms = np.sqrt((centred**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = centred[1:] @ centred[0] / (norms[1:] * norms[0])
    return np.clip(rho, -1.0, 1.0)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman correlation of two equal-length vectors without NaN (NaN when one is constant)."""
    return float(spearman_rows(x, np.atleast_2d(y))[0])
