"""Eagle / BRP-NAS latency files: a dict from a 6-tuple of op indices to seconds.

Eagle published 13 such files (one per device); the pinned repository carries the desktop i7 one.
A user with the others passes their folder (`oneproxy ingest eagle --path DIR`): each `*.pkl` or
`*.pickle` file becomes its device series, named from the file name. A folder is its own source
(`local_source_id`), so it adds series beside the pinned ones and `ingest --all` keeps it. Each
file is read once: the bytes hashed are the bytes parsed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
from oneproxy.ingest.batch import FileRecord, Resolver, SourceBatch
from oneproxy.ingest.errors import CorruptFile
from oneproxy.ingest.nb201_index import Nb201Index, load_index
from oneproxy.ingest.registry import files, source
from oneproxy.ingest.safe_load import load_bytes
from oneproxy.warehouse.devices import eagle_device
from oneproxy.warehouse.spaces import nb201

SOURCE_ID = "eagle"
SECONDS_TO_MS = 1000.0


def local_source_id(folder: Path) -> str:
    """The source id of a user's folder: `eagle_<folder name>_<hash of its absolute path>`."""
    path = str(folder.absolute())
    slug = re.sub(r"[^a-z0-9]+", "_", folder.absolute().name.lower()).strip("_")[:24] or "dir"
    return f"{SOURCE_ID}_{slug}_{hashlib.sha256(path.encode()).hexdigest()[:8]}"


def _series(raw: bytes, path: Path, index: Nb201Index) -> tuple[np.ndarray, np.ndarray]:
    """Official indices and latencies (ms) of one Eagle file's bytes."""
    data = load_bytes(raw, str(path))
    if not isinstance(data, dict) or not data:
        raise CorruptFile(f"{path}: expected a non-empty dict from op tuples to seconds")
    keys = list(data)
    if not all(isinstance(k, tuple) and len(k) == nb201.N_EDGES for k in keys):
        bad = next(k for k in keys if not (isinstance(k, tuple) and len(k) == nb201.N_EDGES))
        raise CorruptFile(f"{path}: key {bad!r} is not a tuple of {nb201.N_EDGES} op indices")
    ops = np.asarray(keys, dtype=np.int64)
    if ops.min() < 0 or ops.max() >= len(nb201.OPS):
        raise CorruptFile(f"{path}: op indices outside 0..{len(nb201.OPS) - 1}")
    seconds = np.asarray([float(v) for v in data.values()], dtype=np.float64)
    return index.index_of_ops(ops), seconds * SECONDS_TO_MS


def load(resolve: Resolver, folder: Path | None = None) -> SourceBatch:
    """The pinned Eagle file, or every Eagle file in a user's folder."""
    batch = SourceBatch.for_source(source(SOURCE_ID))
    index = load_index(resolve)
    index.record(batch)
    if folder is None:
        pinned = [(resolve(f), f.path) for f in files(SOURCE_ID)]
        loaded = [(p, name, p.read_bytes()) for p, name in pinned]
        batch.files.extend(FileRecord(f.path, f.sha256, f.bytes, "latency")
                           for f in files(SOURCE_ID))
    else:
        found = sorted(folder.glob("*.pkl")) + sorted(folder.glob("*.pickle"))
        if not found:
            raise CorruptFile(f"{folder}: no Eagle latency files (*.pkl, *.pickle) in this folder")
        loaded = [(p, p.name, p.read_bytes()) for p in found]
        batch.source_id = local_source_id(folder)
        batch.repo, batch.commit = f"local:{folder.absolute()}", None
        batch.files.extend(FileRecord(name, hashlib.sha256(raw).hexdigest(), len(raw), "latency")
                           for _, name, raw in loaded)
    for path, name, raw in loaded:
        arch_ids, latency_ms = _series(raw, path, index)
        batch.add_series(space_id="nb201", dataset="cifar10", device=eagle_device(Path(name).stem),
                         arch_id=arch_ids, latency_ms=latency_ms, file=name)
    return batch
