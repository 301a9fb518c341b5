"""mobile-ml-benchmark (qed-usc/mobile-ml-benchmark): end-to-end latency on 174 environments.

Each ``dataset/<framework>_<set>_e2e.csv`` holds one row per model: ``model``, FLOPs (``FLOPS``
or ``flops``), ``size`` (bytes), then for every environment a ``phone|cores|precision|mean`` and
a ``...|std`` column, in microseconds. An environment becomes one device series
(`warehouse.devices.mobile_device`); means go to `latency`, standard deviations to
`latency_std`, both in ms. ``N/A`` or an empty cell is a failed measurement. The two per-op GPU
files are not read: their rows are TFLite / PyTorch kernel traces without the configuration
columns `op_latency` keys on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from oneproxy.ingest.batch import Resolver, SourceBatch
from oneproxy.ingest.errors import CorruptFile
from oneproxy.ingest.registry import file, source
from oneproxy.warehouse.devices import UnknownMobileEnvironment, mobile_device
from oneproxy.warehouse.spaces import mobile

SOURCE_ID = "mobile_ml_benchmark"
US_PER_MS = 1000.0
MISSING = ("", "N/A")
STATS = ("mean", "std")


@dataclass(frozen=True)
class E2ETable:
    """One e2e file: models, their FLOPs / size, and per environment mean / std (ms)."""

    models: list[str]
    flops: np.ndarray
    size_bytes: np.ndarray
    environments: list[tuple[str, str, str]]  # (phone, cores, precision), in column order
    mean_ms: np.ndarray  # environments × models, NaN = failed
    std_ms: np.ndarray


def _numbers(frame: pl.DataFrame, column: str, path: str) -> np.ndarray:
    """A column as floats; empty or N/A cells are NaN, anything else unparsable is an error."""
    raw = frame.get_column(column).cast(pl.Utf8).str.strip_chars()
    values = raw.cast(pl.Float64, strict=False)
    bad = values.is_null() & ~raw.fill_null("").is_in(MISSING)
    if bad.any():
        row = int(bad.arg_max())
        raise CorruptFile(f"{path}: line {row + 2}, column {column!r}: {raw[row]!r} is not a "
                          "number")
    return values.to_numpy().astype(np.float64)


def parse_e2e(frame: pl.DataFrame, path: str) -> E2ETable:
    """Validate and split one e2e CSV (read as strings)."""
    lower = {c.lower(): c for c in frame.columns}
    fixed = [lower.get(c) for c in ("model", "flops", "size")]
    if None in fixed:
        raise CorruptFile(f"{path}: expected columns model, FLOPS (or flops), size; got "
                          f"{', '.join(frame.columns[:3])}")
    groups: dict[tuple[str, str, str], set[str]] = {}
    for column in frame.columns:
        if column in fixed:
            continue
        parts = column.split("|")
        if len(parts) != 4 or parts[3] not in STATS:
            raise CorruptFile(f"{path}: column {column!r} is not phone|cores|precision|mean/std")
        groups.setdefault((parts[0], parts[1], parts[2]), set()).add(parts[3])
    if not groups:
        raise CorruptFile(f"{path}: no phone|cores|precision|mean/std columns")
    incomplete = [e for e, stats in groups.items() if stats != set(STATS)]
    if incomplete:
        raise CorruptFile(f"{path}: environment {'|'.join(incomplete[0])} lacks its mean or "
                          "std column")
    models = frame.get_column(fixed[0]).cast(pl.Utf8).str.strip_chars().fill_null("").to_list()
    if "" in models:
        raise CorruptFile(f"{path}: line {models.index('') + 2} has no model name")
    if len(set(models)) != len(models):
        twice = next(m for m in models if models.count(m) > 1)
        raise CorruptFile(f"{path}: model {twice!r} occurs more than once")
    flops, size = (_numbers(frame, c, path) for c in fixed[1:])
    if not (np.isfinite(flops) & (flops > 0) & np.isfinite(size) & (size > 0)).all():
        raise CorruptFile(f"{path}: every model needs positive FLOPs and size")
    envs = list(groups)

    def stat(name: str) -> np.ndarray:
        return np.stack([_numbers(frame, "|".join((*e, name)), path) for e in envs]) / US_PER_MS

    return E2ETable(models, flops, size, envs, stat("mean"), stat("std"))


def _read(resolve: Resolver, batch: SourceBatch, framework: str, infix: str) -> E2ETable:
    upstream = file(SOURCE_ID, f"dataset/{framework}_{infix}_e2e.csv")
    path = resolve(upstream)
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise CorruptFile(f"{path}: not a CSV file: {exc}") from None
    batch.add_file(upstream, "latency")
    return parse_e2e(frame, upstream.path)


def load(resolve: Resolver) -> SourceBatch:
    """Every e2e file: one space per model set, one series per framework × environment."""
    batch = SourceBatch.for_source(source(SOURCE_ID))
    for infix, space in mobile.MODEL_SETS.items():
        tables = {fw: _read(resolve, batch, fw, infix) for fw in mobile.FRAMEWORKS}
        names = sorted({m for t in tables.values() for m in t.models})
        position = {m: i for i, m in enumerate(names)}
        flops, size = {}, {}
        for fw, table in tables.items():
            where = np.array([position[m] for m in table.models])
            flops[fw] = np.full(len(names), np.nan)
            size[fw] = np.full(len(names), np.nan)
            flops[fw][where], size[fw][where] = table.flops, table.size_bytes
        batch.add_architectures(mobile.arch_table(space.space_id, names, flops, size))
        for fw, table in tables.items():
            ids = space.arch_ids(table.models)
            for e, (phone, cores, precision) in enumerate(table.environments):
                try:
                    device = mobile_device(fw, phone, cores, precision)
                except UnknownMobileEnvironment as exc:
                    raise CorruptFile(f"{fw}_{infix}_e2e.csv: {exc}") from None
                batch.add_series(space_id=space.space_id, dataset=mobile.DATASET, device=device,
                                 arch_id=ids, latency_ms=table.mean_ms[e],
                                 file=f"dataset/{fw}_{infix}_e2e.csv")
                batch.add_latency_std(space_id=space.space_id, dataset=mobile.DATASET,
                                      device=device, arch_id=ids, std_ms=table.std_ms[e])
    return batch
