"""NAS-Bench-201 codec: arch strings, op matrices, one-hot encodings, liveness, FLOPs / params.

A cell has 4 nodes and 6 edges, in arch-string order
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``: (1←0), (2←0), (2←1), (3←0), (3←1), (3←2).
An architecture is a row of 6 op indices into `OPS`. The official NAS-Bench-201 index
(``arch_id``) is not lexicographic; it comes from the data, so this module offers
`ops_code` (a base-5 number) for lookups and never invents ids.
"""

import itertools
import re
from collections.abc import Iterable, Sequence
from functools import cache
from typing import NamedTuple

import numpy as np
import pyarrow as pa
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.spaces.space import Space

SPACE_ID = "nb201"
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
N_OPS = len(OPS)
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from)
N_EDGES = len(EDGES)
N_ARCHS = N_OPS**N_EDGES
ONEHOT_DIM = N_EDGES * N_OPS + 1
NONE = OPS.index("none")

# dataset -> (classes, input resolution)
DATASETS: dict[str, tuple[int, int]] = {
    "cifar10": (10, 32),
    "cifar100": (100, 32),
    "ImageNet16-120": (120, 16),
}

_TOKEN = re.compile(r"(?P<op>[^~|+]*)~(?P<src>[^~|+]*)")


class BadArchKey(OneproxyError, ValueError):
    """An arch string, op matrix or encoding that is not a NAS-Bench-201 architecture."""


class UnknownDataset(OneproxyError, ValueError):
    """A dataset the NAS-Bench-201 cost model does not know."""


def parse_arch(s: str) -> tuple[int, ...]:
    """Op indices of the 6 edges of an arch string such as ``|nor_conv_3x3~0|+|…|``."""
    if not isinstance(s, str):
        raise BadArchKey(f"arch string {s!r} is a {type(s).__name__}, not a str")
    groups = s.split("+")
    if len(groups) != 3:
        raise BadArchKey(
            f"arch string {s!r}: expected 3 node groups joined by '+', found {len(groups)}; "
            "the form is |op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
        )
    ops: list[int] = []
    for node, group in enumerate(groups, start=1):
        if len(group) < 2 or group[0] != "|" or group[-1] != "|":
            raise BadArchKey(f"arch string {s!r}: node {node} group {group!r} must be '|…|'")
        tokens = group[1:-1].split("|")
        if len(tokens) != node:
            raise BadArchKey(
                f"arch string {s!r}: node {node} must have {node} incoming edges, "
                f"found {len(tokens)} in {group!r}"
            )
        for src, token in enumerate(tokens):
            match = _TOKEN.fullmatch(token)
            if match is None:
                raise BadArchKey(f"arch string {s!r}: edge {token!r} is not of the form op~k")
            if match["op"] not in OPS:
                raise BadArchKey(
                    f"arch string {s!r}: unknown op {match['op']!r} on edge {node}←{src}; "
                    f"ops are {', '.join(OPS)}"
                )
            if match["src"] != str(src):
                raise BadArchKey(
                    f"arch string {s!r}: edge {token!r} of node {node} must come from "
                    f"node ~{src}, not ~{match['src']}"
                )
            ops.append(OPS.index(match["op"]))
    return tuple(ops)


def format_arch(ops: Sequence[int] | np.ndarray) -> str:
    """The canonical arch string of one row of 6 op indices."""
    arr = check_ops(ops)
    if arr.shape[0] != 1:
        raise BadArchKey(f"format_arch takes one row of {N_EDGES} op indices, got {arr.shape[0]}")
    row = arr[0]
    names = [f"{OPS[op]}~{src}" for op, (_, src) in zip(row, EDGES, strict=True)]
    return "+".join("|" + "|".join(names[a:b]) + "|" for a, b in ((0, 1), (1, 3), (3, 6)))


def check_ops(ops: Sequence[int] | np.ndarray) -> np.ndarray:
    """`ops` as an n×6 int8 matrix (a single row becomes 1×6); BadArchKey names a bad row."""
    arr = np.atleast_2d(np.asarray(ops))
    if arr.ndim != 2 or arr.shape[1] != N_EDGES:
        raise BadArchKey(f"op matrix of shape {arr.shape}: expected n×{N_EDGES} op indices")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise BadArchKey(f"op matrix of dtype {arr.dtype}: expected integer op indices")
    bad = np.flatnonzero(((arr < 0) | (arr >= N_OPS)).any(axis=1))
    if bad.size:
        raise BadArchKey(
            f"op matrix row {bad[0]} = {arr[bad[0]].tolist()} ({bad.size} bad rows): "
            f"op indices must be in 0…{N_OPS - 1}"
        )
    return arr.astype(np.int8)


@cache
def all_op_tuples() -> np.ndarray:
    """The 15,625×6 int8 matrix of every architecture in lexicographic order (row = ops_code)."""
    grid = np.indices((N_OPS,) * N_EDGES, dtype=np.int8).reshape(N_EDGES, -1).T
    grid.flags.writeable = False
    return grid


def ops_code(ops: Sequence[int] | np.ndarray) -> np.ndarray:
    """Base-5 number of each row of ops, edge 0 most significant (the row in `all_op_tuples`)."""
    weights = N_OPS ** np.arange(N_EDGES - 1, -1, -1, dtype=np.int64)
    return check_ops(ops).astype(np.int64) @ weights


@cache
def _code_of_key() -> dict[str, int]:
    """Canonical arch string -> ops_code, built by string products (no per-row checks).

    A key is the text of edges 0-2 (``|a|+|b|c|+``) then of edges 3-5 (``|d|e|f|``): 125 heads
    times 125 tails, in ops_code order.
    """
    names = [[f"{op}~{src}" for op in OPS] for _, src in EDGES]
    heads = [f"|{a}|+|{b}|{c}|+" for a, b, c in itertools.product(*names[:3])]
    tails = [f"|{d}|{e}|{f}|" for d, e, f in itertools.product(*names[3:])]
    return dict(zip([h + t for h in heads for t in tails], range(N_ARCHS), strict=True))


def ops_matrix(strings: Iterable[str]) -> np.ndarray:
    """n×6 int8 op indices of arch strings; a malformed string raises BadArchKey naming it."""
    strings = list(strings)
    get = _code_of_key().get
    rows = np.fromiter(map(get, strings, itertools.repeat(-1)), dtype=np.int64,
                       count=len(strings))
    for i in np.flatnonzero(rows < 0):  # not canonical: parsed, which names what is wrong
        rows[i] = ops_code(parse_arch(strings[i]))[0]
    return all_op_tuples()[rows]


def onehot(ops: Sequence[int] | np.ndarray) -> np.ndarray:
    """n×31 float: 6 edges × 5 ops (`OPS` order) then a constant 1, as OneProxy `encode.pickle`."""
    arr = check_ops(ops)
    out = np.zeros((arr.shape[0], ONEHOT_DIM))
    out[:, :-1] = (arr[:, :, None] == np.arange(N_OPS)).reshape(arr.shape[0], -1)
    out[:, -1] = 1.0
    return out


def decode_onehot(x: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """n×6 int8 ops of n×31 one-hot rows; BadArchKey names the first row that is not one."""
    arr = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if arr.ndim != 2 or arr.shape[1] != ONEHOT_DIM:
        raise BadArchKey(f"one-hot matrix of shape {arr.shape}: expected n×{ONEHOT_DIM}")
    blocks = arr[:, :-1].reshape(arr.shape[0], N_EDGES, N_OPS)
    checks = (
        ((~np.isin(arr, (0.0, 1.0))).any(axis=1), "entries must be 0 or 1"),
        (
            (blocks.sum(axis=2) != 1).any(axis=1),
            f"each of the {N_EDGES} edges needs exactly one 1 among its {N_OPS} op slots",
        ),
        (arr[:, -1] != 1, "the trailing bias entry must be 1"),
    )
    for bad, what in checks:
        rows = np.flatnonzero(bad)
        if rows.size:
            raise BadArchKey(
                f"one-hot row {rows[0]} = {arr[rows[0]].tolist()} ({rows.size} bad rows): {what}"
            )
    return blocks.argmax(axis=2).astype(np.int8)


def _reach(ops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per node: reachable from node 0 (n×4) and node 3 reachable from it (n×4)."""
    on = ops != NONE
    n = ops.shape[0]
    fwd = np.zeros((n, 4), dtype=bool)
    bwd = np.zeros((n, 4), dtype=bool)
    fwd[:, 0] = True
    bwd[:, 3] = True
    for node in (1, 2, 3):  # edges are topologically ordered by their target
        for e, (to, src) in enumerate(EDGES):
            if to == node:
                fwd[:, node] |= on[:, e] & fwd[:, src]
    for node in (2, 1, 0):
        for e, (to, src) in enumerate(EDGES):
            if src == node:
                bwd[:, node] |= on[:, e] & bwd[:, to]
    return fwd, bwd


def live_mask(ops: Sequence[int] | np.ndarray) -> np.ndarray:
    """n×6 bool: the op is not `none`, its source is fed by node 0 and its target feeds node 3."""
    arr = check_ops(ops)
    fwd, bwd = _reach(arr)
    src = np.array([s for _, s in EDGES])
    to = np.array([t for t, _ in EDGES])
    return (arr != NONE) & fwd[:, src] & bwd[:, to]


def disconnected(ops: Sequence[int] | np.ndarray) -> np.ndarray:
    """n bool: node 3 is unreachable from node 0 (the network's cells output zeros)."""
    return ~_reach(check_ops(ops))[0][:, 3]


def live_onehot(ops: Sequence[int] | np.ndarray, live: np.ndarray | None = None) -> np.ndarray:
    """`onehot` of the execution-aware ops: dead ops encoded as `none` (`live`: the ops'
    `live_mask`, when the caller has it)."""
    arr = check_ops(ops)
    return onehot(np.where(live_mask(arr) if live is None else live, arr, NONE))


class _Costs(NamedTuple):
    base_macs: int
    base_params: int
    op_macs: np.ndarray  # per op index, summed over the 15 cells (one edge per cell)
    op_params: np.ndarray


_CHANNELS = (16, 32, 64)  # per stage
_CELLS_PER_STAGE = 5
_CONV_KERNELS = ((OPS.index("nor_conv_1x1"), 1), (OPS.index("nor_conv_3x3"), 3))


@cache
def _costs(dataset: str) -> _Costs:
    if dataset not in DATASETS:
        raise UnknownDataset(
            f"dataset {dataset!r} has no NAS-Bench-201 cost model; use one of {', '.join(DATASETS)}"
        )
    classes, res = DATASETS[dataset]
    c0, c_last = _CHANNELS[0], _CHANNELS[-1]
    macs = res * res * 9 * 3 * c0  # stem conv3x3 3→C0
    params = 9 * 3 * c0 + 2 * c0  # … + BN
    op_macs = np.zeros(N_OPS, dtype=np.int64)
    op_params = np.zeros(N_OPS, dtype=np.int64)
    for stage, c in enumerate(_CHANNELS):
        side = res >> stage
        for op, k in _CONV_KERNELS:  # ReLU-Conv(k×k, C→C)-BN, one edge of each cell
            op_macs[op] += _CELLS_PER_STAGE * side * side * k * k * c * c
            op_params[op] += _CELLS_PER_STAGE * (k * k * c * c + 2 * c)
        if stage:  # reduction block before the stage: conv3x3/2, conv3x3, shortcut conv1x1
            c_in = c // 2
            weights = 9 * c_in * c + 9 * c * c + c_in * c
            macs += side * side * weights
            params += weights + 2 * (2 * c)  # … + two BNs
    macs += c_last * classes + classes  # classifier weight MACs + bias adds
    params += 2 * c_last + c_last * classes + classes  # last BN, classifier
    return _Costs(macs, params, op_macs, op_params)


def cost_column(metric: str, dataset: str) -> str:
    """Column name of a cost in `arch_table`, e.g. ``flops_m_imagenet16_120``."""
    return f"{metric}_m_{dataset.lower().replace('-', '_')}"


def flops(ops: Sequence[int] | np.ndarray, dataset: str) -> np.ndarray:
    """Millions of FLOPs per architecture, counted as NAS-Bench-201 does, every op as executed.

    Counted: multiply-accumulates of every convolution (H_out·W_out·k²·C_in·C_out) and of the
    classifier (C_in·classes), plus one per classifier bias. Not counted: batch norm, ReLU,
    pooling (cell avg_pool_3x3, reduction-shortcut avgpool, global average pool) and the sums
    at cell nodes. This reproduces the NAS-Bench-201 API "flops" exactly.
    """
    cost = _costs(dataset)
    return (cost.base_macs + cost.op_macs[check_ops(ops)].sum(axis=1)) / 1e6


def live_flops(ops: Sequence[int] | np.ndarray, dataset: str) -> np.ndarray:
    """`flops` counting only live cell ops (what an execution-aware runtime would run)."""
    arr = check_ops(ops)
    cost = _costs(dataset)
    return (cost.base_macs + (cost.op_macs[arr] * live_mask(arr)).sum(axis=1)) / 1e6


def params(ops: Sequence[int] | np.ndarray, dataset: str) -> np.ndarray:
    """Millions of parameters: conv weights (no conv biases), BN affine (2 per channel), linear."""
    cost = _costs(dataset)
    return (cost.base_params + cost.op_params[check_ops(ops)].sum(axis=1)) / 1e6


def arch_table(strings: Sequence[str], indices: Sequence[int] | np.ndarray) -> pa.Table:
    """Architectures table: ids, keys, ops as six int8 columns ``e0…e5``, liveness, FLOPs, params.

    Cost columns (millions, as `flops` / `params`) are named by `cost_column` for every dataset
    in `DATASETS`: ``flops_m_cifar10``, ``params_m_cifar10``, …, ``params_m_imagenet16_120``.
    """
    ids = np.asarray(indices)
    if ids.shape != (len(strings),):
        raise BadArchKey(
            f"arch_table: {len(strings)} arch strings but indices of shape {ids.shape}"
        )
    if ids.size and (
        not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= N_ARCHS
    ):
        raise BadArchKey(f"arch_table: arch ids must be integers in 0…{N_ARCHS - 1}")
    for what, values in (("arch id", ids), ("arch string", np.asarray(strings, dtype=object))):
        uniq, counts = np.unique(values, return_counts=True)
        if (counts > 1).any():
            twice = uniq[counts > 1].tolist()[0]
            raise BadArchKey(f"arch_table: {what} {twice!r} occurs more than once")
    ops = ops_matrix(strings)
    columns: dict[str, pa.Array] = {
        "space_id": pa.array([SPACE_ID] * len(strings), pa.string()),
        "arch_id": pa.array(ids.astype(np.int64)),
        "arch_key": pa.array(list(strings), pa.string()),
        **{f"e{e}": pa.array(ops[:, e]) for e in range(N_EDGES)},
        "disconnected": pa.array(disconnected(ops)),
        "n_live_ops": pa.array(live_mask(ops).sum(axis=1).astype(np.int8)),
    }
    for dataset in DATASETS:
        columns[cost_column("flops", dataset)] = pa.array(flops(ops, dataset))
        columns[cost_column("params", dataset)] = pa.array(params(ops, dataset))
    return pa.table(columns)


SPACE = Space(
    space_id=SPACE_ID,
    description="NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 ops per edge",
    size=N_ARCHS,
    encoding_notes="arch_id = official NAS-Bench-201 index; operator one-hot of 6 edges in "
    "arch-string order x (none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3) + 1",
    default_dataset="cifar10",
    canonical_key=lambda text: format_arch(parse_arch(text.strip())),
)
