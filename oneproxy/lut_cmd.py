"""`oneproxy lut-eval`: an operator-level latency model scored on held-out table resolutions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
import polars as pl
import pyarrow as pa

from oneproxy.analytics.op_holdout import HOLDOUT_SCHEMA, every_other, holdout_eval, leave_one_out
from oneproxy.analytics.predictors.op_latency_model import OpLatencyModel
from oneproxy.options import int_list, output_options, save_option, warehouse_option
from oneproxy.output import render
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import UnknownDevice
from oneproxy.warehouse.spaces import ofa_fpga, ofa_mbv3
from oneproxy.warehouse.spaces.ofa_net import ElasticNet
from oneproxy.warehouse.store import Warehouse, replace_rows

RESULT_TABLE = "lut_eval"
# One row per device × mode × training resolutions × held-out resolution × seed.
LUT_EVAL = pa.schema([
    *pl.DataFrame(schema=HOLDOUT_SCHEMA).to_arrow().schema,
    ("computed_at", pa.string()),
])
LUT_EVAL_KEY = ["device_id", "mode", "train_resolutions", "resolution", "seed"]
NETS: dict[str, ElasticNet] = {ofa_mbv3.SPACE_ID: ofa_mbv3.NET, ofa_fpga.SPACE_ID: ofa_fpga.NET}


def load_lut(wh: Warehouse, device: str) -> pl.DataFrame:
    """The `op_latency` rows (latency_ms) of one device; an unknown device names the known ones."""
    known = (query(wh, sql_text("queries/lut_devices.sql")).column("device_id").to_pylist()
             if wh.has("op_latency") else [])
    if device not in known:
        have = ", ".join(known) or "none (ingest ofa_note10 or ofa_zcu first)"
        raise UnknownDevice(f"device '{device}' has no operator lookup table: devices with one: "
                            f"{have}")
    return pl.from_arrow(query(wh, sql_text("queries/lut_op_latency.sql"), [device]))


def result_table(rows: pl.DataFrame) -> pa.Table:
    """The `lut_eval` warehouse rows of one run."""
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    return rows.with_columns(computed_at=pl.lit(stamp)).to_arrow().cast(LUT_EVAL)


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
@click.option("--save-model", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also fit on every resolution and save the model to FILE (LightGBM text) "
              "and FILE.json (metadata).")
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
    table = load_lut(wh, device)
    net = NETS[table["space_id"][0]]
    if loo:
        rows = leave_one_out(table, net, n_archs, seed)
    else:
        chosen = every_other(table["resolution"].unique()) if holdout is None else holdout
        rows = holdout_eval(table, chosen, net, n_archs, seed)
    if save:
        wh.commit({RESULT_TABLE: replace_rows(wh.read_or_none(RESULT_TABLE), result_table(rows),
                                              LUT_EVAL_KEY)})
    if save_model is not None:
        model = OpLatencyModel().fit(table, table["mean"].to_numpy(), space=net.space_id,
                                     device=device)
        model.save(save_model)
        click.echo(f"model of {device} trained on {model.training_rows_} ops written to "
                   f"{save_model}", err=True)
    render(rows.to_arrow(), fmt, output, title=f"lut-eval {device}")
