"""bench/never_worse: ours against the better trivial baseline, per seed."""

import polars as pl
import pytest

from bench.never_worse import gaps


def test_gap_is_ours_minus_the_better_baseline_of_each_seed():
    rows = pl.DataFrame({
        "protocol": ["p"] * 6, "target": ["t"] * 6, "n_samples": [5] * 6,
        "seed": [0, 0, 0, 1, 1, 1],
        "method": ["adaproxy", "flops", "raw_proxy"] * 2,
        "after_srcc": [0.80, 0.90, 0.70, 0.95, 0.60, 0.85],
    })
    out = gaps(rows).sort("seed")
    assert out["best"].to_list() == [0.90, 0.85]
    assert out["gap"].to_list() == pytest.approx([-0.10, 0.10])
