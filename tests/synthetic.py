"""A small synthetic warehouse the tests build in a second: NAS-Bench-201 cells with made-up
latencies and accuracies, so API and CLI tests run without the mirror.

Every one of the 15,625 cells is an architecture (ids in the codec's enumeration order, not the
official index). Devices are linear in the operator one-hot with device-specific op costs plus a
little noise, so their latency rankings agree closely but not exactly; `partial` devices measured
only the first `PARTIAL_ARCHS` cells.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
from oneproxy.warehouse.devices import Device, devices_table
from oneproxy.warehouse.schemas import ACCURACY, LATENCY, REFERENCE_ARCHS
from oneproxy.warehouse.spaces import nb201, spaces_table
from oneproxy.warehouse.store import Warehouse

DEVICES = ("phone_a", "phone_b", "gpu_a", "cpu_a")
PARTIAL = ("phone_c",)
PARTIAL_ARCHS = 1_000
DATASETS = ("cifar10", "cifar100")
SOURCE = "synthetic"


def _device(device_id: str) -> Device:
    platform = {"phone": "mobile_cpu", "gpu_a": "desktop_gpu", "cpu_a": "desktop_cpu"}
    kind = platform.get(device_id, platform.get(device_id.split("_")[0], "other"))
    return Device(device_id, device_id.replace("_", " "), "synthetic", kind, "synthetic", "fp32",
                  1, SOURCE)


def tables(seed: int = 0) -> dict[str, pa.Table]:
    """Every table of the synthetic warehouse."""
    rng = np.random.default_rng(seed)
    ops = nb201.all_op_tuples()
    keys = [nb201.format_arch(o) for o in ops]
    archs = nb201.arch_table(keys, np.arange(len(keys)))
    x = nb201.onehot(ops)
    base = rng.uniform(0.05, 1.0, x.shape[1])
    rows = []
    for i, device in enumerate((*DEVICES, *PARTIAL)):
        cost = base * rng.uniform(0.6, 1.6, base.size) * (1 + i)
        latency = x @ cost * (1 + 0.03 * rng.standard_normal(len(keys)))
        n = PARTIAL_ARCHS if device in PARTIAL else len(keys)
        rows.append(pa.table({
            "space_id": ["nb201"] * n, "dataset": ["cifar10"] * n, "device_id": [device] * n,
            "arch_id": np.arange(n, dtype=np.int64), "latency_ms": latency[:n],
            "status": ["ok"] * n, "source_id": [SOURCE] * n}, schema=LATENCY))
    flops = archs.column("flops_m_cifar10").to_numpy()
    accuracy = []
    for j, dataset in enumerate(DATASETS):
        value = 60 + 30 * np.sqrt(flops / flops.max()) - 5 * j + rng.normal(0, 1, len(keys))
        accuracy.append(pa.table({
            "space_id": ["nb201"] * len(keys), "dataset": [dataset] * len(keys),
            "arch_id": np.arange(len(keys), dtype=np.int64),
            "metric": ["test_accuracy"] * len(keys), "value": value,
            "source_id": [SOURCE] * len(keys)}, schema=ACCURACY))
    reference = pa.table({"space_id": ["nb201"] * 10,
                          "arch_id": np.arange(0, 1000, 100, dtype=np.int64),
                          "position": np.arange(10, dtype=np.int32), "source_id": [SOURCE] * 10},
                         schema=REFERENCE_ARCHS)
    return {
        "spaces": spaces_table({"nb201"}),
        "architectures": archs,
        "devices": devices_table([_device(d) for d in (*DEVICES, *PARTIAL)]),
        "latency": pa.concat_tables(rows),
        "accuracy": pa.concat_tables(accuracy),
        "reference_archs": reference,
    }


def build(root: Path, seed: int = 0) -> Warehouse:
    """A warehouse at `root` holding `tables(seed)`."""
    wh = Warehouse(root)
    wh.commit(tables(seed))
    return wh
