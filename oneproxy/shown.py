"""How result rows are laid out for a terminal."""

from __future__ import annotations

import pyarrow as pa


def vertical(row: pa.Table) -> pa.Table:
    """A one-row table as (field, value) rows, for the terminal."""
    values = row.to_pylist()[0]
    shown = ["" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)
             for v in values.values()]
    return pa.table({"field": list(values), "value": shown})
