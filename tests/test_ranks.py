"""Average ranks and Spearman through Polars agree with scipy.stats on ties, NaN and constants."""

import numpy as np
import pytest
from oneproxy.analytics.ranks import average_ranks, spearman, spearman_rows
from scipy.stats import rankdata, spearmanr


def test_average_ranks_equal_scipy_with_ties_and_nan():
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 6, size=(5, 40)).astype(float)
    rows[rng.random(rows.shape) < 0.2] = np.nan
    np.testing.assert_array_equal(average_ranks(rows),
                                  rankdata(rows, axis=1, nan_policy="omit"))


def test_spearman_rows_equal_scipy_row_by_row():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 9, size=25).astype(float)
    rows = np.vstack([rng.normal(size=25), x * 2 + 1, -x, rng.integers(0, 3, size=25)])
    expected = [spearmanr(x, row).statistic for row in rows]
    np.testing.assert_allclose(spearman_rows(x, rows), expected, rtol=1e-12, atol=1e-12)
    assert spearman(x, -x) == pytest.approx(-1.0)


def test_a_constant_side_gives_nan():
    x = np.arange(5.0)
    assert np.isnan(spearman(x, np.full(5, 2.0)))
    assert np.isnan(spearman_rows(np.ones(5), np.vstack([x, x]))).all()
