"""HELP (HayeonLee/HELP): latency of many device settings over three spaces.

NAS-Bench-201: 27 settings × 15,625 architectures (list position = official index, cifar10).
FBNet: 27 settings × 5,000 architectures (`arch.pt`, cifar100). OFA MobileNetV3: 12 GPU settings ×
5,000 architectures (`ofa_archs.pt`, imagenet). In each space list position i of a latency file
is architecture i of the space's architecture file, and `hardware_embedding_index.pt` lists the
positions of the 10 reference architectures HELP measures on every device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
from oneproxy.ingest.batch import Resolver, SourceBatch
from oneproxy.ingest.errors import CorruptFile
from oneproxy.ingest.nb201_index import load_index
from oneproxy.ingest.registry import UpstreamFile, file, files, source
from oneproxy.ingest.safe_load import load_file
from oneproxy.warehouse import spaces
from oneproxy.warehouse.devices import Device, known_device
from oneproxy.warehouse.errors import UnknownDevice
from oneproxy.warehouse.spaces import fbnet, nb201, ofa_mbv3

SOURCE_ID = "help"
NB201_LATENCY = "data/nasbench201/latency/*.pt"
NB201_REFERENCE = "data/nasbench201/hardware_embedding_index.pt"


@dataclass(frozen=True)
class SampledSpace:
    """A space HELP sampled: its folder, dataset, and how to key its architecture file."""

    space_id: str
    folder: str
    arch_file: str
    dataset: str
    keys: Callable[[object, str], list[str]]
    """Canonical arch keys, in file order, of the loaded architecture file (path for errors)."""


def _fbnet_keys(raw: object, path: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(r, list) for r in raw):
        raise CorruptFile(f"{path}: expected a list of FBNet op-index lists")
    return fbnet.keys(np.asarray(raw))


def _ofa_keys(raw: object, path: str) -> list[str]:
    if not isinstance(raw, dict) or not isinstance(raw.get("arch"), list):
        raise CorruptFile(f"{path}: expected a dict with an 'arch' list of OFA configurations")
    return ofa_mbv3.NET.keys_from_archs(raw["arch"])


SAMPLED = (
    SampledSpace(fbnet.SPACE_ID, "data/fbnet", "arch.pt", "cifar100", _fbnet_keys),
    SampledSpace(ofa_mbv3.SPACE_ID, "data/ofa", "ofa_archs.pt", "imagenet", _ofa_keys),
)


def load(resolve: Resolver) -> SourceBatch:
    """Every NAS-Bench-201 latency file of HELP as one batch (dataset cifar10, 32×32 input)."""
    batch = SourceBatch.for_source(source(SOURCE_ID))
    index = load_index(resolve)
    index.record(batch)
    for upstream in files(SOURCE_ID, NB201_LATENCY):
        path = resolve(upstream)
        device = _device(upstream)
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
    for space in SAMPLED:
        _load_sampled(resolve, batch, space)
    return batch


def _device(upstream: UpstreamFile) -> Device:
    name = PurePosixPath(upstream.path).stem
    device = known_device(name)
    if device is None:
        raise UnknownDevice(f"{upstream.path}: HELP setting '{name}' is not in the device registry")
    return device


def _load_sampled(resolve: Resolver, batch: SourceBatch, space: SampledSpace) -> None:
    """One sampled space: its architectures, every device's latency list, its references."""
    upstream = file(SOURCE_ID, f"{space.folder}/{space.arch_file}")
    keys = space.keys(load_file(resolve(upstream)), upstream.path)
    batch.add_file(upstream, "architectures")
    unique = sorted(set(keys))
    if len(unique) != len(keys):
        raise CorruptFile(f"{upstream.path}: {len(keys) - len(unique)} architectures repeat")
    codec = spaces.get(space.space_id)
    ids = codec.arch_ids(keys)
    batch.add_architectures(codec.arch_table(unique))
    for latency_file in files(SOURCE_ID, f"{space.folder}/latency/*.pt"):
        values = load_file(resolve(latency_file))
        if not isinstance(values, list) or len(values) != len(keys):
            raise CorruptFile(f"{latency_file.path}: expected a list of {len(keys)} latencies, "
                              f"got {type(values).__name__} of length {len(values)}")
        batch.add_file(latency_file, "latency")
        batch.add_series(space_id=space.space_id, dataset=space.dataset,
                         device=_device(latency_file), arch_id=ids,
                         latency_ms=np.asarray(values, float), file=latency_file.path)
    reference = file(SOURCE_ID, f"{space.folder}/hardware_embedding_index.pt")
    positions = load_file(resolve(reference))
    if (not isinstance(positions, list) or not positions
            or not all(isinstance(i, int) and 0 <= i < len(keys) for i in positions)):
        raise CorruptFile(f"{reference.path}: expected a list of positions below {len(keys)}")
    batch.add_file(reference, "reference architectures")
    batch.add_reference(space_id=space.space_id, arch_id=ids[np.asarray(positions)])


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
