"""Stable arch ids for spaces too large for a dense index (FBNet: 9^22, OFA: ~10^20).

``arch_id = int.from_bytes(blake2b(arch_key.encode("utf-8"), digest_size=8).digest(), "big") >> 1``

a non-negative int64 that depends on the canonical key only, so it is the same on every machine
and every ingest. It is not invertible: id → key goes through the `architectures` table.
Among 10^6 keys the chance of any collision is below 1e-7; ingest checks anyway.
"""

import hashlib
from collections.abc import Iterable

import numpy as np
from oneproxy.warehouse.errors import OneproxyError


class ArchIdCollision(OneproxyError, ValueError):
    """Two different canonical keys hashed to the same arch id."""


def hashed_arch_id(key: str) -> int:
    """The stable 63-bit id of one canonical arch key."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def hashed_arch_ids(keys: Iterable[str]) -> np.ndarray:
    """Ids of many canonical keys (int64); raises if two distinct keys share an id."""
    keys = list(keys)
    ids = np.fromiter((hashed_arch_id(k) for k in keys), dtype=np.int64, count=len(keys))
    unique_ids = np.unique(ids)
    distinct = len(set(keys))
    if unique_ids.size != distinct:
        seen: dict[int, str] = {}
        for key, i in zip(keys, ids.tolist(), strict=True):
            if seen.setdefault(i, key) != key:
                raise ArchIdCollision(f"arch keys {seen[i]!r} and {key!r} share id {i}")
    return ids
