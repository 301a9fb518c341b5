"""The one pivot of long latency rows into a device × architecture matrix."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from oneproxy.warehouse.errors import OneproxyError


class BadMatrixInput(OneproxyError, ValueError):
    """Latency rows or architecture ids that cannot be pivoted."""


def latency_matrix(rows: pa.Table, n_devices: int,
                   arch_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (device, arch_id, latency_ms) as n_devices x n_archs milliseconds, in the order of
    the ascending `arch_ids`, and whether each cell has a row.

    `device` is the row of the matrix (0…n_devices-1: the position of the row's device in the
    caller's list). Latency is NaN where a device has no row or a failed (null) one.
    """
    ids = np.asarray(arch_ids, dtype=np.int64)
    if np.any(np.diff(ids) <= 0):
        raise BadMatrixInput("arch_ids must be strictly ascending")
    row = rows.column("device").to_numpy()
    if row.size and (row.min() < 0 or row.max() >= n_devices):
        raise BadMatrixInput(f"device rows must be in 0…{n_devices - 1}: the latency rows name "
                             f"{row.min()}…{row.max()}")
    arch = rows.column("arch_id").to_numpy()
    if ids.size and ids[-1] - ids[0] == ids.size - 1:  # consecutive ids: the column is an offset
        col = arch - ids[0]
        known = (col >= 0) & (col < ids.size)
    else:
        col = np.searchsorted(ids, arch)
        known = (ids[np.minimum(col, ids.size - 1)] == arch if ids.size
                 else np.zeros(arch.size, dtype=bool))
    if not known.all():
        raise BadMatrixInput(
            f"latency rows name architecture {arch[~known][0]} that is not among the "
            f"{ids.size} architectures of the space"
        )
    latency = np.full((n_devices, ids.size), np.nan)
    has_row = np.zeros(latency.shape, dtype=bool)
    cell = row * ids.size + col  # flat indices into the (C-ordered) matrices
    latency.reshape(-1)[cell] = rows.column("latency_ms").to_numpy()  # null: NaN
    has_row.reshape(-1)[cell] = True
    return latency, has_row
