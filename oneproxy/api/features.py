"""Feature matrices of a space's architectures, with the attributes the warehouse holds for them.

The matrices are stored in the warehouse folder and read back while the architectures, their
attributes and the encoding code stay the same: `<warehouse>/models/features/<space>/<slot>/`
holds `features.bin` (every matrix, raw, one after the other) and `meta.json` (each matrix's
dtype, shape, memory order and offset, the column names, the key the file was built for and its
sha256). No pickle: a file whose key, sha256 or layout does not match is ignored and rebuilt. The
`MAX_SLOTS` key sets used last are kept per space.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from oneproxy.analytics.predictors.encodings import SpaceFeatures, space_features
from oneproxy.api.checked_files import META, read_checked, source_key, write_checked
from oneproxy.api.proxy_cache import FOLDER
from oneproxy.warehouse import spaces
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.store import Warehouse

FEATURES = "features"
FORMAT = 1
DATA = "features.bin"
_DTYPES = {"<f8", "<f4", "<i8", "<i4", "|i1", "|b1"}  # what a stored matrix may hold
_CODE = ("oneproxy.analytics.predictors.encodings", "oneproxy.warehouse.spaces")
MAX_SLOTS = 4  # key sets kept per space (the whole space, an evaluation's, a few `train`s)


class MissingAttributes(OneproxyError):
    """Architectures whose measured attributes (e.g. FLOPs) the warehouse does not hold."""


def features_of(wh: Warehouse, space: str, arch_keys: Sequence[str],
                dataset: str | None = None) -> SpaceFeatures:
    """`space_features` of `arch_keys`, reading `Space.attribute_columns` from `architectures`;
    stored in the warehouse folder and read back (see the module)."""
    keys = tuple(arch_keys)
    attributes = attributes_of(wh, space, keys)
    inputs = hashlib.sha256(json.dumps([space, dataset, keys]).encode()).digest()
    folder = wh.root / FOLDER / FEATURES / space / inputs.hex()[:12]  # one slot per key set
    key = _features_key(inputs, attributes)
    stored = _read_features(folder, key, space, keys)
    if stored is not None:
        _used(folder)
        return stored
    features = space_features(space, keys, dataset=dataset, attributes=attributes)
    _write_features(folder, key, features)
    _prune(folder.parent, MAX_SLOTS)
    return features


def _used(folder: Path) -> None:
    """Mark a slot as just used (its meta.json's mtime), for `_prune`."""
    with contextlib.suppress(OSError):  # a read-only warehouse
        os.utime(folder / META)


def _prune(space_folder: Path, keep: int) -> None:
    """Remove all but the `keep` slots of a space used last (a slot without meta.json first)."""
    def used(slot: Path) -> int:
        try:
            return (slot / META).stat().st_mtime_ns
        except OSError:
            return -1

    try:
        slots = sorted(space_folder.iterdir(), key=used, reverse=True)
    except OSError:
        return
    for slot in slots[keep:]:
        shutil.rmtree(slot, ignore_errors=True)


def _features_key(inputs: bytes, attributes: Mapping[str, np.ndarray] | None) -> str:
    """What the matrices depend on: the space, dataset and keys (the digest `inputs`), the
    attributes and the code."""
    h = hashlib.sha256(inputs)
    for name, values in sorted((attributes or {}).items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
    h.update(source_key(_CODE).encode())
    h.update(np.__version__.encode())  # NumPy computes the matrices
    h.update(str(FORMAT).encode())
    return h.hexdigest()


def _read_features(folder: Path, key: str, space: str,
                   keys: tuple[str, ...]) -> SpaceFeatures | None:
    """The stored matrices when they are whole and were built for `key`, else None."""
    stored = read_checked(folder, DATA, FORMAT, key)
    if stored is None:
        return None
    meta, data = stored
    try:
        matrices = {}
        for name, dtype, shape, order, offset in meta["matrices"]:
            if (dtype not in _DTYPES or order not in ("C", "F") or len(shape) != 2
                    or shape[0] != len(keys)):
                return None
            matrices[name] = np.frombuffer(data, dtype=dtype, count=shape[0] * shape[1],
                                           offset=offset).reshape(shape, order=order)  # read-only
        columns = {name: tuple(names) for name, names in meta["columns"].items()}
        if set(columns) != set(matrices):
            return None
        return SpaceFeatures(space, keys, matrices, columns)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _write_features(folder: Path, key: str, features: SpaceFeatures) -> None:
    """Store the matrices: features.bin first, meta.json (naming its sha256) last."""
    layout, chunks, offset = [], [], 0
    for name, matrix in features.matrices.items():
        # the memory order too: products of a C- and an F-ordered copy round differently
        order = "F" if matrix.flags.f_contiguous and not matrix.flags.c_contiguous else "C"
        array = matrix.astype(matrix.dtype.newbyteorder("<"), copy=False)
        layout.append([name, array.dtype.str, list(array.shape), order, offset])
        chunks.append(array.tobytes(order=order))
        offset += len(chunks[-1])
    write_checked(folder, DATA, b"".join(chunks), FORMAT, key,
                  {"matrices": layout,
                   "columns": {n: list(c) for n, c in features.columns.items()}})


def attributes_of(wh: Warehouse, space: str,
                  arch_keys: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The measured attributes the space's encodings read, per arch key (None: it reads none)."""
    columns = spaces.get(space).attribute_columns
    if not columns:
        return None
    table = pl.from_arrow(query(wh, sql_text("queries/arch_attributes.sql"), [space]))
    wanted = pl.DataFrame({"arch_key": list(arch_keys)})
    rows = wanted.join(table.select("arch_key", *columns), on="arch_key", how="left",
                       maintain_order="left")
    missing = rows.filter(pl.any_horizontal(pl.col(c).is_null() for c in columns))
    if missing.height:
        raise MissingAttributes(f"space {space}: architecture {missing['arch_key'][0]!r} has no "
                                f"{', '.join(columns)} in the warehouse: re-run `oneproxy ingest`")
    return {c: rows[c].to_numpy().astype(np.float64) for c in columns}
