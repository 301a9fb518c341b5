"""Research bench: do simple changes to adaptation's choice close the never-worse gap?

Runs protocols on tuning seeds (100-109 by default, never the reported 0-19) with the choice of
`analytics.adaptation` swapped for a variant, and prints per protocol × n the mean adapted SRCC
and the worst target's gap to the better of FLOPs and the raw proxy (see `bench.never_worse`).

- ``current``: the shipped rule (the `PRESCREEN` = 2 proxies whose raw latency ranks the samples
  best are adapted; least LOO RMSE among candidates whose LOO SRCC reaches the best baseline's);
- ``margin0.05`` / ``margin0.1``: a non-baseline candidate must beat that bar by the margin;
- ``top1`` / ``top3`` / ``all``: 1, 3 or every proxy screened instead of 2 (``all`` was the rule
  before the screen; it measured mean 0.846, worst gap −0.238, 32 target × n below on seeds
  100–109, against 0.851, −0.188, 31 for two);
- ``nested`` / ``nested_split``: the candidates form families (FLOPs and params fits, raw
  proxies, adaptations; ``nested_split`` has FLOPs and params apart); each family's own choice
  (least LOO RMSE) is scored out of sample, the choice for sample i made without i's residual,
  and the family whose choice ranks the samples best wins (ties to the simpler family).
- ``flops_or_raw``: as ``nested`` with only two families, the FLOPs fits and the raw proxies: no
  adaptation at all, only a choice between the two baselines the goal compares with.
- ``cost_base``: the shipped choice with four more adaptations, FLOPs as the base and the
  hierarchical encodings' columns penalised (12 protocols, seeds 100-109: mean 0.835 against
  0.832, worst gap −0.208 against −0.188, 45 target × n below against 44).
- ``cost_prior0.4`` / ``0.8`` / ``1.6``: a prior for the proxy-free fits: every other candidate
  must beat the FLOPs / params fits' LOO SRCC by c / sqrt(n) (c = 1: about one standard error of
  a Spearman on n samples). Same 12 protocols and seeds: mean 0.823 / 0.814 / 0.792, worst gap
  −0.173 / −0.137 / −0.410, 65 / 78 / 90 target × n below, against 0.832, −0.188, 44: it helps
  where FLOPs ranks the targets best (nasflat-fbnet-1 and -5) and costs more everywhere else.

    python -m bench.choice_rules --warehouse W --protocols nasflat-fbnet-5,help-nb201 [--per-target]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np
import polars as pl
from oneproxy.analytics import adaptation, evaluate
from oneproxy.analytics.protocols import BUILTIN, with_overrides
from oneproxy.warehouse.store import Warehouse

from bench.never_worse import BASELINES
from oneproxy.api.evaluate import load_protocol_data, stored_models

SHIPPED_SELECT = adaptation.select_proxy_models
SHIPPED_CHOOSE = adaptation.choose
SHIPPED_CANDIDATES = adaptation.candidates
SHIPPED_DESIGN = adaptation.ProxyModels._design
SHIPPED_BAR = adaptation.baseline_bar


def with_cost_base(strategy: str) -> tuple:
    """`candidates` plus ("cost", encoding) for each hierarchical encoding under "auto"."""
    tried = SHIPPED_CANDIDATES(strategy)
    if strategy != "auto":
        return tried
    return tried + tuple(("cost", encoding) for encoding in adaptation.HIERARCHICAL)


def cost_design(self, strategy: str, encoding: str, rows=None):
    """A "cost" candidate's design: FLOPs as the base, the encoding's columns penalised."""
    if strategy != "cost":
        return SHIPPED_DESIGN(self, strategy, encoding, rows)
    at = slice(None) if rows is None else rows
    kernel = self.features.matrix(adaptation.KERNEL_ENCODING)[at]
    flops = kernel[:, self.features.columns[adaptation.KERNEL_ENCODING].index("flops_m")]
    return flops, np.column_stack([self._block(b, at) for b in encoding.split("+")])


def with_margin(delta: float) -> Callable:
    def choose(cands: list, bar: float):
        eligible = [c for c in cands if c.loo_srcc >= (bar if c.baseline else bar + delta)]
        return SHIPPED_CHOOSE(eligible, bar) if eligible else None
    return choose


def cost_prior(c: float) -> tuple[Callable, Callable]:
    """`choose` and `baseline_bar` where every candidate but the FLOPs / params fits must rank
    the samples better than they do by c / sqrt(n): they need no proxy, so one of them is not
    the best of many noisy scores (the raw proxies and adaptations are)."""
    def score(cand) -> float:
        free = cand.baseline and cand.strategy in ("flops", "params")
        return cand.loo_srcc - (0.0 if free else c / np.sqrt(cand.fit.loo_residuals.size))

    def bar(cands: list) -> float:
        return max((score(x) for x in cands if x.baseline), default=-np.inf)

    def choose(cands: list, at_least: float):
        eligible = [x for x in cands if score(x) >= at_least]
        return SHIPPED_CHOOSE(eligible, -np.inf) if eligible else None
    return choose, bar


def screened(k: int) -> Callable:
    """The shipped choice with `k` proxies screened (adapted) instead of `PRESCREEN`."""
    def select(models: dict, idx, y, **options):
        return SHIPPED_SELECT(models, idx, y, screen=k, **options)
    return select


def family_choice(order: tuple[tuple[str, ...], ...]) -> Callable:
    """`nested` rules: families (by `family`) in `order`, simplest first."""
    def select(models: dict, idx, y, *, strategy="auto", confidence=0.9, **_):
        fits = {name: m.fits(idx, y, strategy=strategy) for name, m in sorted(models.items())}
        y = next(iter(fits.values()))[1]
        ranked = dict(zip(fits, adaptation.scored(y, [g for _, _, g in fits.values()]),
                          strict=True))
        every = [(name, c) for name, cands in ranked.items() for c in cands]
        best, best_score = None, -np.inf
        for names in order:
            group = [(n, c) for n, c in every if family(c) in names]
            if group and (score := out_of_sample_srcc(y, group)) > best_score + 1e-9:
                best, best_score = group, score
        name, chosen = min(best, key=lambda nc: nc[1].fit.loo_rmse)
        return name, models[name].adapted(chosen, fits[name][0], y, ranked[name], confidence), {}
    return select


def out_of_sample_srcc(y: np.ndarray, group: list) -> float:
    """LOO SRCC of "the least LOO RMSE in `group`", the choice for sample i made without i."""
    E = np.array([c.fit.loo_residuals for _, c in group])
    without = (E**2).sum(axis=1, keepdims=True) - E**2
    residual = E[np.argmin(without, axis=0), np.arange(E.shape[1])]
    return float(adaptation.loo_srccs(y, residual[None])[0])


def family(c) -> str:
    return c.strategy if c.baseline else "adapted"


RULES: dict[str, tuple[str, Callable] | None] = {
    "current": None, "margin0.05": ("choose", with_margin(0.05)),
    "margin0.1": ("choose", with_margin(0.1)), "top1": ("select", screened(1)),
    "top3": ("select", screened(3)), "top8": ("select", screened(8)),
    "all": ("select", screened(1_000)),
    "nested": ("select", family_choice((("flops", "params"), ("proxy",), ("adapted",)))),
    "nested_split": ("select", family_choice((("flops",), ("params",), ("proxy",),
                                              ("adapted",)))),
    "flops_or_raw": ("select", family_choice((("flops",), ("proxy",)))),
    "cost_base": ("candidates", None),
    **{f"cost_prior{c:g}": ("prior", cost_prior(c)) for c in (0.4, 0.8, 1.6)},
}


def run(wh: Warehouse, name: str, rule: str, seeds: int, first_seed: int) -> pl.DataFrame:
    """Mean SRCC per target × n × method of one protocol under one rule."""
    base = BUILTIN[name]
    protocol = with_overrides(base, samples=tuple(n for n in base.samples if n <= 20),
                              seeds=seeds, first_seed=first_seed)
    swap = RULES[rule]
    try:
        if swap is not None and swap[0] == "choose":
            adaptation.choose = swap[1]
        if swap is not None and swap[0] == "select":
            evaluate.select_proxy_models = swap[1]
        if swap is not None and swap[0] == "prior":
            adaptation.choose, adaptation.baseline_bar = swap[1]
        if swap is not None and swap[0] == "candidates":
            adaptation.candidates, adaptation.ProxyModels._design = with_cost_base, cost_design
        result = evaluate.run_protocol(protocol, load_protocol_data(wh, protocol),
                                       build_models=stored_models(wh, protocol))
    finally:
        adaptation.choose, evaluate.select_proxy_models = SHIPPED_CHOOSE, SHIPPED_SELECT
        adaptation.baseline_bar = SHIPPED_BAR
        adaptation.candidates, adaptation.ProxyModels._design = SHIPPED_CANDIDATES, SHIPPED_DESIGN
    means = (pl.from_arrow(result.long).group_by("target", "n_samples", "method")
             .agg(pl.col("after_srcc").mean())
             .pivot(on="method", index=["target", "n_samples"], values="after_srcc"))
    present = [b for b in BASELINES if b in means.columns]
    return means.with_columns(best=pl.max_horizontal(present)).with_columns(
        gap=pl.col("adaproxy") - pl.col("best"), protocol=pl.lit(name), rule=pl.lit(rule))


@click.command()
@click.option("--warehouse", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=Path("oneproxy-warehouse"), show_default=True)
@click.option("--protocols", default="nasflat-fbnet-5,nasflat-fbnet-1,mobile-nas,"
              "help-fbnet-paper,help-nb201,oneproxy-nb201", show_default=True)
@click.option("--rules", default=",".join(RULES), show_default=True)
@click.option("--seeds", type=int, default=10, show_default=True)
@click.option("--first-seed", type=int, default=100, show_default=True)
@click.option("--per-target", is_flag=True,
              help="Also print each target × n: ours, FLOPs, the raw proxy and the gap.")
def main(warehouse: Path, protocols: str, rules: str, seeds: int, first_seed: int,
         per_target: bool) -> None:
    wh = Warehouse(warehouse)
    parts = []
    for name in protocols.split(","):
        for rule in rules.split(","):
            start = time.perf_counter()
            parts.append(run(wh, name, rule, seeds, first_seed))
            click.echo(f"{name} {rule}: {time.perf_counter() - start:.0f} s", err=True)
    rows = pl.concat(parts, how="diagonal_relaxed")
    per_n = rows.group_by("protocol", "n_samples", "rule").agg(
        mean=pl.col("adaproxy").mean(), worst=pl.col("gap").min(),
        below=(pl.col("gap") < -0.01).sum(), targets=pl.len()).sort("protocol", "n_samples", "rule")
    with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True):
        if per_target:
            click.echo(rows.select("protocol", "rule", "target", "n_samples", "adaproxy",
                                   *[b for b in BASELINES if b in rows.columns], "gap")
                       .sort("protocol", "rule", "target", "n_samples"))
        click.echo(per_n)
        click.echo(per_n.group_by("rule", maintain_order=True).agg(
            mean_srcc=pl.col("mean").mean(), worst_gap=pl.col("worst").min(),
            target_n_below=pl.col("below").sum()))


if __name__ == "__main__":
    main()
