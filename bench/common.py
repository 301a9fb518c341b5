"""What every benchmark needs: best-of-N timing, and reading the warehouse through its API."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
import polars as pl
from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.store import Warehouse

T = TypeVar("T")


def best_time(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Best wall time (s) of `repeats` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def read(warehouse: Path, sql: str, params: list | None = None) -> pl.DataFrame:
    """A read-only query of the warehouse catalog; a missing warehouse is a one-line error."""
    try:
        return pl.from_arrow(query(Warehouse(warehouse), sql, params))
    except OneproxyError as exc:
        raise click.ClickException(str(exc)) from None
