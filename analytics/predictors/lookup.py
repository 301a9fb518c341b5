"""The operator-level lookup-table predictor: an architecture costs the sum of its ops' entries.

This is how Once-for-All and HW-NAS-Bench price a network from per-operator measurements
(`op_latency`): every layer of an architecture is named by the op key its table uses, the keys
are looked up, and the values are summed per architecture.
"""

import numpy as np
import polars as pl
from oneproxy.warehouse.errors import OneproxyError


class MissingOp(OneproxyError, KeyError):
    """An architecture uses an op key that the lookup table does not list."""

    def __str__(self) -> str:
        return str(self.args[0])


def price(layers: pl.DataFrame, table: pl.DataFrame, n_archs: int | None = None,
          value: str = "mean") -> np.ndarray:
    """Per architecture row, the sum of `table[value]` over its layers' op keys.

    `layers` has one row per layer: ``arch_row`` (0…n−1) and ``op_key``; `table` has ``op_key``
    and `value`, one row per key. When both have a ``resolution`` column (OFA tables, one per
    input resolution), keys are looked up in the table of the layer's resolution. Every key must
    be in the table, else `MissingOp` names the first missing key and an architecture row that
    needs it.
    """
    on = [c for c in ("resolution", "op_key") if c in layers.columns and c in table.columns]
    if table.select(on).is_duplicated().any():
        twice = table.filter(table.select(on).is_duplicated()).row(0, named=True)
        raise MissingOp(f"lookup table lists op key {twice['op_key']!r} more than once")
    joined = layers.select("arch_row", *on).join(
        table.select(*on, pl.col(value).alias("_value")), on=on, how="left"
    )
    missing = joined.filter(pl.col("_value").is_null())
    if missing.height:
        row = missing.row(0, named=True)
        raise MissingOp(
            f"op key {row['op_key']!r} (architecture row {row['arch_row']}) is not in the "
            f"lookup table; {missing.get_column('op_key').n_unique()} distinct keys are missing"
        )
    n = int(layers.get_column("arch_row").max()) + 1 if n_archs is None else n_archs
    sums = joined.group_by("arch_row").agg(pl.col("_value").sum())
    out = np.zeros(n, dtype=np.float64)
    out[sums.get_column("arch_row").to_numpy()] = sums.get_column("_value").to_numpy()
    return out
