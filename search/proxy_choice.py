"""The paper's central decision: which device is the one proxy, and which devices may be one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from oneproxy.warehouse.errors import OneproxyError

AUTO = "auto"
"""Proxy "auto": chosen per target among the full-coverage devices, by the target's samples."""
PRESCREEN = 8
"""With "auto", how many candidates (best raw fit first) have their predictors adapted."""


class NoProxy(OneproxyError):
    """No device can serve as the proxy."""


def full_coverage(series: pl.DataFrame, n_archs: int, exclude: Sequence[str] = ()) -> list[str]:
    """Candidate proxies: devices (rows device_id, measured) that measured every architecture.

    A proxy is the well-measured device; a predictor fitted on a 1,999-architecture series
    extrapolates poorly to the rest of the space.
    """
    chosen = series.filter((pl.col("measured") == n_archs) & ~pl.col("device_id").is_in(exclude))
    return chosen["device_id"].to_list()


def one_proxy(srcc: pl.DataFrame, candidates: Sequence[str]) -> tuple[str, float]:
    """The candidate with the highest mean SRCC to the other devices (ties: the first by name).

    `srcc` holds device_a, device_b, value rows (null values are ignored).
    """
    pairs = srcc.filter(pl.col("value").is_not_null())
    both = pl.concat([pairs.select(device="device_a", value="value"),
                      pairs.select(device="device_b", value="value")])
    ranked = (both.filter(pl.col("device").is_in(list(candidates))).group_by("device")
              .agg(pl.col("value").mean()).sort(["value", "device"], descending=[True, False]))
    if ranked.is_empty():
        raise NoProxy("no full-coverage device has SRCC rows: there is no proxy to search with")
    return ranked["device"][0], ranked["value"][0]


def raw_loo_rmse(proxy_at_samples: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out RMSE (ms) of y ≈ a·s + c on the samples: how well a proxy's raw latencies
    alone explain the target's (the cheap screen before its predictors are adapted)."""
    X = np.column_stack([np.ones_like(proxy_at_samples), proxy_at_samples])
    pinv = np.linalg.pinv(X)
    hat = np.einsum("ij,ji->i", X, pinv)
    residual = y - X @ (pinv @ y)
    leave = residual / np.clip(1.0 - hat, 1e-12, None)
    return float(np.sqrt(np.mean(leave**2)))


def prescreen(proxies: dict[str, np.ndarray], sample_idx: np.ndarray, y: np.ndarray,
              keep: int = PRESCREEN) -> list[str]:
    """The `keep` proxies whose raw latencies fit the target's samples best (by `raw_loo_rmse`;
    ties by name), in that order; a proxy that did not measure every sample comes last.

    `adapt --proxy auto`, `search --confidence`, `propose` and the simulated verify loop all
    adapt these, so that they agree on a device's predictions."""
    at = {name: np.asarray(row, dtype=np.float64)[sample_idx] for name, row in proxies.items()}
    scores = {name: raw_loo_rmse(row, y) if np.isfinite(row).all() else np.inf
              for name, row in at.items()}
    return sorted(scores, key=lambda name: (scores[name], name))[:keep]
