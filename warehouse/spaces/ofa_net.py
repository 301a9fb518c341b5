"""Once-for-All elastic MBConv networks: the codec both OFA spaces share.

An `ElasticNet` describes a supernet as OFA builds it: a stride-2 3×3 stem conv, a fixed first
MBConv block (expand 1, kernel 3), stages of MBConv layers whose first layer carries the stage
stride, then a head. Each stage layer has an elastic kernel size (``ks``) and expand ratio
(``e``); a stage of more than one layer has an elastic depth (``d``): only its first d layers
run. ``r`` is the input resolution. The inactive layers of a stage (beyond d) do not exist in
the network, so their ks / e are meaningless; the canonical key writes them as 0:

    r<resolution>-d<d1>,…,<dS>-ks<k1>,…,<kL>-e<e1>,…,<eL>
    e.g. r204-d2,2,2,2,3-ks7,5,0,0,7,7,0,0,…-e6,4,0,0,6,3,0,0,…

with one d per elastic stage and one ks / e per supernet layer (L = 20 for OFA MobileNetV3),
so networks that differ only in inactive values share one key. ``arch_id`` is the 63-bit
blake2b of the key (`warehouse.spaces.hashed_ids`).

Geometry follows OFA: the stem outputs ``(r + 1) // 2``, a layer of stride s maps a side f to
``(f - 1) // s + 1``; a layer has an identity skip when its stride is 1 and its input and
output channels agree. The head is either MobileNetV3's (final expand 1×1 conv, global
average pool, feature-mix 1×1 conv, classifier) or ProxylessNAS's (feature-mix 1×1 conv then a
classifier on the pooled features); `ElasticNet.final_expand` tells which. Layer op keys are
those of OFA's ``MBv3LatencyTable`` / ``ProxylessNASLatencyTable`` (see `ofa_ops`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.spaces import ofa_ops
from oneproxy.warehouse.spaces.hashed_ids import hashed_arch_ids


class BadArchKey(OneproxyError, ValueError):
    """An arch key or (ks, e, d, r) description that is not an architecture of an OFA space."""


@dataclass(frozen=True)
class Stage:
    """A run of MBConv layers of one width; the first carries the stride."""

    width: int
    stride: int
    layers: int
    se: bool
    activation: str


class Archs(NamedTuple):
    """Architectures as arrays: ks, e (n×L), d (n×elastic stages), r (n); inactive ks / e are 0."""

    ks: np.ndarray
    e: np.ndarray
    d: np.ndarray
    r: np.ndarray


def make_divisible(v: np.ndarray, divisor: int) -> np.ndarray:
    """OFA's ``make_divisible``: the nearest multiple of divisor, at least divisor and ≥ 0.9·v."""
    v = np.asarray(v, dtype=np.int64)
    if divisor == 1:
        return v
    out = np.maximum(divisor, (v + divisor // 2) // divisor * divisor)
    return np.where(out < 0.9 * v, out + divisor, out)


def _side(f: np.ndarray, stride: int) -> np.ndarray:
    return (f - 1) // stride + 1


def _column(v: np.ndarray | int | None) -> pl.Expr | pl.Series:
    """A per-arch array as a column, a scalar (or None) as a broadcast literal."""
    return pl.Series(v) if isinstance(v, np.ndarray) else pl.lit(v, pl.Int64)


def _onehot(arr: np.ndarray, choices: tuple[int, ...]) -> np.ndarray:
    """n×(columns·choices) bool: each column of `arr` one-hot over `choices` (0 → all False)."""
    n, columns = arr.shape
    return (arr[:, :, None] == np.asarray(choices)).reshape(n, columns * len(choices))


_INT_COLUMNS = ("stage", "layer", "cin", "cout", "stride")


_LIST = r"(\d+(?:,\d+)*)"
_KEY = re.compile(rf"r(\d+)-d{_LIST}-ks{_LIST}-e{_LIST}")


@dataclass(frozen=True)
class ElasticNet:
    """One OFA supernet; its methods are the codec of the space (keys in, arrays / tables out)."""

    space_id: str
    stem: int
    first_block: Stage
    stages: tuple[Stage, ...]
    final_expand: int | None
    feature_mix: int
    kernels: tuple[int, ...]
    expand_ratios: tuple[int, ...]
    depths: tuple[int, ...]
    resolutions: tuple[int, ...]
    mid_divisor: int
    classes: int = 1000

    # ---- structure -------------------------------------------------------------------------

    @cached_property
    def n_layers(self) -> int:
        """Supernet layers with an elastic kernel and expand ratio (the length of ks and e)."""
        return sum(s.layers for s in self.stages)

    @cached_property
    def elastic_stages(self) -> tuple[int, ...]:
        """Indices (into `stages`) of the stages with an elastic depth: one d each."""
        return tuple(i for i, s in enumerate(self.stages) if s.layers > 1)

    @cached_property
    def _blocks(self) -> pl.DataFrame:
        """Per block (0 = the fixed first block, 1…L the supernet layers): static structure."""
        rows = [dict(block=0, stage=0, layer=0, cin=self.stem, cout=self.first_block.width,
                     stride=self.first_block.stride, se=self.first_block.se,
                     activation=self.first_block.activation)]
        cin = self.first_block.width
        for s, stage in enumerate(self.stages, start=1):
            for i in range(stage.layers):
                rows.append(dict(block=len(rows), stage=s, layer=i, cin=cin, cout=stage.width,
                                 stride=stage.stride if i == 0 else 1, se=stage.se,
                                 activation=stage.activation))
                cin = stage.width
        return pl.DataFrame(rows).with_columns(
            idskip=(pl.col("stride") == 1) & (pl.col("cin") == pl.col("cout"))
        )

    @property
    def last_width(self) -> int:
        return self.stages[-1].width

    def active_mask(self, d: np.ndarray) -> np.ndarray:
        """n×L bool: layer runs (its index within its stage is below the stage's depth)."""
        blocks = self._blocks.filter(pl.col("block") > 0)
        stage_depth = np.ones((len(d), len(self.stages) + 1), dtype=np.int64)
        stage_depth[:, 1 + np.asarray(self.elastic_stages)] = d
        return blocks["layer"].to_numpy() < stage_depth[:, blocks["stage"].to_numpy()]

    def sides(self, r: np.ndarray) -> np.ndarray:
        """n×(L+2) feature-map sides: the input of every block (0…L), then the head's input."""
        f = (np.asarray(r, dtype=np.int64) + 1) // 2
        out = [f]
        for stride in self._blocks["stride"].to_list():
            f = _side(f, stride)
            out.append(f)
        return np.stack(out, axis=1)

    # ---- arrays and keys ---------------------------------------------------------------------

    def from_arrays(self, ks: Any, e: Any, d: Any, r: Any) -> Archs:
        """Validated `Archs` with inactive layers zeroed; BadArchKey names the first bad row.

        Inactive layers may hold any kernel / expand choice or 0: they are ignored.
        """
        widths = {"ks": self.n_layers, "e": self.n_layers, "d": len(self.elastic_stages)}
        try:
            arrays = {name: np.atleast_1d(np.asarray(v)) for name, v in
                      (("ks", ks), ("e", e), ("d", d), ("r", r))}
        except ValueError as exc:
            raise BadArchKey(f"{self.space_id}: ks, e, d, r are not rectangular: {exc}") from None
        n = len(arrays["r"])
        for name, arr in arrays.items():
            shape = (n,) if name == "r" else (n, widths[name])
            if arr.size == 0:
                arr = arrays[name] = arr.astype(np.int64).reshape(shape)
            if arr.shape != shape:
                raise BadArchKey(f"{self.space_id}: {name} has shape {arr.shape}, expected {shape}")
            if arr.size and not np.issubdtype(arr.dtype, np.integer):
                raise BadArchKey(f"{self.space_id}: {name} of dtype {arr.dtype}: expected integers")
        ks, e, d, r = (arrays[k].astype(np.int64) for k in ("ks", "e", "d", "r"))
        self._check_in(r[:, None], self.resolutions, "r")
        self._check_in(d, self.depths, "d")
        active = self.active_mask(d)
        for name, arr, choices in (("ks", ks, self.kernels), ("e", e, self.expand_ratios)):
            self._check_in(np.where(active, arr, choices[0]), choices, name)
            self._check_in(arr, (0, *choices), f"inactive {name}")
        return Archs(np.where(active, ks, 0), np.where(active, e, 0), d, r)

    def _check_in(self, arr: np.ndarray, choices: tuple[int, ...], what: str) -> None:
        bad = ~np.isin(arr, choices)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise BadArchKey(
                f"{self.space_id}: architecture row {row}: {what} value {arr[row, col]} at "
                f"position {col} is not one of {', '.join(map(str, choices))} "
                f"({int(bad.any(axis=1).sum())} bad rows)"
            )

    def from_dicts(self, archs: Sequence[Mapping[str, Any]]) -> Archs:
        """`Archs` of dicts with ``ks``, ``e``, ``d``, ``r`` (as HELP and OFA write them)."""
        missing = [i for i, a in enumerate(archs)
                   if not isinstance(a, Mapping) or not {"ks", "e", "d", "r"} <= set(a)]
        if missing:
            raise BadArchKey(
                f"{self.space_id}: architecture row {missing[0]} is not a dict with ks, e, d and "
                f"r ({len(missing)} such rows)"
            )
        return self.from_arrays(*([a[k] for a in archs] for k in ("ks", "e", "d", "r")))

    def format_keys(self, archs: Archs) -> list[str]:
        """The canonical key of every architecture row (see the module docstring)."""
        def join(row: np.ndarray) -> str:
            return ",".join(map(str, row.tolist()))
        return [f"r{r}-d{join(d)}-ks{join(ks)}-e{join(e)}"
                for ks, e, d, r in zip(archs.ks, archs.e, archs.d, archs.r.tolist(), strict=True)]

    def parse_keys(self, keys: Sequence[str]) -> Archs:
        """`Archs` of canonical keys; BadArchKey names a key that is malformed or not canonical."""
        lengths = (len(self.elastic_stages), self.n_layers, self.n_layers)
        rows: list[tuple[int, list[int], list[int], list[int]]] = []
        for key in keys:
            m = _KEY.fullmatch(key) if isinstance(key, str) else None
            if m is None:
                raise BadArchKey(
                    f"{self.space_id}: arch key {key!r} is not of the form "
                    "r<res>-d<d,…>-ks<k,…>-e<e,…>"
                )
            lists = [list(map(int, g.split(","))) for g in m.groups()[1:]]
            if tuple(map(len, lists)) != lengths:
                raise BadArchKey(
                    f"{self.space_id}: arch key {key!r} lists (d, ks, e) of lengths "
                    f"{tuple(map(len, lists))}, expected {lengths}"
                )
            rows.append((int(m[1]), *lists))
        r, d, ks, e = (np.array([row[i] for row in rows], dtype=np.int64) for i in range(4))
        archs = self.from_arrays(ks, e, d, r)
        for key, canonical in zip(keys, self.format_keys(archs), strict=True):
            if key != canonical:
                raise BadArchKey(
                    f"{self.space_id}: arch key {key!r} is not canonical (inactive layers are 0, "
                    f"no leading zeros): {canonical!r}"
                )
        return archs

    # ---- the keys-based API of a space -------------------------------------------------------

    def canonical(self, ks: Sequence[int], e: Sequence[int], d: Sequence[int], r: int) -> str:
        """The canonical key of one architecture."""
        return self.format_keys(self.from_arrays([ks], [e], [d], [r]))[0]

    def parse_key(self, key: str) -> dict[str, Any]:
        """``{'ks': […], 'e': […], 'd': […], 'r': int}`` of one key (inactive ks / e are 0)."""
        archs = self.parse_keys([key])
        return {name: getattr(archs, name)[0].tolist() for name in ("ks", "e", "d", "r")}

    def keys_from_archs(self, archs: Sequence[Mapping[str, Any]]) -> list[str]:
        """Canonical keys of dicts with ks, e, d, r (inactive values ignored)."""
        return self.format_keys(self.from_dicts(archs))

    def canonical_key(self, text: str) -> str:
        """The canonical key of a user's spelling: a key or a JSON object with ks, e, d, r."""
        text = text.strip()
        arch = json.loads(text) if text.startswith("{") else self.parse_key(text)
        return self.canonical(arch["ks"], arch["e"], arch["d"], arch["r"])

    def arch_ids(self, keys: Sequence[str]) -> np.ndarray:
        """Stable int64 ids of canonical keys (checked canonical first)."""
        self.parse_keys(keys)
        return hashed_arch_ids(keys)

    def active_layers(self, keys: Sequence[str] | Archs) -> pl.DataFrame:
        """One row per MBConv block that runs, the fixed first block (``block`` 0) included.

        Columns: arch_row, block (0…L), stage (0 = first block), layer (within the stage),
        input_h, input_w, output_h, output_w, cin, cout, mid_c, expand_ratio, kernel, stride,
        se, activation, idskip.
        """
        archs = keys if isinstance(keys, Archs) else self.parse_keys(keys)
        n = len(archs.r)
        blocks = self._blocks
        ks = np.hstack([np.full((n, 1), 3), archs.ks])
        e = np.hstack([np.ones((n, 1), dtype=np.int64), archs.e])
        active = np.hstack([np.ones((n, 1), dtype=bool), self.active_mask(archs.d)])
        sides = self.sides(archs.r)
        cin = blocks["cin"].to_numpy()
        mid = make_divisible(cin * e, self.mid_divisor)
        rows, cols = np.nonzero(active)
        side_in, side_out = sides[rows, cols], sides[rows, cols + 1]
        return pl.DataFrame({
            "arch_row": rows.astype(np.int64),
            "block": cols.astype(np.int32),
            "input_h": side_in.astype(np.int32), "input_w": side_in.astype(np.int32),
            "output_h": side_out.astype(np.int32), "output_w": side_out.astype(np.int32),
            "mid_c": mid[rows, cols].astype(np.int32),
            "expand_ratio": e[rows, cols].astype(np.float64),
            "kernel": ks[rows, cols].astype(np.int32),
        }).join(blocks.cast({c: pl.Int32 for c in _INT_COLUMNS}), on="block", how="left").select(
            "arch_row", "block", "stage", "layer", "input_h", "input_w", "output_h", "output_w",
            "cin", "cout", "mid_c", "expand_ratio", "kernel", "stride", "se", "activation",
            "idskip",
        ).sort("arch_row", "block")

    def _head_tail(self, r: np.ndarray) -> list[dict[str, Any]]:
        """The stem and the head ops: type, network order, input (h, c), output (h, c) per arch.

        Blocks take orders 0…L, so the stem is -1 and the head follows from L + 1.
        """
        r = np.asarray(r, dtype=np.int64)
        f = self.sides(r)[:, -1]
        one = np.ones_like(r)
        if self.final_expand is None:
            head = [("Conv_1", f, self.last_width, f, self.feature_mix),
                    ("Logits", f, self.feature_mix, None, self.classes)]
        else:
            fe = self.final_expand
            head = [("Conv_1", f, self.last_width, f, fe), ("AvgPool2D", f, fe, one, fe),
                    ("Conv_2", one, fe, one, self.feature_mix),
                    ("Logits", one, self.feature_mix, None, self.classes)]
        ops = [(-1, ("Conv", r, 3, (r + 1) // 2, self.stem))]
        ops += list(enumerate(head, start=self.n_layers + 1))
        return [dict(op_type=op, order=order, input_h=ih, input_c=ic, output_h=oh, output_c=oc)
                for order, (op, ih, ic, oh, oc) in ops]

    def layer_op_keys(self, keys: Sequence[str]) -> pl.DataFrame:
        """The lookup-table keys that price each architecture: stem, running blocks, head.

        Columns: arch_row, position (network order from 0), resolution (the table to look the
        keys up in: the input resolution), op_key. Summing the table's ``mean`` over the keys of
        an arch_row (`analytics.predictors.lookup.price`) is OFA's latency estimate.
        """
        archs = self.parse_keys(keys)
        n = len(archs.r)
        layers = self.active_layers(archs)
        proxyless = self.final_expand is None
        blocks = layers.select(
            "arch_row", pl.lit("expanded_conv").alias("op_type"),
            pl.col("block").cast(pl.Int64).alias("order"), "input_h", "input_w",
            pl.col("cin").alias("input_c"), "output_h", "output_w",
            pl.col("cout").alias("output_c"), "mid_c", "expand_ratio", "kernel", "stride",
            pl.lit(None, pl.Int32).alias("groups"), "idskip",
            (pl.lit(None, pl.Boolean) if proxyless else pl.col("se")).alias("se"),
            (pl.lit(None, pl.String) if proxyless else pl.col("activation")).alias("activation"),
        )
        frames = [blocks]
        for op in self._head_tail(archs.r):
            frames.append(pl.DataFrame({"arch_row": np.arange(n, dtype=np.int64)}).with_columns(
                op_type=pl.lit(op["op_type"]), order=pl.lit(op["order"], pl.Int64),
                **{f"{side}_{dim}": _column(op[f"{side}_{src}"])
                   for side in ("input", "output") for dim, src in (("h", "h"), ("w", "h"),
                                                                    ("c", "c"))},
            ))
        ops = pl.concat(frames, how="diagonal_relaxed").cast(ofa_ops.OP_SCHEMA)
        ops = ops.sort("arch_row", "order")
        return ops.select(
            "arch_row",
            position=pl.int_range(pl.len(), dtype=pl.Int32).over("arch_row"),
            resolution=pl.Series(archs.r.astype(np.int32)[ops["arch_row"].to_numpy()]),
            op_key=ofa_ops.op_keys(ops),
        )

    def flops(self, keys: Sequence[str] | Archs) -> np.ndarray:
        """Millions of multiply-accumulates per architecture, counted as OFA counts FLOPs.

        As OFA's ``count_flops_given_config``: every convolution costs
        H_out·W_out·k²·C_in·C_out / groups — the stem, each running block's expand 1×1 (absent
        at expand 1), depthwise k×k, squeeze-excite 1×1 pair (mid → make_divisible(mid // 4, 8)
        → mid, at 1×1) and project 1×1, the head's 1×1 convs — plus the classifier's C_in·1000.
        Batch norm, activations, pooling, skip additions and biases are not counted.
        """
        archs = keys if isinstance(keys, Archs) else self.parse_keys(keys)
        layers = self.active_layers(archs)
        se_mid = make_divisible(layers["mid_c"].to_numpy() // 4, 8)
        layers = layers.cast({c: pl.Int64 for c in _INT_COLUMNS + ("input_h", "output_h",
                                                                   "mid_c", "kernel")})
        mid, out_area = pl.col("mid_c"), pl.col("output_h") ** 2
        block_macs = layers.with_columns(se_mid=se_mid).select(
            "arch_row",
            macs=pl.when(pl.col("expand_ratio") != 1)
            .then(pl.col("input_h") ** 2 * pl.col("cin") * mid).otherwise(0)
            + out_area * mid * pl.col("kernel") ** 2
            + pl.when(pl.col("se")).then(2 * mid * pl.col("se_mid")).otherwise(0)
            + out_area * mid * pl.col("cout"),
        ).group_by("arch_row").agg(pl.col("macs").sum()).sort("arch_row")["macs"].to_numpy()
        head = np.zeros(len(archs.r), dtype=np.int64)
        for op in self._head_tail(archs.r):
            if op["op_type"] == "Logits":
                head += op["input_c"] * op["output_c"]
            elif op["op_type"] != "AvgPool2D":
                k2 = 9 if op["op_type"] == "Conv" else 1
                head += op["output_h"] ** 2 * k2 * op["input_c"] * op["output_c"]
        return (block_macs + head) / 1e6

    # ---- encodings ---------------------------------------------------------------------------

    @cached_property
    def onehot_dim(self) -> int:
        return (self.n_layers * (len(self.kernels) + len(self.expand_ratios))
                + len(self.resolutions) + len(self.elastic_stages) * len(self.depths))

    def onehot(self, keys: Sequence[str]) -> np.ndarray:
        """n×`onehot_dim` float: ks one-hot per layer, e one-hot per layer, r one-hot, d one-hot.

        Layers in supernet order, choices in ascending order; an inactive layer's ks and e
        blocks are all zero. For OFA MobileNetV3 the first 145 columns (20×3 ks, 20×3 e, 25
        resolutions 128…224) are HELP's ``arch_encoding_ofa``; 5×3 depth columns follow.
        """
        archs = self.parse_keys(keys)
        parts = [_onehot(archs.ks, self.kernels), _onehot(archs.e, self.expand_ratios),
                 _onehot(archs.r[:, None], self.resolutions), _onehot(archs.d, self.depths)]
        return np.hstack(parts).astype(np.float64)

    @cached_property
    def kernel_columns(self) -> tuple[str, ...]:
        """Column names of `kernel_features`."""
        return ("resolution", *(f"d{s + 1}" for s in range(len(self.elastic_stages))),
                "n_layers", *(f"n_k{k}" for k in self.kernels),
                *(f"n_e{e}" for e in self.expand_ratios), "sum_mid_c", "flops_m")

    def kernel_features(self, keys: Sequence[str]) -> np.ndarray:
        """n×len(`kernel_columns`) float: counts of what runs, for tree-model predictors.

        resolution; depth per elastic stage; running supernet layers; how many of them use each
        kernel size and each expand ratio; the sum of their middle channels; `flops` (millions).
        """
        archs = self.parse_keys(keys)
        mid = self.active_layers(archs).filter(pl.col("block") > 0).group_by("arch_row").agg(
            pl.col("mid_c").cast(pl.Int64).sum()
        ).sort("arch_row")["mid_c"].to_numpy()
        columns = [
            archs.r[:, None], archs.d, (archs.ks > 0).sum(axis=1)[:, None],
            (archs.ks[:, :, None] == np.asarray(self.kernels)).sum(axis=1),
            (archs.e[:, :, None] == np.asarray(self.expand_ratios)).sum(axis=1),
            mid[:, None], self.flops(archs)[:, None],
        ]
        return np.hstack(columns).astype(np.float64)

    def arch_table(self, keys: Sequence[str]) -> pa.Table:
        """`architectures` rows: space_id, arch_id, arch_key, resolution, d1…dS, n_layers, flops_m.

        Keys must be distinct; BadArchKey names one that repeats.
        """
        keys = list(keys)
        uniq, counts = np.unique(np.asarray(keys, dtype=object), return_counts=True)
        if (counts > 1).any():
            raise BadArchKey(f"{self.space_id}: arch_table: key {uniq[counts > 1][0]!r} repeats")
        archs = self.parse_keys(keys)
        columns: dict[str, Any] = {
            "space_id": pa.array([self.space_id] * len(keys), pa.string()),
            "arch_id": pa.array(hashed_arch_ids(keys)),
            "arch_key": pa.array(keys, pa.string()),
            "resolution": pa.array(archs.r.astype(np.int32)),
            **{f"d{s + 1}": pa.array(archs.d[:, s].astype(np.int8))
               for s in range(len(self.elastic_stages))},
            "n_layers": pa.array((archs.ks > 0).sum(axis=1).astype(np.int8)),
            "flops_m": pa.array(self.flops(archs)),
        }
        return pa.table(columns)
