"""HELP (HayeonLee/HELP): NAS-Bench-201 latency of 27 device settings; list position = index."""

from __future__ import annotations

from pathlib import PurePosixPath

import numpy as np

from ingest.batch import Resolver, SourceBatch
from ingest.errors import CorruptFile
from ingest.nb201_index import load_index
from ingest.registry import file, files, source
from ingest.safe_load import load_file
from warehouse.devices import known_device
from warehouse.errors import UnknownDevice
from warehouse.spaces import nb201

SOURCE_ID = "help"
NB201_LATENCY = "data/nasbench201/latency/*.pt"
NB201_REFERENCE = "data/nasbench201/hardware_embedding_index.pt"


def load(resolve: Resolver) -> SourceBatch:
    """Every NAS-Bench-201 latency file of HELP as one batch (dataset cifar10, 32×32 input)."""
    batch = SourceBatch.for_source(source(SOURCE_ID))
    index = load_index(resolve)
    index.record(batch)
    for upstream in files(SOURCE_ID, NB201_LATENCY):
        path = resolve(upstream)
        name = PurePosixPath(upstream.path).stem
        device = known_device(name)
        if device is None:
            raise UnknownDevice(
                f"{upstream.path}: HELP setting '{name}' is not in the device registry"
            )
        values = load_file(path)
        if not isinstance(values, list) or len(values) != nb201.N_ARCHS:
            raise CorruptFile(
                f"{path}: expected a list of {nb201.N_ARCHS} latencies, "
                f"got {type(values).__name__}"
            )
        batch.add_file(upstream, "latency")
        batch.add_series(space_id="nb201", dataset="cifar10", device=device,
                         arch_id=np.arange(nb201.N_ARCHS), latency_ms=np.asarray(values, float),
                         file=upstream.path)
    _load_reference(resolve, batch)
    return batch


def _load_reference(resolve: Resolver, batch: SourceBatch) -> None:
    """The 10 architectures HELP measures on every device before its samples."""
    upstream = file(SOURCE_ID, NB201_REFERENCE)
    path = resolve(upstream)
    indices = load_file(path)
    if (not isinstance(indices, list) or not indices
            or not all(isinstance(i, int) and 0 <= i < nb201.N_ARCHS for i in indices)):
        raise CorruptFile(f"{path}: expected a list of NAS-Bench-201 indices below {nb201.N_ARCHS}")
    batch.add_file(upstream, "reference architectures")
    batch.add_reference(space_id="nb201", arch_id=np.asarray(indices))
