"""Latency series and matrices of a space, read from the warehouse for adaptation commands."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from oneproxy.analytics.adaptation import STRATEGIES
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import OneproxyError, UnknownDevice
from oneproxy.warehouse.store import Warehouse

AUTO = "auto"
STRATEGY_CHOICES = (AUTO, *STRATEGIES)


class NoLatency(OneproxyError):
    """A space, dataset or device without latency rows in the warehouse."""


@dataclass(frozen=True)
class SpaceData:
    """Latency of some devices over every architecture of a space (NaN where not measured)."""

    space: str
    dataset: str
    arch_ids: np.ndarray
    arch_keys: list[str]
    devices: list[str]
    latency: np.ndarray  # devices × archs, ms
    has_row: np.ndarray  # devices × archs, the device has a row (measured or failed)


def latency_series(
    wh: Warehouse, space: str, dataset: str | None = None
) -> tuple[str, pl.DataFrame]:
    """The latency dataset of a space and its series (device_id, rows, measured).

    Without `dataset`, the dataset most devices were measured on (NB201: cifar10).
    """
    series = pl.from_arrow(query(wh, sql_text("queries/adapt_series.sql"), [space]))
    if series.is_empty():
        raise NoLatency(f"space {space} has no whole-network latency in the warehouse: ingest "
                        "a source that measures it (`oneproxy ingest …`)")
    datasets = series["dataset"].unique(maintain_order=True).to_list()
    if dataset is None:
        per_dataset = series.group_by("dataset", maintain_order=True).len()
        dataset = per_dataset.sort("len", descending=True, maintain_order=True)["dataset"][0]
    elif dataset not in datasets:
        raise NoLatency(f"space {space} has no latency for dataset '{dataset}': it has "
                        f"{', '.join(datasets)}")
    return dataset, series.filter(pl.col("dataset") == dataset).drop("dataset")


def check_devices(series: pl.DataFrame, devices: list[str], space: str, role: str) -> None:
    """Raise `UnknownDevice` naming the first of `devices` without latency in the space."""
    known = series["device_id"].to_list()
    unknown = [d for d in devices if d not in known]
    if unknown:
        raise UnknownDevice(f"unknown {role} device '{unknown[0]}' for space {space}: the "
                            f"warehouse has {', '.join(known)}")


def load_space(wh: Warehouse, space: str, dataset: str, devices: list[str]) -> SpaceData:
    """Latency matrix of `devices` over every architecture of the space."""
    archs = query(wh, sql_text("queries/adapt_archs.sql"), [space])
    arch_ids = archs.column("arch_id").to_numpy()
    rows = pl.from_arrow(query(wh, sql_text("queries/adapt_latency.sql"),
                               [space, dataset, devices]))
    row = rows["device_id"].replace_strict(devices, range(len(devices)),
                                           return_dtype=pl.Int64).to_numpy()
    col = np.searchsorted(arch_ids, rows["arch_id"].to_numpy())
    latency = np.full((len(devices), arch_ids.size), np.nan)
    has_row = np.zeros(latency.shape, dtype=bool)
    latency[row, col] = rows["latency_ms"].fill_null(np.nan).to_numpy()
    has_row[row, col] = True
    return SpaceData(space, dataset, arch_ids, archs.column("arch_key").to_pylist(), devices,
                     latency, has_row)
