"""`oneproxy lut-eval`: parse the options, call `oneproxy.api.lut`, render the scores."""

from __future__ import annotations

from pathlib import Path

import click

from oneproxy.api import lut as api
from oneproxy.api.lut import RESULT_TABLE
from oneproxy.options import (
    int_list,
    now,
    out_file_option,
    output_options,
    save_option,
    warehouse_option,
)
from oneproxy.output import render
from oneproxy.warehouse.store import Warehouse


@click.command("lut-eval")
@click.option("--device", required=True,
              help="Device with an operator lookup table (note10 or zynq_dpu).")
@click.option("--holdout", "holdout_spec", default=None,
              help="Resolutions to hold out, comma-separated [default: every other one of the "
              "table, e.g. 164,172,…,220 for note10].")
@click.option("--loo", is_flag=True,
              help="Leave one resolution out: one model per resolution of the table.")
@click.option("--archs", "n_archs", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Random architectures priced at each held-out resolution.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the architecture sample.")
@out_file_option("--save-model", help="Also fit on every resolution and save the model to "
                 "FILE (LightGBM text) and FILE.json (metadata).")
@save_option(RESULT_TABLE)
@output_options
@warehouse_option
def lut_eval(wh: Warehouse, device: str, holdout_spec: str | None, loo: bool, n_archs: int,
             seed: int, save_model: Path | None, save: bool, fmt: str,
             output: Path | None) -> None:
    """Score a kernel-level LightGBM (op configuration → latency) on held-out table resolutions.

    The model is trained on the lookup-table rows of the other resolutions and scored at each
    held-out one: op level (every op key, predicted vs measured) and architecture level
    (--archs random networks, the sum of predicted ops vs the table's own sum): RMSE, MAPE,
    share within ±10% and SRCC.

    \b
    Examples:
      oneproxy lut-eval --device note10
      oneproxy lut-eval --device zynq_dpu --holdout 144,176,208 --format json
      oneproxy lut-eval --device note10 --loo --archs 200 --format csv -o note10-loo.csv
      oneproxy lut-eval --device note10 --save-model note10-ops.lgb.txt
    """
    holdout = int_list(holdout_spec, "--holdout")
    if loo and holdout is not None:
        raise click.UsageError("--loo holds out each resolution in turn: drop --holdout")
    rows = api.lut_eval(wh, device, None if holdout is None else list(holdout), loo, n_archs,
                        seed)
    if save:
        api.save_lut_eval(wh, rows, now())
    if save_model is not None:
        model = api.fit_lut_model(wh, device)
        model.save(save_model)
        click.echo(f"model of {device} trained on {model.training_rows_} ops written to "
                   f"{save_model}", err=True)
    render(rows.to_arrow(), fmt, output, title=f"lut-eval {device}")
