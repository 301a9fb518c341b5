"""All-pairs rank correlation over device blocks, one task per pair of blocks.

The devices (sorted, as `srcc_matrix` orders them) are cut into `k` blocks. The task of blocks
p < q runs `analytics.srcc.srcc_matrix` on the rows of both blocks and keeps the pairs it owns:
those across p and q, and the pairs inside p when q = p + 1 (inside the last block too, for
the last task). Every pair is computed once, from the same two latency series over the same
shared architectures as in one run, so coverage groups, ties and reasons are as there: values
agree to rounding of the matrix products (1e-15). The bootstrap interval draws one seeded
stream over all blocks, so a run with `ci` stays one task. `ragged="auto"` is decided once, on
the whole fleet (`analytics.srcc.resolved_ragged`), as one run decides it.
"""

from __future__ import annotations

from math import ceil, isqrt
from typing import Any

import polars as pl

from oneproxy.analytics.srcc import PAIR_SCHEMA, resolved_ragged, srcc_matrix
from oneproxy.scale.engine import Engine

TASKS_PER_WORKER = 3


def block_count(n_devices: int, workers: int) -> int:
    """Blocks for `workers`: about `TASKS_PER_WORKER` block pairs each, 1 block in process."""
    if workers <= 1 or n_devices < 4:
        return 1
    k = 2
    while k * (k - 1) // 2 < TASKS_PER_WORKER * workers:
        k += 1
    return min(k, max(2, isqrt(n_devices)))


def _block_pair(task: tuple[int, int, int, Any, Any], **params: Any) -> pl.DataFrame:
    """The pairs owned by the task of blocks p and q (of k)."""
    p, q, k, rows_p, rows_q = task
    pairs = srcc_matrix(pl.concat([rows_p, rows_q]), **params)
    in_p = pl.col("device_a").is_in(rows_p["device_id"].unique().implode())
    b_in_p = pl.col("device_b").is_in(rows_p["device_id"].unique().implode())
    across = in_p != b_in_p
    keep = across
    if q == p + 1:
        keep = keep | (in_p & b_in_p)
    if (p, q) == (k - 2, k - 1):
        keep = keep | (~in_p & ~b_in_p)
    return pairs.filter(keep)


def blocked_srcc(latency: pl.DataFrame, engine: Engine, *, blocks: int | None = None,
                 **params: Any) -> pl.DataFrame:
    """`srcc_matrix(latency, **params)` computed as tasks over device blocks on `engine`."""
    devices = latency["device_id"].cast(pl.String).unique().sort().to_list()
    k = 1 if params.get("ci") is not None else blocks or block_count(len(devices),
                                                                      engine.workers)
    k = max(1, min(k, len(devices)))
    size = ceil(len(devices) / k) if devices else 1
    block_of = {d: i // size for i, d in enumerate(devices)}
    k = max(block_of.values(), default=0) + 1
    if k == 1:
        return srcc_matrix(latency, **params)
    # "auto" decided on the whole fleet, not per block pair
    params = {**params, "ragged": resolved_ragged(latency, params.get("ragged", "auto"))}
    keyed = latency.with_columns(
        _block=pl.col("device_id").cast(pl.String).replace_strict(block_of, return_dtype=pl.Int32))
    parts = [keyed.filter(pl.col("_block") == b).drop("_block") for b in range(k)]
    handles = engine.scatter(parts)
    tasks = [(p, q, k, handles[p], handles[q]) for p in range(k) for q in range(p + 1, k)]
    found = engine.map(_block_pair, tasks, params)
    return pl.concat(found).sort("device_a", "device_b").cast(PAIR_SCHEMA)
