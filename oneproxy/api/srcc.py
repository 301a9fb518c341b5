"""Latency monotonicity: rank correlation of every pair of devices of a space."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from oneproxy.analytics.spearman_exact import Ragged
from oneproxy.analytics.srcc import InvalidSrccInput, Method, srcc_matrix, to_square
from oneproxy.api.latency import latency_rows
from oneproxy.api.names import SRCC_TABLE
from oneproxy.scale.engine import Engine
from oneproxy.scale.srcc import blocked_srcc
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.fingerprint import digest
from oneproxy.warehouse.schemas import SRCC
from oneproxy.warehouse.store import Warehouse, table_fingerprint
from oneproxy.warehouse.tables import merged

TABLE = SRCC_TABLE
WHOLE_SPACE = ("space_id", "dataset", "method")


@dataclass(frozen=True)
class SrccResult:
    """The pairs of one SRCC computation and what they were computed from.

    `whole_space` is true when no device or platform filter was given: storing the result then
    replaces every stored pair of the space, dataset and method (pairs of devices since removed
    go too); otherwise only the computed pairs are replaced. `input_fingerprint` covers the
    latency rows read and the parameters.
    """

    space: str
    dataset: str
    method: str
    devices: list[str]
    pairs: pl.DataFrame  # analytics.srcc.PAIR_SCHEMA
    input_fingerprint: str
    whole_space: bool


def srcc(
    wh: Warehouse,
    space: str = "nb201",
    *,
    dataset: str | None = None,
    devices: list[str] | None = None,
    platforms: list[str] | None = None,
    method: Method = "spearman",
    min_common: int = 30,
    ci: float | None = None,
    bootstrap: int = 200,
    seed: int = 0,
    ragged: Ragged = "auto",
    engine: Engine | None = None,
) -> SrccResult:
    """Rank correlation of every pair of the space's devices over the architectures both measured.

    Without `dataset`, the dataset most devices measured. `ci` adds a seeded bootstrap interval.
    `ragged` ("auto", "exact", "approx") is how Spearman treats devices with their own gaps
    (`analytics.srcc.srcc_matrix`).
    With a distributed `engine`, as tasks over device blocks (`oneproxy.scale.srcc`).
    """
    if devices is not None and len(set(devices)) < 2:
        raise InvalidSrccInput(f"SRCC compares pairs of devices: give at least two, got "
                               f"{', '.join(devices) or 'none'} (or leave out --devices)")
    dataset, rows = latency_rows(wh, space, dataset, devices, platforms)
    params = {"method": method, "min_common": min_common, "ci": ci, "n_bootstrap": bootstrap,
              "seed": seed, "ragged": ragged}
    pairs = (blocked_srcc(rows, engine, **params) if engine is not None and engine.distributed
             else srcc_matrix(rows, **params))
    fingerprint = digest(table_fingerprint(rows.to_arrow()), method, min_common, ci, bootstrap,
                         seed, ragged)
    return SrccResult(space, dataset, method, sorted(rows["device_id"].unique().to_list()),
                      pairs, fingerprint, devices is None and platforms is None)


def srcc_table(result: SrccResult, computed_at: str) -> pa.Table:
    """The `srcc` warehouse rows of a result."""
    return result.pairs.select(
        pl.lit(result.space).alias("space_id"), pl.lit(result.dataset).alias("dataset"),
        pl.all(), pl.lit(computed_at).alias("computed_at"),
        pl.lit(result.input_fingerprint).alias("input_fingerprint"),
    ).select(SRCC.names).to_arrow().cast(SRCC)


def srcc_update(wh: Warehouse, results: list[SrccResult], computed_at: str) -> pa.Table:
    """The `srcc` table with these results in place of the rows they recompute."""
    table = wh.read_or_none(TABLE)
    for result in results:
        table = merged(TABLE, table, srcc_table(result, computed_at),
                       WHOLE_SPACE if result.whole_space else None)
    assert table is not None, "no results"
    return table


def save_srcc(wh: Warehouse, result: SrccResult, computed_at: str) -> None:
    """Store a result's pairs in the `srcc` table (see `SrccResult` for what they replace)."""
    wh.commit({TABLE: srcc_update(wh, [result], computed_at)})


def srcc_square(wh: Warehouse,
                result: SrccResult) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """The square matrix of a result, its device order and each device's platform class."""
    square, devices = to_square(result.pairs, result.devices)
    rows = query(wh, sql_text("queries/device_platforms.sql"))
    platform = dict(zip(rows["device_id"].to_pylist(), rows["platform_class"].to_pylist(),
                        strict=True))
    return square, devices, platform
