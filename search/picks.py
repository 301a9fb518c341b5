"""Budget-aware picks on a device's predictions, and what to measure next to verify them.

A pick per budget is the most accurate architecture that is either measured on the device within
the budget (``verified``) or unmeasured with the upper end of its interval within it
(``likely``); ``none`` when neither exists. A measured latency always overrides the prediction:
an architecture measured over the budget is never picked for it. Ties in accuracy go to a measured
architecture (NAS-Bench-201 lists isomorphic cells with the same accuracy: a verified one is never
passed over for its unmeasured twin), then to the lower latency (measured, else predicted), then
to the lower index. `p_fit` is 1 for a verified pick
and the calibrated probability (`Adapted.p_fit`) for a likely one.

`propose` lists, per budget, the unmeasured architectures more accurate than the budget's
verified pick that may fit (p_fit ≥ `MIN_P_FIT`), by expected gain p_fit × (accuracy − verified
accuracy) — the "leading candidates" — and optionally the architecture of that decision set
whose measurement adds most information to the adaptation (`analytics.planning`). Once a budget
has a verified pick, a candidate whose expected gain is below `MIN_GAIN_PP` is not worth a
measurement; when no budget has one left, nothing is proposed and the picks are final.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from oneproxy.analytics.planning import greedy_design
from oneproxy.warehouse.errors import OneproxyError

STATUSES = ("verified", "likely", "none")
MIN_P_FIT = 0.05  # below this estimated probability of fitting a candidate is not worth measuring
# Expected accuracy gain (percentage points) below which a budget with a verified pick measures no
# more; chosen on tuning seeds 100-109 (`python -m bench.verify_loop --min-gain …`).
MIN_GAIN_PP = 0.05
LEADING, UNCERTAINTY = "leading candidate", "uncertainty"

PFit = Callable[[float], np.ndarray]  # budget (ms) -> P(latency ≤ budget) per architecture


class BadPickInput(OneproxyError, ValueError):
    """Arrays or budgets that picks cannot be made from."""


@dataclass(frozen=True)
class Picks:
    """One row per budget: the pick, its status and how likely it fits (arrays of n_budgets)."""

    budget: np.ndarray  # ms
    arch: np.ndarray  # int64 architecture index, -1 for status "none"
    status: np.ndarray  # str, one of STATUSES
    p_fit: np.ndarray  # float, NaN for "none"


def _check(accuracy: np.ndarray, predicted: np.ndarray, upper: np.ndarray,
           measured: np.ndarray) -> tuple[np.ndarray, ...]:
    arrays = [np.asarray(a, dtype=np.float64) for a in (accuracy, predicted, upper, measured)]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 1:
        raise BadPickInput(
            "accuracy, predicted, upper and measured must be 1-D arrays over the same "
            f"architectures, got shapes {[a.shape for a in arrays]}"
        )
    return tuple(arrays)


def pick_budgets(
    accuracy: np.ndarray,
    predicted: np.ndarray,
    upper: np.ndarray,
    measured: np.ndarray,
    budgets: np.ndarray,
    p_fit: PFit,
    *,
    verified_only: bool = False,
) -> Picks:
    """Per budget the most accurate architecture verified or likely within it (module docstring).

    `measured` holds the device's own latency (ms) where it measured, NaN elsewhere.
    """
    acc, pred, up, meas = _check(accuracy, predicted, upper, measured)
    b = np.asarray(budgets, dtype=np.float64).ravel()
    is_measured = np.isfinite(meas)
    latency = np.where(is_measured, meas, pred)
    order = np.lexsort((np.arange(acc.size), latency, ~is_measured,
                        -np.nan_to_num(acc, nan=-np.inf)))
    arch = np.full(b.size, -1, dtype=np.int64)
    status = np.full(b.size, "none", dtype=object)
    prob = np.full(b.size, np.nan)
    for k, budget in enumerate(b):
        verified = is_measured & (meas <= budget)
        likely = ~is_measured & (up <= budget) & (not verified_only)
        ok = (verified | likely)[order] & np.isfinite(acc[order])
        if not ok.any():
            continue
        i = int(order[np.argmax(ok)])
        arch[k] = i
        status[k] = "verified" if verified[i] else "likely"
        prob[k] = 1.0 if verified[i] else float(p_fit(budget)[i])
    return Picks(b, arch, status.astype(str), prob)


def propose(
    accuracy: np.ndarray,
    predicted: np.ndarray,
    measured: np.ndarray,
    budgets: np.ndarray,
    p_fit: PFit,
    *,
    per_budget: int = 3,
    design: np.ndarray | None = None,
    excluded: np.ndarray | None = None,
    min_gain: float = MIN_GAIN_PP,
) -> list[tuple[int, str]]:
    """Architectures to measure next, each with its reason, without repeats.

    Per budget: up to `per_budget` leading candidates (see the module docstring), among those
    whose expected gain over the budget's verified pick is at least `min_gain` pp; with `design`
    (an encoding matrix of every architecture) also the one candidate of the budget's decision
    set that a D-optimal step would measure. `excluded` marks architectures that cannot be
    measured (e.g. they failed before).
    """
    if per_budget < 1:
        raise BadPickInput(f"per_budget must be at least 1, got {per_budget}")
    if not min_gain >= 0:
        raise BadPickInput(f"min_gain must be a non-negative accuracy gain (pp), got {min_gain}")
    acc = np.asarray(accuracy, dtype=np.float64)
    meas = np.asarray(measured, dtype=np.float64)
    blocked = np.isfinite(meas) | ~np.isfinite(acc)
    if excluded is not None:
        blocked |= np.asarray(excluded, dtype=bool)
    out: dict[int, str] = {}
    for budget in np.asarray(budgets, dtype=np.float64).ravel():
        fits = np.isfinite(meas) & (meas <= budget) & np.isfinite(acc)
        floor = acc[fits].max() if fits.any() else -np.inf
        p = p_fit(budget)
        open_ = ~blocked & (acc > floor) & (p >= MIN_P_FIT)
        cand = np.flatnonzero(open_)
        if cand.size == 0:
            continue
        gain = p[cand] * (acc[cand] - (floor if np.isfinite(floor) else acc[cand].min()) + 1e-9)
        if np.isfinite(floor):  # without a verified pick every candidate is worth a look
            worth = gain >= min_gain
            cand, gain = cand[worth], gain[worth]
        ranked = cand[np.lexsort((cand, -gain))]
        for i in ranked[:per_budget]:
            out.setdefault(int(i), f"{LEADING} for {budget:g} ms (p_fit {p[i]:.2f})")
        if design is not None:
            rest = np.setdiff1d(cand, list(out))
            if rest.size:
                done = np.flatnonzero(np.isfinite(meas))
                i = int(greedy_design(design, 1, pool=rest, start=done)[0])
                out[i] = f"{UNCERTAINTY} deciding {budget:g} ms"
    return list(out.items())
