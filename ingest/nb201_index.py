"""The official NAS-Bench-201 index (arch string → 0…15624), read from HELP's `str_arch2idx.pt`."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
from oneproxy.ingest.batch import Resolver, SourceBatch
from oneproxy.ingest.errors import CorruptFile
from oneproxy.ingest.registry import UpstreamFile, file
from oneproxy.ingest.safe_load import load_file
from oneproxy.warehouse.spaces import nb201

INDEX_PATH = "data/nasbench201/str_arch2idx.pt"


@dataclass(frozen=True)
class Nb201Index:
    strings: list[str]
    """Arch string of each official index, in index order."""
    code_to_index: np.ndarray
    """Official index of each base-5 op code (see `nb201.ops_code`)."""
    source: UpstreamFile

    def index_of_ops(self, ops: np.ndarray) -> np.ndarray:
        """Official indices of rows of op tuples (every tuple of the space has one)."""
        return self.code_to_index[nb201.ops_code(ops)]

    def record(self, batch: SourceBatch) -> None:
        batch.add_file(self.source, "nb201 index")


def load_index(resolve: Resolver) -> Nb201Index:
    """Read and check the NAS-Bench-201 index file."""
    upstream = file("help", INDEX_PATH)
    return _parse_index(resolve(upstream), upstream)


def index_of(resolve: Resolver, architectures: pa.Table | None = None) -> Nb201Index:
    """The index from a warehouse's `architectures` table when it holds every NB201 cell (no
    upstream file needed), else from the upstream index file."""
    if architectures is not None:
        rows = pl.from_arrow(architectures).filter(pl.col("space_id") == nb201.SPACE_ID)
        if rows.height == nb201.N_ARCHS and rows["arch_id"].n_unique() == nb201.N_ARCHS:
            strings = rows.sort("arch_id")["arch_key"].to_list()
            return _indexed(strings, file("help", INDEX_PATH))
    return load_index(resolve)


def _indexed(strings: list[str], upstream: UpstreamFile) -> Nb201Index:
    """The index of arch strings listed in index order."""
    ops = nb201.ops_matrix(strings)
    code_to_index = np.full(nb201.N_ARCHS, -1, dtype=np.int64)
    code_to_index[nb201.ops_code(ops)] = np.arange(nb201.N_ARCHS)
    return Nb201Index(strings, code_to_index, upstream)


@functools.cache
def _parse_index(path: Path, upstream: UpstreamFile) -> Nb201Index:
    """The index of a sha256-verified copy, parsed once: every NB201 source needs it."""
    mapping = load_file(path)
    if not isinstance(mapping, dict) or len(mapping) != nb201.N_ARCHS:
        raise CorruptFile(f"{path}: expected a dict of {nb201.N_ARCHS} arch strings to indices")
    indices = np.fromiter(mapping.values(), dtype=np.int64, count=len(mapping))
    if not np.array_equal(np.sort(indices), np.arange(nb201.N_ARCHS)):
        raise CorruptFile(f"{path}: indices are not a permutation of 0..{nb201.N_ARCHS - 1}")
    strings = [""] * nb201.N_ARCHS
    for key, idx in mapping.items():
        strings[idx] = key
    return _indexed(strings, upstream)
