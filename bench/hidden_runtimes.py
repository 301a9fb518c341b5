"""Stress test: runtimes that are not in the public data, built from public devices.

Issue 13's hidden devices run NB201 cells with dead or disconnected ops in ways no public device
does. This bench makes such runtimes from full-coverage public devices (the bases) and asks how
adaptation, the intervals and the verify loop fare on them. Per base device and runtime, every
architecture's latency is the base's, changed by its cell class (`analytics.intervals`), times
3 % log-normal noise (a fixed seed per runtime and base):

- ``costly``: a disconnected cell is as slow as the base's 99th percentile (±10 %, uniform), the
  slowest of all; a cell with dead ops takes 1.3× the base;
- ``execute``: dead ops run: a cell with dead ops takes 1.5×, a disconnected one 2×.

The synthetic devices (``syn_<runtime>_<base>``) are imported with `oneproxy ingest table` into
a copy of the warehouse (the given one is not changed) and evaluated as the targets of a
protocol with HELP's NB201 proxies (`help-nb201`, proxy chosen per target and seed): the SRCC
protocol at n = 5, 10, 20 (ours, FLOPs and the raw proxy chosen on the samples, and the gap to
the better of the two) and the verify loop at n = 20 (the figures of `oneproxy evaluate
--search`, random and planned first measurements; `--min-gain` as in `bench.verify_loop`). Run
from the repository root:

    python -m bench.hidden_runtimes --warehouse DIR [--bases raspi4,pixel2,fpga] [--seeds 10]
        [--min-gain G]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import click
import numpy as np
import polars as pl
from oneproxy.analytics.intervals import CELL_CLASSES, cell_class
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.analytics.protocols import Protocol, get_protocol
from oneproxy.search.loop_eval import ALL_TARGETS, LoopSettings, summarize_loop
from oneproxy.search.picks import MIN_GAIN_PP
from oneproxy.warehouse.store import Warehouse

from bench.common import read
from bench.never_worse import BASELINES, gaps
from oneproxy.api.evaluate import evaluate
from oneproxy.api.loop import simulate_loop

SPACE = "nb201"
SEED = 11
NOISE = 0.03
LIVE, DEAD, DISCONNECTED = (CELL_CLASSES.index(c) for c in ("live", "dead_ops", "disconnected"))


def costly(latency: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    slowest = np.nanquantile(latency, 0.99) * rng.uniform(0.9, 1.1, latency.size)
    return np.where(classes == DISCONNECTED, slowest,
                    np.where(classes == DEAD, 1.3 * latency, latency))


def execute(latency: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return latency * np.select([classes == DISCONNECTED, classes == DEAD], [2.0, 1.5], 1.0)


RUNTIMES: dict[str, Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]] = {
    "costly": costly, "execute": execute,
}


def synthetic_tables(warehouse: Path, bases: list[str], out: Path) -> dict[str, Path]:
    """One CSV (arch_id, latency_ms) per runtime and base in `out`, by device id."""
    rows = read(warehouse, "SELECT l.device_id, l.arch_id, a.arch_key, l.latency_ms FROM latency l "
                "JOIN architectures a USING (space_id, arch_id) WHERE l.space_id = ? AND "
                "l.dataset = 'cifar10' AND l.device_id IN (SELECT unnest(?)) ORDER BY 1, 2",
                [SPACE, bases])
    missing = sorted(set(bases) - set(rows["device_id"].to_list()))
    if missing:
        raise click.ClickException(f"no {SPACE} cifar10 latency for base device(s) "
                                   f"{', '.join(missing)} in {warehouse}")
    files = {}
    for b, base in enumerate(bases):
        mine = rows.filter(pl.col("device_id") == base)
        classes = cell_class(space_features(SPACE, mine["arch_key"].to_list()))
        for r, (runtime, change) in enumerate(RUNTIMES.items()):
            rng = np.random.default_rng([SEED, r, b])
            latency = change(mine["latency_ms"].to_numpy().astype(float), classes, rng)
            latency = latency * rng.lognormal(0.0, NOISE, latency.size)
            device = f"syn_{runtime}_{base}"
            files[device] = out / f"{device}.csv"
            pl.DataFrame({"arch_id": mine["arch_id"], "latency_ms": latency}).drop_nans() \
                .write_csv(files[device])
    return files


def ingest(warehouse: Path, files: dict[str, Path]) -> None:
    for device, path in files.items():
        done = subprocess.run(
            [sys.executable, "-m", "oneproxy.cli", "ingest", "table", str(path), "--space", SPACE,
             "--device", device, "--platform", "other", "--warehouse", str(warehouse)],
            capture_output=True, text=True)
        if done.returncode != 0:
            raise click.ClickException(f"ingest of {device} failed: {done.stderr.strip()}")


@click.command()
@click.option("--warehouse", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=Path("oneproxy-warehouse"), show_default=True,
              help="Warehouse holding the base devices (copied, never changed).")
@click.option("--bases", default="raspi4,pixel2,fpga", show_default=True,
              help="Full-coverage NB201 devices the runtimes are made from.")
@click.option("--seeds", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--first-seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--min-gain", type=click.FloatRange(min=0), default=MIN_GAIN_PP, show_default=True,
              help="The loop's stopping gain (pp), as in bench.verify_loop.")
def main(warehouse: Path, bases: str, seeds: int, first_seed: int, min_gain: float) -> None:
    """Adaptation, intervals and the verify loop on synthetic runtimes that treat dead and
    disconnected cells as no public device does."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "warehouse"
        shutil.copytree(warehouse, copy)
        files = synthetic_tables(warehouse, bases.split(","), Path(tmp))
        ingest(copy, files)
        wh = Warehouse(copy)
        protocol = Protocol(name="hidden-runtimes", space=SPACE,
                            proxies=get_protocol("help-nb201").proxies, targets=tuple(files),
                            samples=(5, 10, 20), seeds=seeds, first_seed=first_seed)
        rows = pl.from_arrow(evaluate(wh, protocol).long)
        loop = pl.from_arrow(summarize_loop(simulate_loop(
            wh, replace(protocol, samples=(20,)), LoopSettings(min_gain=min_gain))))
    per_seed = gaps(rows.filter(pl.col("method").is_in(["adaproxy", *BASELINES])))
    per_target = per_seed.group_by("target", "n_samples", maintain_order=True).agg(
        pl.col("adaproxy", *BASELINES).mean()).with_columns(
        gap=pl.col("adaproxy") - pl.max_horizontal(BASELINES)).sort("target", "n_samples")
    with pl.Config(tbl_rows=200, tbl_cols=20, float_precision=3, tbl_width_chars=250,
                   tbl_hide_dataframe_shape=True):
        click.echo(f"SRCC on every other measured architecture, seeds {first_seed}…"
                   f"{first_seed + seeds - 1} (gap: ours − the better of FLOPs and raw proxy)")
        click.echo(per_target)
        click.echo(f"worst gap {per_target['gap'].min():+.3f}; "
                   f"{per_target.filter(pl.col('gap') < -0.01).height} of {per_target.height} "
                   f"target × n more than 0.01 below; mean adapted SRCC "
                   f"{per_target['adaproxy'].mean():.3f}")
        click.echo("verify loop at n = 20 (q10, q25, q50, q75, q90; confidence 0.9)")
        click.echo(loop.filter(pl.col("target") != ALL_TARGETS).drop("protocol", "n_samples"))
        click.echo(loop.filter(pl.col("target") == ALL_TARGETS)
                   .drop("protocol", "n_samples", "target"))


if __name__ == "__main__":
    main()
