"""The one pivot of long latency rows into a device × architecture matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pyarrow as pa
from oneproxy.warehouse.errors import OneproxyError


class BadMatrixInput(OneproxyError, ValueError):
    """Latency rows or architecture ids that cannot be pivoted."""


def latency_matrix(rows: pa.Table | pl.DataFrame, devices: Sequence[str],
                   arch_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (device_id, arch_id, latency_ms) as n_devices x n_archs milliseconds, in the order of
    `devices` and of the ascending `arch_ids`, and whether each cell has a row.

    Latency is NaN where a device has no row or a failed (null) one; rows of other devices are
    ignored.
    """
    ids = np.asarray(arch_ids, dtype=np.int64)
    if np.any(np.diff(ids) <= 0):
        raise BadMatrixInput("arch_ids must be strictly ascending")
    frame = rows if isinstance(rows, pl.DataFrame) else pl.from_arrow(rows)
    position = {device: i for i, device in enumerate(devices)}
    frame = frame.filter(pl.col("device_id").is_in(list(position)))
    arch = frame["arch_id"].to_numpy()
    known = np.isin(arch, ids)
    if not known.all():
        raise BadMatrixInput(
            f"latency rows name architecture {arch[~known][0]} that is not among the "
            f"{ids.size} architectures of the space"
        )
    latency = np.full((len(position), ids.size), np.nan)
    has_row = np.zeros(latency.shape, dtype=bool)
    col = np.searchsorted(ids, arch)
    row = frame["device_id"].replace_strict(position, return_dtype=pl.Int64).to_numpy()
    latency[row, col] = frame["latency_ms"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    has_row[row, col] = True
    return latency, has_row
