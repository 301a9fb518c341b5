"""AdaProxy evaluation protocols on the warehouse: load a protocol's data, run it, store it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from oneproxy.analytics.adaptation import ProxyModels
from oneproxy.analytics.evaluate import (
    BuildModels,
    Evaluation,
    ProtocolData,
    run_protocol,
    with_method,
)
from oneproxy.analytics.protocols import Protocol
from oneproxy.api.errors import NoLatency
from oneproxy.api.features import features_of
from oneproxy.api.latency import check_devices, latency_series, load_space
from oneproxy.api.progress import Progress, silent
from oneproxy.api.proxy_cache import cached_models
from oneproxy.help_order import help_columns
from oneproxy.scale.engine import Engine, seeds_per_task
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.schemas import ADAPTATION, PREDICTOR_EVAL
from oneproxy.warehouse.store import Warehouse
from oneproxy.warehouse.tables import merged

EVAL_TABLE, SUMMARY_TABLE = "predictor_eval", "adaptation"


def load_protocol_data(wh: Warehouse, protocol: Protocol) -> ProtocolData:
    """The arrays a protocol run needs; unknown devices and missing data are one-line errors."""
    dataset, series = latency_series(wh, protocol.space, protocol.dataset)
    check_devices(series, list(protocol.targets), protocol.space, "target")
    check_devices(series, list(protocol.proxies), protocol.space, "proxy")
    devices = list(dict.fromkeys([*protocol.targets, *protocol.proxies]))
    data = load_space(wh, protocol.space, dataset, devices)
    keep = data.has_row.all(axis=0) if protocol.common_archs else np.ones(data.arch_ids.size, bool)
    arch_ids = data.arch_ids[keep]
    reference = np.zeros(0, dtype=np.int64)
    if protocol.reference:
        reference = _reference_columns(wh, protocol, arch_ids)
    keys = [k for k, kept in zip(data.arch_keys, keep, strict=True) if kept]
    order = help_columns(protocol.space, keys) if protocol.split == "help" else None
    return ProtocolData(devices, data.latency[:, keep], features_of(wh, protocol.space, keys),
                        reference, order, arch_ids, dataset)


def stored_models(wh: Warehouse, protocol: Protocol) -> BuildModels:
    """`run_protocol`'s `build_models` for data from `load_protocol_data`: the proxies' fits
    read back from (or stored in) the warehouse's proxy cache, as `adapt` does."""

    def build(data: ProtocolData, rows: dict[str, np.ndarray]) -> dict[str, ProxyModels]:
        return cached_models(wh, protocol.space, data.dataset, data.features, data.arch_ids,
                             rows)

    return build


def _reference_columns(wh: Warehouse, protocol: Protocol, arch_ids: np.ndarray) -> np.ndarray:
    ids = (query(wh, sql_text("queries/adapt_reference.sql"), [protocol.space])
           .column("arch_id").to_numpy() if wh.has("reference_archs") else np.zeros(0, np.int64))
    if ids.size == 0:
        raise NoLatency(f"protocol {protocol.name} counts reference architectures, but the "
                        f"warehouse has none for space {protocol.space}: ingest `help` first")
    ids = ids[np.isin(ids, arch_ids)]
    return np.searchsorted(arch_ids, ids)


def evaluate(wh: Warehouse, protocol: Protocol, on_progress: Progress = silent,
             engine: Engine | None = None) -> Evaluation:
    """Load the protocol's data and run it: every target × n × seed adapted and scored, as
    tasks on `engine` when one is given (see `oneproxy.scale`)."""
    return run_evaluation(protocol, load_protocol_data(wh, protocol), on_progress, engine,
                          stored_models(wh, protocol))


def run_evaluation(protocol: Protocol, data: ProtocolData, on_progress: Progress = silent,
                   engine: Engine | None = None,
                   build_models: BuildModels | None = None) -> Evaluation:
    """`run_protocol` with progress, in process or as tasks of some seeds on `engine`
    (`build_models`: see `run_protocol`)."""
    groups = len(protocol.targets) * len(protocol.samples)
    spread = engine is not None and engine.distributed
    per_task = seeds_per_task(groups, protocol.seeds, engine.workers) if spread else None
    total = groups if per_task is None else groups * -(-protocol.seeds // per_task)
    done = iter(range(total))
    result = run_protocol(protocol, data,
                          lambda label: on_progress(f"{protocol.name} {label}", next(done), total),
                          engine.map if spread else None, per_task, build_models)
    on_progress(protocol.name, total, total)
    return result


def evaluation_tables(wh: Warehouse, result: Evaluation) -> dict[str, pa.Table]:
    """The per-seed and summary tables with earlier rows of the same groups replaced."""
    return {name: merged(name, with_method(wh.read_or_none(name), schema), new)
            for name, schema, new in ((EVAL_TABLE, PREDICTOR_EVAL, result.long),
                                      (SUMMARY_TABLE, ADAPTATION, result.summary))}


def save_evaluation(wh: Warehouse, result: Evaluation) -> None:
    """Store per-seed and summary rows, replacing earlier rows of the same groups."""
    wh.commit(evaluation_tables(wh, result))
