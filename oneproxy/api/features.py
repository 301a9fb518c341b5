"""Feature matrices of a space's architectures, with the attributes the warehouse holds for them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from oneproxy.analytics.predictors.encodings import SpaceFeatures, space_features
from oneproxy.warehouse import spaces
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.store import Warehouse


class MissingAttributes(OneproxyError):
    """Architectures whose measured attributes (e.g. FLOPs) the warehouse does not hold."""


def features_of(wh: Warehouse, space: str, arch_keys: Sequence[str],
                dataset: str | None = None) -> SpaceFeatures:
    """`space_features` of `arch_keys`, reading `Space.attribute_columns` from `architectures`."""
    return space_features(space, arch_keys, dataset=dataset,
                          attributes=attributes_of(wh, space, arch_keys))


def attributes_of(wh: Warehouse, space: str,
                  arch_keys: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The measured attributes the space's encodings read, per arch key (None: it reads none)."""
    columns = spaces.get(space).attribute_columns
    if not columns:
        return None
    table = pl.from_arrow(query(wh, sql_text("queries/arch_attributes.sql"), [space]))
    wanted = pl.DataFrame({"arch_key": list(arch_keys)})
    rows = wanted.join(table.select("arch_key", *columns), on="arch_key", how="left",
                       maintain_order="left")
    missing = rows.filter(pl.any_horizontal(pl.col(c).is_null() for c in columns))
    if missing.height:
        raise MissingAttributes(f"space {space}: architecture {missing['arch_key'][0]!r} has no "
                                f"{', '.join(columns)} in the warehouse: re-run `oneproxy ingest`")
    return {c: rows[c].to_numpy().astype(np.float64) for c in columns}
