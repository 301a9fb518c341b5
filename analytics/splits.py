"""Which architectures a protocol lets a device use for fitting and sampling, and which it scores.

oneproxy's own protocols use every measured architecture: the proxies' models are fitted on all
of them, the target's samples are drawn among all, and the score is over the rest (or over all,
samples included, with ``score_on = "all"``). HELP's split (`help_split`) follows its loader:
per device, the first `train_rows` architectures of HELP's file order cut to the 10th–90th
percentile of that device's latency are its pool (meta-training rows for a proxy, the
fine-tuning draw for a target), and the next `query_rows` cut the same way are the scoring set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRIM = (0.1, 0.9)


@dataclass(frozen=True)
class DeviceSplit:
    """Column indices of one device: its pool (fit / sample) and its scoring set."""

    pool: np.ndarray
    scored: np.ndarray | None  # None: every measured architecture outside the samples


def trimmed(latency: np.ndarray, columns: np.ndarray, trim: tuple[float, float] = TRIM
            ) -> np.ndarray:
    """`columns` sorted by latency and cut to positions int(lo·k) … int(hi·k) (HELP's outlier cut).

    Unmeasured columns (NaN) are dropped first; the sort is stable, so ties keep file order.
    """
    kept = columns[np.isfinite(latency[columns])]
    order = kept[np.argsort(latency[kept], kind="stable")]
    return order[int(order.size * trim[0]):int(order.size * trim[1])]


def help_split(latency: np.ndarray, order: np.ndarray, train_rows: int,
               query_rows: int) -> DeviceSplit:
    """HELP's loader split of one device's latency row; `order` = columns in HELP's file order."""
    if order.size < train_rows + query_rows:
        raise ValueError(
            f"HELP's split needs {train_rows} + {query_rows} architectures in file order, the "
            f"space has {order.size}"
        )
    pool = trimmed(latency, order[:train_rows])
    scored = trimmed(latency, order[train_rows:train_rows + query_rows])
    return DeviceSplit(np.sort(pool), np.sort(scored))


def all_split(latency: np.ndarray) -> DeviceSplit:
    """oneproxy's own: every measured architecture is in the pool; score the held-out rest."""
    return DeviceSplit(np.flatnonzero(np.isfinite(latency)), None)
