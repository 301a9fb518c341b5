"""Average ranks and Spearman correlation through Polars (scipy.stats costs a second to import).

Ties get the average of the ranks they span and NaN is absent, as in `scipy.stats.rankdata(...,
nan_policy="omit")` and `scipy.stats.spearmanr`.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def average_ranks(rows: np.ndarray) -> np.ndarray:
    """Each row's average ranks (1-based) over its finite entries; NaN where a row has NaN."""
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    if rows.size == 0:
        return rows.copy()
    columns = pl.from_numpy(np.ascontiguousarray(rows.T)).fill_nan(None)
    ranked = columns.select(pl.all().rank("average").cast(pl.Float64))
    return ranked.to_numpy().T.reshape(rows.shape)


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
