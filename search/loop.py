"""The verify loop on a device whose every latency is known: measure a few, adapt, pick, verify.

`run_loop` simulates a practitioner on a target: its initial samples are measured, then each
round adapts the proxies to what was measured (`select_proxy_models`, which adapts the
`baselines.prescreen` of them, as `search --confidence` does), picks per budget
(`search.picks.pick_budgets`), and "measures" what `search.picks.propose` lists by looking the
truth up, until nothing is left worth measuring (the loop *settled*: no candidate expected to gain
`min_gain` pp, `MIN_GAIN_PP` by default) or `rounds` rounds have measured.
An architecture the target has no latency for cannot be measured: proposing it costs a
measurement and excludes it.

What the loop ships (`LoopOutcome.final`) is, per budget, the most accurate architecture it
*measured* within the budget — a verified pick — or ``none``. When the loop ends while a
budget's best pick is still ``likely`` (unmeasured: the rounds ran out, or it was not expected
to gain `min_gain` over the verified pick), that pick is not shipped: the budget falls back
to its best verified pick (or ``none``), and `pending` counts it. A measurement is the
truth here, so a shipped pick is never over budget; what the cap costs shows in the regret,
the ``none`` budgets, and `pending_over` (the pending picks that were in fact over budget).

Reported per run: the first round's picks (verified or likely) and how many are over budget,
its interval coverage (share of the unmeasured architectures whose true latency is inside their
interval), the shipped picks, the regret of each against the target's true optimum (percentage
points of accuracy), and the measurements after the initial samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from oneproxy.analytics.adaptation import Adapted, ProxyModels, select_proxy_models
from oneproxy.analytics.intervals import DEFAULT_CONFIDENCE
from oneproxy.search.exhaustive import best_under_budget
from oneproxy.search.picks import MIN_GAIN_PP, BadPickInput, Picks, pick_budgets, propose


@dataclass(frozen=True)
class LoopOutcome:
    """One simulated loop on one target (per-budget arrays have n_budgets entries)."""

    budgets: np.ndarray
    first: Picks  # the first round's picks (verified or likely)
    first_over: np.ndarray  # bool per first-round pick made: its true latency exceeds the budget
    first_coverage: float  # share of unmeasured architectures inside their first-round interval
    first_predicted: np.ndarray  # the first round's adapted latency of every architecture (ms)
    final: Picks  # what the loop ships: verified picks only, ``none`` elsewhere
    final_over: np.ndarray  # bool per shipped pick: its true latency exceeds the budget
    pending: np.ndarray  # bool per budget: its best pick was still likely when the loop ended
    pending_over: np.ndarray  # bool per budget: pending and that likely pick is over budget
    regret: np.ndarray  # optimum accuracy − shipped pick accuracy; NaN where none or no optimum
    extra: int  # measurements after the initial samples
    rounds: int  # rounds that measured something
    settled: bool  # the loop ended because nothing was left to propose (not by the round cap)


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
    min_gain: float = MIN_GAIN_PP,
) -> LoopOutcome:
    """Simulate the loop on a target with latency `true` (ms, NaN = not measurable), at most
    `rounds` rounds of at most `per_budget` measurements per budget, stopping once `propose`
    finds no candidate expected to gain `min_gain` pp."""
    tru = np.asarray(true, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    b = np.asarray(budgets, dtype=np.float64).ravel()
    if rounds < 1:
        raise BadPickInput(f"rounds must be at least 1 (a round measures what the picks need "
                           f"to be verified), got {rounds}")
    measured = np.full(tru.size, np.nan)
    start = np.asarray(initial, dtype=np.int64)
    if not np.isfinite(tru[start]).all():
        raise BadPickInput("the initial samples must be architectures the target measured")
    measured[start] = tru[start]
    failed = np.zeros(tru.size, dtype=bool)
    extra = done = 0
    settled = False
    first: tuple[Picks, Adapted] | None = None
    while True:
        idx = np.flatnonzero(np.isfinite(measured))
        _, adapted, _ = select_proxy_models(models, idx, measured[idx], strategy=strategy,
                                            confidence=confidence)
        upper = np.where(failed, np.inf, adapted.upper)  # what cannot be measured is never likely
        picks = pick_budgets(acc, adapted.predicted, upper, measured, b, adapted.p_fit)
        if first is None:
            first = picks, adapted
        if done == rounds:
            break
        todo = propose(acc, adapted.predicted, measured, b, adapted.p_fit,
                       per_budget=per_budget, excluded=failed, min_gain=min_gain)
        if not todo:
            settled = True
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
    shipped = pick_budgets(acc, adapted.predicted, upper, measured, b, adapted.p_fit,
                           verified_only=True)
    pending = picks.status == "likely"
    lat = tru[np.maximum(picks.arch, 0)]
    best = best_under_budget(tru[None, :], acc, b)
    pick_acc = np.where(shipped.arch >= 0, acc[np.maximum(shipped.arch, 0)], np.nan)
    return LoopOutcome(
        budgets=b,
        first=first_picks,
        first_over=_over(first_picks, tru),
        first_coverage=float(np.mean(inside)) if inside.size else float("nan"),
        first_predicted=first_adapted.predicted,
        final=shipped,
        final_over=_over(shipped, tru),
        pending=pending,
        pending_over=pending & ~(np.isfinite(lat) & (lat <= b)),
        regret=best.accuracy[0] - pick_acc,
        extra=extra,
        rounds=done,
        settled=settled,
    )
