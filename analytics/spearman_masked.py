"""Approximate Spearman for pairs with their own (ragged) coverage, at matrix-product speed.

Each device is ranked once, over its own coverage (doubled centred ranks v, 0 where absent, m its
coverage mask). For a pair (a, b) sharing the set S, the Pearson correlation of v_a and v_b on S
comes from four Gram matrices over the architectures, blocked:

    n = m_a . m_b    sum_S v_a = v_a . m_b    sum_S v_a^2 = v_a^2 . m_b    sum_S v_a v_b = v_a . v_b

Memory is linear in devices x architectures and the time that of three matrix products. The sums
are of integers, exact in float64 for fewer than 2 * 10**5 architectures, so `n_common` and the
constant flags are exact; the value is exact when S is the whole coverage of both devices.

Error bound: on S a device's own ranks are its ranks over S plus d, the number of its own
architectures outside S below each one. With e the part of d no affine function of the ranks
over S explains and t = |e| / |centred ranks over S| per side, |approx - exact| <= t_a + t_b +
(t_a**2 + t_b**2) / 2. When the gaps do not depend on latency, d is binomial and
t ~ sqrt(6 q (1 - q) / n), q the share of the device's coverage the partner misses: 0.005 at
n = 20,000 and q = 0.1. The measured error is smaller, as the binomial noise hardly correlates
with the partner's ranks: at most 1e-3 from 2,000 architectures up with 10 % random gaps
(0.04 at 50; `python -m bench.srcc` prints it), but it can be large when a partner's gaps
gather at one end of a device's latency order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_GEMM_BYTES = 1 << 26


@dataclass(frozen=True)
class _MaskedSums:
    """Device x device: shared count, sum_S v_row, sum_S v_row^2 (S shared with column), v.v."""

    count: np.ndarray
    first: np.ndarray
    second: np.ndarray
    cross: np.ndarray


def masked_pairs(
    ranks: np.ndarray, present: np.ndarray, a: np.ndarray, b: np.ndarray, min_common: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """n_common, value, const_a, const_b of the pairs (a[k], b[k]) (rows of `ranks`).

    `ranks` are each device's doubled centred ranks over its own coverage `present`, 0 off it.
    """
    sums = _masked_sums(ranks, present)
    n = sums.count[a, b]
    sum_a, sum_b = sums.first[a, b], sums.first[b, a]
    square_a, square_b = sums.second[a, b], sums.second[b, a]
    const_a, const_b = _constant(n, sum_a, square_a), _constant(n, sum_b, square_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sums.cross[a, b] - sum_a * sum_b / n
        var = (square_a - sum_a**2 / n) * (square_b - sum_b**2 / n)
        value = np.clip(cov / np.sqrt(var), -1.0, 1.0)
    value[(n < min_common) | const_a | const_b] = np.nan
    return n.astype(np.int64), value, const_a, const_b


def _masked_sums(ranks: np.ndarray, present: np.ndarray) -> _MaskedSums:
    """The four Gram matrices in float64, blocked over architectures."""
    n_devices, n_archs = ranks.shape
    step = max(1, _GEMM_BYTES // (8 * 3 * max(n_devices, 1)))
    sums = _MaskedSums(*(np.zeros((n_devices, n_devices)) for _ in range(4)))
    for lo in range(0, n_archs, step):
        v = ranks[:, lo:lo + step].astype(np.float64)
        m = present[:, lo:lo + step].astype(np.float64)
        sums.count[...] += m @ m.T
        sums.cross[...] += v @ v.T
        moments = np.concatenate([v, v * v]) @ m.T
        sums.first[...] += moments[:n_devices]
        sums.second[...] += moments[n_devices:]
    return sums


def _constant(n: np.ndarray, total: np.ndarray, square: np.ndarray) -> np.ndarray:
    """Exactly where n * square == total**2 (all n values equal), from exact integer sums."""
    n, total, square = (x.astype(np.int64) for x in (n, total, square))
    quotient, remainder = np.divmod(total, np.maximum(n, 1))
    return (n > 0) & (remainder == 0) & (quotient * total == square)
