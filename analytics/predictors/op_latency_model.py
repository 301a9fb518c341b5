"""Operator-level latency model (nn-Meter style): kernel configuration → milliseconds, per op.

Trained on the rows of an operator lookup table (`op_latency`: one row per op key and input
resolution, with the parsed kernel-configuration columns of `warehouse.spaces.ofa_ops`), it
predicts the latency of any op of the same kind, including shapes the tables never measured;
an architecture's latency is the sum over its layers, as OFA prices a network from its table.

Features (`OP_FEATURES`, one row per op, float64; a column an op type does not have is 0):

- ``is_<op type>``: one-hot over `ofa_ops.OP_TYPES`;
- ``input_h`` … ``output_c``: the input and output shapes (``Logits`` has no output side);
- ``mid_c``, ``expand_ratio``, ``kernel``, ``stride``: the MBConv block's configuration;
- ``idskip``, ``se``, ``h_swish``: 0 / 1 flags (identity skip, squeeze-excite, h-swish
  activation; a ProxylessNAS key says nothing of se / activation, which are then 0);
- ``mflops``: `op_flops`, millions of multiply-accumulates of the op.

The regressor is `KernelLatencyPredictor` (LightGBM on log-latency, deterministic). With
``per_mflop`` (the default) it is fitted on milliseconds per MFLOP and its prediction multiplied
back by the op's MFLOPs: trees are piecewise constant, and the cost per operation varies far
more smoothly with the shape than the latency itself, so shapes between the measured ones
(held-out resolutions) are predicted about twice as accurately.

A fitted model is saved as `KernelLatencyPredictor` saves one — LightGBM's text model at
``path`` and JSON metadata at ``path`` + ``.json`` — with this model's own fields (kind, format
version, ``per_mflop``, feature names, training resolutions, library versions) in its details.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import ArrayLike
from oneproxy.analytics.predictors import (
    InvalidPredictorInput,
    NotFittedError,
    as_vector,
    check_document,
)
from oneproxy.analytics.predictors.files import library_versions
from oneproxy.analytics.predictors.kernel import KernelLatencyPredictor
from oneproxy.warehouse.spaces import ofa_ops
from oneproxy.warehouse.spaces.ofa_net import make_divisible

KIND = "op_latency_model"
FORMAT_VERSION = 1
ENCODING = "ofa_op_features"

_SHAPES = ("input_h", "input_w", "input_c", "output_h", "output_w", "output_c")
_BLOCK = ("mid_c", "expand_ratio", "kernel", "stride")
_FLAGS = ("idskip", "se")
OP_FEATURES: tuple[str, ...] = (
    *(f"is_{t}" for t in ofa_ops.OP_TYPES), *_SHAPES, *_BLOCK, *_FLAGS, "h_swish", "mflops",
)
"""Column names of `op_features`, in order."""

_REQUIRED = ("op_type", *_SHAPES, *_BLOCK, *_FLAGS, "activation")
# Columns that must not be null, per op type (the others may be).
_NON_NULL = {
    **{t: ("input_h", "input_w", "input_c", "output_h", "output_w", "output_c")
       for t in ofa_ops.OP_TYPES},
    ofa_ops.LOGITS: ("input_h", "input_w", "input_c", "output_c"),
    ofa_ops.MBCONV: (*_SHAPES, *_BLOCK, "idskip"),
}


def _check_ops(ops: pl.DataFrame, name: str) -> None:
    """Refuse a frame without rows, without a needed column, or with an op it cannot describe."""
    if not isinstance(ops, pl.DataFrame):
        raise InvalidPredictorInput(f"{name} must be a polars DataFrame, got {type(ops).__name__}")
    missing = [c for c in _REQUIRED if c not in ops.columns]
    if missing:
        raise InvalidPredictorInput(
            f"{name} lacks the column(s) {', '.join(missing)}: give op_latency rows or "
            "oneproxy.warehouse.spaces.ofa_ops.parse_op_keys(keys)"
        )
    if ops.height == 0:
        raise InvalidPredictorInput(f"{name} has no rows: give at least one op")
    unknown = ops.filter(~pl.col("op_type").is_in(ofa_ops.OP_TYPES) | pl.col("op_type").is_null())
    if unknown.height:
        raise InvalidPredictorInput(
            f"{name}: unknown op type {unknown['op_type'][0]!r} (row of op key "
            f"{_key_of(unknown)}); known: {', '.join(ofa_ops.OP_TYPES)}"
        )
    for op_type, needed in _NON_NULL.items():
        rows = ops.filter(pl.col("op_type") == op_type)
        nulls = [c for c in needed if rows[c].null_count()]
        if nulls:
            bad = rows.filter(pl.any_horizontal(pl.col(c).is_null() for c in nulls))
            raise InvalidPredictorInput(
                f"{name}: a {op_type} op has a null {nulls[0]} (op key {_key_of(bad)}); "
                f"{op_type} needs {', '.join(needed)}"
            )


def _key_of(rows: pl.DataFrame) -> str:
    return repr(rows["op_key"][0]) if "op_key" in rows.columns else "not given"


def op_flops(ops: pl.DataFrame) -> np.ndarray:
    """Millions of multiply-accumulates of every op (columns of `ofa_ops.OP_SCHEMA`).

    Counted as `ElasticNet.flops` counts a network (OFA's ``count_flops_given_config``): an
    MBConv block is its expand 1×1 (absent at expand ratio 1), depthwise k×k, squeeze-excite
    pair (mid → make_divisible(mid // 4, 8) → mid, at 1×1) and project 1×1; ``Conv`` is the
    3×3 stem; ``Conv_1`` / ``Conv_2`` are 1×1; ``Logits`` is C_in·C_out. Unlike there, pooling
    counts its H·W·C additions (``AvgPool2D``, and the pool inside a ``Logits`` whose input is
    larger than 1×1), so that every op has a positive count.
    """
    _check_ops(ops, "ops")
    return _flops(ops)


def _flops(ops: pl.DataFrame) -> np.ndarray:
    se_mid = make_divisible(ops["mid_c"].fill_null(0).to_numpy() // 4, 8)

    def f(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.Float64)

    ih, iw, ic, oh, ow, oc = (f(c) for c in _SHAPES)
    mid, out_area, in_elems = f("mid_c"), oh * ow, ih * iw * ic
    mbconv = (
        pl.when(pl.col("expand_ratio") != 1).then(in_elems * mid).otherwise(0.0)
        + out_area * mid * f("kernel") ** 2
        + pl.when(pl.col("se")).then(2 * mid * pl.lit(pl.Series(se_mid, dtype=pl.Float64)))
        .otherwise(0.0)
        + out_area * mid * oc
    )
    op = pl.col("op_type")
    macs = (
        pl.when(op == ofa_ops.MBCONV).then(mbconv)
        .when(op == "Conv").then(out_area * 9 * ic * oc)
        .when(op.is_in(["Conv_1", "Conv_2"])).then(out_area * ic * oc)
        .when(op == "AvgPool2D").then(in_elems)
        .otherwise(pl.when(ih * iw > 1).then(in_elems).otherwise(0.0) + ic * oc)
    )
    return ops.select(macs / 1e6).to_series().to_numpy()


def op_features(ops: pl.DataFrame) -> np.ndarray:
    """n×len(`OP_FEATURES`) float64 features of the ops (see the module docstring)."""
    _check_ops(ops, "ops")
    names = iter(OP_FEATURES)
    columns = [(pl.col("op_type") == t) for t in ofa_ops.OP_TYPES]
    columns += [pl.col(c) for c in (*_SHAPES, *_BLOCK, *_FLAGS)]
    columns.append(pl.col("activation") == "h_swish")
    matrix = ops.select(c.cast(pl.Float64).fill_null(0.0).alias(next(names)) for c in columns)
    return np.column_stack([matrix.to_numpy(), _flops(ops)])


def with_op_columns(layers: pl.DataFrame) -> pl.DataFrame:
    """`layers` (with ``op_key``) plus the parsed `ofa_ops.OP_SCHEMA` columns of its keys.

    Columns it already has are kept as they are; distinct keys are parsed once.
    """
    if "op_key" not in layers.columns:
        raise InvalidPredictorInput("layers lacks the column op_key")
    if all(c in layers.columns for c in ofa_ops.OP_SCHEMA):
        return layers
    keys = layers["op_key"].unique(maintain_order=True).to_list()
    parsed = ofa_ops.parse_op_keys(keys).drop([c for c in ofa_ops.OP_SCHEMA if c in layers.columns])
    return layers.join(parsed, on="op_key", how="left", maintain_order="left")


class OpLatencyModel:
    """LightGBM from kernel configuration to latency per op; predicts milliseconds.

    `kernel` holds the LightGBM settings (a `KernelLatencyPredictor`, copied unfitted at `fit`);
    `per_mflop` fits log(ms / MFLOP) instead of log(ms).
    """

    def __init__(self, kernel: KernelLatencyPredictor | None = None,
                 per_mflop: bool = True) -> None:
        self.kernel = kernel
        self.per_mflop = per_mflop

    def get_params(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "per_mflop": self.per_mflop}

    def _kernel(self) -> KernelLatencyPredictor:
        """A fresh, unfitted copy of the LightGBM settings (the defaults when none were given)."""
        return KernelLatencyPredictor(**(self.kernel or KernelLatencyPredictor()).get_params())

    def fit(self, ops: pl.DataFrame, latency_ms: ArrayLike, *, space: str | None = None,
            device: str | None = None) -> OpLatencyModel:
        """Fit to the latencies (ms, > 0) of the ops (rows of `op_latency` or `parse_op_keys`).

        A ``resolution`` column, when present, is recorded as the training resolutions.
        """
        if not isinstance(self.per_mflop, bool):
            raise InvalidPredictorInput(f"per_mflop must be True or False, got {self.per_mflop!r}")
        X = op_features(ops)
        y = as_vector(latency_ms, "latency_ms", X.shape[0])
        target = y / X[:, -1] if self.per_mflop else y
        resolutions = (sorted(ops["resolution"].drop_nulls().unique().to_list())
                       if "resolution" in ops.columns else [])
        details = {"kind": KIND, "format_version": FORMAT_VERSION, "per_mflop": self.per_mflop,
                   "features": list(OP_FEATURES), "resolutions": resolutions,
                   "versions": {**library_versions(), "polars": pl.__version__}}
        self.predictor_ = self._kernel().fit(X, target, space=space, device=device,
                                             encoding=ENCODING, details=details)
        self._describe()
        return self

    def predict(self, ops: pl.DataFrame) -> np.ndarray:
        """Predicted latency (ms) of every op."""
        predictor = self._fitted("predict")
        X = op_features(ops)
        ms = predictor.predict(X)
        return ms * X[:, -1] if self.per_mflop else ms

    def predict_archs(self, layers: pl.DataFrame, n_archs: int | None = None) -> np.ndarray:
        """Per architecture row, the sum of the predicted latencies (ms) of its layers.

        `layers` has one row per layer: ``arch_row`` (0…n−1) and ``op_key`` (as
        `ElasticNet.layer_op_keys` gives them), with or without the parsed op columns. An
        architecture row without layers sums to 0.
        """
        self._fitted("predict_archs")
        if "arch_row" not in layers.columns:
            raise InvalidPredictorInput("layers lacks the column arch_row")
        rows = layers["arch_row"].to_numpy()
        if rows.size and rows.min() < 0:
            raise InvalidPredictorInput(f"layers has a negative arch_row {rows.min()}")
        n = int(rows.max()) + 1 if n_archs is None else n_archs
        return np.bincount(rows, weights=self.predict(with_op_columns(layers)), minlength=n)

    def save(self, path: str | Path) -> None:
        """Write the text model to `path` and its metadata to `path` + ``.json``."""
        self._fitted("save").save(path)

    @classmethod
    def load(cls, path: str | Path) -> OpLatencyModel:
        """The model `save` wrote to `path`; a missing, malformed or foreign file raises."""
        predictor = KernelLatencyPredictor.load(path)
        where = f"{path}.json details"
        check_document(predictor.details_, kind=KIND, format_version=FORMAT_VERSION,
                       fields={"features": list, "resolutions": list, "versions": dict},
                       where=where)
        if not isinstance(predictor.details_.get("per_mflop"), bool):
            raise InvalidPredictorInput(f"{where}: field 'per_mflop' must be true or false")
        if predictor.details_["features"] != list(OP_FEATURES):
            raise InvalidPredictorInput(
                f"{where}: features {predictor.details_['features']} are not this version's "
                f"{list(OP_FEATURES)}: re-fit and save the model with this version of oneproxy"
            )
        model = cls(KernelLatencyPredictor(**predictor.get_params()),
                    per_mflop=predictor.details_["per_mflop"])
        model.predictor_ = predictor
        model._describe()
        return model

    def _describe(self) -> None:
        """The fitted attributes, read off the fitted `KernelLatencyPredictor`."""
        self.training_rows_ = self.predictor_.training_rows_
        self.space_, self.device_ = self.predictor_.space_, self.predictor_.device_
        self.resolutions_ = self.predictor_.details_["resolutions"]

    def _fitted(self, method: str) -> KernelLatencyPredictor:
        if not hasattr(self, "predictor_"):
            raise NotFittedError(
                f"OpLatencyModel.{method} called before fit: call fit(ops, latency_ms) first "
                "or load a saved model with OpLatencyModel.load(path)"
            )
        return self.predictor_
