"""The verify loop simulated over an evaluation protocol: every target × n × draw × seed.

For each target the budgets are resolved on its true latency (`search.budgets`, e.g. q10 … q90
of what it measured), its first n measurements are drawn one of two ways (`DRAWS`):

- ``random``: as the protocol draws its samples (`analytics.evaluate.draw_samples`, one run per
  seed; HELP protocols count their reference architectures among the n);
- ``planned``: what `oneproxy plan --n N` lists (`analytics.planning.plan`), restricted to the
  architectures the target measured. A plan is deterministic: one run per target, seed null.

and `search.loop.run_loop` runs the loop. One row per run in the `verify_loop` schema (see
`warehouse.schemas.VERIFY_LOOP`); besides the loop's figures each row has the SRCC of the first
round's adaptation on the architectures outside the first n (`first_srcc`) and the better of the
FLOPs ranking and the raw proxy that ranks the n best (`baseline_srcc`), on the same set.

`summarize_loop` pools the runs per protocol × draw × target × n (and over all targets):
shares of picks over budget are over the picks made, ``final_none`` and ``pending`` are shares
of the budgets, mean regret is over the shipped picks, extra measurements are per budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa
from oneproxy.analytics import baselines
from oneproxy.analytics.adaptation import ProxyModels
from oneproxy.analytics.evaluate import (
    BuildModels,
    MapTasks,
    ProtocolData,
    check_data,
    device_splits,
    draw_samples,
    proxy_models,
    run_tasks,
    sample_pool,
    score_rows,
)
from oneproxy.analytics.intervals import DEFAULT_CONFIDENCE, check_confidence
from oneproxy.analytics.planning import plan
from oneproxy.analytics.protocols import Protocol
from oneproxy.analytics.splits import DeviceSplit
from oneproxy.search.budgets import BudgetSpec, parse_budget_spec, resolve_budgets
from oneproxy.search.loop import LoopOutcome, run_loop
from oneproxy.search.picks import MIN_GAIN_PP, BadPickInput
from oneproxy.warehouse.schemas import VERIFY_LOOP

DRAWS = ("random", "planned")
DEFAULT_BUDGETS = "q10,q25,q50,q75,q90"
ALL_TARGETS = "all targets"


@dataclass(frozen=True)
class LoopSettings:
    """How each simulated loop runs: budgets, round cap, measurements per budget and round,
    interval confidence, the first draws to compare, and the expected gain (pp) below which a
    budget with a verified pick measures no more."""

    budgets: str = DEFAULT_BUDGETS
    rounds: int = 5
    per_budget: int = 1
    confidence: float = DEFAULT_CONFIDENCE
    draws: tuple[str, ...] = DRAWS
    min_gain: float = MIN_GAIN_PP

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise BadPickInput(f"--rounds must be at least 1 (a round measures what the picks "
                               f"need to be verified), got {self.rounds}")
        if self.per_budget < 1:
            raise BadPickInput(f"--per-budget must be at least 1, got {self.per_budget}")
        if not self.min_gain >= 0:
            raise BadPickInput(f"--min-gain must be a non-negative accuracy gain (pp), got "
                               f"{self.min_gain}")
        check_confidence(self.confidence)
        unknown = [d for d in self.draws if d not in DRAWS]
        if unknown or not self.draws:
            raise BadPickInput(f"draw must be one of {', '.join(DRAWS)}, got "
                               f"{', '.join(unknown) or 'none'}")
        parse_budget_spec(self.budgets)  # a bad spec is an error before any work

    @property
    def spec(self) -> BudgetSpec:
        """The parsed budgets."""
        return parse_budget_spec(self.budgets)


def simulate_protocol(protocol: Protocol, data: ProtocolData, accuracy: np.ndarray,
                      accuracy_dataset: str, settings: LoopSettings,
                      on_step: Callable[[str], None] | None = None,
                      map_tasks: MapTasks | None = None,
                      build_models: BuildModels | None = None) -> pa.Table:
    """One `VERIFY_LOOP` row per target × n × draw × seed (module docstring).

    `accuracy` (%) is over `data`'s architectures; `on_step` gets a label per target × n, and
    `map_tasks` (an engine's `map`, see `oneproxy.scale`) runs each target × n as a task;
    `build_models` is `analytics.evaluate.proxy_models`'s `build`.
    """
    check_data(protocol, data)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    splits = device_splits(protocol, data)
    tasks = [(t, n) for t in protocol.targets for n in protocol.samples]
    shared = {"protocol": protocol, "data": data, "accuracy": accuracy, "settings": settings,
              "models": proxy_models(protocol, data, splits, build_models), "splits": splits}
    done = None if on_step is None else lambda i: on_step(f"{tasks[i][0]} n={tasks[i][1]}")
    parts = run_tasks(_task_rows, tasks, shared, protocol.strategy, done, map_tasks)
    return pl.DataFrame([row for part in parts for row in part],
                        schema_overrides={"seed": pl.Int64}).with_columns(
        protocol=pl.lit(protocol.name), space_id=pl.lit(protocol.space),
        strategy=pl.lit(protocol.strategy), accuracy_dataset=pl.lit(accuracy_dataset),
        budgets=pl.lit(settings.budgets), confidence=pl.lit(float(settings.confidence)),
        max_rounds=pl.lit(settings.rounds), per_budget=pl.lit(settings.per_budget),
        min_gain_pp=pl.lit(float(settings.min_gain)),
        computed_at=pl.lit(stamp),
    ).select(VERIFY_LOOP.names).to_arrow().cast(VERIFY_LOOP)


def _task_rows(task: tuple[str, int], protocol: Protocol, data: ProtocolData,
               accuracy: np.ndarray, settings: LoopSettings, models: dict[str, ProxyModels],
               splits: dict[str, DeviceSplit]) -> list[dict]:
    """Every run of one target and n (one task of `simulate_protocol`)."""
    target, n = task
    true = data.row(target)
    budgets = resolve_budgets(settings.spec, true[None, :])[0]
    candidates = {p: m for p, m in models.items() if p != target}
    raw = {p: data.row(p) for p in candidates}
    flops = baselines.cost(data.features, "flops")
    pool, reference = sample_pool(protocol, data, target, splits[target], n)
    rows = []
    for draw, seed, initial in _draws(settings.draws, protocol, data, pool, reference, n):
        out = run_loop(true, candidates, accuracy, budgets, initial, rounds=settings.rounds,
                       per_budget=settings.per_budget, confidence=settings.confidence,
                       strategy=protocol.strategy, min_gain=settings.min_gain)
        rows.append({"draw": draw, "target": target, "n_samples": n, "seed": seed,
                     **_figures(out), **_srcc(out, true, initial, raw, flops)})
    return rows


def _draws(draws: tuple[str, ...], protocol: Protocol, data: ProtocolData, pool: np.ndarray,
           reference: np.ndarray | None, n: int) -> Iterator[tuple[str, int | None, np.ndarray]]:
    """(draw, seed, initial indices) of every run of one target and n."""
    for draw in draws:
        if draw == "planned":
            yield draw, None, plan(data.features, n, pool=pool)
            continue
        for seed in range(protocol.first_seed, protocol.first_seed + protocol.seeds):
            yield draw, seed, draw_samples(pool, n, seed, reference)


def _figures(out: LoopOutcome) -> dict[str, float | int | bool]:
    """The per-run counts and figures of `VERIFY_LOOP`."""
    regret = out.regret[np.isfinite(out.regret)]
    return {
        "n_budgets": int(out.budgets.size),
        "first_picks": int((out.first.arch >= 0).sum()),
        "first_over": int(out.first_over.sum()),
        "first_coverage": out.first_coverage,
        "final_picks": int((out.final.arch >= 0).sum()),
        "final_over": int(out.final_over.sum()),
        "pending": int(out.pending.sum()),
        "pending_over": int(out.pending_over.sum()),
        "mean_regret_pp": float(regret.mean()) if regret.size else None,
        "max_regret_pp": float(regret.max()) if regret.size else None,
        "extra": out.extra,
        "rounds": out.rounds,
        "settled": out.settled,
    }


def _srcc(out: LoopOutcome, true: np.ndarray, initial: np.ndarray, raw: dict[str, np.ndarray],
          flops: np.ndarray | None) -> dict[str, float | None]:
    """SRCC of the first round's adaptation and of the best baseline outside the first n."""
    held = true.copy()
    held[initial] = np.nan
    best = raw[baselines.best_raw_proxy(raw, initial, true[initial])]
    rows = [out.first_predicted, best] + ([] if flops is None else [flops])
    srcc = score_rows(np.stack(rows), np.stack([held] * len(rows)))["srcc"].to_list()
    others = [s for s in srcc[1:] if s is not None]
    return {"first_srcc": srcc[0], "baseline_srcc": max(others) if others else None}


def summarize_loop(runs: pa.Table) -> pa.Table:
    """Per protocol × draw × n: one row per target, then one pooling every target."""
    frame = pl.from_arrow(runs)
    keys = ["protocol", "draw", "n_samples"]
    per_target = frame.group_by(*keys, "target", maintain_order=True).agg(*_pooled())
    overall = (frame.group_by(*keys, maintain_order=True).agg(*_pooled())
               .with_columns(target=pl.lit(ALL_TARGETS)).select(per_target.columns))
    order = {t: i for i, t in enumerate(dict.fromkeys(frame["target"].to_list()))}
    table = pl.concat([per_target, overall]).with_columns(
        _rank=pl.col("target").replace_strict(order, default=len(order), return_dtype=pl.Int64))
    return table.sort([*keys, "_rank"], maintain_order=True).drop("_rank").select(
        "protocol", "draw", "target", pl.exclude("protocol", "draw", "target")).to_arrow()


def _ratio(part: str, whole: str) -> pl.Expr:
    total = pl.col(whole).sum()
    return pl.when(total > 0).then(pl.col(part).sum() / total)


def _pooled() -> list[pl.Expr]:
    """Aggregations of `summarize_loop` (module docstring)."""
    picks, regret = pl.col("final_picks"), pl.col("mean_regret_pp")
    return [
        pl.len().cast(pl.Int64).alias("runs"),
        _ratio("first_over", "first_picks").alias("first_over_share"),
        pl.col("first_coverage").mean().alias("first_coverage"),
        _ratio("final_over", "final_picks").alias("final_over_share"),
        (1 - pl.col("final_picks").sum() / pl.col("n_budgets").sum()).alias("final_none_share"),
        _ratio("pending", "n_budgets").alias("pending_share"),
        pl.when(picks.sum() > 0).then((regret * picks).sum() / picks.sum())
        .alias("mean_regret_pp"),
        pl.col("max_regret_pp").max().alias("max_regret_pp"),
        _ratio("extra", "n_budgets").alias("extra_per_budget"),
        pl.col("settled").mean().alias("settled_share"),
        pl.col("first_srcc").mean().alias("first_srcc"),
        pl.col("baseline_srcc").mean().alias("baseline_srcc"),
    ]
