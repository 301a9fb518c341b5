"""Once-for-All operator latency lookup tables (YAML) → `op_latency`.

Each file ``<resolution>_lookup_table.yaml`` maps an op key (`warehouse.spaces.ofa_ops`) to
``{mean, std, count}``: the latency in milliseconds of that layer, measured `count` times, for
networks at that input resolution. Two sources:

- ``ofa_note10`` (mit-han-lab/once-for-all): Samsung Note10, OFA MobileNetV3 at width 1.2
  (space ``ofa_mbv3``), 17 tables for resolutions 160, 164, …, 224;
- ``ofa_zcu`` (sxtyzhangzk/once-for-all): a Vitis AI DPU on a Zynq UltraScale+ FPGA, the
  network of space ``ofa_fpga``, 7 tables for resolutions 128, 144, …, 224.

Files are read with ``yaml.CSafeLoader`` (``yaml.SafeLoader`` without libyaml), refusing a key
listed twice; a key the parser does not understand, a missing or negative mean, or a file that is
not such a mapping is an error naming file and key.
"""

from __future__ import annotations

import math
import re
from pathlib import PurePosixPath
from typing import Any, NamedTuple

import polars as pl
import pyarrow as pa
import yaml
from oneproxy.ingest.batch import Resolver, SourceBatch
from oneproxy.ingest.errors import CorruptFile
from oneproxy.ingest.registry import files, source
from oneproxy.warehouse.devices import known_device
from oneproxy.warehouse.errors import UnknownDevice
from oneproxy.warehouse.schemas import OP_LATENCY
from oneproxy.warehouse.spaces import ofa_fpga, ofa_mbv3, ofa_ops

METRIC = "latency_ms"
_FILE = re.compile(r"(?P<resolution>\d+)_lookup_table\.yaml")


class LookupTables(NamedTuple):
    """Where one source keeps its tables, and what they price."""

    source_id: str
    pattern: str
    device_id: str
    space_id: str


NOTE10 = LookupTables("ofa_note10", "tutorial/checkpoints/latency_table@note10/*_lookup_table.yaml",
                      "note10", ofa_mbv3.SPACE_ID)
ZCU = LookupTables("ofa_zcu", "vai_deploy/lut-examples/*_lookup_table.yaml", "zynq_dpu",
                   ofa_fpga.SPACE_ID)


def unique_key_loader(base: type) -> type:
    """A safe YAML loader class on `base` that refuses a mapping listing one key twice (the
    stock loaders keep the last)."""

    class UniqueKeyLoader(base):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    line = key_node.start_mark.line + 1
                    raise CorruptFile(f"op key {key!r} is listed twice (line {line})")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


# libyaml's parser when PyYAML was built with it (~6x faster on these tables, same result)
_UniqueKeyLoader = unique_key_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _number(value: Any, *, file: str, key: str, field: str, integer: bool = False) -> float:
    """A finite, non-negative number (an int when `integer`); CorruptFile otherwise."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        what = "an integer" if integer else "a finite number"
        raise CorruptFile(f"{file}: op key {key!r}: {field} is {value!r}, expected {what}")
    if value < 0:
        raise CorruptFile(f"{file}: op key {key!r}: {field} is {value!r}, expected ≥ 0")
    return value


def parse_table(text: str, *, file: str, device_id: str, space_id: str, resolution: int,
                loader: type = _UniqueKeyLoader) -> pa.Table:
    """One lookup table's rows in the `op_latency` schema (source_id null until batched)."""
    try:
        entries = yaml.load(text, Loader=loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise CorruptFile(f"{file}: not valid YAML: {exc}") from None
    except CorruptFile as exc:
        raise CorruptFile(f"{file}: {exc}") from None
    if not isinstance(entries, dict) or not entries:
        raise CorruptFile(
            f"{file}: expected a mapping of op key → {{mean, std, count}}, "
            f"got {type(entries).__name__}"
        )
    rows = []
    for key, entry in entries.items():
        if not isinstance(key, str):
            raise CorruptFile(f"{file}: op key {key!r} is a {type(key).__name__}, not a string")
        if not isinstance(entry, dict) or "mean" not in entry:
            raise CorruptFile(
                f"{file}: op key {key!r}: expected a mapping with mean (and std, count), "
                f"got {entry!r}"
            )
        std, count = entry.get("std"), entry.get("count")
        rows.append({
            "mean": float(_number(entry["mean"], file=file, key=key, field="mean")),
            "std": None if std is None else float(_number(std, file=file, key=key, field="std")),
            "count": None if count is None else int(
                _number(count, file=file, key=key, field="count", integer=True)),
        })
    try:
        ops = ofa_ops.parse_op_keys(list(entries))
    except ofa_ops.BadOpKey as exc:
        raise CorruptFile(f"{file}: {exc}") from None
    stem = ops.filter((pl.col("op_type") == "Conv") & (pl.col("input_h") != resolution))
    if stem.height:
        raise CorruptFile(
            f"{file}: op key {stem['op_key'][0]!r}: the stem input does not match the table's "
            f"resolution {resolution}"
        )
    n = ops.height
    values = pl.DataFrame(rows, schema={"mean": pl.Float64, "std": pl.Float64,
                                        "count": pl.Int64})
    frame = pl.concat([
        pl.DataFrame({"device_id": [device_id] * n, "space_id": [space_id] * n,
                      "resolution": pl.Series([resolution] * n, dtype=pl.Int32)}),
        ops, values.with_columns(metric=pl.lit(METRIC), source_id=pl.lit(None, pl.String)),
    ], how="horizontal")
    return frame.select(OP_LATENCY.names).to_arrow().cast(OP_LATENCY)


def _resolution(path: str) -> int:
    m = _FILE.fullmatch(PurePosixPath(path).name)
    if m is None:
        raise CorruptFile(f"{path}: expected a file named <resolution>_lookup_table.yaml")
    return int(m["resolution"])


def load(resolve: Resolver, tables: LookupTables) -> SourceBatch:
    """Every lookup table of one source as one batch."""
    batch = SourceBatch.for_source(source(tables.source_id))
    device = known_device(tables.device_id)
    if device is None:
        raise UnknownDevice(f"{tables.source_id}: device {tables.device_id!r} is not registered")
    for upstream in files(tables.source_id, tables.pattern):
        path = resolve(upstream)
        table = parse_table(path.read_text(encoding="utf-8"), file=upstream.path,
                            device_id=device.device_id, space_id=tables.space_id,
                            resolution=_resolution(upstream.path))
        batch.add_file(upstream, "operator lookup table")
        batch.add_op_latency(table, device)
    return batch


def load_note10(resolve: Resolver) -> SourceBatch:
    """OFA's Samsung Note10 tables for OFA MobileNetV3 (17 resolutions)."""
    return load(resolve, NOTE10)


def load_fpga(resolve: Resolver) -> SourceBatch:
    """The Vitis AI Zynq DPU tables for the `ofa_fpga` network (7 resolutions)."""
    return load(resolve, ZCU)
