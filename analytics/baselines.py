"""The baseline rows of every protocol table: what a reviewer compares an adapted proxy with.

Each baseline returns a latency-like score for every architecture; only its ranking matters for
SRCC. With the target's n samples (column indices `idx`, latencies `y`):

``flops`` / ``params``
    the architecture's FLOPs / parameter count (no target measurement used), the rows HELP's
    tables carry;
``raw_proxy``
    the raw measured latency of the proxy whose latencies rank the n samples best (Spearman on
    the samples, ties to the first proxy in sorted order): the best un-adapted device;
``ridge``
    a ridge regression on the operator encoding (``onehot``) fitted on the n samples alone, λ
    chosen by exact leave-one-out error: what the samples say without any proxy.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from oneproxy.analytics.predictors.encodings import SpaceFeatures
from oneproxy.analytics.ranks import spearman, spearman_rows

METHODS = ("flops", "params", "raw_proxy", "ridge", "adaproxy")  # baselines first, ours last
OURS = "adaproxy"
COSTS = {"flops": "flops_m", "params": "params_m"}  # column of the `kernel` encoding
RIDGE_ENCODING = "onehot"
RIDGE_LAMBDAS = np.logspace(-4, 4, 33)
PRESCREEN = 2
"""How many proxies (best raw ranking of the samples first) have their predictors adapted."""


def cost(features: SpaceFeatures, method: str) -> np.ndarray | None:
    """FLOPs or params of every architecture (millions), or None when the space has none."""
    columns = features.columns.get("kernel", ())
    if COSTS[method] not in columns:
        return None
    return features.matrix("kernel")[:, columns.index(COSTS[method])]


def ranked_raw_proxies(proxies: Mapping[str, np.ndarray], idx: np.ndarray,
                       y: np.ndarray) -> list[str]:
    """Proxy names by the Spearman of their measured latency with `y` on the samples, best first
    (ties by name; a proxy that cannot be ranked there comes last)."""
    names = list(proxies)
    lat = np.array([proxies[name][idx] for name in names]).reshape(len(names), len(idx))
    whole = np.isfinite(lat).all(axis=1)
    agreement = np.full(len(names), -np.inf)
    if whole.any():  # proxies that measured every sample: one batch
        agreement[whole] = spearman_rows(y, lat[whole])
    for i in np.flatnonzero(~whole):
        ok = np.isfinite(lat[i])
        if ok.sum() >= 2:
            agreement[i] = spearman(y[ok], lat[i, ok])
    score = dict(zip(names, np.where(np.isfinite(agreement), agreement, -np.inf), strict=True))
    return sorted(names, key=lambda name: (-score[name], name))


def prescreen(proxies: Mapping[str, np.ndarray], idx: np.ndarray, y: np.ndarray,
              keep: int = PRESCREEN) -> list[str]:
    """The `keep` proxies whose raw latency ranks the samples best (`ranked_raw_proxies`): the
    only ones adapted, so that the choice among adaptations is made among few (fewer chances
    for a lucky fit on n samples) and on the devices most like the target."""
    return ranked_raw_proxies(proxies, idx, y)[:keep]


def best_raw_proxy(proxies: Mapping[str, np.ndarray], idx: np.ndarray,
                   y: np.ndarray) -> str:
    """The proxy whose measured latency has the highest Spearman with `y` on the samples."""
    return ranked_raw_proxies(proxies, idx, y)[0]


def ridge_fit_predict(X: np.ndarray, idx: np.ndarray, y: np.ndarray,
                      lambdas: np.ndarray = RIDGE_LAMBDAS) -> tuple[np.ndarray, float]:
    """Ridge on the rows `idx` of X (unpenalised intercept), λ by exact LOO; predictions of
    every row of X and the chosen fit's LOO RMSE."""
    Xs, ys = X[idx], np.asarray(y, dtype=np.float64)
    mean_x, mean_y = Xs.mean(axis=0), ys.mean()
    U, s, Vt = np.linalg.svd(Xs - mean_x, full_matrices=False)
    uy = U.T @ (ys - mean_y)
    best = (np.inf, 0.0)
    for lam in lambdas * max(float(s[0]) ** 2, 1e-12):  # λ relative to the largest eigenvalue
        shrink = s**2 / (s**2 + lam)
        fitted = mean_y + U @ (shrink * uy)
        hat = 1.0 / ys.size + (U**2) @ shrink
        loo = (ys - fitted) / np.maximum(1.0 - hat, 1e-12)
        rmse = float(np.sqrt(np.mean(loo**2)))
        if rmse < best[0]:
            best = (rmse, lam)
    rmse, lam = best
    coef = Vt.T @ (s / (s**2 + lam) * uy)
    return mean_y + (X - mean_x) @ coef, rmse
