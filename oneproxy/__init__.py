"""oneproxy: latency monotonicity, AdaProxy adaptation and hardware-aware search over a warehouse
of neural-network latency measurements.

The public Python API (each name is imported on first use, so `import oneproxy` stays light)::

    import oneproxy as op
    wh = op.open_warehouse("oneproxy-warehouse")
    op.ingest_sources(wh)                           # every pinned public source
    pairs = op.srcc(wh, "nb201", devices=["pixel3", "raspi4", "fpga"]).pairs
    run = op.adapt(wh, "nb201", "raspi4", proxy="pixel3", samples=20)
    found = op.search_archs(wh, "nb201", "cifar100", op.budgets("5ms,10ms"), devices=["raspi4"])
    picks = op.search_predicted(wh, "nb201", "cifar10", ["edgetpu"], "5ms,10ms")  # partial device
    todo = op.propose_measurements(wh, "nb201", "edgetpu", "5ms,10ms")  # what to measure next

(`oneproxy.ingest` and `oneproxy.search` are the project's rooms, packages of their own, hence
`ingest_sources` and `search_archs`.)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "open_warehouse": "oneproxy.api.warehouse",
    "Warehouse": "oneproxy.warehouse.store",
    "OneproxyError": "oneproxy.warehouse.errors",
    "ingest_table": "oneproxy.api.ingest",
    "ingest_hwnasbench": "oneproxy.api.ingest",
    "srcc": "oneproxy.api.srcc",
    "save_srcc": "oneproxy.api.srcc",
    "adapt": "oneproxy.api.adapt",
    "save_predictions": "oneproxy.api.adapt",
    "predict": "oneproxy.api.adapt",
    "predict_model": "oneproxy.api.adapt",
    "save_results": "oneproxy.api.search",
    "partial_devices": "oneproxy.api.search",
    "search_predicted": "oneproxy.api.search",
    "propose_measurements": "oneproxy.api.propose",
    "plan_measurements": "oneproxy.api.plan",
    "simulate_loop": "oneproxy.api.loop",
    "save_loop": "oneproxy.api.loop",
    "LoopSettings": "oneproxy.search.loop_eval",
    "evaluate": "oneproxy.api.evaluate",
    "save_evaluation": "oneproxy.api.evaluate",
    "train": "oneproxy.api.train",
    "lut_eval": "oneproxy.api.lut",
    "write_report": "oneproxy.api.report",
    "get_protocol": "oneproxy.analytics.protocols",
    "with_overrides": "oneproxy.analytics.protocols",
    "engine_from": "oneproxy.scale",  # with op.engine_from(workers=2) as e: op.srcc(..., engine=e)
    "Budget": "oneproxy.search.budgets",
    "BudgetRange": "oneproxy.search.budgets",
}
_RENAMED = {
    "budgets": ("oneproxy.search.budgets", "parse_budget_spec"),
    "ingest_sources": ("oneproxy.api.ingest", "ingest"),
    "search_archs": ("oneproxy.api.search", "search"),
}

__all__ = sorted([*_EXPORTS, *_RENAMED])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _RENAMED:
        module, attr = _RENAMED[name]
        value = getattr(importlib.import_module(module), attr)
    else:
        raise AttributeError(f"module 'oneproxy' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
