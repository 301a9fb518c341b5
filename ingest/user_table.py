"""Users' own measurements: a CSV or Parquet file of (architecture, latency) rows for one device.

Every row is validated before anything is written; all problems are reported together with the
file's line numbers (CSV: header = line 1; Parquet: row numbers from 1). A file becomes the
source ``table:<device>:<space>:<dataset>``, so importing it again is a no-op and importing a
changed file for the same device replaces that series in one atomic commit. With `Existing` rows
(``--append``) the file adds to the series instead: an architecture it already holds must come
with the same latency (a no-op), a different one is an error naming the line.
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
from oneproxy.ingest.nb201_index import index_of
from oneproxy.warehouse import spaces
from oneproxy.warehouse.devices import PLATFORM_CLASSES, Device
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.spaces import Space, nb201

ARCH_COLUMNS = ("arch_id", "arch", "arch_key", "arch_str", "architecture", "index", "ops", "key")
LATENCY_COLUMNS = ("latency_ms", "latency", "ms", "mean_ms", "time_ms", "value")
UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001}
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
class Existing:
    """The rows a series already holds (to append to), and the files they came from."""

    arch_id: np.ndarray
    latency_ms: np.ndarray  # NaN for a failed measurement
    file: list[str]
    files: list[FileRecord]


def source_id(spec: TableSpec) -> str:
    """The source a user file of `spec` becomes."""
    return f"table:{spec.device.device_id}:{spec.space}:{spec.dataset}"


def existing_rows(latency_raw: pa.Table | None, sources: pa.Table | None,
                  spec: TableSpec) -> Existing:
    """The rows and files the series of `spec` holds in the warehouse tables (none: empty)."""
    sid = source_id(spec)
    rows = (pl.DataFrame(schema={"arch_id": pl.Int64, "latency_ms": pl.Float64, "file": pl.String})
            if latency_raw is None else
            pl.from_arrow(latency_raw).filter(pl.col("source_id") == sid)
            .select("arch_id", "latency_ms", "file"))
    files = []
    if sources is not None:
        for record in pl.from_arrow(sources).filter(pl.col("source_id") == sid)["files"].to_list():
            files.extend(FileRecord(**f) for f in record)
    return Existing(rows["arch_id"].to_numpy(), rows["latency_ms"].fill_null(np.nan).to_numpy(),
                    rows["file"].to_list(), files)


def _conflicts(arch_id: np.ndarray, latency: np.ndarray, ok: np.ndarray,
               existing: Existing | None) -> tuple[list[str], np.ndarray]:
    """Per row the clash with the series it appends to, and which rows are already there."""
    errors, known = [""] * arch_id.size, np.zeros(arch_id.size, dtype=bool)
    if existing is None or existing.arch_id.size == 0:
        return errors, known
    stored = dict(zip(existing.arch_id.tolist(), existing.latency_ms.tolist(), strict=True))
    for row in np.flatnonzero(ok):
        old = stored.get(int(arch_id[row]))
        if old is None:
            continue
        known[row] = True
        if not np.isclose(old, latency[row], rtol=1e-9, atol=0.0):
            errors[row] = (f"architecture {int(arch_id[row])} is already measured at {old:g} ms "
                           f"on this device, not {latency[row]:g} ms")
    return errors, known


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

def stored_device(devices: pa.Table | None, device_id: str) -> Device | None:
    """The device as the warehouse's `devices` table describes it (None when absent)."""
    if devices is None:
        return None
    rows = pl.from_arrow(devices).filter(pl.col("device_id") == device_id).to_dicts()
    return Device(**rows[0]) if rows else None


def _read(path: Path) -> pl.DataFrame:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pl.read_parquet(path)
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise BadUserTable(f"{path}: cannot be read as {path.suffix or 'CSV'}: {exc}") from None
    _check_delimiter(frame, path)
    return frame


def _check_delimiter(frame: pl.DataFrame, path: Path) -> None:
    """A CSV read as one column whose name holds ';', a tab or '|' used another delimiter."""
    if frame.width == 1:
        used = next((d for d in (";", "\t", "|") if d in frame.columns[0]), None)
        if used is not None:
            shown = "tab" if used == "\t" else f"'{used}'"
            raise BadUserTable(f"{path}: the header is split by {shown}, not ',': oneproxy reads "
                               "comma-delimited CSV; save the file with ',' as the delimiter")


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


def _integral(text: str) -> str:
    """'12' for '12.0' or '12.' (integer ids as pandas writes them); any other text as it is."""
    whole, dot, fraction = text.partition(".")
    return whole if dot and whole.lstrip("-").isdigit() and set(fraction) <= {"0"} else text


def _indexed_keys(values: list[str], canonical: Callable[[str], str], resolve: Resolver,
                  architectures: pa.Table | None = None) -> Keyed:
    """NAS-Bench-201 rows: an official index, or an arch string looked up in the index (read
    from the warehouse's `architectures` when given, else from upstream)."""
    index = index_of(resolve, architectures)

    def parse(value: str) -> tuple[int, str]:
        text = _integral(value.strip())
        if text.lstrip("-").isdigit():
            i = int(text)
            if not 0 <= i < nb201.N_ARCHS:
                raise ValueError(f"index out of 0…{nb201.N_ARCHS - 1}")
            return i, index.strings[i]
        ops = np.asarray([nb201.parse_arch(canonical(text))])
        i = int(index.index_of_ops(ops)[0])
        return i, index.strings[i]

    (ids, _), errors = _per_row(values, parse)
    return Keyed(ids, errors, None)


def _hashed_keys(values: list[str], space: Space) -> Keyed:
    def parse(value: str) -> tuple[int, str]:
        key = space.canonical_key(value)
        return int(space.arch_ids([key])[0]), key

    (arch_ids, keys), errors = _per_row(values, parse)
    good = sorted({k for k in keys if k})
    return Keyed(arch_ids, errors, space.arch_table(good) if good else None)


def user_spaces() -> tuple[str, ...]:
    """Spaces a user table can be imported into: those whose codec reads a user's arch names."""
    return tuple(s for s in spaces.known() if spaces.get(s).canonical_key is not None)


def _keyed(space_id: str, values: list[str], resolve: Resolver,
           architectures: pa.Table | None = None) -> Keyed:
    space = spaces.get(space_id)
    if space.canonical_key is None:
        raise BadUserTable(f"space {space_id!r} takes no user tables; spaces are "
                           f"{', '.join(user_spaces())}")
    if space.arch_ids is None:
        return _indexed_keys(values, space.canonical_key, resolve, architectures)
    return _hashed_keys(values, space)


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


def load(spec: TableSpec, resolve: Resolver, existing: Existing | None = None,
         architectures: pa.Table | None = None) -> SourceBatch:
    """Validate every row of a user file and turn it into one source batch (nothing written).

    With `existing`, the batch holds those rows and the file's new ones (appending).
    `architectures` (the warehouse's table) spares reading the NB201 index from upstream.
    """
    if spec.unit not in UNITS:
        raise BadUserTable(f"unit {spec.unit!r} is not one of {', '.join(UNITS)}")
    frame = _read(spec.path)
    if frame.height == 0:
        raise BadUserTable(f"{spec.path}: the file holds no rows")
    arch_col = _column(frame, spec.arch_column, ARCH_COLUMNS, "arch", spec.path)
    lat_col = _column(frame, spec.latency_column, LATENCY_COLUMNS, "latency", spec.path)
    keyed = _keyed(spec.space, frame.get_column(arch_col).cast(pl.Utf8).fill_null("").to_list(),
                   resolve, architectures)
    latency, lat_errors = _latency(frame.get_column(lat_col), spec.unit)
    ok = np.array([not a and not b for a, b in zip(keyed.errors, lat_errors, strict=True)])
    header = 0 if spec.path.suffix.lower() in (".parquet", ".pq") else 1

    def line(row: int) -> int:
        return row + 1 + header

    dup_errors = _duplicates(keyed.arch_id, latency, ok, line)
    clash_errors, known = _conflicts(keyed.arch_id, latency, ok, existing)
    problems = [
        f"  line {line(row)}: " + "; ".join(e for e in errs if e)
        for row, errs in enumerate(zip(keyed.errors, lat_errors, dup_errors, clash_errors,
                                       strict=True))
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
    first = first[~known[first]]
    batch = SourceBatch(
        source_id=source_id(spec),
        repo="user", commit=None, license="user data",
        description=f"{spec.path.name}: {spec.device.device_id} on {spec.space} "
        f"({spec.dataset}), imported with `oneproxy ingest table`",
    )
    data = spec.path.read_bytes()
    record = FileRecord(spec.path.name, hashlib.sha256(data).hexdigest(), len(data),
                        "user measurements")
    if existing is not None:
        batch.files.extend(f for f in existing.files if f != record)
        for name in dict.fromkeys(existing.file):
            rows = np.array([f == name for f in existing.file])
            batch.add_series(space_id=spec.space, dataset=spec.dataset, device=spec.device,
                             arch_id=existing.arch_id[rows], latency_ms=existing.latency_ms[rows],
                             file=name)
    batch.files.append(record)
    batch.add_series(space_id=spec.space, dataset=spec.dataset, device=spec.device,
                     arch_id=keyed.arch_id[first], latency_ms=latency[first],
                     file=spec.path.name)
    if keyed.architectures is not None:
        batch.add_architectures(keyed.architectures)
    return batch


def exact_repeats(path: Path) -> list[tuple[int, int]]:
    """(line, line it repeats) of every row that is an exact copy of an earlier row of the file."""
    frame = _read(path).with_row_index("row")
    header = 0 if path.suffix.lower() in (".parquet", ".pq") else 1
    columns = [c for c in frame.columns if c != "row"]
    first = frame.group_by(columns, maintain_order=True).agg(pl.col("row").min().alias("first"))
    rows = frame.join(first, on=columns, nulls_equal=True).filter(pl.col("row") != pl.col("first"))
    return [(r + 1 + header, f + 1 + header) for r, f in rows.sort("row").select("row", "first")
            .rows()]
