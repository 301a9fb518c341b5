"""Architectures in the order of HELP's files, which HELP's loader splits by position."""

from __future__ import annotations

import numpy as np

from oneproxy.api.ingest import resolver
from oneproxy.ingest import help as help_source
from oneproxy.ingest.registry import file
from oneproxy.ingest.safe_load import load_file
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.spaces import nb201


class NoFileOrder(OneproxyError):
    """A space whose architectures HELP did not list in a file."""


def help_columns(space: str, arch_keys: list[str]) -> np.ndarray:
    """Column indices (into `arch_keys`) of the architectures in HELP's file order.

    NAS-Bench-201's order is its index (HELP's list position), so `arch_keys` in arch_id order
    is already HELP's; a sampled space (FBNet, OFA) is read from its pinned architecture file.
    """
    if space == nb201.SPACE_ID:
        return np.arange(len(arch_keys))
    sampled = {s.space_id: s for s in help_source.SAMPLED}
    if space not in sampled:
        raise NoFileOrder(f"HELP has no architecture file for space {space}")
    entry = sampled[space]
    upstream = file(help_source.SOURCE_ID, f"{entry.folder}/{entry.arch_file}")
    keys = entry.keys(load_file(resolver(None, None)(upstream)), upstream.path)
    column = {key: i for i, key in enumerate(arch_keys)}
    missing = [k for k in keys if k not in column]
    if missing:
        raise NoFileOrder(f"{upstream.path}: {len(missing)} architectures are not in the "
                          f"warehouse's {space} space: ingest `help` again")
    return np.asarray([column[k] for k in keys], dtype=np.int64)
