"""Once-for-All operator lookup-table keys: parse them into `op_latency` columns and format them.

A key names one layer at one input shape, fields joined by ``-`` (OFA ``LatencyTable.query``)::

    <op_type>-input:HxWxC-output:HxWxC[-expand:N-kernel:K-stride:S-idskip:B[-se:B-hs:B]]

``Logits`` writes its output as the class count alone (``output:1000``); only ``expanded_conv``
(an MBConv block) has the trailing fields. It comes in two dialects:

- MobileNetV3 tables (OFA ``MBv3LatencyTable``, e.g. Samsung Note10) end with ``-se:B-hs:B`` and
  write ``expand`` as the block's middle channels: ``mid_c = expand``,
  ``expand_ratio = mid_c / input_c``; ``hs:1`` is activation ``h_swish``, ``hs:0`` is ``relu``.
- ProxylessNAS tables (OFA ``ProxylessNASLatencyTable``, e.g. the Vitis AI FPGA tables) have no
  se / hs and write ``expand`` as the ratio: ``expand_ratio = expand``,
  ``mid_c = input_c × expand`` (as the Vitis AI table generator builds the layer); ``se`` and
  ``activation`` are null because the key does not say.

``groups`` is always null (no OFA key carries it), as is every field a key does not have.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from oneproxy.warehouse.errors import OneproxyError

OP_TYPES: tuple[str, ...] = ("Conv", "expanded_conv", "Conv_1", "AvgPool2D", "Conv_2", "Logits")
MBCONV = "expanded_conv"
LOGITS = "Logits"

OP_SCHEMA: dict[str, pl.DataType] = {
    "op_type": pl.String(),
    "input_h": pl.Int32(),
    "input_w": pl.Int32(),
    "input_c": pl.Int32(),
    "output_h": pl.Int32(),
    "output_w": pl.Int32(),
    "output_c": pl.Int32(),
    "mid_c": pl.Int32(),
    "expand_ratio": pl.Float64(),
    "kernel": pl.Int32(),
    "stride": pl.Int32(),
    "groups": pl.Int32(),
    "idskip": pl.Boolean(),
    "se": pl.Boolean(),
    "activation": pl.String(),
}
"""The kernel-configuration columns of `op_latency`, in schema order, as parsed from a key."""

_KEY = re.compile(
    r"(?P<op>[A-Za-z][A-Za-z0-9_]*)"
    r"-input:(?P<ih>\d+)x(?P<iw>\d+)x(?P<ic>\d+)"
    r"-output:(?:(?P<oh>\d+)x(?P<ow>\d+)x(?P<oc>\d+)|(?P<classes>\d+))"
    r"(?P<fields>(?:-[a-z]+:\d+)*)"
)
_PROXYLESS_FIELDS = ("expand", "kernel", "stride", "idskip")
_MBV3_FIELDS = (*_PROXYLESS_FIELDS, "se", "hs")
_FLAGS = ("idskip", "se", "hs")


class BadOpKey(OneproxyError, ValueError):
    """A lookup-table key that is not one of the Once-for-All key forms."""


def _parse_one(key: str) -> dict[str, Any]:
    if not isinstance(key, str):
        raise BadOpKey(f"op key {key!r} is a {type(key).__name__}, not a str")
    m = _KEY.fullmatch(key)
    if m is None:
        raise BadOpKey(
            f"op key {key!r} is not of the form "
            "<op>-input:HxWxC-output:HxWxC[-expand:N-kernel:K-stride:S-idskip:B[-se:B-hs:B]]"
        )
    op = m["op"]
    if op not in OP_TYPES:
        raise BadOpKey(f"op key {key!r}: unknown op type {op!r}; known: {', '.join(OP_TYPES)}")
    if (m["classes"] is None) != (op != LOGITS):
        form = "a class count (output:1000)" if op == LOGITS else "a shape HxWxC"
        raise BadOpKey(f"op key {key!r}: the output of {op} must be {form}")
    pairs = [f.split(":") for f in m["fields"].split("-")[1:]]
    names = tuple(name for name, _ in pairs)
    values = {name: int(v) for name, v in pairs}
    wanted = (_PROXYLESS_FIELDS, _MBV3_FIELDS) if op == MBCONV else ((),)
    if names not in wanted:
        forms = " or ".join("-".join(w) or "no fields" for w in wanted)
        found = "-".join(names) or "none"
        raise BadOpKey(f"op key {key!r}: {op} takes {forms} after the shapes, found {found}")
    bad_flag = next((f for f in _FLAGS if values.get(f, 0) not in (0, 1)), None)
    if bad_flag is not None:
        raise BadOpKey(f"op key {key!r}: {bad_flag} must be 0 or 1, not {values[bad_flag]}")
    ic = int(m["ic"])
    row: dict[str, Any] = dict.fromkeys(OP_SCHEMA)
    row.update(
        op_type=op, input_h=int(m["ih"]), input_w=int(m["iw"]), input_c=ic,
        output_c=int(m["classes"] or m["oc"]),
    )
    if op != LOGITS:
        row.update(output_h=int(m["oh"]), output_w=int(m["ow"]))
    if op == MBCONV:
        row.update(kernel=values["kernel"], stride=values["stride"],
                   idskip=bool(values["idskip"]))
        if "se" in values:
            row.update(mid_c=values["expand"], expand_ratio=values["expand"] / ic,
                       se=bool(values["se"]), activation="h_swish" if values["hs"] else "relu")
        else:
            row.update(mid_c=values["expand"] * ic, expand_ratio=float(values["expand"]))
    return row


def op_keys(ops: pl.DataFrame) -> pl.Series:
    """The key of every row of `ops` (columns of `OP_SCHEMA`); the inverse of `parse_op_keys`.

    An ``expanded_conv`` row with a null ``se`` gets the ProxylessNAS dialect (``expand`` = the
    integer ratio), otherwise the MobileNetV3 one (``expand`` = ``mid_c``, then se and hs).
    """
    col = pl.col

    def shape(side: str) -> pl.Expr:
        return pl.format("{}x{}x{}", col(f"{side}_h"), col(f"{side}_w"), col(f"{side}_c"))

    output = pl.when(col("op_type") == LOGITS).then(col("output_c").cast(pl.String))
    base = pl.format("{}-input:{}-output:{}", col("op_type"), shape("input"),
                     output.otherwise(shape("output")))
    proxyless = col("se").is_null()
    expand = pl.when(proxyless).then(col("expand_ratio").round().cast(pl.Int64))
    mbconv = pl.format(
        "-expand:{}-kernel:{}-stride:{}-idskip:{}", expand.otherwise(col("mid_c")),
        col("kernel"), col("stride"), col("idskip").cast(pl.Int8),
    )
    se_hs = pl.format("-se:{}-hs:{}", col("se").cast(pl.Int8),
                      (col("activation") == "h_swish").cast(pl.Int8))
    tail = pl.when(col("op_type") == MBCONV).then(
        pl.concat_str(mbconv, pl.when(proxyless).then(pl.lit("")).otherwise(se_hs))
    )
    return ops.select(pl.concat_str(base, tail.otherwise(pl.lit(""))).alias("op_key"))["op_key"]


def parse_op_keys(keys: Sequence[str]) -> pl.DataFrame:
    """One row of `OP_SCHEMA` columns per key (plus ``op_key``); BadOpKey names a bad key.

    A key must be in canonical form (no leading zeros, fields in OFA's order), so that
    `op_keys` gives every key back unchanged.
    """
    frame = pl.DataFrame([_parse_one(k) for k in keys], schema=OP_SCHEMA, orient="row")
    frame = frame.with_columns(pl.Series("op_key", list(keys), pl.String))
    bad = frame.filter(op_keys(frame) != pl.col("op_key"))
    if bad.height:
        raise BadOpKey(
            f"op key {bad['op_key'][0]!r} is not in canonical form; "
            f"canonical: {op_keys(bad.head(1))[0]!r}"
        )
    return frame.select("op_key", *OP_SCHEMA)


def parse_op_key(key: str) -> dict[str, Any]:
    """The `op_latency` kernel-configuration columns of one key, as a dict (nulls as None)."""
    row = parse_op_keys([key]).row(0, named=True)
    del row["op_key"]
    return row


def format_op_key(op: Mapping[str, Any]) -> str:
    """The key of one op given as a mapping of `OP_SCHEMA` columns (missing ones are null)."""
    row = {name: op.get(name) for name in OP_SCHEMA}
    return op_keys(pl.DataFrame([row], schema=OP_SCHEMA, orient="row"))[0]
