"""Benchmark: the verify loop (measure a few, adapt, pick, verify) simulated on known devices.

For every target of the `help-nb201` and `oneproxy-nb201` protocols and every seed, the target's
n initial samples are drawn as the protocol draws them (`analytics.evaluate.draw_samples`) — or
planned (`analytics.planning.plan`, `--planned`) — and `search.loop.run_loop` runs at budgets
q10, q25, q50, q75, q90 of the target's latency, with CIFAR-10 test accuracy. Printed per target:
the first round's over-budget share and interval coverage, the final over-budget share, mean /
max regret (pp) of the final picks against the target's true optimum, extra measurements per
budget; and the SRCC of the first-round adaptation (on the architectures outside the samples)
against the better of the target's FLOPs ranking and the raw proxy that ranks the samples best.
Run from the repository root:

    python -m bench.verify_loop --warehouse DIR [--seeds 0:20] [--n 20] [--rounds 5]
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import polars as pl
from oneproxy.analytics.adaptation import ProxyModels
from oneproxy.analytics.evaluate import draw_samples
from oneproxy.analytics.planning import plan
from oneproxy.analytics.protocols import get_protocol
from oneproxy.search.loop import run_loop
from oneproxy.warehouse.store import Warehouse
from scipy.stats import spearmanr

from bench.common import read
from oneproxy.api.evaluate import load_protocol_data

PROTOCOLS = ("help-nb201", "oneproxy-nb201")
QUANTILES = (10, 25, 50, 75, 90)
ACCURACY_DATASET = "cifar10"


def _srcc(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(spearmanr(a[ok], b[ok]).statistic)


def run_protocol(warehouse: Path, name: str, seeds: range, n: int, rounds: int,
                 per_budget: int, planned: bool) -> pl.DataFrame:
    protocol = get_protocol(name)
    data = load_protocol_data(Warehouse(warehouse), protocol)
    acc_rows = read(warehouse, "SELECT a.arch_key, acc.value FROM architectures a JOIN accuracy "
                    "acc USING (space_id, arch_id) WHERE a.space_id = ? AND acc.dataset = ? "
                    "AND acc.metric = 'test_accuracy'", [protocol.space, ACCURACY_DATASET])
    by_key = dict(zip(acc_rows["arch_key"], acc_rows["value"], strict=True))
    accuracy = np.array([by_key.get(k, np.nan) for k in data.features.arch_keys])
    flops = data.features.matrix("kernel")[:, data.features.columns["kernel"].index("flops_m")]
    models = {p: ProxyModels.of(data.features, data.row(p)) for p in protocol.proxies}
    rows = []
    for target in protocol.targets:
        true = data.row(target)
        cands = {p: m for p, m in models.items() if p != target}
        measured = np.flatnonzero(np.isfinite(true))
        budgets = np.nanpercentile(true, QUANTILES)
        reference = data.reference if protocol.reference else None
        for seed in seeds:
            initial = (plan(data.features, n, pool=measured) if planned
                       else draw_samples(measured, n, seed, reference))
            out = run_loop(true, cands, accuracy, budgets, initial, rounds=rounds,
                           per_budget=per_budget)
            held = true.copy()
            held[initial] = np.nan
            by_samples = max(cands, key=lambda p: _srcc(cands[p].filled[initial], true[initial]))
            raw = _srcc(cands[by_samples].proxy_latency, held)
            rows.append({
                "target": target, "seed": seed, "first_over": out.first_over,
                "first_coverage": out.first_coverage, "final_over": out.final_over,
                "final_verified": float(np.mean(out.final.status == "verified")),
                "mean_regret": float(np.nanmean(out.regret)),
                "max_regret": float(np.nanmax(out.regret)),
                "extra_per_budget": out.extra / budgets.size,
                "srcc": _srcc(out.first_predicted, held),
                "baseline_srcc": max(_srcc(flops, held), raw),
            })
            if planned:
                break
    return pl.DataFrame(rows).with_columns(protocol=pl.lit(name))


@click.command()
@click.option("--warehouse", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--seeds", default="0:20", show_default=True, help="START:STOP of the seeds")
@click.option("--n", "n", default=20, show_default=True, help="initial samples per target")
@click.option("--rounds", default=5, show_default=True)
@click.option("--per-budget", default=1, show_default=True)
@click.option("--planned", is_flag=True, help="plan the initial samples instead of drawing them")
@click.option("--protocol", "protocols", multiple=True, default=PROTOCOLS, show_default=True)
def main(warehouse: Path, seeds: str, n: int, rounds: int, per_budget: int, planned: bool,
         protocols: tuple[str, ...]) -> None:
    """Simulate the verify loop on the protocols' targets and print the goals' figures."""
    start, stop = (int(x) for x in seeds.split(":"))
    frame = pl.concat([run_protocol(warehouse, p, range(start, stop), n, rounds, per_budget,
                                    planned) for p in protocols])
    per_target = (
        frame.group_by("protocol", "target", maintain_order=True)
        .agg(pl.col("first_over").mean(), pl.col("first_coverage").mean(),
             pl.col("final_over").mean(), pl.col("final_verified").mean(),
             pl.col("mean_regret").mean(), pl.col("max_regret").max(),
             pl.col("extra_per_budget").mean(), pl.col("srcc").mean(),
             pl.col("baseline_srcc").mean())
        .with_columns(srcc_vs_baseline=pl.col("srcc") - pl.col("baseline_srcc"))
    )
    with pl.Config(tbl_rows=100, tbl_cols=20, float_precision=3, tbl_width_chars=200):
        print(per_target)
        print(per_target.group_by("protocol", maintain_order=True).agg(
            pl.col("first_over").mean(), pl.col("first_coverage").mean(),
            pl.col("final_over").mean(), pl.col("mean_regret").mean(),
            pl.col("max_regret").max(), pl.col("extra_per_budget").mean(),
            worst_srcc_vs_baseline=pl.col("srcc_vs_baseline").min()))


if __name__ == "__main__":
    main()
