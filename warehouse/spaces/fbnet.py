"""FBNet codec (HW-NAS-Bench / FBNet v1 macro-architecture): keys, ids, kernel configs, costs.

An architecture is 22 layers, each one of the 9 ops of `OPS` (HELP / HW-NAS-Bench order):
``k<kernel>_e<expansion>[_g<groups>]`` or ``skip``. As a matrix it is a row of 22 op indices.

Arch key: the 22 op names joined by ``-`` in layer order, e.g. ``k5_e6-skip-k3_e1_g2-…``
(op names hold no ``-``). ``arch_id`` is not a dense index (9^22 > 2^63): it is
`warehouse.spaces.hashed_ids.hashed_arch_ids` of the key, the first 8 bytes of its blake2b
digest shifted right by one bit, the same on every machine and ingest.

Macro-architecture (HW-NAS-Bench ``fbnet_models/model_infer.py``, `DATASETS`): a stem ConvNorm
(conv3x3 3→16, BN, ReLU); stages of `STAGE_LAYERS` layers with `STAGE_CHANNELS` outputs, the
first layer of each stage taking the stage stride; a header ConvNorm (conv1x1 352→C_h); global
average pool; a linear classifier. A ``k*_e*`` layer is a ConvBlock: conv1x1 C_in→C_in·e,
BN, ReLU, (channel shuffle), depthwise conv k×k with the layer stride on C_in·e, BN, ReLU,
conv1x1 C_in·e→C_out, BN, plus the input when C_in = C_out and the stride is 1. ``_g2``
groups the two 1x1 convs in 2 (the depthwise conv is unaffected). ``skip`` is the identity
when C_in = C_out and the stride is 1, otherwise a projection conv1x1/stride, BN, ReLU.

Costs: FLOPs are multiply-accumulates of every convolution (H_out·W_out·k²·C_in/g·C_out) and of
the classifier (C_h·classes) plus one per classifier bias, as `warehouse.spaces.nb201` counts
them; batch norm, ReLU, shuffles, residual additions and pooling are not counted. Params: conv
weights (no conv biases), BN affine (2 per channel), classifier weights and biases.
"""

import re
from collections.abc import Sequence
from functools import cache
from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.spaces.hashed_ids import hashed_arch_ids
from oneproxy.warehouse.spaces.space import Space

SPACE_ID = "fbnet"
OPS: tuple[str, ...] = (
    "k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip",
)
N_OPS = len(OPS)
SKIP = OPS.index("skip")
N_LAYERS = 22
ONEHOT_DIM = N_LAYERS * N_OPS + 1
SEP = "-"

STEM_CHANNELS = 16
STAGE_LAYERS: tuple[int, ...] = (1, 4, 4, 4, 4, 4, 1)
STAGE_CHANNELS: tuple[int, ...] = (16, 24, 32, 64, 112, 184, 352)
N_STAGES = len(STAGE_LAYERS)


class Macro(NamedTuple):
    """The dataset-dependent part of the FBNet v1 macro-architecture."""

    classes: int
    resolution: int
    stem_stride: int
    strides: tuple[int, ...]  # of the first layer of each stage
    header_channels: int


DATASETS: dict[str, Macro] = {
    "cifar100": Macro(100, 32, 1, (1, 1, 2, 2, 1, 2, 1), 1504),
    "imagenet": Macro(1000, 224, 2, (1, 2, 2, 2, 1, 2, 1), 1984),
}

# Kernel, expansion and 1x1-conv groups of the 8 ConvBlock ops, read off their names.
_BLOCK_SHAPES = np.array(
    [[int(g or 1) for g in re.fullmatch(r"k(\d+)_e(\d+)(?:_g(\d+))?", op).groups()]
     for op in OPS[:SKIP]]
)
KERNEL, EXPANSION, GROUPS = _BLOCK_SHAPES.T
_INDEX = {op: i for i, op in enumerate(OPS)}

OpMatrix = Sequence[Sequence[int]] | np.ndarray


class BadArchKey(OneproxyError, ValueError):
    """An arch key, op matrix or op-name list that is not an FBNet architecture."""


class UnknownDataset(OneproxyError, ValueError):
    """A dataset the FBNet macro-architecture is not defined for."""


def parse_key(key: str) -> tuple[int, ...]:
    """Op indices of the 22 layers of an arch key such as ``k5_e6-skip-…``."""
    if not isinstance(key, str):
        raise BadArchKey(f"FBNet arch key {key!r} is a {type(key).__name__}, not a str")
    names = key.split(SEP)
    if len(names) != N_LAYERS:
        raise BadArchKey(
            f"FBNet arch key {key!r}: expected {N_LAYERS} op names joined by {SEP!r}, "
            f"found {len(names)}"
        )
    for layer, name in enumerate(names):
        if name not in _INDEX:
            raise BadArchKey(
                f"FBNet arch key {key!r}: unknown op {name!r} at layer {layer}; "
                f"ops are {', '.join(OPS)}"
            )
    return tuple(_INDEX[name] for name in names)


def check_matrix(ops: OpMatrix) -> np.ndarray:
    """`ops` as an n×22 int8 matrix (a single row becomes 1×22); BadArchKey names a bad row."""
    arr = np.atleast_2d(np.asarray(ops))
    if arr.ndim != 2 or arr.shape[1] != N_LAYERS:
        raise BadArchKey(f"FBNet op matrix of shape {arr.shape}: expected n×{N_LAYERS} op indices")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise BadArchKey(f"FBNet op matrix of dtype {arr.dtype}: expected integer op indices")
    bad = np.flatnonzero(((arr < 0) | (arr >= N_OPS)).any(axis=1))
    if bad.size:
        raise BadArchKey(
            f"FBNet op matrix row {bad[0]} = {arr[bad[0]].tolist()} ({bad.size} bad rows): "
            f"op indices must be in 0…{N_OPS - 1}"
        )
    return arr.astype(np.int8)


def format_key(ops: Sequence[int] | np.ndarray) -> str:
    """The canonical arch key of one row of 22 op indices."""
    arr = check_matrix(ops)
    if arr.shape[0] != 1:
        raise BadArchKey(f"format_key takes one row of {N_LAYERS} op indices, got {arr.shape[0]}")
    return SEP.join(OPS[i] for i in arr[0])


def keys(ops: OpMatrix) -> list[str]:
    """Arch keys of the rows of an n×22 op matrix."""
    names = np.asarray(OPS)[check_matrix(ops)]
    frame = pl.DataFrame({f"l{i}": names[:, i] for i in range(N_LAYERS)})
    return frame.select(pl.concat_str(pl.all(), separator=SEP)).to_series().to_list()


def _indices(names: pl.Series) -> np.ndarray:
    """Op index of each name, -1 where the name is not an op."""
    return names.replace_strict(_INDEX, default=-1, return_dtype=pl.Int8).fill_null(-1).to_numpy()


def matrix(arch_keys: Sequence[str]) -> np.ndarray:
    """n×22 int8 op indices of arch keys; BadArchKey names the first bad key and why."""
    arch_keys = list(arch_keys)
    not_str = [i for i, k in enumerate(arch_keys) if not isinstance(k, str)]
    if not_str:
        parse_key(arch_keys[not_str[0]])
    parts = pl.Series(arch_keys, dtype=pl.String).str.split(SEP)
    wrong_length = np.flatnonzero(parts.list.len().to_numpy() != N_LAYERS)
    if wrong_length.size:
        parse_key(arch_keys[wrong_length[0]])
    ops = _indices(parts.explode()).reshape(-1, N_LAYERS)
    unknown = np.flatnonzero((ops < 0).any(axis=1))
    if unknown.size:
        parse_key(arch_keys[unknown[0]])
    return ops


def matrix_from_names(rows: Sequence[Sequence[str]]) -> np.ndarray:
    """n×22 int8 op indices of op-name lists such as HELP's ``arch_str``."""
    rows = [list(row) for row in rows]
    wrong_length = [i for i, row in enumerate(rows) if len(row) != N_LAYERS]
    if wrong_length:
        i = wrong_length[0]
        raise BadArchKey(f"FBNet op-name row {i} has {len(rows[i])} names, expected {N_LAYERS}")
    flat = pl.Series([name for row in rows for name in row], dtype=pl.String, strict=False)
    ops = _indices(flat).reshape(-1, N_LAYERS)
    bad = np.argwhere(ops < 0)
    if bad.size:
        i, layer = bad[0]
        raise BadArchKey(
            f"FBNet op-name row {i}: unknown op {rows[i][layer]!r} at layer {layer}; "
            f"ops are {', '.join(OPS)}"
        )
    return ops


def arch_ids(arch_keys: Sequence[str]) -> np.ndarray:
    """Stable int64 ids of canonical arch keys (see the module docstring)."""
    return hashed_arch_ids(arch_keys)


def onehot(ops: OpMatrix) -> np.ndarray:
    """n×199 float: 22 layers × 9 ops (`OPS` order) then a constant 1."""
    arr = check_matrix(ops)
    out = np.ones((arr.shape[0], ONEHOT_DIM))
    out[:, :-1] = np.eye(N_OPS)[arr].reshape(arr.shape[0], -1)
    return out


def counts(ops: OpMatrix) -> np.ndarray:
    """n×9 int64: how many of the 22 layers use each op of `OPS`."""
    return np.eye(N_OPS, dtype=np.int64)[check_matrix(ops)].sum(axis=1)


class Geometry(NamedTuple):
    """Per-layer shapes (arrays of 22) of one dataset's macro-architecture."""

    stage: np.ndarray
    input_hw: np.ndarray
    output_hw: np.ndarray
    cin: np.ndarray
    cout: np.ndarray
    stride: np.ndarray
    stem_input_hw: int
    head_hw: int


def macro(dataset: str) -> Macro:
    """The macro-architecture of a dataset; UnknownDataset names the choices."""
    if dataset not in DATASETS:
        raise UnknownDataset(
            f"dataset {dataset!r} has no FBNet macro-architecture; use one of {', '.join(DATASETS)}"
        )
    return DATASETS[dataset]


@cache
def geometry(dataset: str) -> Geometry:
    """Input/output resolution, channels and stride of each of the 22 layers."""
    m = macro(dataset)
    stage = np.repeat(np.arange(N_STAGES), STAGE_LAYERS)
    first = np.r_[True, stage[1:] != stage[:-1]]
    stride = np.where(first, np.asarray(m.strides)[stage], 1)
    cout = np.asarray(STAGE_CHANNELS)[stage]
    cin = np.r_[STEM_CHANNELS, cout[:-1]]
    start = m.resolution // m.stem_stride
    output_hw = start // np.cumprod(stride)
    input_hw = np.r_[start, output_hw[:-1]]
    return Geometry(stage, input_hw, output_hw, cin, cout, stride, m.resolution,
                    int(output_hw[-1]))


class LayerCosts(NamedTuple):
    """Costs of every (layer, op) pair (22×9 int64) and of the fixed stem / header / classifier."""

    macs: np.ndarray
    params: np.ndarray
    activations: np.ndarray  # output elements of every conv in the layer
    convs: np.ndarray
    residual: np.ndarray  # 1 where the layer adds its input to its output
    projection: np.ndarray  # per layer (22,): a skip there is a conv1x1, not the identity
    base_macs: int
    base_params: int
    base_activations: int
    base_convs: int


@cache
def layer_costs(dataset: str) -> LayerCosts:
    """Cost tables of `dataset`, built by broadcasting 22 layer shapes against 8 block ops."""
    g = geometry(dataset)
    area_in, area_out = g.input_hw[:, None] ** 2, g.output_hw[:, None] ** 2
    cin, cout = g.cin[:, None], g.cout[:, None]
    mid = cin * EXPANSION
    pointwise = cin * mid // GROUPS, mid * cout // GROUPS  # the two 1x1 convs' weights
    depthwise = KERNEL**2 * mid
    block_macs = area_in * pointwise[0] + area_out * (depthwise + pointwise[1])
    block_params = pointwise[0] + depthwise + pointwise[1] + 2 * (2 * mid + cout)
    block_acts = area_in * mid + area_out * (mid + cout)
    projection = (g.cin != g.cout) | (g.stride != 1)
    skip_cols = (
        projection * g.output_hw**2 * g.cin * g.cout,
        projection * (g.cin * g.cout + 2 * g.cout),
        projection * g.output_hw**2 * g.cout,
        projection.astype(np.int64),
        np.zeros(N_LAYERS, dtype=np.int64),
    )
    block_cols = (block_macs, block_params, block_acts, np.full_like(block_macs, 3),
                  np.broadcast_to(~projection[:, None], block_macs.shape))
    tables = [np.column_stack([b, s]).astype(np.int64) for b, s in zip(block_cols, skip_cols,
                                                                        strict=True)]
    m = macro(dataset)
    stem_hw, head_c = g.stem_input_hw // m.stem_stride, m.header_channels
    c_last = STAGE_CHANNELS[-1]
    fc = head_c * m.classes + m.classes
    return LayerCosts(
        *tables,
        projection=projection,
        base_macs=stem_hw**2 * 9 * 3 * STEM_CHANNELS + g.head_hw**2 * c_last * head_c + fc,
        base_params=9 * 3 * STEM_CHANNELS + 2 * STEM_CHANNELS + c_last * head_c + 2 * head_c + fc,
        base_activations=stem_hw**2 * STEM_CHANNELS + g.head_hw**2 * head_c,
        base_convs=2,
    )


def _per_layer(table: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """n×22 values of a 22×9 (layer, op) table at each architecture's ops."""
    return table[np.arange(N_LAYERS), ops]


def flops(ops: OpMatrix, dataset: str) -> np.ndarray:
    """Millions of FLOPs (multiply-accumulates, see the module docstring) per architecture."""
    cost = layer_costs(dataset)
    return (cost.base_macs + _per_layer(cost.macs, check_matrix(ops)).sum(axis=1)) / 1e6


def params(ops: OpMatrix, dataset: str) -> np.ndarray:
    """Millions of parameters per architecture (see the module docstring)."""
    cost = layer_costs(dataset)
    return (cost.base_params + _per_layer(cost.params, check_matrix(ops)).sum(axis=1)) / 1e6


LAYER_CONFIG_COLUMNS: tuple[str, ...] = (
    "arch_row", "layer", "stage", "op", "input_h", "input_w", "output_h", "output_w", "cin",
    "cout", "kernel", "stride", "expansion", "groups", "macs", "params",
)


def layer_configs(ops: OpMatrix, dataset: str = "cifar100") -> pl.DataFrame:
    """One row per (architecture row, layer 0…21): the kernel configuration as executed.

    Columns `LAYER_CONFIG_COLUMNS`; arch_row, macs and params are int64, op a string, the rest
    int32. ``stride`` is the layer's stride for every op. A ``skip`` has null expansion; where
    it is a projection it has kernel 1 and groups 1, where it is the identity kernel and groups
    are null too (and macs, params are 0).
    """
    arr = check_matrix(ops)
    g = geometry(dataset)
    cost = layer_costs(dataset)
    n = arr.shape[0]
    skip_kernel = np.where(cost.projection, 1.0, np.nan)
    shapes = {
        name: np.column_stack([np.broadcast_to(col.astype(float), (N_LAYERS, SKIP)), skip])
        for name, col, skip in (("kernel", KERNEL, skip_kernel), ("expansion", EXPANSION,
                                np.full(N_LAYERS, np.nan)), ("groups", GROUPS, skip_kernel))
    }
    tiled = {name: np.tile(getattr(g, attr), n) for name, attr in (
        ("stage", "stage"), ("input_h", "input_hw"), ("input_w", "input_hw"),
        ("output_h", "output_hw"), ("output_w", "output_hw"), ("cin", "cin"), ("cout", "cout"),
        ("stride", "stride"))}
    frame = pl.DataFrame(
        {
            "arch_row": np.repeat(np.arange(n, dtype=np.int64), N_LAYERS),
            "layer": np.tile(np.arange(N_LAYERS), n),
            "op": np.asarray(OPS)[arr].ravel(),
            **tiled,
            **{name: _per_layer(table, arr).ravel() for name, table in shapes.items()},
            "macs": _per_layer(cost.macs, arr).ravel(),
            "params": _per_layer(cost.params, arr).ravel(),
        },
        nan_to_null=True,
    )
    ints = [c for c in LAYER_CONFIG_COLUMNS if c not in ("arch_row", "op", "macs", "params")]
    return frame.with_columns(pl.col(ints).cast(pl.Int32)).select(LAYER_CONFIG_COLUMNS)


KERNEL_FEATURES: tuple[str, ...] = (
    "flops_m",  # `flops`
    "params_m",  # `params`
    "activations_m",  # millions of output elements written by all convs
    "n_convs",  # convolutions executed, stem and header included
    "n_residual_adds",  # ConvBlocks that add their input (C_in = C_out, stride 1)
    "n_stride2_blocks",  # ConvBlocks with stride 2
    "n_projections",  # skips that are a conv1x1 (C_in ≠ C_out or stride 2)
    "n_identities",  # skips that are the identity: the network is that much shallower
    "n_grouped",  # ConvBlocks with grouped 1x1 convs (_g2)
    *(f"flops_m_{op}" for op in OPS),  # FLOPs of the layers using each op
    *(f"flops_m_stage{s}" for s in range(N_STAGES)),  # FLOPs of the layers of each stage
)


def kernel_features(ops: OpMatrix, dataset: str = "cifar100") -> np.ndarray:
    """n×len(`KERNEL_FEATURES`) float: per-architecture aggregates of the kernel configurations."""
    arr = check_matrix(ops)
    g = geometry(dataset)
    cost = layer_costs(dataset)
    macs = _per_layer(cost.macs, arr) / 1e6
    block = arr != SKIP
    stage_onehot = np.eye(N_STAGES)[g.stage]
    columns = (
        flops(arr, dataset),
        params(arr, dataset),
        (cost.base_activations + _per_layer(cost.activations, arr).sum(axis=1)) / 1e6,
        cost.base_convs + _per_layer(cost.convs, arr).sum(axis=1),
        _per_layer(cost.residual, arr).sum(axis=1),
        (block & (g.stride == 2)).sum(axis=1),
        (~block & cost.projection).sum(axis=1),
        (~block & ~cost.projection).sum(axis=1),
        (block & (np.r_[GROUPS, 1][arr] > 1)).sum(axis=1),
    )
    per_op = np.einsum("nl,nlo->no", macs, np.eye(N_OPS)[arr])
    return np.column_stack([*columns, per_op, macs @ stage_onehot]).astype(np.float64)


def arch_table(ops: OpMatrix, dataset: str = "cifar100") -> pa.Table:
    """Architectures table rows: space_id, arch_id, arch_key, flops_m, params_m (for `dataset`)."""
    arr = check_matrix(ops)
    arch_keys = keys(arr)
    _, first, seen = np.unique(arr, axis=0, return_index=True, return_counts=True)
    if (seen > 1).any():
        twice = arch_keys[first[np.flatnonzero(seen > 1)[0]]]
        raise BadArchKey(f"arch_table: arch key {twice!r} occurs more than once")
    return pa.table({
        "space_id": pa.array([SPACE_ID] * len(arch_keys), pa.string()),
        "arch_id": pa.array(arch_ids(arch_keys), pa.int64()),
        "arch_key": pa.array(arch_keys, pa.string()),
        "flops_m": pa.array(flops(arr, dataset)),
        "params_m": pa.array(params(arr, dataset)),
    })


def canonical_key(text: str) -> str:
    """The canonical key of a user's spelling: the key itself, op names or op indices listed."""
    tokens = re.sub(r"[\[\]'\",\-]", " ", text).split()
    names = [OPS[int(t)] if t.isdigit() and int(t) < N_OPS else t for t in tokens]
    return format_key(parse_key(SEP.join(names)))


SPACE = Space(
    space_id=SPACE_ID,
    description="FBNet v1 macro network (HW-NAS-Bench): 22 searchable layers, 9 ops each",
    size=N_OPS**N_LAYERS,
    encoding_notes="arch_key = the 22 op names joined by '-'; arch_id = 63-bit blake2b of "
    "arch_key (warehouse.spaces.hashed_ids); operator one-hot 22 x 9 + 1",
    default_dataset="cifar100",
    canonical_key=canonical_key,
    arch_ids=arch_ids,
    arch_table=lambda keys: arch_table(matrix(keys)),
)
