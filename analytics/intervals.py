"""Calibrated latency intervals per architecture, from an adaptation's leave-one-out residuals.

Split-conformal on the exact LOO residuals, taken as log ratios ℓ_i = log(y_i / ŷ_(−i)) so that
an interval scales with the predicted latency (the error of a 40 ms network is larger than that
of a 4 ms one). With m residuals sorted ascending and confidence c, an architecture predicted at
ŷ gets

    lower = ŷ · exp(ℓ_(⌊(m+1)(1−c)/2⌋)),   upper = ŷ · exp(ℓ_(⌈(m+1)(1+c)/2⌉)),

(lower = 0 when the rank is below 1, upper = ∞ when it is above m: too few samples for that
confidence). The residuals are stratified by cell class (`cell_class`: fully live, dead ops,
disconnected), because runtimes differ most on the cells with dead or disconnected ops: a class
uses its own residuals when it has enough for the confidence, otherwise the pooled ones, widened
to cover the class's own extremes. `p_fit` is the conformal probability that the true latency is
within a budget, #{i: ŷ·exp(ℓ_i) ≤ budget} / (m + 1), over the same residuals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from oneproxy.analytics.predictors import InvalidPredictorInput
from oneproxy.analytics.predictors.encodings import SpaceFeatures

CELL_CLASSES = ("live", "dead_ops", "disconnected")
DEFAULT_CONFIDENCE = 0.9
CALIBRATED = "adaproxy@"  # + a confidence: the search method that picks by the upper bounds


def cell_class(features: SpaceFeatures) -> np.ndarray:
    """Per architecture the index into `CELL_CLASSES` (0 for spaces whose ops always run)."""
    names = features.columns.get("kernel", ())
    if "disconnected" not in names or "n_dead_ops" not in names:
        return np.zeros(features.n_archs, dtype=np.int64)
    kernel = features.matrix("kernel")
    disconnected = kernel[:, names.index("disconnected")] > 0
    dead = kernel[:, names.index("n_dead_ops")] > 0
    return np.where(disconnected, 2, np.where(dead, 1, 0)).astype(np.int64)


def check_confidence(confidence: float) -> float:
    """`confidence` as a float strictly between 0 and 1; anything else raises naming it."""
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise InvalidPredictorInput(
            f"confidence must be strictly between 0 and 1, got {confidence!r}"
        )
    return c


def _rank(m: int, confidence: float, *, low: bool) -> int:
    """Conformal rank of the lower (⌊(m+1)(1−c)/2⌋) or upper (⌈(m+1)(1+c)/2⌉) end."""
    x = (m + 1) * ((1 - confidence) if low else (1 + confidence)) / 2
    return int(np.floor(x + 1e-9)) if low else int(np.ceil(x - 1e-9))


def _rank_value(sorted_values: np.ndarray, rank: int, below: float, above: float) -> float:
    """The rank-th smallest (1-based) of `sorted_values`; `below` / `above` outside 1…m."""
    if rank < 1:
        return below
    if rank > sorted_values.size:
        return above
    return float(sorted_values[rank - 1])


@dataclass(frozen=True, eq=False)
class Calibration:
    """LOO log ratios of one adaptation's samples, with each sample's cell class."""

    log_ratios: np.ndarray  # log(y_i / ŷ_(−i)) per target sample
    sample_class: np.ndarray  # cell class of each sample

    @classmethod
    def of(cls, y: np.ndarray, loo_predicted: np.ndarray, sample_class: np.ndarray) -> Calibration:
        """From measured `y` and LOO predictions (both > 0, ms) of the samples."""
        y, loo = np.asarray(y, dtype=np.float64), np.asarray(loo_predicted, dtype=np.float64)
        if y.shape != loo.shape or (y <= 0).any() or (loo <= 0).any():
            raise InvalidPredictorInput(
                "calibration needs positive measured and LOO-predicted latencies of the same "
                f"shape, got {y.shape} and {loo.shape}"
            )
        return cls(np.log(y / loo), np.asarray(sample_class, dtype=np.int64))

    def _residuals(self, klass: int, confidence: float) -> tuple[np.ndarray, float, float]:
        """Sorted residuals used for `klass`, and floors for its lower / upper log ratio."""
        own = np.sort(self.log_ratios[self.sample_class == klass])
        m = own.size
        if m and _rank(m, confidence, low=False) <= m:
            return own, np.inf, -np.inf
        pooled = np.sort(self.log_ratios)
        return pooled, (own.min() if m else np.inf), (own.max() if m else -np.inf)

    def bounds(self, predicted: np.ndarray, classes: np.ndarray,
               confidence: float = DEFAULT_CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper latency (ms) of every architecture at `confidence`."""
        c = check_confidence(confidence)
        pred = np.asarray(predicted, dtype=np.float64)
        lower, upper = np.zeros_like(pred), np.full_like(pred, np.inf)
        for klass in np.unique(classes):
            res, own_low, own_high = self._residuals(int(klass), c)
            m = res.size
            lo = _rank_value(res, _rank(m, c, low=True), -np.inf, -np.inf)
            hi = _rank_value(res, _rank(m, c, low=False), np.inf, np.inf)
            at = classes == klass
            lower[at] = pred[at] * np.exp(min(lo, own_low))
            upper[at] = pred[at] * np.exp(max(hi, own_high))
        return lower, upper

    def p_fit(self, predicted: np.ndarray, classes: np.ndarray, budget: float,
              confidence: float = DEFAULT_CONFIDENCE) -> np.ndarray:
        """Conformal probability that each architecture's true latency is ≤ `budget` (ms)."""
        pred = np.asarray(predicted, dtype=np.float64)
        out = np.zeros_like(pred)
        with np.errstate(divide="ignore"):
            room = np.log(budget / pred)
        for klass in np.unique(classes):
            res = self._residuals(int(klass), check_confidence(confidence))[0]
            at = classes == klass
            out[at] = np.searchsorted(res, room[at], side="right") / (res.size + 1)
        return out
