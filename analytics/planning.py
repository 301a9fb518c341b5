"""Which architectures to measure first on a new device: a greedy D-optimal design.

The adaptation fits a few scale / intercept terms and ridge corrections on op encodings, and its
intervals are stratified by cell class, so the first measurements should span the encodings'
columns and every cell class. `design_matrix` stacks the space's ``counts`` and ``onehot``
encodings, the live-op one-hot, and one indicator per cell class, each column standardised.
`greedy_design` then adds, one at a time, the architecture x of largest xᵀ M⁻¹ x, with
M = I + Σ x xᵀ over those chosen so far (the Bayesian D-optimal step: it maximises det M), updating
M⁻¹ by Sherman–Morrison. Ties go to the lower index, so a plan is deterministic.

Left alone, the design favours extremes (cells with one op on every edge, all fully live), so
`plan` gives each cell class a quota: its share of the space, at least one, rounded to sum to n.
"""

from __future__ import annotations

import numpy as np
from oneproxy.analytics.intervals import CELL_CLASSES, cell_class
from oneproxy.analytics.predictors import InvalidPredictorInput
from oneproxy.analytics.predictors.encodings import SpaceFeatures

ENCODINGS = ("counts", "onehot", "live_onehot")


def design_matrix(features: SpaceFeatures) -> np.ndarray:
    """Standardised columns of `ENCODINGS` and cell-class indicators (constant ones left out)."""
    classes = cell_class(features)
    blocks = [features.matrix(name) for name in ENCODINGS if name in features.matrices]
    blocks.append((classes[:, None] == np.arange(len(CELL_CLASSES))).astype(np.float64))
    X = np.column_stack(blocks)
    std = X.std(axis=0)
    keep = std > 1e-12
    return (X[:, keep] - X[:, keep].mean(axis=0)) / std[keep]


def greedy_design(X: np.ndarray, n: int, *, pool: np.ndarray | None = None,
                  start: np.ndarray | None = None, groups: np.ndarray | None = None,
                  quota: dict[int, int] | None = None) -> np.ndarray:
    """`n` row indices of `X` (from `pool`, default all) that a D-optimal design adds to `start`.

    With `groups` (a label per row of `X`) and `quota` (label -> count), no label gets more
    rows than its quota.
    """
    X = np.asarray(X, dtype=np.float64)
    rows = np.arange(X.shape[0]) if pool is None else np.asarray(pool, dtype=np.int64)
    if not 1 <= n <= rows.size:
        raise InvalidPredictorInput(
            f"n must be from 1 to the {rows.size} architectures to choose from, got {n}"
        )
    inv = np.eye(X.shape[1])
    for i in [] if start is None else np.asarray(start, dtype=np.int64):
        inv = _add(inv, X[i])
    candidates = X[rows]
    label = np.zeros(rows.size, np.int64) if groups is None else np.asarray(groups)[rows]
    left = dict(quota) if quota is not None else {int(g): n for g in np.unique(label)}
    free = np.ones(rows.size, dtype=bool)
    chosen = []
    for _ in range(n):
        gain = ((candidates @ inv) * candidates).sum(axis=1)
        full = np.array([g for g, k in left.items() if k <= 0], dtype=np.int64)
        gain[~free | np.isin(label, full)] = -np.inf
        if not np.isfinite(gain).any():
            break
        k = int(np.argmax(gain))
        chosen.append(int(rows[k]))
        free[k] = False
        left[int(label[k])] = left.get(int(label[k]), 0) - 1
        inv = _add(inv, candidates[k])
    return np.asarray(chosen, dtype=np.int64)


def _add(inv: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(M + x xᵀ)⁻¹ from M⁻¹ (Sherman–Morrison)."""
    v = inv @ x
    return inv - np.outer(v, v) / (1.0 + x @ v)


def class_quota(classes: np.ndarray, n: int) -> dict[int, int]:
    """Per class its share of n (at least 1 while n allows), rounded to sum to n."""
    labels, counts = np.unique(classes, return_counts=True)
    share = n * counts / counts.sum()
    quota = np.maximum(np.round(share), 1 if n >= labels.size else 0).astype(np.int64)
    while quota.sum() > n:
        quota[np.argmax(quota)] -= 1
    while quota.sum() < n:
        quota[np.argmax(share - quota)] += 1
    return dict(zip(labels.tolist(), quota.tolist(), strict=True))


def plan(features: SpaceFeatures, n: int, pool: np.ndarray | None = None) -> np.ndarray:
    """Indices of the `n` architectures of `features` to measure first on a new device."""
    rows = np.arange(features.n_archs) if pool is None else np.asarray(pool, dtype=np.int64)
    classes = cell_class(features)
    return greedy_design(design_matrix(features), n, pool=rows, groups=classes,
                         quota=class_quota(classes[rows], n))
