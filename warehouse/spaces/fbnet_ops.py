"""HW-NAS-Bench FBNet lookup-table keys: parse, format, and the keys that price an architecture.

HW-NAS-Bench's pickle holds, for each FBNet metric, a table keyed by op (its
``hw_nas_bench_api.fbnet_get_metrics`` sums the entries of one network). Key forms, H and W the
op's input resolution:

``ConvNorm_H{}_W{}_Cin{}_Cout{}_kernel{}_stride{}_group{}``  stem conv3x3 and header conv1x1
``ConvBlock_H{}_W{}_Cin{}_Cout{}_exp{}_kernel{}_stride{}_group{}``  the 8 ``k*_e*`` ops
``Skip_H{}_W{}_Cin{}_Cout{}_stride{}``  ``skip`` (the identity too: it has its own entry)
``AvgP_H{}_W{}_Cin{}_Cout{}_kernel{}_stride{}``  global average pool (kernel = H)
``FC_Cin{}_Cout{}``  the classifier

An architecture costs the sum of 26 entries, at the positions of `POSITIONS`.
"""

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
import polars as pl
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.schemas import OP_LATENCY
from oneproxy.warehouse.spaces import fbnet

# The key's labels in order, and the `op_latency` column each one fills.
_SPATIAL = (("H", "input_h"), ("W", "input_w"), ("Cin", "input_c"), ("Cout", "output_c"))
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "ConvNorm": (*_SPATIAL, ("kernel", "kernel"), ("stride", "stride"), ("group", "groups")),
    "ConvBlock": (*_SPATIAL, ("exp", "expand_ratio"), ("kernel", "kernel"), ("stride", "stride"),
                  ("group", "groups")),
    "Skip": (*_SPATIAL, ("stride", "stride")),
    "AvgP": (*_SPATIAL, ("kernel", "kernel"), ("stride", "stride")),
    "FC": (("Cin", "input_c"), ("Cout", "output_c")),
}
_PATTERNS = {
    op_type: re.compile(re.escape(op_type) + "".join(f"_{label}(\\d+)" for label, _ in fields))
    for op_type, fields in FIELDS.items()
}
_NAMES = OP_LATENCY.names
# The kernel-configuration columns of `op_latency` that `parse_op_key` returns.
OP_KEY_COLUMNS: tuple[str, ...] = tuple(
    _NAMES[_NAMES.index("op_type"):_NAMES.index("activation") + 1]
)
POSITIONS: tuple[str, ...] = (
    "stem", *(f"layer{i}" for i in range(fbnet.N_LAYERS)), "header", "pool", "classifier",
)


class UnknownOpKey(OneproxyError, ValueError):
    """A lookup-table key that is not one of the HW-NAS-Bench FBNet key forms."""


def _forms() -> str:
    return "; ".join(
        op_type + "".join(f"_{label}<n>" for label, _ in fields)
        for op_type, fields in FIELDS.items()
    )


def parse_op_key(key: str) -> dict[str, Any]:
    """The `op_latency` kernel-configuration columns of a key; null where they do not apply.

    Output H×W follows the padding of HW-NAS-Bench's model (⌈H/stride⌉; pooling (H−k)/s+1).
    A Skip with C_in = C_out and stride 1 is the identity (``idskip``, no kernel, groups or
    activation); otherwise it is a conv1x1, BN, ReLU. A ConvBlock's ``idskip`` says it adds its
    input. FBNet has no squeeze-and-excitation: ``se`` is False for ConvBlocks.
    """
    op_type = key.split("_", 1)[0] if isinstance(key, str) else None
    match = _PATTERNS[op_type].fullmatch(key) if op_type in _PATTERNS else None
    if match is None:
        raise UnknownOpKey(
            f"op key {key!r} is not an HW-NAS-Bench FBNet lookup-table key; forms are {_forms()}"
        )
    row: dict[str, Any] = dict.fromkeys(OP_KEY_COLUMNS)
    row["op_type"] = op_type
    row.update({col: int(v) for (_, col), v in zip(FIELDS[op_type], match.groups(), strict=True)})
    h, stride, kernel = row["input_h"], row["stride"], row["kernel"]
    if stride == 0:
        raise UnknownOpKey(f"op key {key!r}: stride 0; strides are positive")
    if op_type == "AvgP":
        row["output_h"] = (h - kernel) // stride + 1
        row["output_w"] = (row["input_w"] - kernel) // stride + 1
    elif op_type != "FC":
        row["output_h"], row["output_w"] = -(-h // stride), -(-row["input_w"] // stride)
    identity = row["input_c"] == row["output_c"] and stride == 1
    if op_type == "ConvBlock":
        row["mid_c"] = row["input_c"] * row["expand_ratio"]
        row["expand_ratio"] = float(row["expand_ratio"])
        row.update(idskip=identity, se=False)
    if op_type == "Skip":
        row["idskip"] = identity
        if not identity:
            row.update(kernel=1, groups=1)
    if op_type in ("ConvNorm", "ConvBlock") or (op_type == "Skip" and not identity):
        row["activation"] = "relu"
    return row


def format_op_key(fields: Mapping[str, Any]) -> str:
    """The lookup-table key of a kernel configuration (the inverse of `parse_op_key`)."""
    op_type = fields.get("op_type")
    if op_type not in FIELDS:
        raise UnknownOpKey(f"op type {op_type!r} has no HW-NAS-Bench FBNet key; use one of "
                           f"{', '.join(FIELDS)}")
    parts = [op_type]
    for label, col in FIELDS[op_type]:
        value = fields.get(col)
        try:
            integral = value == int(value) and value >= 0
        except (TypeError, ValueError):
            integral = False
        if not integral:
            raise UnknownOpKey(
                f"{op_type} key needs a non-negative integer {col}, got {value!r} in {dict(fields)}"
            )
        parts.append(f"{label}{int(value)}")
    return "_".join(parts)


@cache
def _key_grid(dataset: str) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """22×9 keys of every (layer, op), the fixed keys before (stem) and after the layers."""
    m = fbnet.macro(dataset)
    g = fbnet.geometry(dataset)
    grid = np.empty((fbnet.N_LAYERS, fbnet.N_OPS), dtype=object)
    for layer in range(fbnet.N_LAYERS):
        h = g.input_hw[layer]
        spatial = {"input_h": h, "input_w": h, "input_c": g.cin[layer],
                   "output_c": g.cout[layer], "stride": g.stride[layer]}
        for op in range(fbnet.SKIP):
            grid[layer, op] = format_op_key({
                **spatial, "op_type": "ConvBlock", "expand_ratio": fbnet.EXPANSION[op],
                "kernel": fbnet.KERNEL[op], "groups": fbnet.GROUPS[op],
            })
        grid[layer, fbnet.SKIP] = format_op_key({**spatial, "op_type": "Skip"})
    r, head_hw, head_c = m.resolution, g.head_hw, m.header_channels
    c_last = fbnet.STAGE_CHANNELS[-1]
    stem = format_op_key({"op_type": "ConvNorm", "input_h": r, "input_w": r, "input_c": 3,
                          "output_c": fbnet.STEM_CHANNELS, "kernel": 3,
                          "stride": m.stem_stride, "groups": 1})
    tail = (
        format_op_key({"op_type": "ConvNorm", "input_h": head_hw, "input_w": head_hw,
                       "input_c": c_last, "output_c": head_c, "kernel": 1, "stride": 1,
                       "groups": 1}),
        format_op_key({"op_type": "AvgP", "input_h": head_hw, "input_w": head_hw,
                       "input_c": head_c, "output_c": head_c, "kernel": head_hw, "stride": 1}),
        format_op_key({"op_type": "FC", "input_c": head_c, "output_c": m.classes}),
    )
    grid.flags.writeable = False
    return grid, (stem,), tail


def layer_op_keys(ops: fbnet.OpMatrix, dataset: str = "cifar100") -> pl.DataFrame:
    """arch_row, position (index into `POSITIONS`), op_key: the 26 entries that price each row.

    Summing a lookup table's values over these keys per arch_row is what HW-NAS-Bench's
    ``fbnet_get_metrics`` returns for the architecture.
    """
    arr = fbnet.check_matrix(ops)
    grid, head, tail = _key_grid(dataset)
    n = arr.shape[0]
    layers = grid[np.arange(fbnet.N_LAYERS), arr]
    table = np.hstack([np.broadcast_to(np.asarray(head, dtype=object), (n, len(head))), layers,
                       np.broadcast_to(np.asarray(tail, dtype=object), (n, len(tail)))])
    return pl.DataFrame({
        "arch_row": np.repeat(np.arange(n, dtype=np.int64), len(POSITIONS)),
        "position": np.tile(np.arange(len(POSITIONS), dtype=np.int32), n),
        "op_key": pl.Series(table.ravel().tolist(), dtype=pl.String),
    })
