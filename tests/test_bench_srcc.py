"""bench/srcc.py's generated fleets have the coverage they claim, and its sampled run of ours
agrees with `srcc_matrix`."""

import numpy as np
from oneproxy.analytics.spearman_exact import coverage_groups

from bench.srcc import best_of_rounds, generated_latency, ours, ours_sampled, rank_gemm, wide


def test_coverage_patterns():
    full, block, ragged = (wide(generated_latency(30, 400, c)) for c in ("full", "block", "ragged"))
    assert not np.isnan(full).any()
    assert len(coverage_groups(~np.isnan(block))) == 10
    assert len(coverage_groups(~np.isnan(ragged))) == 30
    assert 0.05 < np.isnan(ragged).mean() < 0.15


def test_sampled_ours_and_the_floor_agree_with_srcc_matrix():
    latency = generated_latency(12, 300, "ragged")
    square, share, seconds = ours_sampled(latency, 1.0)
    assert share == 1.0 and seconds > 0
    np.testing.assert_allclose(square, ours(latency)[0], atol=1e-12)
    full = generated_latency(8, 300, "full")
    np.testing.assert_allclose(rank_gemm(wide(full))[0], ours(full)[0], atol=1e-12)


def test_rounds_keep_the_best_time_and_the_highest_peak():
    rounds = [{"seconds": 0.06, "fraction": 1.0, "peak_gib": 0.30, "input_gib": 0.28},
              {"seconds": 0.04, "fraction": 1.0, "peak_gib": 0.33, "input_gib": 0.29},
              {"seconds": 0.05, "fraction": 1.0, "peak_gib": 0.31, "input_gib": 0.28}]
    assert best_of_rounds(rounds) == {"seconds": 0.04, "fraction": 1.0, "peak_gib": 0.33,
                                      "input_gib": 0.29}
