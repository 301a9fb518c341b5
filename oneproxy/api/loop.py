"""The verify loop simulated on a protocol's targets (`evaluate --search`): run it, store it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from oneproxy.analytics.evaluate import ProtocolData
from oneproxy.analytics.protocols import Protocol
from oneproxy.api.evaluate import load_protocol_data, stored_models
from oneproxy.api.latency import latency_series
from oneproxy.api.progress import Progress, silent
from oneproxy.api.search import search_dataset
from oneproxy.scale.engine import Engine
from oneproxy.search.loop_eval import LoopSettings, simulate_protocol
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.store import Warehouse
from oneproxy.warehouse.tables import publish

LOOP_TABLE = "verify_loop"


def accuracy_dataset(wh: Warehouse, protocol: Protocol, dataset: str | None) -> str:
    """`dataset` (checked), else the protocol's latency dataset when it has test accuracies
    (NB201: cifar10), else the space's only dataset with them (an error names the choices)."""
    if dataset is None:
        latency_dataset, _ = latency_series(wh, protocol.space, protocol.dataset)
        known = query(wh, sql_text("queries/search_datasets.sql"), [protocol.space])
        if latency_dataset in known.column("dataset").to_pylist():
            return latency_dataset
    return search_dataset(wh, protocol.space, dataset)


def protocol_accuracy(wh: Warehouse, protocol: Protocol, data: ProtocolData,
                      dataset: str) -> np.ndarray:
    """Test accuracy (%) of `data`'s architectures on `dataset`, NaN where unknown."""
    rows = query(wh, sql_text("queries/search_accuracy.sql"), [protocol.space, dataset])
    by_key = dict(zip(rows.column("arch_key").to_pylist(), rows.column("accuracy").to_pylist(),
                      strict=True))
    values = [by_key.get(k) for k in data.features.arch_keys]
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def simulate_loop(wh: Warehouse, protocol: Protocol, settings: LoopSettings,
                  dataset: str | None = None, on_progress: Progress = silent,
                  engine: Engine | None = None) -> pa.Table:
    """Every target × n × draw × seed of the protocol through the verify loop (`VERIFY_LOOP`
    rows), each target × n a task on `engine` when it is a cluster; picks maximise the test
    accuracy of `accuracy_dataset(wh, protocol, dataset)`."""
    chosen = accuracy_dataset(wh, protocol, dataset)
    data = load_protocol_data(wh, protocol)
    accuracy = protocol_accuracy(wh, protocol, data, chosen)
    total = len(protocol.targets) * len(protocol.samples)
    done = iter(range(total))
    spread = engine is not None and engine.distributed
    rows = simulate_protocol(protocol, data, accuracy, chosen, settings,
                             lambda label: on_progress(f"{protocol.name} loop {label}",
                                                       next(done), total),
                             engine.map if spread else None, stored_models(wh, protocol))
    on_progress(f"{protocol.name} loop", total, total)
    return rows


def save_loop(wh: Warehouse, rows: pa.Table) -> None:
    """Store the runs, replacing earlier rows of the same protocol × draw × target × n."""
    publish(wh, LOOP_TABLE, rows)
