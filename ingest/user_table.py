"""Users' own measurements: a CSV or Parquet file of (architecture, latency) rows for one device.

Every row is validated before anything is written; all problems are reported together with the
file's line numbers (CSV: header = line 1; Parquet: row numbers from 1). A file becomes the
source ``table:<device>:<space>:<dataset>``, so importing it again is a no-op and importing a
changed file for the same device replaces that series in one atomic commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from oneproxy.ingest.batch import FileRecord, Resolver, SourceBatch
from oneproxy.ingest.nb201_index import load_index
from oneproxy.warehouse.devices import PLATFORM_CLASSES, Device
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.spaces import fbnet, nb201, ofa_mbv3

ARCH_COLUMNS = ("arch_id", "arch", "arch_key", "arch_str", "architecture", "index", "ops", "key")
LATENCY_COLUMNS = ("latency_ms", "latency", "ms", "mean_ms", "time_ms", "value")
UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001}
DEFAULT_DATASET = {nb201.SPACE_ID: "cifar10", fbnet.SPACE_ID: "cifar100",
                   ofa_mbv3.SPACE_ID: "imagenet"}
MAX_LISTED = 10


class BadUserTable(OneproxyError):
    """A user's measurement file that cannot be imported as it is."""


@dataclass(frozen=True)
class TableSpec:
    """How to read one user file and which device it measured."""

    path: Path
    space: str
    device: Device
    dataset: str
    unit: str = "ms"
    arch_column: str | None = None
    latency_column: str | None = None


@dataclass(frozen=True)
class Keyed:
    """Arch ids of the parsed rows; `errors[i]` is the problem of row i ('' when it parsed)."""

    arch_id: np.ndarray
    errors: list[str]
    architectures: pa.Table | None


def user_device(device_id: str, *, platform: str, display_name: str | None = None,
                hardware: str | None = None, framework: str | None = None,
                precision: str | None = None, batch_size: int | None = None,
                notes: str | None = None) -> Device:
    """A device the registry does not know, described by its user."""
    if platform not in PLATFORM_CLASSES:
        raise BadUserTable(f"platform {platform!r} is not one of {', '.join(PLATFORM_CLASSES)}")
    return Device(device_id, display_name or device_id, hardware or display_name or device_id,
                  platform, framework, precision, batch_size, "user measurements", None, notes)


DEVICE_FIELDS = {"platform": str, "display_name": str, "hardware": str, "framework": str,
                 "precision": str, "batch_size": int, "notes": str}


def sidecar(path: Path) -> Path:
    """The metadata file next to a table: ``measured.csv`` → ``measured.csv.json``."""
    return path.with_name(path.name + ".json")


def device_options(path: Path, **given: Any) -> dict[str, Any]:
    """`user_device` keywords: those given (not None), else the sidecar's ``device`` object.

    `oneproxy measure` writes the sidecar (CPU, cores, ONNX Runtime version, threads, batch);
    without one, and for any field neither names, the platform is ``other`` and the rest None.
    """
    meta: dict[str, Any] = {}
    side = sidecar(path)
    if side.exists():
        try:
            meta = json.loads(side.read_text())["device"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BadUserTable(f"{side}: not a sidecar with a 'device' object: {exc}") from None
        if not isinstance(meta, dict):
            raise BadUserTable(f"{side}: 'device' must be an object, not {type(meta).__name__}")
        for key, value in meta.items():
            kind = DEVICE_FIELDS.get(key)
            if kind is None or not isinstance(value, kind) or isinstance(value, bool):
                raise BadUserTable(f"{side}: device field {key!r} = {value!r} is not one of "
                                   f"{', '.join(DEVICE_FIELDS)} with the right type")
    merged = {key: given[key] if given.get(key) is not None else meta.get(key)
              for key in DEVICE_FIELDS}
    merged["platform"] = merged["platform"] or "other"
    return merged


def _read(path: Path) -> pl.DataFrame:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise BadUserTable(f"{path}: cannot be read as {path.suffix or 'CSV'}: {exc}") from None


def _column(frame: pl.DataFrame, given: str | None, candidates: tuple[str, ...], what: str,
            path: Path) -> str:
    if given is not None:
        if given not in frame.columns:
            raise BadUserTable(f"{path}: no column {given!r} for the {what}; columns are "
                               f"{', '.join(frame.columns)}")
        return given
    lowered = {c.lower(): c for c in frame.columns}
    found = next((lowered[c] for c in candidates if c in lowered), None)
    if found is None:
        raise BadUserTable(
            f"{path}: no {what} column found among {', '.join(frame.columns)}; name one with "
            f"--{what.replace(' ', '-')}-column (recognised names: {', '.join(candidates)})"
        )
    return found


def _per_row(values: list[str], parse: Callable[[str], tuple[int, str]]) -> tuple[list, list]:
    ids, keys, errors = [], [], []
    for value in values:
        try:
            arch_id, key = parse(value)
        except (OneproxyError, ValueError, KeyError, TypeError) as exc:
            ids.append(-1)
            keys.append("")
            errors.append(f"unknown architecture {value!r}: {exc}")
        else:
            ids.append(arch_id)
            keys.append(key)
            errors.append("")
    return [np.asarray(ids, dtype=np.int64), keys], errors


def _nb201_keys(values: list[str], resolve: Resolver) -> Keyed:
    index = load_index(resolve)

    def parse(value: str) -> tuple[int, str]:
        text = value.strip()
        if text.lstrip("-").isdigit():
            i = int(text)
            if not 0 <= i < nb201.N_ARCHS:
                raise ValueError(f"index out of 0…{nb201.N_ARCHS - 1}")
            return i, index.strings[i]
        ops = np.asarray([nb201.parse_arch(text)])
        i = int(index.index_of_ops(ops)[0])
        return i, index.strings[i]

    (ids, _), errors = _per_row(values, parse)
    return Keyed(ids, errors, None)


def _fbnet_key(value: str) -> str:
    """An FBNet key from its canonical form, a list of op names or a list of op indices."""
    tokens = [t for t in value.replace("[", " ").replace("]", " ").replace("'", " ")
              .replace('"', " ").replace(",", " ").replace("-", " ").split() if t]
    names = [fbnet.OPS[int(t)] if t.isdigit() and int(t) < len(fbnet.OPS) else t for t in tokens]
    return fbnet.format_key(fbnet.parse_key("-".join(names)))


def _ofa_key(value: str) -> str:
    """An OFA key from its canonical form or a JSON object with ks, e, d, r."""
    text = value.strip()
    if text.startswith("{"):
        arch = json.loads(text)
        return ofa_mbv3.NET.canonical(arch["ks"], arch["e"], arch["d"], arch["r"])
    parsed = ofa_mbv3.NET.parse_key(text)
    return ofa_mbv3.NET.canonical(parsed["ks"], parsed["e"], parsed["d"], parsed["r"])


def _hashed_keys(values: list[str], to_key: Callable[[str], str],
                 table: Callable[[list[str]], pa.Table], ids: Callable) -> Keyed:
    def parse(value: str) -> tuple[int, str]:
        key = to_key(value)
        return int(ids([key])[0]), key

    (arch_ids, keys), errors = _per_row(values, parse)
    good = sorted({k for k in keys if k})
    return Keyed(arch_ids, errors, table(good) if good else None)


def _keyed(space: str, values: list[str], resolve: Resolver) -> Keyed:
    if space == nb201.SPACE_ID:
        return _nb201_keys(values, resolve)
    if space == fbnet.SPACE_ID:
        return _hashed_keys(values, _fbnet_key,
                            lambda keys: fbnet.arch_table(fbnet.matrix(keys)), fbnet.arch_ids)
    if space == ofa_mbv3.SPACE_ID:
        return _hashed_keys(values, _ofa_key, ofa_mbv3.NET.arch_table, ofa_mbv3.NET.arch_ids)
    raise BadUserTable(f"space {space!r} takes no user tables; spaces are "
                       f"{', '.join(DEFAULT_DATASET)}")


def _latency(values: pl.Series, unit: str) -> tuple[np.ndarray, list[str]]:
    """Latencies in ms, and per row the problem with its value ('' when it is a positive number)."""
    raw = values.cast(pl.Utf8).str.strip_chars()
    number = raw.cast(pl.Float64, strict=False)
    quoted = pl.lit("latency '") + pl.col("raw") + pl.lit("'")
    errors = pl.DataFrame({"raw": raw, "x": number}).select(
        pl.when(pl.col("raw").fill_null("") == "").then(pl.lit("latency is missing"))
        .when(~pl.col("x").is_finite().fill_null(False)).then(quoted + " is not a number")
        .when(pl.col("x") <= 0).then(quoted + " is not positive")
        .otherwise(pl.lit(""))
    ).to_series()
    return number.to_numpy() * UNITS[unit], errors.to_list()


def _duplicates(arch_id: np.ndarray, latency: np.ndarray, ok: np.ndarray,
                line: Callable[[int], int]) -> list[str]:
    """Rows repeating an architecture with a different value (equal repeats are kept once)."""
    frame = pl.DataFrame({"row": np.arange(arch_id.size), "arch_id": arch_id, "v": latency})
    frame = frame.filter(pl.Series(ok))
    clash = frame.group_by("arch_id").agg(pl.col("row").min().alias("first"),
                                          pl.col("v").n_unique().alias("values"))
    bad = frame.join(clash.filter(pl.col("values") > 1), on="arch_id")
    errors = [""] * arch_id.size
    for row, first in bad.filter(pl.col("row") != pl.col("first")).select("row", "first").rows():
        errors[row] = f"architecture repeated with a different latency than line {line(first)}"
    return errors


def load(spec: TableSpec, resolve: Resolver) -> SourceBatch:
    """Validate every row of a user file and turn it into one source batch (nothing written)."""
    if spec.unit not in UNITS:
        raise BadUserTable(f"unit {spec.unit!r} is not one of {', '.join(UNITS)}")
    frame = _read(spec.path)
    if frame.height == 0:
        raise BadUserTable(f"{spec.path}: the file holds no rows")
    arch_col = _column(frame, spec.arch_column, ARCH_COLUMNS, "arch", spec.path)
    lat_col = _column(frame, spec.latency_column, LATENCY_COLUMNS, "latency", spec.path)
    keyed = _keyed(spec.space, frame.get_column(arch_col).cast(pl.Utf8).fill_null("").to_list(),
                   resolve)
    latency, lat_errors = _latency(frame.get_column(lat_col), spec.unit)
    ok = np.array([not a and not b for a, b in zip(keyed.errors, lat_errors, strict=True)])
    header = 0 if spec.path.suffix.lower() in (".parquet", ".pq") else 1

    def line(row: int) -> int:
        return row + 1 + header

    dup_errors = _duplicates(keyed.arch_id, latency, ok, line)
    problems = [
        f"  line {line(row)}: " + "; ".join(e for e in errs if e)
        for row, errs in enumerate(zip(keyed.errors, lat_errors, dup_errors, strict=True))
        if any(errs)
    ]
    if problems:
        listed = "\n".join(problems[:MAX_LISTED])
        more = f"\n  … and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise BadUserTable(
            f"{spec.path}: {len(problems)} of {frame.height} rows cannot be imported, nothing "
            f"was written:\n{listed}{more}"
        )
    first = np.unique(keyed.arch_id, return_index=True)[1]
    batch = SourceBatch(
        source_id=f"table:{spec.device.device_id}:{spec.space}:{spec.dataset}",
        repo="user", commit=None, license="user data",
        description=f"{spec.path.name}: {spec.device.device_id} on {spec.space} "
        f"({spec.dataset}), imported with `oneproxy ingest table`",
    )
    data = spec.path.read_bytes()
    batch.files.append(FileRecord(spec.path.name, hashlib.sha256(data).hexdigest(), len(data),
                                  "user measurements"))
    batch.add_series(space_id=spec.space, dataset=spec.dataset, device=spec.device,
                     arch_id=keyed.arch_id[first], latency_ms=latency[first],
                     file=spec.path.name)
    if keyed.architectures is not None:
        batch.add_architectures(keyed.architectures)
    return batch
