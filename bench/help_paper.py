"""Benchmark: HELP's own split validated by its published FLOPs row, then ours against HELP's table.

The protocols `help-nb201-paper` / `help-fbnet-paper` rebuild HELP's loader split
(`analytics.splits.help_split`, the file and lines are in `analytics.protocols`). A split that
is right must reproduce a published number that does not depend on any predictor: HELP's
Table 2 ranks NAS-Bench-201 by FLOPs alone on each meta-test device's 800 query architectures,
0.950 / 0.826 / 0.900 / 0.765 on the Titan RTX (batch 256), Xeon Gold 6226, FPGA and Pixel 2
(the row as quoted in issue 17; the stored copies of the paper we could search gave only its
opening). This script prints FLOPs SRCC on the reconstructed query sets beside those numbers,
and on the whole space for contrast; then, with --seeds, runs the protocol (ours and the
baselines, `analytics.evaluate.run_protocol`) and prints ours at n = 20 (HELP's 10 reference
+ 10 samples) against HELP's published SRCC per target, with the ratio.

    python -m bench.help_paper --warehouse DIR [--space nb201|fbnet] [--seeds 20]
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import polars as pl
from oneproxy.analytics import baselines
from oneproxy.analytics.evaluate import device_split, run_protocol
from oneproxy.analytics.protocols import BUILTIN, with_overrides
from oneproxy.warehouse.store import Warehouse
from scipy.stats import spearmanr

from oneproxy.api.evaluate import load_protocol_data

HELP_FLOPS = {"titan_rtx_256": 0.950, "gold_6226": 0.826, "fpga": 0.900, "pixel2": 0.765}
PROTOCOLS = {"nb201": "help-nb201-paper", "fbnet": "help-fbnet-paper"}


@click.command()
@click.option("--warehouse", type=click.Path(path_type=Path), default="oneproxy-warehouse")
@click.option("--space", type=click.Choice(list(PROTOCOLS)), default="nb201")
@click.option("--seeds", type=int, default=0, help="Also run the protocol with this many seeds.")
def main(warehouse: Path, space: str, seeds: int) -> None:
    protocol = BUILTIN[PROTOCOLS[space]]
    data = load_protocol_data(Warehouse(warehouse), protocol)
    flops = baselines.cost(data.features, "flops")
    click.echo(f"{protocol.name}: FLOPs SRCC on HELP's query set, against HELP's FLOPs row")
    click.echo(f"{'target':<16}{'query':>7}{'ours':>8}{'HELP':>8}{'diff':>8}{'full space':>12}")
    for target in protocol.targets:
        row = data.row(target)
        scored = device_split(protocol, data, target).scored
        ours = spearmanr(flops[scored], row[scored]).statistic
        full = spearmanr(flops[np.isfinite(row)], row[np.isfinite(row)]).statistic
        published = HELP_FLOPS.get(target) if space == "nb201" else None
        diff = "" if published is None else f"{ours - published:+.3f}"
        click.echo(f"{target:<16}{scored.size:>7}{ours:>8.3f}"
                   f"{'' if published is None else f'{published:.3f}':>8}{diff:>8}{full:>12.3f}")
    if seeds:
        _against_help(protocol, data, seeds)


def _against_help(protocol, data, seeds: int) -> None:
    run = with_overrides(protocol, samples=(protocol.published_samples,), seeds=seeds)
    summary = pl.from_arrow(run_protocol(run, data).summary)
    click.echo(f"\n{run.name}, n = {run.published_samples} (10 reference + 10 samples), "
               f"{seeds} seeds: mean SRCC per method, and ours against HELP")
    wide = summary.pivot(on="method", index="target", values="after_srcc_mean")
    methods = [m for m in baselines.METHODS if m in wide.columns]
    click.echo(f"{'target':<16}" + "".join(f"{m:>11}" for m in methods) + f"{'HELP':>8}"
               f"{'ours/HELP':>11}")
    for r in wide.iter_rows(named=True):
        published = run.published[r["target"]]
        click.echo(f"{r['target']:<16}" + "".join(f"{r[m]:>11.3f}" for m in methods)
                   + f"{published:>8.3f}{r[baselines.OURS] / published:>11.3f}")
    means = {m: wide[m].mean() for m in methods}
    click.echo(f"{'mean':<16}" + "".join(f"{means[m]:>11.3f}" for m in methods)
               + f"{run.published_mean:>8.3f}{means[baselines.OURS] / run.published_mean:>11.3f}")


if __name__ == "__main__":
    main()
