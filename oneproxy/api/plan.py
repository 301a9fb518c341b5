"""Plan the first measurements on a new device (`analytics.planning` over a space)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from oneproxy.analytics.planning import plan
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.store import Warehouse


class BadPlan(OneproxyError, ValueError):
    """A plan that cannot be made: unknown space or a bad number of architectures."""


def plan_measurements(wh: Warehouse, space: str, n: int) -> pa.Table:
    """The `n` architectures (arch_id, arch_key) of `space` to measure first, in plan order."""
    archs = query(wh, sql_text("queries/adapt_archs.sql"), [space])
    if archs.num_rows == 0:
        raise BadPlan(f"space {space!r} has no architectures in the warehouse: ingest it first "
                      "(`oneproxy ingest --all`) or check `oneproxy spaces`")
    if not 1 <= n <= archs.num_rows:
        raise BadPlan(f"--n must be from 1 to the {archs.num_rows} architectures of {space}, "
                      f"got {n}")
    keys = archs.column("arch_key").to_pylist()
    chosen = plan(space_features(space, keys), n)
    ids = archs.column("arch_id").to_numpy()
    return pa.table({"arch_id": pa.array(ids[chosen].astype(np.int64)),
                     "arch_key": pa.array([keys[i] for i in chosen], pa.string())})
