"""One search space as the rest of the project sees it: its `spaces` row and its codec hooks."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

KeysToIds = Callable[[Sequence[str]], np.ndarray]
KeysToTable = Callable[[Sequence[str]], pa.Table]


@dataclass(frozen=True)
class Space:
    """A space's description and codec.

    `canonical_key` turns a user's spelling of an architecture into the canonical arch key;
    `arch_ids` maps canonical keys to stable ids (None: ids come from an official index, as
    NAS-Bench-201's do); `arch_table` builds `architectures` rows of canonical keys, FLOPs /
    params where the codec can compute them. `attribute_columns` are `architectures` columns the
    encodings read because they were measured, not computed from the key (e.g. a model's FLOPs).
    """

    space_id: str
    description: str
    size: int
    encoding_notes: str
    default_dataset: str | None = None
    canonical_key: Callable[[str], str] | None = None
    arch_ids: KeysToIds | None = None
    arch_table: KeysToTable | None = None
    attribute_columns: tuple[str, ...] = ()

    @property
    def log10_size(self) -> float:
        return math.log10(self.size)

    def row(self) -> dict[str, object]:
        """This space's row of the `spaces` table."""
        return {"space_id": self.space_id, "description": self.description,
                "size": str(self.size), "log10_size": self.log10_size,
                "encoding_notes": self.encoding_notes}
