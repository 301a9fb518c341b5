"""The verify loop on a device whose every latency is known: measure a few, adapt, pick, verify.

`run_loop` simulates a practitioner on a target: its initial samples are measured, then each
round adapts the proxies to what was measured (`select_proxy_models`), picks per budget
(`search.picks.pick_budgets`), and "measures" what `search.picks.propose` lists by looking the
truth up, until nothing is left to propose or `rounds` rounds have run. An architecture the target
has no latency for cannot be measured: proposing it costs a measurement and excludes it.

Reported per run (`LoopOutcome`): the first round's over-budget share (among its picks) and
interval coverage (share of the unmeasured architectures whose true latency is inside their
interval), the final picks' over-budget share and status, the regret of each final pick against
the target's true optimum (percentage points of accuracy), and the measurements after the
initial samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from oneproxy.analytics.adaptation import Adapted, ProxyModels, select_proxy_models
from oneproxy.analytics.intervals import DEFAULT_CONFIDENCE
from oneproxy.search.exhaustive import best_under_budget
from oneproxy.search.picks import BadPickInput, Picks, pick_budgets, propose


@dataclass(frozen=True)
class LoopOutcome:
    """One simulated loop on one target (per-budget arrays have n_budgets entries)."""

    budgets: np.ndarray
    first_over: float  # share of the first round's picks whose true latency exceeds the budget
    first_answered: float  # share of budgets the first round picked for
    first_coverage: float  # share of unmeasured architectures inside their first-round interval
    first_predicted: np.ndarray  # the first round's adapted latency of every architecture (ms)
    final: Picks
    final_over: float  # share of the final picks over budget (NaN without any pick)
    regret: np.ndarray  # optimum accuracy − final pick accuracy; NaN where no pick or no optimum
    extra: int  # measurements after the initial samples
    rounds: int  # rounds that measured something


def _share(values: np.ndarray) -> float:
    return float(np.mean(values)) if values.size else float("nan")


def _over(picks: Picks, true: np.ndarray) -> np.ndarray:
    """Per pick made: its true latency exceeds the budget (an unknown truth counts as over)."""
    made = picks.arch >= 0
    lat = true[picks.arch[made]]
    return ~(np.isfinite(lat) & (lat <= picks.budget[made]))


def run_loop(
    true: np.ndarray,
    models: dict[str, ProxyModels],
    accuracy: np.ndarray,
    budgets: np.ndarray,
    initial: np.ndarray,
    *,
    rounds: int = 5,
    per_budget: int = 1,
    confidence: float = DEFAULT_CONFIDENCE,
    strategy: str = "auto",
) -> LoopOutcome:
    """Simulate the loop on a target with latency `true` (ms, NaN = not measurable)."""
    tru = np.asarray(true, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    b = np.asarray(budgets, dtype=np.float64).ravel()
    if rounds < 0:
        raise BadPickInput(f"rounds must be 0 or more, got {rounds}")
    measured = np.full(tru.size, np.nan)
    start = np.asarray(initial, dtype=np.int64)
    if not np.isfinite(tru[start]).all():
        raise BadPickInput("the initial samples must be architectures the target measured")
    measured[start] = tru[start]
    failed = np.zeros(tru.size, dtype=bool)
    extra = done = 0
    first: tuple[Picks, Adapted] | None = None
    while True:
        idx = np.flatnonzero(np.isfinite(measured))
        _, adapted, _ = select_proxy_models(models, idx, measured[idx], strategy=strategy,
                                            confidence=confidence)
        picks = pick_budgets(acc, adapted.predicted, adapted.upper, measured, b, adapted.p_fit)
        if first is None:
            first = picks, adapted
        if done == rounds:
            break
        todo = propose(acc, adapted.predicted, measured, b, adapted.p_fit,
                       per_budget=per_budget, excluded=failed)
        if not todo:
            break
        for i, _ in todo:
            extra += 1
            if np.isfinite(tru[i]):
                measured[i] = tru[i]
            else:
                failed[i] = True
        done += 1
    first_picks, first_adapted = first
    unseen = np.ones(tru.size, dtype=bool)
    unseen[start] = False
    covered = (first_adapted.lower <= tru) & (tru <= first_adapted.upper)
    inside = covered[unseen & np.isfinite(tru)]
    best = best_under_budget(tru[None, :], acc, b)
    pick_acc = np.where(picks.arch >= 0, acc[np.maximum(picks.arch, 0)], np.nan)
    return LoopOutcome(
        budgets=b,
        first_over=_share(_over(first_picks, tru)),
        first_answered=_share(first_picks.arch >= 0),
        first_coverage=_share(inside),
        first_predicted=first_adapted.predicted,
        final=picks,
        final_over=_share(_over(picks, tru)),
        regret=best.accuracy[0] - pick_acc,
        extra=extra,
        rounds=done,
    )
