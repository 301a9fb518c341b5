"""Named feature matrices of a search space's architectures, for latency predictors.

`space_features` encodes architectures (given by arch key, in the caller's order) once; a
predictor or an adaptation strategy then asks for a matrix by name. NAS-Bench-201 offers

``onehot`` (n×31)
    6 edges × 5 ops (`nb201.OPS` order) then a constant 1: the paper's operator encoding.
``live_onehot`` (n×31)
    the same with dead ops (not on a path from the input node to the output node) encoded as
    ``none``: what an execution-aware runtime that prunes dead ops would run.
``kernel`` (n×30)
    execution-unit features for tree models, columns `KERNEL_COLUMNS`:

    - ``op_e<k>``: the op index (`nb201.OPS` order) on edge k, and ``live_op_e<k>``: the same
      with dead ops as 0 (``none``) — 12 columns, edges in arch-string order;

    - ``n_<op>``: how many of the 6 edges carry each op of `nb201.OPS` (5 columns);
    - ``n_live_<op>``: how many live edges carry each op but ``none`` (4 columns);
    - ``n_live_ops``: live edges in all; ``n_dead_ops``: edges that are not ``none`` but dead;
    - ``disconnected``: 1 when the output node is unreachable from the input node;
    - ``n_live_sums``: element-wise additions a pruned runtime runs, Σ over nodes of
      (live incoming edges − 1)⁺;
    - ``live_depth``: edges on the longest live path from the input node to the output (0 when
      disconnected); ``live_conv_depth``: convolutions on the longest live path counted in
      convolutions;
    - ``flops_m``, ``live_flops_m``, ``params_m``: the codec's `nb201.flops`, `nb201.live_flops`
      and `nb201.params` (millions) for the dataset's input (CIFAR-10 by default, the input
      every NAS-Bench-201 latency was measured on).
``counts`` (n×11)
    the ``n_*`` op and live-op counts of ``kernel`` (``n_none`` left out) and ``disconnected``,
    columns `COUNT_COLUMNS`: few enough parameters for 10–20 target samples to fit.

FBNet and OFA MobileNetV3 offer the same four names from their codecs: ``onehot`` (FBNet 22 × 9
+ 1; OFA per-layer kernel / expand one-hot with inactive layers zero, depths and resolution),
``live_onehot`` (the same matrix: every op of these spaces runs), ``kernel`` (the codec's
`kernel_features`) and ``counts`` (FBNet: uses of each of the 9 ops; OFA: stage depths and
active layers per kernel size and per expand ratio).

The mobile-ml-benchmark model sets have no operator structure to encode: every name is built
from the benchmark's FLOPs and model size (`attributes`). ``onehot`` / ``live_onehot`` are
(GFLOPs, MB, 1), ``counts`` (GFLOPs, MB), ``kernel`` adds their logarithms for tree models.
Accel-NASBench offers its codec's per-block one-hot of e / k / l / se (``onehot``, also as
``live_onehot``), block and layer counts (``counts``) and raw block values plus counts
(``kernel``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from oneproxy.analytics.predictors import InvalidPredictorInput
from oneproxy.warehouse import spaces
from oneproxy.warehouse.errors import UnknownSpace
from oneproxy.warehouse.spaces import accel, fbnet, mobile, nb201, ofa_mbv3

_LIVE_OPS = tuple(op for op in nb201.OPS if op != "none")
_CONVS = tuple(nb201.OPS.index(op) for op in ("nor_conv_1x1", "nor_conv_3x3"))

KERNEL_COLUMNS: tuple[str, ...] = (
    *(f"op_e{e}" for e in range(nb201.N_EDGES)),
    *(f"live_op_e{e}" for e in range(nb201.N_EDGES)),
    *(f"n_{op}" for op in nb201.OPS),
    *(f"n_live_{op}" for op in _LIVE_OPS),
    "n_live_ops",
    "n_dead_ops",
    "disconnected",
    "n_live_sums",
    "live_depth",
    "live_conv_depth",
    "flops_m",
    "live_flops_m",
    "params_m",
)
# Op counts: a low-dimensional encoding (11 columns) that a few target samples can correct.
COUNT_COLUMNS: tuple[str, ...] = tuple(
    c for c in KERNEL_COLUMNS
    if (c.startswith("n_") and c != "n_none") or c == "disconnected"
)
ONEHOT_COLUMNS: tuple[str, ...] = (
    *(f"e{e}_{op}" for e in range(nb201.N_EDGES) for op in nb201.OPS),
    "bias",
)


@dataclass(frozen=True, eq=False)
class SpaceFeatures:
    """Read-only feature matrices of `arch_keys` (one row per key, in that order)."""

    space: str
    arch_keys: tuple[str, ...]
    matrices: Mapping[str, np.ndarray]
    columns: Mapping[str, tuple[str, ...]]

    @property
    def n_archs(self) -> int:
        return len(self.arch_keys)

    def matrix(self, name: str) -> np.ndarray:
        """The n_archs × d matrix called `name` (read-only)."""
        if name not in self.matrices:
            raise InvalidPredictorInput(
                f"space {self.space!r} has no encoding {name!r}; use one of "
                f"{', '.join(sorted(self.matrices))}"
            )
        return self.matrices[name]


Encoded = tuple[dict[str, np.ndarray], dict[str, tuple[str, ...]]]
Attributes = Mapping[str, np.ndarray]
Encoder = Callable[[tuple[str, ...], str | None, Attributes], Encoded]
_ENCODERS: dict[str, Encoder] = {}


def register(space_id: str) -> Callable[[Encoder], Encoder]:
    """Register the function that encodes architectures of the space `space_id`."""
    spaces.get(space_id)

    def add(encoder: Encoder) -> Encoder:
        _ENCODERS[space_id] = encoder
        return encoder

    return add


@register(nb201.SPACE_ID)

def _nb201(keys: tuple[str, ...], dataset: str | None, _: Attributes) -> Encoded:
    ops = nb201.ops_matrix(keys).reshape(len(keys), nb201.N_EDGES)
    live = nb201.live_mask(ops)
    onehot = nb201.onehot(ops)
    live_onehot = nb201.live_onehot(ops, live)
    kernel = _kernel_features(ops, live, onehot, live_onehot, dataset or "cifar10")
    matrices = {
        "onehot": onehot,
        "live_onehot": live_onehot,
        "kernel": kernel,
        "counts": kernel[:, [KERNEL_COLUMNS.index(c) for c in COUNT_COLUMNS]],
    }
    return matrices, {"onehot": ONEHOT_COLUMNS, "live_onehot": ONEHOT_COLUMNS,
                      "kernel": KERNEL_COLUMNS, "counts": COUNT_COLUMNS}


@register(fbnet.SPACE_ID)
def _fbnet(keys: tuple[str, ...], dataset: str | None, _: Attributes) -> Encoded:
    ops = fbnet.matrix(keys)
    onehot = fbnet.onehot(ops).astype(np.float64)
    names = (*(f"l{layer}_{op}" for layer in range(fbnet.N_LAYERS) for op in fbnet.OPS), "bias")
    matrices = {"onehot": onehot, "live_onehot": onehot,
                "kernel": fbnet.kernel_features(ops, dataset or "cifar100"),
                "counts": fbnet.counts(ops).astype(np.float64)}
    return matrices, {"onehot": names, "live_onehot": names,
                      "kernel": tuple(fbnet.KERNEL_FEATURES),
                      "counts": tuple(f"n_{op}" for op in fbnet.OPS)}


@register(ofa_mbv3.SPACE_ID)
def _ofa_mbv3(keys: tuple[str, ...], dataset: str | None, _: Attributes) -> Encoded:
    kernel = ofa_mbv3.NET.kernel_features(list(keys)).astype(np.float64)
    counted = [i for i, c in enumerate(ofa_mbv3.NET.kernel_columns)
               if c.startswith(("d", "n_k", "n_e"))]
    onehot = ofa_mbv3.NET.onehot(list(keys)).astype(np.float64)
    names = tuple(f"x{i}" for i in range(onehot.shape[1]))
    return ({"onehot": onehot, "live_onehot": onehot, "kernel": kernel,
             "counts": kernel[:, counted]},
            {"onehot": names, "live_onehot": names, "kernel": tuple(ofa_mbv3.NET.kernel_columns),
             "counts": tuple(ofa_mbv3.NET.kernel_columns[i] for i in counted)})


def _costs(keys: tuple[str, ...], _: str | None, attributes: Attributes) -> Encoded:
    flops = np.asarray(attributes["flops"], dtype=np.float64)
    size = np.asarray(attributes["size_bytes"], dtype=np.float64)
    if not (np.isfinite(flops) & (flops > 0) & np.isfinite(size) & (size > 0)).all():
        raise InvalidPredictorInput("flops and size_bytes must be positive for every arch key")
    base = np.column_stack([flops / 1e9, size / 1e6])
    linear = np.column_stack([base, np.ones(len(keys))])
    names = ("gflops", "size_mb")
    return ({"onehot": linear, "live_onehot": linear, "counts": base,
             "kernel": np.column_stack([base, np.log(flops), np.log(size)])},
            {"onehot": (*names, "bias"), "live_onehot": (*names, "bias"), "counts": names,
             "kernel": (*names, "log_flops", "log_size")})


@register(accel.SPACE_ID)
def _accel(keys: tuple[str, ...], _: str | None, __: Attributes) -> Encoded:
    arr = accel.matrix(keys)
    onehot = accel.onehot(arr)
    return ({"onehot": onehot, "live_onehot": onehot, "counts": accel.counts(arr),
             "kernel": accel.kernel_features(arr)},
            {"onehot": accel.ONEHOT_COLUMNS, "live_onehot": accel.ONEHOT_COLUMNS,
             "counts": accel.COUNT_COLUMNS, "kernel": accel.KERNEL_COLUMNS})


for _space in mobile.SPACES:
    register(_space.space_id)(_costs)


def space_features(
    space: str, arch_keys: Sequence[str], *, dataset: str | None = None,
    attributes: Attributes | None = None,
) -> SpaceFeatures:
    """Every encoding of `arch_keys`; costs (FLOPs, params) are for `dataset`'s input
    (default: the dataset the space's latencies were measured on). Spaces whose encodings read
    measured attributes (`Space.attribute_columns`) take them in `attributes`, one value per key."""
    codec = spaces.get(space)
    if space not in _ENCODERS:
        raise UnknownSpace(
            f"space {space!r} has no latency-predictor encodings; supported: "
            f"{', '.join(sorted(_ENCODERS))}"
        )
    keys = tuple(arch_keys)
    if not keys:
        raise InvalidPredictorInput("arch_keys is empty: pass the architectures to encode")
    given = dict(attributes or {})
    for column in codec.attribute_columns:
        values = given.get(column)
        if values is None or np.shape(values) != (len(keys),):
            raise InvalidPredictorInput(
                f"space {space!r} encodes architectures by their "
                f"{', '.join(codec.attribute_columns)}: pass attributes[{column!r}] with one "
                f"value per arch key ({len(keys)})"
            )
    matrices, columns = _ENCODERS[space](keys, dataset, given)
    for m in matrices.values():
        m.flags.writeable = False
    return SpaceFeatures(space, keys, matrices, columns)


def _kernel_features(ops: np.ndarray, live: np.ndarray, onehot: np.ndarray,
                     live_onehot: np.ndarray, dataset: str) -> np.ndarray:
    """n × len(KERNEL_COLUMNS) execution-unit features of NB201 op rows, given their
    `nb201.live_mask`, `nb201.onehot` and `nb201.live_onehot`."""
    n = ops.shape[0]
    counts = onehot[:, :-1].reshape(n, nb201.N_EDGES, nb201.N_OPS).sum(axis=1)
    live_counts = live_onehot[:, :-1].reshape(n, nb201.N_EDGES, nb201.N_OPS).sum(axis=1)[:, 1:]
    n_live = live_counts.sum(axis=1)  # a live op is never none
    to = np.array([t for t, _ in nb201.EDGES])
    live_in = np.stack([live[:, to == node].sum(axis=1) for node in (1, 2, 3)], axis=1)
    is_conv = np.isin(ops, _CONVS)
    blocks = [
        ops,
        np.where(live, ops, nb201.NONE),
        counts,
        live_counts,
        n_live,
        nb201.N_EDGES - counts[:, nb201.NONE] - n_live,  # not none but dead
        nb201.disconnected(ops),
        np.clip(live_in - 1, 0, None).sum(axis=1),
        _longest_live_path(live, np.ones_like(ops, dtype=np.int64)),
        _longest_live_path(live, is_conv.astype(np.int64)),
        nb201.flops(ops, dataset),
        nb201.live_flops(ops, dataset),
        nb201.params(ops, dataset),
    ]
    out = np.empty((n, len(KERNEL_COLUMNS)))
    start = 0
    for block in blocks:  # filled in place: np.column_stack would promote and copy each block
        width = 1 if block.ndim == 1 else block.shape[1]
        out[:, start:start + width] = block.reshape(n, width)
        start += width
    return out


def _longest_live_path(live: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Largest sum of `weight` over live paths from node 0 to node 3 (0 when there is none)."""
    best = np.full((live.shape[0], 4), -1, dtype=np.int64)  # -1: node not reached
    best[:, 0] = 0
    for e, (to, src) in enumerate(nb201.EDGES):  # ordered by target: sources are final
        reach = live[:, e] & (best[:, src] >= 0)
        longer = np.maximum(best[:, to], best[:, src] + weight[:, e])
        best[:, to] = np.where(reach, longer, best[:, to])
    return np.clip(best[:, 3], 0, None)
