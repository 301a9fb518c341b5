"""Accel-NASBench codec: the MnasNet-like space of 7 blocks, each with expansion e, kernel k,
layers l and squeeze-excite se.

Arch key: the blocks in order, ``e<e>k<k>l<l>s<0|1>`` joined by ``-``, e.g.
``e6k3l1s0-e4k5l2s0-…`` (7 blocks). ``arch_id`` is the upstream result number (``result_<N>.json``,
0…5137): the benchmark's own index, as NAS-Bench-201's is. 13 structures were trained and measured
twice upstream and so carry two ids; the key ↔ id map therefore lives in `architectures`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.spaces.space import Space

SPACE_ID = "accel_nasbench"
N_BLOCKS = 7
EXPANSIONS = (1, 4, 6)
KERNELS = (3, 5)
LAYERS = (1, 2, 3, 4)
FIELDS = ("e", "k", "l", "se")
CHOICES: dict[str, tuple[int, ...]] = {"e": EXPANSIONS, "k": KERNELS, "l": LAYERS, "se": (0, 1)}
_BLOCK = re.compile(r"e(\d+)k(\d+)l(\d+)s([01])")
ONEHOT_COLUMNS = (*(f"b{b}_{f}{v}" for b in range(N_BLOCKS) for f in FIELDS
                    for v in CHOICES[f]), "bias")
COUNT_COLUMNS = (*(f"n_blocks_{f}{v}" for f in ("e", "k", "l") for v in CHOICES[f]),
                 "n_blocks_se",
                 *(f"n_layers_{f}{v}" for f in ("e", "k") for v in CHOICES[f]),
                 "n_layers_se", "n_layers")
KERNEL_COLUMNS = (*(f"b{b}_{f}" for b in range(N_BLOCKS) for f in FIELDS), *COUNT_COLUMNS)


class BadArchKey(OneproxyError, ValueError):
    """A key or architecture dict that is not of the Accel-NASBench space."""


def _check(arr: np.ndarray, where: str) -> np.ndarray:
    for f, field in enumerate(FIELDS):
        bad = ~np.isin(arr[:, :, f], CHOICES[field])
        if bad.any():
            row, block = np.argwhere(bad)[0]
            raise BadArchKey(f"{where}: block {block} {field}={arr[row, block, f]} is not one of "
                             f"{CHOICES[field]}")
    return arr


def matrix(keys: Sequence[str]) -> np.ndarray:
    """n × 7 × 4 int array (e, k, l, se per block) of canonical keys."""
    rows = []
    for key in keys:
        blocks = key.split("-") if isinstance(key, str) else []
        parsed = [_BLOCK.fullmatch(b) for b in blocks]
        if len(blocks) != N_BLOCKS or not all(parsed):
            raise BadArchKey(f"{SPACE_ID}: arch key {key!r} is not {N_BLOCKS} blocks "
                             "'e<e>k<k>l<l>s<0|1>' joined by '-'")
        rows.append([[int(g) for g in m.groups()] for m in parsed])
    return _check(np.asarray(rows, dtype=np.int64).reshape(-1, N_BLOCKS, 4), SPACE_ID)


def format_keys(arr: np.ndarray) -> list[str]:
    """Canonical keys of n × 7 × 4 arrays."""
    arr = _check(np.asarray(arr, dtype=np.int64).reshape(-1, N_BLOCKS, 4), SPACE_ID)
    return ["-".join(f"e{e}k{k}l{layers}s{se}" for e, k, layers, se in row) for row in arr]


def key_of(architecture: Mapping[str, object]) -> str:
    """The canonical key of an upstream ``architecture`` dict (``block0_e`` … ``block6_se``)."""
    try:
        row = [[int(architecture[f"block{b}_{f}"]) for f in FIELDS] for b in range(N_BLOCKS)]
    except (KeyError, TypeError, ValueError) as exc:
        raise BadArchKey(f"{SPACE_ID}: architecture lacks a block field: {exc}") from None
    if len(architecture) != N_BLOCKS * len(FIELDS):
        raise BadArchKey(f"{SPACE_ID}: architecture has {len(architecture)} fields, expected "
                         f"{N_BLOCKS * len(FIELDS)}")
    return format_keys(np.asarray([row]))[0]


def onehot(arr: np.ndarray) -> np.ndarray:
    """Per block one-hot of e, k, l and se (7 × 11 columns) plus a bias: `ONEHOT_COLUMNS`."""
    parts = [arr[:, :, f, None] == np.asarray(CHOICES[field])
             for f, field in enumerate(FIELDS)]
    blocks = np.concatenate(parts, axis=2).reshape(len(arr), -1)
    return np.column_stack([blocks, np.ones(len(arr))]).astype(np.float64)


def counts(arr: np.ndarray) -> np.ndarray:
    """Blocks and layers per choice of e / k / l, with se, and all layers: `COUNT_COLUMNS`."""
    layers = arr[:, :, 2]
    per_block = [(arr[:, :, f, None] == np.asarray(CHOICES[field])).sum(axis=1)
                 for f, field in enumerate(FIELDS[:3])]
    per_layer = [((arr[:, :, f, None] == np.asarray(CHOICES[field])) * layers[:, :, None])
                 .sum(axis=1) for f, field in enumerate(FIELDS[:2])]
    se = arr[:, :, 3]
    return np.column_stack([*per_block, se.sum(axis=1), *per_layer, (se * layers).sum(axis=1),
                            layers.sum(axis=1)]).astype(np.float64)


def kernel_features(arr: np.ndarray) -> np.ndarray:
    """Raw e / k / l / se of every block, then `counts`: `KERNEL_COLUMNS`."""
    return np.column_stack([arr.reshape(len(arr), -1), counts(arr)]).astype(np.float64)


def arch_table(keys: Sequence[str], arch_ids: np.ndarray, macs_m: np.ndarray,
               params_m: np.ndarray) -> pa.Table:
    """`architectures` rows: ids, keys, total layers, blocks with SE, upstream MACs / params."""
    arr = matrix(keys)
    return pa.table({
        "space_id": pa.array([SPACE_ID] * len(keys), pa.string()),
        "arch_id": pa.array(np.asarray(arch_ids, dtype=np.int64)),
        "arch_key": pa.array(list(keys), pa.string()),
        "n_layers": pa.array(arr[:, :, 2].sum(axis=1).astype(np.int8)),
        "n_se_blocks": pa.array(arr[:, :, 3].sum(axis=1).astype(np.int8)),
        "macs_m": pa.array(np.asarray(macs_m, dtype=np.float64)),
        "params_m": pa.array(np.asarray(params_m, dtype=np.float64)),
    })


SPACE = Space(
    space_id=SPACE_ID,
    description="Accel-NASBench MnasNet-like space: 7 blocks of expansion {1,4,6}, kernel {3,5}, "
    "layers {1-4}, squeeze-excite (5,138 trained on ImageNet)",
    size=(len(EXPANSIONS) * len(KERNELS) * len(LAYERS) * 2) ** N_BLOCKS,
    encoding_notes="arch_key = 7 blocks 'e<e>k<k>l<l>s<se>' joined by '-'; arch_id = upstream "
    "result number; per-block one-hot of e/k/l/se (77 + 1) and block / layer counts",
    default_dataset="imagenet",
)
