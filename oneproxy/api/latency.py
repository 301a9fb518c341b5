"""The one warehouse → matrix reader: latency series of a space as device × architecture arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from oneproxy.api.errors import NoLatency
from oneproxy.api.warehouse import SPACES_SQL, check_known_space, check_space
from oneproxy.warehouse.catalog import queries, query, sql_text
from oneproxy.warehouse.errors import OneproxyError, UnknownDevice
from oneproxy.warehouse.matrix import latency_matrix
from oneproxy.warehouse.names import did_you_mean
from oneproxy.warehouse.store import Warehouse


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
    series = space_series(wh, space)
    datasets = series["dataset"].unique(maintain_order=True).to_list()
    if dataset is None:
        dataset = main_dataset(series)
    elif dataset not in datasets:
        raise NoLatency(f"space {space} has no latency for dataset '{dataset}': it has "
                        f"{', '.join(datasets)}")
    return dataset, series.filter(pl.col("dataset") == dataset).drop("dataset")


def space_series(wh: Warehouse, space: str) -> pl.DataFrame:
    """Every latency series of a space (device_id, dataset, rows, measured)."""
    return _series(query(wh, sql_text("queries/adapt_series.sql"), [space]), space)


def space_series_archs(wh: Warehouse, space: str) -> tuple[pl.DataFrame, pa.Table]:
    """`check_space`, then the `space_series` and `space_archs` of the space, read on one
    catalog connection."""
    spaces, series, archs = queries(wh, [(SPACES_SQL, None),
                                         (sql_text("queries/adapt_series.sql"), [space]),
                                         (sql_text("queries/adapt_archs.sql"), [space])])
    check_known_space(spaces, space)
    return _series(series, space), archs


def _series(rows: pa.Table, space: str) -> pl.DataFrame:
    """The rows of `queries/adapt_series.sql`, or `NoLatency` when there are none."""
    series = pl.from_arrow(rows)
    if series.is_empty():
        raise NoLatency(f"space {space} has no whole-network latency in the warehouse: ingest "
                        "a source that measures it (`oneproxy ingest …`)")
    return series


def main_dataset(series: pl.DataFrame) -> str:
    """The latency dataset most series of `space_series` were measured on (NB201: cifar10)."""
    per_dataset = series.group_by("dataset", maintain_order=True).len()
    return per_dataset.sort("len", descending=True, maintain_order=True)["dataset"][0]


def device_dataset(series: pl.DataFrame, space: str, device: str,
                   dataset: str | None = None) -> str:
    """The latency dataset to read `device` on: `dataset` if the device has it, else its only
    one, else the space's main one (a device imported with `--dataset cifar100` is found
    without naming it)."""
    mine = series.filter(pl.col("device_id") == device)
    if mine.is_empty():
        raise UnknownDevice(f"device '{device}' has no latency in space {space}: import its "
                            "measurements with `oneproxy ingest table FILE --device "
                            f"{device} --space {space}`")
    datasets = mine["dataset"].to_list()
    if dataset in datasets:
        return dataset
    if len(datasets) == 1:
        return datasets[0]
    if dataset is None and main_dataset(series) in datasets:
        return main_dataset(series)
    raise NoLatency(f"device '{device}' has latency for several datasets ({', '.join(datasets)}):"
                    " choose one with --dataset")


def proxy_dataset(series: pl.DataFrame, device: str, dataset: str) -> str:
    """The dataset a device's proxies are read on: its own `dataset` if other devices measured
    it, else the one most other devices measured."""
    peers = series.filter(pl.col("device_id") != device)
    if peers.is_empty():
        raise NoLatency(f"there is no other device to adapt '{device}' from")
    if (peers["dataset"] == dataset).any():
        return dataset
    return main_dataset(peers)


def _space_values(wh: Warehouse, space: str, column: str) -> list[str]:
    """The distinct values of a `latency` column (device_id or dataset) within a space."""
    sql = f"SELECT DISTINCT {column} AS v FROM latency WHERE space_id = ? ORDER BY 1"
    return query(wh, sql, [space]).column("v").to_pylist()


def check_devices(series: pl.DataFrame, devices: list[str], space: str, role: str) -> None:
    """Raise `UnknownDevice` naming the first of `devices` without latency in the space."""
    known = series["device_id"].to_list()
    unknown = [d for d in devices if d not in known]
    if unknown:
        raise UnknownDevice(f"unknown {role} device '{unknown[0]}' for space {space}: the "
                            f"warehouse has {', '.join(known)}{did_you_mean(unknown[0], known)}")


def space_archs(wh: Warehouse, space: str) -> pa.Table:
    """Every architecture of the space (arch_id, arch_key), in arch_id order."""
    return query(wh, sql_text("queries/adapt_archs.sql"), [space])


def load_space(wh: Warehouse, space: str, dataset: str | Sequence[str],
               devices: list[str], archs: pa.Table | None = None) -> SpaceData:
    """Latency matrix of `devices` over every architecture of the space.

    `dataset` is the latency dataset of every device, or one per device (NB201 devices without a
    series on the searched dataset are read on their CIFAR-10 one). `archs` is the space's
    `space_archs` when the caller has read them already.
    """
    archs = space_archs(wh, space) if archs is None else archs
    arch_ids = archs.column("arch_id").to_numpy()
    datasets = [dataset] * len(devices) if isinstance(dataset, str) else list(dataset)
    rows = query(wh, sql_text("queries/search_latency.sql"), [space, devices, datasets])
    latency, has_row = latency_matrix(rows, len(devices), arch_ids)
    shown = dataset if isinstance(dataset, str) else ",".join(sorted(set(datasets)))
    return SpaceData(space, shown, arch_ids, archs.column("arch_key").to_pylist(), devices,
                     latency, has_row)


def latency_rows(wh: Warehouse, space: str, dataset: str | None, devices: list[str] | None,
                 platforms: list[str] | None) -> tuple[str, pl.DataFrame]:
    """The dataset and long latency rows (device_id, arch_id, latency_ms) of some devices.

    Without `dataset`, the space's default dataset (see `latency_series`) among the rows the
    filters keep.
    """
    check_space(wh, space)
    rows = pl.from_arrow(query(wh, sql_text("queries/srcc_latency.sql"),
                               [space, dataset, devices, platforms]))
    if devices is not None:
        missing = sorted(set(devices) - set(rows["device_id"].unique().to_list()))
        if missing:
            raise UnknownDevice(
                f"unknown device '{missing[0]}' in space '{space}'"
                f"{f' and dataset {dataset!r}' if dataset else ''}: see `oneproxy devices "
                f"--space {space}`{did_you_mean(missing[0], _space_values(wh, space, 'device_id'))}"
            )
    if rows.is_empty() and dataset is not None:
        raise NoLatency(f"space {space} has no latency for dataset '{dataset}'"
                        f"{' on these devices' if devices or platforms else ''}: it has "
                        f"{', '.join(_space_values(wh, space, 'dataset')) or 'none'}")
    if rows.is_empty():
        raise OneproxyError(
            f"no latency rows in space '{space}' for these filters: see `oneproxy devices`"
        )
    if dataset is None:
        counts = rows.group_by("dataset").agg(pl.col("device_id").n_unique().alias("n"))
        dataset = counts.sort(["n", "dataset"], descending=[True, False])["dataset"][0]
    return dataset, rows.filter(pl.col("dataset") == dataset).drop("dataset")
