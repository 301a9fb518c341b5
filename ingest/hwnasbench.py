"""HW-NAS-Bench's own pickle (`HW-NAS-Bench-v1_0.pickle`), which users download themselves.

Layout: ``d["nasbench201"][dataset][metric][index]`` for the datasets cifar10, cifar100 and
ImageNet16-120, and ``d["fbnet"][metric][op_key]`` operator lookup tables. Latencies go to
`latency` (the cifar10 series are the same measurements HELP and OneProxy carry, so ingest checks
that the copies agree), energies to the `energy` table (mJ), and the FBNet tables to
`op_latency` with metric ``latency_ms`` or ``energy_mj``. The per-dataset ``config`` entries and
Eyeriss' arithmetic intensity are not measurements and are left out.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
from oneproxy.ingest.batch import FileRecord, SourceBatch
from oneproxy.ingest.errors import CorruptFile
from oneproxy.ingest.safe_load import load_file
from oneproxy.warehouse.devices import known_device
from oneproxy.warehouse.schemas import ENERGY, OP_LATENCY
from oneproxy.warehouse.spaces import fbnet, fbnet_ops, nb201

SOURCE_ID = "hwnasbench"
REPO = "GATECH-EIC/HW-NAS-Bench"
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
NB201_DEVICES = ("edgegpu", "raspi4", "edgetpu", "pixel3", "eyeriss", "fpga")
FBNET_DEVICES = ("edgegpu", "raspi4", "pixel3", "eyeriss", "fpga")
UNIT = {"latency": "latency_ms", "energy": "energy_mj"}


def _metrics(table: object, where: str) -> dict:
    if not isinstance(table, dict):
        raise CorruptFile(f"{where}: expected a dict of metrics, got {type(table).__name__}")
    return table


def _values(raw: object, where: str) -> np.ndarray:
    try:
        values = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise CorruptFile(f"{where}: values are not numbers") from None
    if values.shape != (nb201.N_ARCHS,):
        raise CorruptFile(f"{where}: expected {nb201.N_ARCHS} values, found shape {values.shape}")
    return values


def _nb201(batch: SourceBatch, data: dict, file: str) -> None:
    for dataset in DATASETS:
        if dataset not in data:
            raise CorruptFile(f"{file}: ['nasbench201'] has no dataset {dataset!r}")
        metrics = _metrics(data[dataset], f"{file}: ['nasbench201'][{dataset!r}]")
        for device_id in NB201_DEVICES:
            device = known_device(device_id)
            for kind in ("latency", "energy"):
                metric = f"{device_id}_{kind}"
                if metric not in metrics:
                    continue
                where = f"{file}: ['nasbench201'][{dataset!r}][{metric!r}]"
                values = _values(metrics[metric], where)
                if kind == "latency":
                    batch.add_series(space_id=nb201.SPACE_ID, dataset=dataset, device=device,
                                     arch_id=np.arange(nb201.N_ARCHS), latency_ms=values,
                                     file=file)
                else:
                    batch.energy.append(_energy(dataset, device_id, values))


def _energy(dataset: str, device_id: str, values: np.ndarray) -> pa.Table:
    n = values.size
    ok = np.isfinite(values) & (values > 0)
    return pa.table({
        "space_id": [nb201.SPACE_ID] * n, "dataset": [dataset] * n, "device_id": [device_id] * n,
        "arch_id": np.arange(n, dtype=np.int64), "energy_mj": pa.array(values, mask=~ok),
        "source_id": [SOURCE_ID] * n,
    }, schema=ENERGY)


def _fbnet(batch: SourceBatch, data: dict, file: str) -> None:
    for device_id in FBNET_DEVICES:
        for kind, metric_name in UNIT.items():
            metric = f"{device_id}_{kind}"
            if metric not in data:
                continue
            table = data[metric]
            where = f"{file}: ['fbnet'][{metric!r}]"
            if not isinstance(table, dict) or not table:
                raise CorruptFile(f"{where}: expected a non-empty dict of op keys to values")
            rows = []
            for key, value in table.items():
                if not isinstance(value, int | float) or not np.isfinite(value):
                    raise CorruptFile(f"{where}[{key!r}]: value {value!r} is not a number")
                row = fbnet_ops.parse_op_key(key)
                row.update(device_id=device_id, space_id=fbnet.SPACE_ID, op_key=key,
                           metric=metric_name, mean=float(value), source_id=SOURCE_ID)
                rows.append(row)
            batch.add_op_latency(pa.Table.from_pylist(rows, schema=OP_LATENCY),
                                 known_device(device_id))


def load(path: Path) -> SourceBatch:
    """Read the pickle with the restricted loader and turn it into one source batch."""
    data = load_file(path)
    if not isinstance(data, dict) or "nasbench201" not in data:
        raise CorruptFile(f"{path}: expected a dict with a 'nasbench201' entry (HW-NAS-Bench "
                          "v1.0 pickle)")
    raw = path.read_bytes()
    batch = SourceBatch(
        source_id=SOURCE_ID, repo=REPO, commit=None, license="MIT",
        description="HW-NAS-Bench v1.0: NAS-Bench-201 latency / energy on six devices over "
        "three datasets, and FBNet operator lookup tables",
    )
    batch.files.append(FileRecord(path.name, hashlib.sha256(raw).hexdigest(), len(raw),
                                  "measurements"))
    _nb201(batch, _metrics(data["nasbench201"], f"{path.name}: ['nasbench201']"), path.name)
    if "fbnet" in data:
        _fbnet(batch, _metrics(data["fbnet"], f"{path.name}: ['fbnet']"), path.name)
    return batch
