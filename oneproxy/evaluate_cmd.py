"""`oneproxy evaluate`: parse the options, call `oneproxy.api.evaluate`, render the table."""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl
import pyarrow as pa

from oneproxy.analytics.baselines import METHODS, OURS
from oneproxy.analytics.evaluate import Evaluation
from oneproxy.analytics.protocols import (
    STRATEGY_CHOICES,
    Protocol,
    get_protocol,
    sample_label,
    with_overrides,
)
from oneproxy.api import evaluate as api
from oneproxy.api import loop as loop_api
from oneproxy.api.evaluate import EVAL_TABLE, SUMMARY_TABLE
from oneproxy.api.loop import LOOP_TABLE
from oneproxy.options import (
    int_list,
    output_options,
    save_option,
    scale_options,
    warehouse_option,
)
from oneproxy.output import render
from oneproxy.progress import progress_callback
from oneproxy.scale import Engine
from oneproxy.search.budgets import BadBudget, parse_budget_spec
from oneproxy.search.loop_eval import DEFAULT_BUDGETS, DRAWS, LoopSettings, summarize_loop
from oneproxy.search.picks import MIN_GAIN_PP
from oneproxy.warehouse.store import Warehouse

LOOP_OPTIONS = ("budgets", "rounds", "per_budget", "confidence", "min_gain", "draw", "dataset")


def paper_table(result: Evaluation, protocol: Protocol) -> pa.Table:
    """Rows = targets × methods (baselines, then ours) plus each method's mean over targets;
    columns = the proxy chosen most often at the largest n (as the report shows it), before
    SRCC, SRCC per n labelled as the paper counts samples (mean ± std over seeds), and the
    published SRCC where the protocol has it."""
    summary = pl.from_arrow(result.summary)
    overall = pl.from_arrow(result.overall)
    long = pl.from_arrow(result.long)
    published_label = f"published n={protocol.published_samples}"
    labels = {n: sample_label(protocol, n, int(long["n_reference"].max() or 10))
              for n in protocol.samples}
    methods = [m for m in METHODS if m in set(long["method"].to_list())]
    rows = []
    for target in [*protocol.targets, "mean"]:
        for method in methods:
            rows.append(_paper_row(target, method, summary, overall, long, protocol, labels))
    table = pl.DataFrame(rows)
    if protocol.published or protocol.published_mean is not None:
        published = [protocol.published.get(r["target"]) if r["target"] != "mean"
                     else protocol.published_mean for r in rows]
        table = table.with_columns(pl.Series(published_label, [
            _num(v) if r["method"] == OURS else "" for v, r in zip(published, rows, strict=True)
        ]))
    return table.to_arrow()


def _paper_row(target: str, method: str, summary: pl.DataFrame, overall: pl.DataFrame,
               long: pl.DataFrame, protocol: Protocol, labels: dict[int, str]) -> dict[str, str]:
    runs = long.filter(pl.col("method") == method)
    if target != "mean":
        runs = runs.filter(pl.col("target") == target)
    last = max(protocol.samples)
    proxies = runs.filter(pl.col("n_samples") == last)["proxy"].drop_nulls()
    proxy = ""
    if target != "mean" and proxies.len():
        top = proxies.mode().sort()[0]
        proxy = f"{top} ({(proxies == top).mean():.0%})"
    before = runs.group_by("seed").agg(pl.col("before_srcc").mean())["before_srcc"]
    row = {"target": target, "method": method, f"proxy at n={last}": proxy,
           "before": _pm(before.mean(), None) if before.drop_nulls().len() else ""}
    for n in protocol.samples:
        if target == "mean":
            s = overall.filter((pl.col("method") == method) & (pl.col("n_samples") == n))
        else:
            s = summary.filter((pl.col("target") == target) & (pl.col("method") == method)
                               & (pl.col("n_samples") == n))
        s = s.row(0, named=True)
        row[labels[n]] = _pm(s["after_srcc_mean"], s["after_srcc_std"])
    return row


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _budgets(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Option callback: --budgets parses (a usage error otherwise)."""
    if value is not None:
        try:
            parse_budget_spec(value)
        except BadBudget as exc:
            raise click.BadParameter(str(exc), ctx, param) from None
    return value


@click.command()
@click.option("--protocol", "protocol_spec", required=True,
              help="A built-in protocol (oneproxy-nb201, help-nb201, help-fbnet, "
              "help-nb201-paper, help-fbnet-paper, oneproxy-notebook, nasflat-…) or a "
              ".toml / .json file defining one.")
@click.option("--samples", "samples_spec", default=None,
              help="Override the sample counts n, e.g. 5,10,20.")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="Override the number of seeds per target and n.")
@click.option("--first-seed", type=click.IntRange(min=0), default=None,
              help="Seeds start here (default the protocol's, 0): tune on other seeds than "
              "those you report.")
@click.option("--strategy", type=click.Choice(STRATEGY_CHOICES), default=None,
              help="Override the adaptation strategy.")
@click.option("--search", "loop", is_flag=True,
              help="Simulate the verify loop (plan/sample → adapt → pick → propose → measure …) "
              "on every target instead of scoring SRCC.")
@click.option("--budgets", default=None, callback=_budgets,
              help=f"With --search: latency budgets per target [default: {DEFAULT_BUDGETS}, "
              "percentiles of its latency; or ms, e.g. 5ms,10ms].")
@click.option("--rounds", type=click.IntRange(min=1), default=None,
              help="With --search: at most this many measuring rounds [default: 5].")
@click.option("--per-budget", type=click.IntRange(min=1), default=None,
              help="With --search: at most this many measurements per budget and round "
              "[default: 1].")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=None, help="With --search: interval confidence of the picks [default: 0.9].")
@click.option("--min-gain", type=click.FloatRange(min=0), default=None,
              help="With --search: a budget with a verified pick measures only candidates "
              f"expected to gain this much accuracy (pp) over it [default: {MIN_GAIN_PP:g}].")
@click.option("--draw", type=click.Choice([*DRAWS, "both"]), default=None,
              help="With --search: the first n measurements drawn at random (per seed, as the "
              "protocol draws them), planned (`oneproxy plan`, one run per target) or both "
              "[default: both].")
@click.option("--dataset", default=None,
              help="With --search: the accuracy the picks maximise [default: the latency "
              "dataset's, NB201 cifar10].")
@save_option(f"{SUMMARY_TABLE} (per target and n) and {EVAL_TABLE} (per seed); with --search "
             f"{LOOP_TABLE} (per run)")
@output_options
@scale_options
@warehouse_option
def evaluate(wh: Warehouse, engine: Engine, protocol_spec: str, samples_spec: str | None,
             seeds: int | None, first_seed: int | None, strategy: str | None, loop: bool,
             save: bool, fmt: str, output: Path | None, **loop_options: str | int | float | None,
             ) -> None:
    """Run an AdaProxy evaluation protocol: adapt every target × n × seed and score it.

    Per seed, n of the target's measured architectures are drawn (HELP protocols count their
    10 reference architectures among the n), the proxy is adapted with them, and both the raw
    proxy ("before") and the adapted predictions ("after") are scored by SRCC on every other
    architecture the target measured (or on the paper's own scoring set: help-*-paper score
    HELP's 800 query architectures, oneproxy-notebook all 1,999). Beside ours (method
    adaproxy), every seed scores the baselines flops, params, raw_proxy and ridge on the same
    samples. The table shows mean ± std over seeds, one row per target and method; --format
    csv/json gives the full summary (Kendall, RMSE, MAPE, share within ±10%).

    With --search, every target × n × seed instead runs the verify loop a practitioner runs,
    "measuring" by looking the target's true latency up: adapt on what is measured, pick per
    budget (verified, or likely: upper bound within it), measure what `propose` lists, and
    again, until nothing is left worth measuring (no candidate expected to beat a verified
    pick by --min-gain pp, as `propose` lists) or --rounds ran out. The loop ships verified picks
    only: a budget whose best pick is still unmeasured when the loop ends falls back to its
    best measured pick, or none (pending_share, final_none_share). Per target (and over
    all targets): the first round's share of picks over budget and interval coverage, the
    shipped picks' share over budget and share of budgets without one, mean / max regret (pp
    of accuracy) against the target's true optimum, extra measurements per budget; --draw
    compares random and planned first measurements.

    \b
    Examples:
      oneproxy evaluate --protocol help-nb201
      oneproxy evaluate --protocol help-nb201-paper --samples 10 --seeds 10 --format json
      oneproxy evaluate --protocol oneproxy-nb201 --samples 10,20 --seeds 5 --format csv
      oneproxy evaluate --protocol my-protocol.toml --strategy linear --no-save
      oneproxy evaluate --protocol help-nb201 --search --samples 20 --draw both --save
      oneproxy evaluate --protocol oneproxy-nb201 --search --samples 20 --seeds 5 \\
          --first-seed 100 --budgets q10,q50,q90 --rounds 3 --per-budget 2 --draw random
    """
    given = [f"--{k.replace('_', '-')}" for k in LOOP_OPTIONS if loop_options[k] is not None]
    if given and not loop:
        raise click.UsageError(f"{', '.join(given)} apply to --search only")
    protocol = with_overrides(get_protocol(protocol_spec), int_list(samples_spec, "--samples"),
                              seeds, strategy, first_seed)
    if loop:
        _evaluate_loop(wh, engine, protocol, save, fmt, output, **loop_options)
        return
    with progress_callback() as on_progress:
        result = api.evaluate(wh, protocol, on_progress, engine)
    if save:
        api.save_evaluation(wh, result)
    if fmt == "table":
        title = (f"{protocol.name}: SRCC on {protocol.space}, strategy {protocol.strategy}, "
                 f"{protocol.seeds} seeds")
        render(paper_table(result, protocol), fmt, output, title=title)
    else:
        render(result.summary, fmt, output)
    if protocol.published_source:
        click.echo(f"published: {protocol.published_source}", err=True)


def _evaluate_loop(wh: Warehouse, engine: Engine, protocol: Protocol, save: bool, fmt: str,
                   output: Path | None, budgets: str | None, rounds: int | None,
                   per_budget: int | None, confidence: float | None, min_gain: float | None,
                   draw: str | None, dataset: str | None) -> None:
    """`evaluate --search`: simulate the loop, store the runs if asked, render the summary."""
    chosen = {"budgets": budgets, "rounds": rounds, "per_budget": per_budget,
              "confidence": confidence, "min_gain": min_gain}
    settings = LoopSettings(**{k: v for k, v in chosen.items() if v is not None},
                            draws=DRAWS if draw in (None, "both") else (draw,))
    with progress_callback() as on_progress:
        rows = loop_api.simulate_loop(wh, protocol, settings, dataset, on_progress, engine)
    if save:
        loop_api.save_loop(wh, rows)
    title = (f"{protocol.name}: verify loop at {settings.budgets}, ≤ {settings.rounds} rounds × "
             f"{settings.per_budget} per budget, confidence {settings.confidence:g}, min gain "
             f"{settings.min_gain:g} pp, seeds "
             f"{protocol.first_seed}…{protocol.first_seed + protocol.seeds - 1}")
    summary = summarize_loop(rows)
    if fmt == "table":  # three decimals on a terminal; csv / json keep every digit
        summary = pl.from_arrow(summary).with_columns(pl.col(pl.Float64).round(3)).to_arrow()
    render(summary, fmt, output, title=title)
    click.echo("shares of picks over budget are over the picks made; final_* counts the shipped "
               "(verified) picks — a measurement is the truth here, so none is over budget; "
               "pending: budgets whose best pick was still unmeasured when the loop ended",
               err=True)
