"""What one source's loader hands to the ingest pipeline: normalised tables plus provenance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from oneproxy.ingest.registry import Source, UpstreamFile
from oneproxy.warehouse.devices import Device
from oneproxy.warehouse.schemas import (
    ACCURACY,
    ENERGY,
    LATENCY_RAW,
    LATENCY_STD,
    OP_LATENCY,
    REFERENCE_ARCHS,
    THROUGHPUT,
)

Resolver = Callable[[UpstreamFile], Path]
"""Turns a registry entry into a local, sha256-verified path (see `ingest.fetch`)."""


@dataclass(frozen=True)
class FileRecord:
    path: str
    sha256: str
    bytes: int
    role: str


@dataclass
class SourceBatch:
    """Everything one source contributes, in warehouse schemas, validated and not yet written."""

    source_id: str
    repo: str
    commit: str | None
    license: str
    description: str
    files: list[FileRecord] = field(default_factory=list)
    latency: list[pa.Table] = field(default_factory=list)
    accuracy: list[pa.Table] = field(default_factory=list)
    reference: list[pa.Table] = field(default_factory=list)
    op_latency: list[pa.Table] = field(default_factory=list)
    energy: list[pa.Table] = field(default_factory=list)
    latency_std: list[pa.Table] = field(default_factory=list)
    throughput: list[pa.Table] = field(default_factory=list)
    architectures: list[pa.Table] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)

    @classmethod
    def for_source(cls, src: Source) -> SourceBatch:
        return cls(src.source_id, src.repo, src.commit, src.license, src.description)

    def add_file(self, f: UpstreamFile, role: str) -> None:
        self.files.append(FileRecord(f.path, f.sha256, f.bytes, role))

    def add_series(self, *, space_id: str, dataset: str, device: Device, arch_id: np.ndarray,
                   latency_ms: np.ndarray, file: str) -> None:
        """One device series; non-positive or non-finite latencies become failed measurements."""
        values = np.asarray(latency_ms, dtype=np.float64)
        ok = np.isfinite(values) & (values > 0)
        n = len(values)
        self.latency.append(pa.table({
            **_series_keys(space_id, dataset, device, arch_id),
            "latency_ms": pa.array(values, mask=~ok),
            "status": pa.array(np.where(ok, "ok", "failed")),
            "source_id": pa.array([self.source_id] * n, pa.string()),
            "file": pa.array([file] * n, pa.string()),
        }, schema=LATENCY_RAW))
        if device not in self.devices:
            self.devices.append(device)

    def add_latency_std(self, *, space_id: str, dataset: str, device: Device,
                        arch_id: np.ndarray, std_ms: np.ndarray) -> None:
        """Standard deviations (ms) of a series added with `add_series`; NaN = not reported."""
        values = np.asarray(std_ms, dtype=np.float64)
        n = len(values)
        self.latency_std.append(pa.table({
            **_series_keys(space_id, dataset, device, arch_id),
            "latency_std_ms": pa.array(values, mask=~np.isfinite(values)),
            "source_id": pa.array([self.source_id] * n, pa.string()),
        }, schema=LATENCY_STD))

    def add_throughput(self, *, space_id: str, dataset: str, device: Device,
                       arch_id: np.ndarray, images_per_s: np.ndarray, std: np.ndarray,
                       batch_size: int | None) -> None:
        """Images per second of one device; non-positive or non-finite values become nulls."""
        values = np.asarray(images_per_s, dtype=np.float64)
        spread = np.asarray(std, dtype=np.float64)
        n = len(values)
        self.throughput.append(pa.table({
            **_series_keys(space_id, dataset, device, arch_id),
            "images_per_s": pa.array(values, mask=~(np.isfinite(values) & (values > 0))),
            "images_per_s_std": pa.array(spread, mask=~np.isfinite(spread)),
            "batch_size": pa.array([batch_size] * n, pa.int32()),
            "source_id": pa.array([self.source_id] * n, pa.string()),
        }, schema=THROUGHPUT))
        if device not in self.devices:
            self.devices.append(device)

    def add_accuracy(self, *, space_id: str, dataset: str, metric: str, arch_id: np.ndarray,
                     values: np.ndarray) -> None:
        n = len(values)
        self.accuracy.append(pa.table({
            "space_id": pa.array([space_id] * n, pa.string()),
            "dataset": pa.array([dataset] * n, pa.string()),
            "arch_id": pa.array(np.asarray(arch_id, dtype=np.int64)),
            "metric": pa.array([metric] * n, pa.string()),
            "value": pa.array(np.asarray(values, dtype=np.float64)),
            "source_id": pa.array([self.source_id] * n, pa.string()),
        }, schema=ACCURACY))

    def add_reference(self, *, space_id: str, arch_id: np.ndarray) -> None:
        """Reference architectures (measured on every device), in their upstream order."""
        n = len(arch_id)
        self.reference.append(pa.table({
            "space_id": pa.array([space_id] * n, pa.string()),
            "arch_id": pa.array(np.asarray(arch_id, dtype=np.int64)),
            "position": pa.array(np.arange(n, dtype=np.int32)),
            "source_id": pa.array([self.source_id] * n, pa.string()),
        }, schema=REFERENCE_ARCHS))

    def add_op_latency(self, table: pa.Table, device: Device) -> None:
        """Rows of an operator lookup table in the `op_latency` schema (source_id is set here)."""
        ids = pa.array([self.source_id] * table.num_rows, pa.string())
        table = table.set_column(table.schema.get_field_index("source_id"), "source_id", ids)
        self.op_latency.append(table.cast(OP_LATENCY))
        if device not in self.devices:
            self.devices.append(device)

    def add_architectures(self, table: pa.Table) -> None:
        """Rows for the `architectures` table: space_id, arch_id, arch_key and space columns."""
        self.architectures.append(table)

    def op_latency_table(self) -> pa.Table:
        return pa.concat_tables(self.op_latency) if self.op_latency else OP_LATENCY.empty_table()

    def energy_table(self) -> pa.Table:
        return pa.concat_tables(self.energy) if self.energy else ENERGY.empty_table()

    def latency_std_table(self) -> pa.Table:
        return pa.concat_tables(self.latency_std) if self.latency_std else LATENCY_STD.empty_table()

    def throughput_table(self) -> pa.Table:
        return pa.concat_tables(self.throughput) if self.throughput else THROUGHPUT.empty_table()

    def latency_table(self) -> pa.Table:
        return pa.concat_tables(self.latency) if self.latency else LATENCY_RAW.empty_table()

    def accuracy_table(self) -> pa.Table:
        return pa.concat_tables(self.accuracy) if self.accuracy else ACCURACY.empty_table()


def _series_keys(space_id: str, dataset: str, device: Device,
                 arch_id: np.ndarray) -> dict[str, pa.Array]:
    """The columns that name one device series' rows: space, dataset, device, architecture."""
    ids = pa.array(np.asarray(arch_id, dtype=np.int64))
    return {"space_id": pa.array([space_id] * len(ids), pa.string()),
            "dataset": pa.array([dataset] * len(ids), pa.string()),
            "device_id": pa.array([device.device_id] * len(ids), pa.string()),
            "arch_id": ids}
