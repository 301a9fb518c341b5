"""Benchmark: the tuning of `analytics.adaptation`'s candidate lists, re-run from the command line.

`auto` adapts with the ``linear`` and ``kernel`` strategies, each trying the encodings that
`analytics.adaptation.CANDIDATES` lists, and keeps the candidate with the lowest LOO RMSE. The
lists were tuned on seeds 100–119, never on the reported seeds 0–19. This script re-runs that
comparison: per variant of the lists, the mean SRCC over targets of oneproxy-nb201 at n = 20
and n = 10, and of help-nb201 and help-fbnet at n = 20, beside the numbers the tuning logged.

``before``
    linear: onehot, weighted_onehot, counts; kernel: the five single encodings;
``hierarchical``
    linear and kernel: `HIERARCHICAL` (counts+onehot, counts+live_onehot, counts), today's;
``hierarchical+weighted``
    `HIERARCHICAL` and weighted_onehot.

`analytics.adaptation` takes no candidate list as a function parameter: the lists are its public
`CANDIDATES` table, so each variant is run with that table replaced (`unittest.mock.patch.dict`)
for the duration of its runs; ``hierarchical`` is the table as shipped.

    python -m bench.adaptation_tuning --warehouse DIR [--first-seed 100] [--seeds 20]
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from unittest.mock import patch

import click
import polars as pl
from oneproxy.analytics import adaptation
from oneproxy.analytics.baselines import OURS
from oneproxy.analytics.evaluate import run_protocol
from oneproxy.analytics.protocols import BUILTIN
from oneproxy.warehouse.store import Warehouse

from oneproxy.api.evaluate import load_protocol_data

_SINGLE = ("weighted_onehot", "onehot", "weighted_live_onehot", "live_onehot", "counts")
VARIANTS: dict[str, dict[str, tuple[str, ...]]] = {
    "before": {"linear": ("onehot", "weighted_onehot", "counts"), "kernel": _SINGLE},
    "hierarchical": {"linear": adaptation.HIERARCHICAL, "kernel": adaptation.HIERARCHICAL},
    "hierarchical+weighted": {s: (*adaptation.HIERARCHICAL, "weighted_onehot")
                              for s in ("linear", "kernel")},
}
COLUMNS = (("oneproxy-nb201", 20), ("oneproxy-nb201", 10), ("help-nb201", 20),
           ("help-fbnet", 20))
LOGGED = {  # the table of the tuning log (seeds 100–119), None where it was not run
    "before": (0.918, 0.890, 0.956, 0.958),
    "hierarchical": (0.927, 0.899, 0.964, 0.958),
    "hierarchical+weighted": (0.924, 0.897, None, None),
}


def mean_srcc(wh: Warehouse, name: str, samples: tuple[int, ...], first_seed: int,
              seeds: int) -> dict[int, float]:
    """Our mean SRCC over the protocol's targets per n, seeds first_seed… (auto strategy)."""
    protocol = replace(BUILTIN[name], samples=samples, seeds=seeds, first_seed=first_seed,
                       strategy="auto")
    overall = pl.from_arrow(run_protocol(protocol, load_protocol_data(wh, protocol)).overall)
    ours = overall.filter(pl.col("method") == OURS)
    return dict(zip(ours["n_samples"], ours["after_srcc_mean"], strict=True))


@click.command()
@click.option("--warehouse", type=click.Path(path_type=Path), default="oneproxy-warehouse")
@click.option("--first-seed", type=int, default=100, show_default=True)
@click.option("--seeds", type=int, default=20, show_default=True)
@click.option("--variant", "variants", multiple=True, type=click.Choice(list(VARIANTS)),
              help="Run only these variants (default: all).")
def main(warehouse: Path, first_seed: int, seeds: int, variants: tuple[str, ...]) -> None:
    wh = Warehouse(warehouse)
    header = "".join(f"{f'{p} n={n}':>20}" for p, n in COLUMNS)
    click.echo(f"mean SRCC over targets, strategy auto, seeds {first_seed}–"
               f"{first_seed + seeds - 1}; in brackets: the tuning log")
    click.echo(f"{'variant':<24}{header}")
    for variant in variants or tuple(VARIANTS):
        with patch.dict(adaptation.CANDIDATES, VARIANTS[variant]):
            wanted: dict[str, set[int]] = {}
            for name, n in COLUMNS:
                wanted.setdefault(name, set()).add(n)
            got = {name: mean_srcc(wh, name, tuple(sorted(ns)), first_seed, seeds)
                   for name, ns in wanted.items()}
        cells = []
        for (name, n), logged in zip(COLUMNS, LOGGED[variant], strict=True):
            note = "" if logged is None else f" ({logged:.3f})"
            cells.append(f"{got[name][n]:.3f}{note}".rjust(20))
        click.echo(f"{variant:<24}{''.join(cells)}")


if __name__ == "__main__":
    main()
