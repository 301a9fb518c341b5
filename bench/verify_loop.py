"""Benchmark: the verify loop (measure a few, adapt, pick, verify) simulated on known devices.

For every target of the `help-nb201` and `oneproxy-nb201` protocols, `oneproxy.api.loop`
(`search.loop_eval`) runs the loop from n random (per seed) and planned first measurements at
budgets q10, q25, q50, q75, q90 of the target's latency, picking for CIFAR-10 test accuracy.
Printed per target and over all targets: the first round's over-budget share and interval
coverage, the shipped picks' over-budget share and share of budgets without one, mean / max
regret (pp), extra measurements per budget; and the first round's SRCC against the better of the
target's FLOPs ranking and the raw proxy that ranks the samples best (the worst gap last). The
same figures as `oneproxy evaluate --search`. `--min-gain` is the loop's `LoopSettings.min_gain`
(the expected gain, pp, below which a budget with a verified pick measures no more) for the
trade-off between extra measurements and regret. Run from the repository root:

    python -m bench.verify_loop --warehouse DIR [--seeds 0:20] [--n 20] [--rounds 5] [--min-gain G]
"""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl
from oneproxy.analytics.protocols import get_protocol, with_overrides
from oneproxy.search.loop_eval import ALL_TARGETS, LoopSettings, summarize_loop
from oneproxy.search.picks import MIN_GAIN_PP
from oneproxy.warehouse.store import Warehouse

from oneproxy.api.loop import simulate_loop

PROTOCOLS = ("help-nb201", "oneproxy-nb201")


@click.command()
@click.option("--warehouse", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--seeds", default="0:20", show_default=True, help="START:STOP of the seeds")
@click.option("--n", "n", default=20, show_default=True, help="initial samples per target")
@click.option("--rounds", default=5, show_default=True)
@click.option("--per-budget", default=1, show_default=True)
@click.option("--protocol", "protocols", multiple=True, default=PROTOCOLS, show_default=True)
@click.option("--min-gain", type=click.FloatRange(min=0), default=MIN_GAIN_PP, show_default=True)
def main(warehouse: Path, seeds: str, n: int, rounds: int, per_budget: int,
         protocols: tuple[str, ...], min_gain: float) -> None:
    """Simulate the verify loop on the protocols' targets and print the goals' figures."""
    start, stop = (int(x) for x in seeds.split(":"))
    settings = LoopSettings(rounds=rounds, per_budget=per_budget, min_gain=min_gain)
    runs = [simulate_loop(Warehouse(warehouse), with_overrides(get_protocol(p), samples=(n,),
                                                                 seeds=stop - start,
                                                                 first_seed=start), settings)
            for p in protocols]
    summary = pl.concat([pl.from_arrow(summarize_loop(r)) for r in runs]).with_columns(
        srcc_vs_baseline=pl.col("first_srcc") - pl.col("baseline_srcc"))
    per_target = summary.filter(pl.col("target") != ALL_TARGETS)
    worst = per_target.group_by("protocol", "draw").agg(
        worst_srcc_vs_baseline=pl.col("srcc_vs_baseline").min())
    overall = summary.filter(pl.col("target") == ALL_TARGETS).join(
        worst, on=["protocol", "draw"], how="left", maintain_order="left")
    with pl.Config(tbl_rows=200, tbl_cols=20, float_precision=3, tbl_width_chars=250):
        print(per_target.drop("n_samples"))
        print(overall.drop("target", "n_samples"))

if __name__ == "__main__":
    main()
