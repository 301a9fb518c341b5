"""Search-space codecs, one module per space, and the registry `get` that names them by id."""

import pyarrow as pa
from oneproxy.warehouse.errors import UnknownSpace
from oneproxy.warehouse.schemas import SPACES
from oneproxy.warehouse.spaces import accel, fbnet, mobile, nb201, ofa_fpga, ofa_mbv3
from oneproxy.warehouse.spaces.space import Space

__all__ = ["Space", "get", "known", "spaces_table"]

_REGISTRY: dict[str, Space] = {
    s.space_id: s
    for s in (nb201.SPACE, fbnet.SPACE, ofa_mbv3.SPACE, ofa_fpga.SPACE, *mobile.SPACES,
              accel.SPACE)
}


def known() -> tuple[str, ...]:
    """Every space id the project knows, sorted."""
    return tuple(sorted(_REGISTRY))


def get(space_id: str) -> Space:
    """The space called `space_id`; `UnknownSpace` lists the known ones otherwise."""
    space = _REGISTRY.get(space_id)
    if space is None:
        raise UnknownSpace(f"unknown space {space_id!r}: known spaces are {', '.join(known())}")
    return space


def spaces_table(space_ids: set[str]) -> pa.Table:
    """The `spaces` table rows of these spaces."""
    return pa.Table.from_pylist([get(s).row() for s in sorted(space_ids)], schema=SPACES)
