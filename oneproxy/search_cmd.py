"""`oneproxy search`: parse the options, call `oneproxy.api.search`, render the picks."""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl
import pyarrow as pa

from oneproxy.analytics.adaproxy import MIN_SAMPLES
from oneproxy.analytics.intervals import DEFAULT_CONFIDENCE
from oneproxy.analytics.protocols import STRATEGY_CHOICES
from oneproxy.api import search as api
from oneproxy.api.search import RESULT_TABLE, SearchData
from oneproxy.options import (
    names,
    out_file_option,
    output_options,
    save_option,
    scale_options,
    space_option,
    warehouse_option,
)
from oneproxy.output import render
from oneproxy.scale import Engine
from oneproxy.search.budgets import parse_budget_spec
from oneproxy.search.exhaustive import pareto_front
from oneproxy.search.oneproxy import ProxyEval, summarize
from oneproxy.search.proxy_choice import AUTO
from oneproxy.warehouse.store import Warehouse

_SHORT_OPS = {
    "nor_conv_3x3": "conv3", "nor_conv_1x1": "conv1", "skip_connect": "skip",
    "avg_pool_3x3": "pool",
}


def _compact(table: pa.Table, with_proxy: bool) -> pa.Table:
    """The columns worth a terminal: device, budget, short arch string, accuracy, latency."""
    short = pl.col("arch_key").str.replace_all(r"~\d+", "").str.strip_chars("|")
    short = short.str.replace_all("|+|", " + ", literal=True)
    short = short.str.replace_all("|", " ", literal=True)
    for name, abbrev in _SHORT_OPS.items():
        short = short.str.replace_all(name, abbrev, literal=True)
    columns = [
        pl.col("device_id").alias("device"), pl.col("budget_ms"),
        short.fill_null("(nothing fits)").alias("arch"),
        pl.col("accuracy"), pl.col("latency_ms"),
    ]
    if with_proxy:
        columns += [pl.col("predicted_ms"), pl.col("regret"), pl.col("violation_ms")]
    return pl.from_arrow(table).select(columns).to_arrow()


def _compact_picks(picks: pa.Table) -> pa.Table:
    """The budget-aware picks' columns worth a terminal."""
    return pl.from_arrow(picks).select(
        pl.col("device_id").alias("device"), "budget_ms", "arch_id", "accuracy", "predicted_ms",
        "upper_ms", "measured_ms", "status", "p_fit").to_arrow()


def _picks_notes(picks: pa.Table, verified_only: bool) -> None:
    rows = pl.from_arrow(picks)
    counts = rows["status"].value_counts(sort=True)
    click.echo("devices that measured part of the space adapted now from everything they "
               "measured (the others picked on their measurements); picks: "
               + ", ".join(f"{n} {s}" for s, n in counts.iter_rows()), err=True)
    none = rows.filter(pl.col("status") == "none")
    if verified_only and none.height:
        click.echo(f"no verified pick for {none.height} budget(s): measure what `oneproxy "
                   "propose` lists, import it with `ingest table --append`, and search again",
                   err=True)


def _pp(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} pp"


def _notes(data: SearchData, dataset: str, table: pa.Table, proxy: str | None) -> list[str]:
    notes = []
    partial = [d for d, p in zip(data.targets, data.partial, strict=True) if p]
    if partial:
        notes.append(
            f"partial coverage: {', '.join(partial)} measured fewer than the space's "
            f"{data.arch_ids.size:,} architectures and were searched over what they have"
        )
    other = sorted({d for d in data.latency_datasets if d != dataset})
    if other:
        notes.append(
            f"latency is measured on the {', '.join(other)} input for every device; it is "
            f"paired with {dataset} accuracy"
        )
    if proxy == AUTO:
        chosen = pl.from_arrow(table).unique("device_id", maintain_order=True)
        picks = ", ".join(f"{d} <- {p}" for d, p in zip(chosen["device_id"],
                                                         chosen["chosen_proxy"], strict=True))
        notes.append(f"proxy chosen per target by leave-one-out on its samples: {picks}")
    if proxy is not None:
        s = summarize(table).to_pylist()[0]
        notes.append(
            f"via {proxy}: {s['judged']} of {s['picks']} picks judged, "
            f"{100 * (s['violation_share'] or 0):.1f}% of them over budget; regret of the picks "
            f"that fit: mean {_pp(s['mean_regret_fitting'])}, max {_pp(s['max_regret_fitting'])}"
            f"; {s['no_pick']} budgets without a pick, {s['unjudged']} picks the target never "
            "measured"
        )
    return notes


def _fronts(data: SearchData, evaluation: ProxyEval | None, proxy: str | None) -> dict:
    """Per target: its true front, and the proxy-derived set placed at its true latencies."""
    fronts = {}
    for t, device in enumerate(data.targets):
        if evaluation is None:
            true_idx = pareto_front(data.true[t], data.accuracy)
            fronts[f"{device} (true)"] = (data.true[t, true_idx], data.accuracy[true_idx])
            continue
        for idx, label in ((evaluation.true_fronts[t], "(true)"),
                           (evaluation.proxy_fronts[t], f"via {proxy}")):
            fronts[f"{device} {label}"] = (data.true[t, idx], data.accuracy[idx])
    return fronts


@click.command()
@space_option
@click.option("--dataset", default=None,
              help="Accuracy dataset: cifar10, cifar100 or ImageNet16-120 for nb201 [default: "
              "the space's only one].")
@click.option("--devices", "device_spec", default="all", show_default=True,
              help="Target devices: 'all' or a comma list such as pixel3,fpga.")
@click.option("--budget", "budget_spec", required=True,
              help="Latency budgets: '5ms,10ms', 'q10,q50' (per-device percentiles) or "
              "'q5:q95:50' (a range of 50).")
@click.option("--proxy", default=None,
              help="Pick with this device's latencies and judge the picks on each target; "
              "'auto' (with --samples) chooses the proxy per target by leave-one-out on its "
              "samples.")
@click.option("--samples", type=click.IntRange(min=MIN_SAMPLES), default=None,
              help="With --proxy: adapt the proxy's linear predictor with N target samples "
              "(AdaProxy).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the target-sample draw.")
@click.option("--strategy", type=click.Choice(STRATEGY_CHOICES), default=AUTO,
              show_default=True, help="With --samples: how the proxy is adapted (see "
              "`oneproxy adapt --help`); auto chooses by leave-one-out on the samples.")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=None, help="Pick on the devices' adapted predictions (for devices that "
              "measured only some architectures): the most accurate architecture measured within "
              "each budget or whose upper bound at this confidence is (e.g. 0.9). With --proxy "
              "and --samples: make the AdaProxy picks the same way (method adaproxy@C).")
@click.option("--verified-only", is_flag=True,
              help="With predictions: answer a budget only with an architecture measured within "
              "it (status verified).")
@click.option("--measured-only", is_flag=True,
              help="Search named devices that measured only part of the space over what they "
              "measured, not on their predictions.")
@out_file_option("--pareto", help="Draw the Pareto fronts of the target devices to FILE.png.")
@save_option(RESULT_TABLE)
@output_options
@scale_options
@warehouse_option
def search(wh: Warehouse, engine: Engine, space: str, dataset: str | None, device_spec: str,
           budget_spec: str, proxy: str | None, samples: int | None, seed: int, strategy: str,
           confidence: float | None, verified_only: bool, measured_only: bool,
           pareto: Path | None, save: bool, fmt: str, output: Path | None) -> None:
    """Most accurate architecture per device under each latency budget.

    Without --proxy each device is searched with its own latencies (the optimum). With
    --proxy P the picks are made with P's latencies (or, with --samples N, AdaProxy
    predictions adapted with N target measurements; adding --confidence C makes them on the
    upper ends of the intervals at C instead, which keeps most picks within budget) and judged
    on each target: regret is the target's optimum accuracy minus the picked one, a violation
    is a pick whose true latency exceeds the budget. NAS-Bench-201 latency is measured on the
    CIFAR-10 input on every device; a search on cifar100 or ImageNet16-120 pairs it with that
    dataset's accuracy.
    Named devices that measured only part of the space are searched on their adapted
    predictions (adapted now from everything they measured; --measured-only searches only what
    they measured, as --devices all does): each row then says `status` (verified: measured
    within the budget; likely: upper bound at --confidence, default 0.9, within it; none) and
    `p_fit`, the estimated probability that the pick fits; a measurement always wins over a
    prediction. `oneproxy propose` lists what to measure next to verify a likely pick.

    \b
    Examples:
      oneproxy search --dataset cifar100 --devices pixel3,fpga --budget 5ms,10ms
      oneproxy search --dataset cifar100 --budget q5:q95:50 --proxy pixel3 --format csv
      oneproxy search --dataset cifar10 --devices raspi4 --budget 20ms --proxy pixel3 \\
          --samples 20 --seed 1 --pareto raspi4.png
      oneproxy search --dataset cifar100 --devices fpga,eyeriss --budget q10,q50 \\
          --proxy auto --samples 20
      oneproxy search --dataset cifar100 --budget q10,q50 --proxy pixel3 --samples 20 \\
          --confidence 0.9
      oneproxy search --dataset cifar100 --devices my_phone --budget 5ms,10ms --confidence 0.9
      oneproxy search --devices my_phone --budget 10ms --verified-only
    """
    if samples is not None and proxy is None:
        raise click.UsageError("--samples adapts a proxy's predictor: give --proxy too")
    if proxy == AUTO and samples is None:
        raise click.UsageError("--proxy auto chooses by the target's samples: give --samples N")
    devices = None if device_spec.strip() == "all" else names(device_spec)
    if confidence is not None and proxy is not None and samples is None:
        raise click.UsageError("--confidence with --proxy picks on adapted intervals: give "
                               "--samples N")
    predicted = (confidence is not None or verified_only) and proxy is None
    if verified_only and proxy is not None:
        raise click.UsageError("--verified-only picks on named devices' own predictions: "
                               "give --devices and no --proxy / --samples")
    if predicted and devices is None:
        raise click.UsageError("--confidence / --verified-only without --proxy pick on named "
                               "devices' own predictions: give --devices")
    if measured_only and (predicted or proxy is not None):
        raise click.UsageError("--measured-only searches devices over what they measured: "
                               "drop --confidence / --verified-only / --proxy")
    dataset = api.search_dataset(wh, space, dataset, devices)
    partial = ([] if predicted or proxy is not None or devices is None or measured_only
               else api.partial_devices(wh, space, devices))
    if partial:
        click.echo(f"{', '.join(partial)} measured only part of {space}: picks on adapted "
                   f"predictions at confidence {DEFAULT_CONFIDENCE:g} (--measured-only searches "
                   "what was measured)", err=True)
    if predicted or partial:
        picks = api.search_predicted(wh, space, dataset, devices, parse_budget_spec(budget_spec),
                                     confidence=confidence or DEFAULT_CONFIDENCE,
                                     verified_only=verified_only)
        render(_compact_picks(picks) if fmt == "table" else picks, fmt, output,
               title=f"search {space} {dataset} (predictions)")
        _picks_notes(picks, verified_only)
        if save or pareto is not None:
            click.echo("--save and --pareto apply to searches of measured latencies: picks on "
                       "predictions are not stored or drawn (--measured-only searches what was "
                       "measured)", err=True)
        return
    found = api.search(wh, space, dataset, parse_budget_spec(budget_spec), devices=devices,
                       proxy=proxy, samples=samples, seed=seed, strategy=strategy,
                       engine=engine, confidence=confidence,
                       measured_only=True)  # partial named devices went to search_predicted
    data, table, evaluation = found.data, found.table, found.evaluation
    if save:
        api.save_results(wh, table)
    if pareto is not None:
        from oneproxy.search.plots import draw_pareto  # matplotlib only when drawing

        via = f", picks via {proxy}" if proxy else ""
        draw_pareto(pareto, _fronts(data, evaluation, proxy),
                    f"{space} {dataset}: accuracy vs latency Pareto fronts{via}")
    shown = _compact(table, proxy is not None) if fmt == "table" else table
    render(shown, fmt, output, title=f"search {space} {dataset}")
    if found.thin:
        click.echo(f"not searched (fewer than {2 * samples} measured architectures, too few to "
                   f"draw {samples} samples and judge the rest): {', '.join(found.thin)}",
                   err=True)
    for note in _notes(data, dataset, table, proxy):
        click.echo(note, err=True)
