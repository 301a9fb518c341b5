"""`oneproxy train`: parse the options, call `oneproxy.api.train`, save the predictor file."""

from __future__ import annotations

from pathlib import Path

import click

from oneproxy.analytics.adaproxy import MIN_SAMPLES
from oneproxy.analytics.predictors.files import KINDS, save_predictor
from oneproxy.api import train as api
from oneproxy.api.train import ENCODINGS
from oneproxy.options import out_file_option, renamed, space_option, warehouse_option
from oneproxy.output import render
from oneproxy.shown import vertical
from oneproxy.warehouse.store import Warehouse

SUMMARY_FORMATS = ("table", "csv", "json")


@click.command()
@space_option
@click.option("--device", required=True, help="The device whose measured latency to fit.")
@click.option("--kind", type=click.Choice(list(KINDS)), default="linear", show_default=True,
              help="linear: least squares / ridge on an encoding (the paper's predictor); "
              "kernel: LightGBM trees on log-latency.")
@click.option("--encoding", type=click.Choice(ENCODINGS), default=None,
              help="Feature encoding [default: onehot for linear, kernel for kernel].")
@click.option("--samples", type=click.IntRange(min=MIN_SAMPLES), default=None,
              help="Train on N of the device's measured architectures (drawn with --seed) and "
              "score the rest [default: train on every measured one].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the --samples draw and of the kernel predictor's trees.")
@click.option("--alpha", type=click.FloatRange(min=0), default=None,
              help="Ridge penalty of the linear predictor [default: 0, least squares].")
@out_file_option("--model", help="The predictor file to write (a kernel predictor also writes "
                 "FILE.json).")
@out_file_option("-o", "--output", "legacy_model", hidden=True,
                 help="Old spelling of --model (deprecated).")
@click.option("--format", "fmt", type=click.Choice(SUMMARY_FORMATS), default="table",
              show_default=True, help="Format of the summary printed on standard output.")
@warehouse_option
def train(wh: Warehouse, space: str, device: str, kind: str, encoding: str | None,
          samples: int | None, seed: int, alpha: float | None, model: Path | None,
          legacy_model: Path | None, fmt: str) -> None:
    """Fit a latency predictor on a device's measured architectures and save it as a file.

    Prints the training size and the scores (SRCC, RMSE, share within ±10%) on the training
    rows and on the held-out measured rows. The file is plain JSON (linear) or LightGBM text
    plus a JSON document (kernel), never a pickle; use it with `oneproxy predict --model`.

    \b
    Examples:
      oneproxy train --device pixel3 --model pixel3.json
      oneproxy train --device raspi4 --samples 1000 --seed 1 --model raspi4.json --format json
      oneproxy train --space fbnet --device eyeriss --kind kernel --model eyeriss.lgb.txt
    """
    model = renamed(model, legacy_model, "--model FILE", "`train -o FILE`",
                    " (-o means the table output everywhere else)")
    if model is None:
        raise click.UsageError("give --model FILE: the predictor file to write")
    if alpha is not None and kind != "linear":
        raise click.UsageError("--alpha goes with --kind linear")
    if kind == "kernel" and model.suffix == ".json":
        raise click.UsageError(f"a kernel predictor is LightGBM text, not JSON: name it e.g. "
                               f"{model.with_suffix('.lgb.txt')} (its JSON document goes beside "
                               "it, with .json appended)")
    run = api.train(wh, space, device, kind, encoding, samples, seed, alpha or 0.0)
    written = save_predictor(model, run.predictor, run.meta)
    if fmt == "table":
        render(vertical(run.summary), "table", title=f"train {space} {device}")
    else:
        render(run.summary, fmt)
    if samples is None:
        click.echo("trained on every measured architecture: nothing held out (use --samples N "
                   "to score on the others)", err=True)
    click.echo(f"wrote {' and '.join(map(str, written))}: {kind} predictor of {device} on "
               f"{space}, {run.meta.encoding} encoding, {run.meta.training_rows:,} training rows",
               err=True)
