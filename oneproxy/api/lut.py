"""Operator lookup tables on the warehouse: a kernel-level model scored on held-out resolutions."""

from __future__ import annotations

import polars as pl

from oneproxy.analytics.op_holdout import every_other, holdout_eval, leave_one_out
from oneproxy.analytics.predictors.op_latency_model import OpLatencyModel
from oneproxy.api.warehouse import require_warehouse
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import UnknownDevice
from oneproxy.warehouse.names import did_you_mean
from oneproxy.warehouse.spaces import ofa_fpga, ofa_mbv3
from oneproxy.warehouse.spaces.ofa_net import ElasticNet
from oneproxy.warehouse.store import Warehouse
from oneproxy.warehouse.tables import publish

RESULT_TABLE = "lut_eval"
NETS: dict[str, ElasticNet] = {ofa_mbv3.SPACE_ID: ofa_mbv3.NET, ofa_fpga.SPACE_ID: ofa_fpga.NET}


def load_lut(wh: Warehouse, device: str) -> pl.DataFrame:
    """The `op_latency` rows (latency_ms) of one device; an unknown device names the known ones."""
    require_warehouse(wh)
    known = (query(wh, sql_text("queries/lut_devices.sql")).column("device_id").to_pylist()
             if wh.has("op_latency") else [])
    if device not in known:
        have = ", ".join(known) or "none (ingest ofa_note10 or ofa_zcu first)"
        raise UnknownDevice(f"device '{device}' has no operator lookup table: devices with one: "
                            f"{have}{did_you_mean(device, known)}")
    return pl.from_arrow(query(wh, sql_text("queries/lut_op_latency.sql"), [device]))


def lut_eval(wh: Warehouse, device: str, holdout: list[int] | None = None, loo: bool = False,
             n_archs: int = 1000, seed: int = 0) -> pl.DataFrame:
    """An operator-level LightGBM scored on held-out resolutions of a device's lookup table.

    `loo`: each resolution held out in turn; else `holdout` (default every other resolution).
    """
    table = load_lut(wh, device)
    net = NETS[table["space_id"][0]]
    if loo:
        return leave_one_out(table, net, n_archs, seed)
    chosen = every_other(table["resolution"].unique()) if holdout is None else holdout
    return holdout_eval(table, chosen, net, n_archs, seed)


def save_lut_eval(wh: Warehouse, rows: pl.DataFrame, computed_at: str) -> None:
    """Store the rows in `lut_eval`, replacing earlier rows of the same evaluations."""
    publish(wh, RESULT_TABLE, rows.with_columns(computed_at=pl.lit(computed_at)).to_arrow())


def fit_lut_model(wh: Warehouse, device: str) -> OpLatencyModel:
    """The operator-level model fitted on every resolution of a device's lookup table."""
    table = load_lut(wh, device)
    return OpLatencyModel().fit(table, table["mean"].to_numpy(), space=table["space_id"][0],
                                device=device)
