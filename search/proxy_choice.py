"""The paper's central decision: which device is the one proxy, and which devices may be one."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from oneproxy.warehouse.errors import OneproxyError

AUTO = "auto"
"""Proxy "auto": chosen per target among the full-coverage devices, by the target's samples."""


class NoProxy(OneproxyError):
    """No device can serve as the proxy."""


def full_coverage(series: pl.DataFrame, n_archs: int, exclude: Sequence[str] = ()) -> list[str]:
    """Candidate proxies: devices (rows device_id, measured) that measured every architecture.

    A proxy is the well-measured device; a predictor fitted on a 1,999-architecture series
    extrapolates poorly to the rest of the space.
    """
    chosen = series.filter((pl.col("measured") == n_archs) & ~pl.col("device_id").is_in(exclude))
    return chosen["device_id"].to_list()


def one_proxy(srcc: pl.DataFrame, candidates: Sequence[str]) -> tuple[str, float]:
    """The candidate with the highest mean SRCC to the other devices (ties: the first by name).

    `srcc` holds device_a, device_b, value rows (null values are ignored).
    """
    pairs = srcc.filter(pl.col("value").is_not_null())
    both = pl.concat([pairs.select(device="device_a", value="value"),
                      pairs.select(device="device_b", value="value")])
    ranked = (both.filter(pl.col("device").is_in(list(candidates))).group_by("device")
              .agg(pl.col("value").mean()).sort(["value", "device"], descending=[True, False]))
    if ranked.is_empty():
        raise NoProxy("no full-coverage device has SRCC rows: there is no proxy to search with")
    return ranked["device"][0], ranked["value"][0]
