"""Issue 13's "never worse" goal, measured: adapted SRCC against the best of the trivial
baselines a user would try without us (FLOPs ranking, the raw proxy chosen on the samples).

Reads the `predictor_eval` rows the protocols stored (`oneproxy run`, or `oneproxy evaluate
--protocol P --save`) and prints, per protocol, the mean adapted SRCC over its rows, the worst
target × n by the mean SRCC over seeds (mean adaproxy − the better of mean flops and mean
raw_proxy), how many target × n fall more than 0.01 below, and the worst single seed (against
the better baseline of that seed); then the same over all protocols.

    python -m bench.never_worse --warehouse oneproxy-warehouse
"""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl
from oneproxy.warehouse.store import Warehouse

MARGIN = 0.01
BASELINES = ("flops", "raw_proxy")


def gaps(rows: pl.DataFrame) -> pl.DataFrame:
    """Per protocol × target × n × seed: ours, the best baseline, and ours − best."""
    wide = rows.pivot(on="method", index=["protocol", "target", "n_samples", "seed"],
                      values="after_srcc")
    present = [b for b in BASELINES if b in wide.columns]
    return wide.with_columns(best=pl.max_horizontal(present)).with_columns(
        gap=pl.col("adaproxy") - pl.col("best")).drop_nulls("gap")


@click.command()
@click.option("--warehouse", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=Path("oneproxy-warehouse"), show_default=True)
def main(warehouse: Path) -> None:
    rows = pl.from_arrow(Warehouse(warehouse).read("predictor_eval"))
    per_seed = gaps(rows.filter(pl.col("method").is_in(["adaproxy", *BASELINES])))
    means = [pl.col(c).mean() for c in ("adaproxy", *BASELINES) if c in per_seed.columns]
    per_target = per_seed.group_by("protocol", "target", "n_samples").agg(means).with_columns(
        best=pl.max_horizontal([c for c in BASELINES if c in per_seed.columns])).with_columns(
        gap=pl.col("adaproxy") - pl.col("best"))
    click.echo(f"{'protocol':<20} {'mean':>6}  {'worst target':<22} {'n':>3} {'ours':>6} "
               f"{'best':>6} {'gap':>7}  below -{MARGIN} (target × n)   worst seed gap")
    for protocol, group in sorted(per_target.group_by("protocol"), key=lambda g: g[0][0]):
        worst = group.sort("gap").row(0, named=True)
        below = group.filter(pl.col("gap") < -MARGIN).height
        mine = per_seed.filter(pl.col("protocol") == protocol[0])
        click.echo(f"{protocol[0]:<20} {mine['adaproxy'].mean():6.3f}  {worst['target']:<22} "
                   f"{worst['n_samples']:>3} {worst['adaproxy']:6.3f} {worst['best']:6.3f} "
                   f"{worst['gap']:+7.3f}  {below:>3} of {group.height:<3}"
                   f"                  {mine['gap'].min():+.3f}")
    overall = per_target.sort("gap").row(0, named=True)
    click.echo(f"worst over all protocols: {overall['protocol']} {overall['target']} "
               f"n={overall['n_samples']}: {overall['gap']:+.3f} (mean over seeds); "
               f"{per_target.filter(pl.col('gap') < -MARGIN).height} of {per_target.height} "
               f"target × n below -{MARGIN}; mean adapted SRCC {per_seed['adaproxy'].mean():.4f}")


if __name__ == "__main__":
    main()
