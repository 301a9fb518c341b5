"""Parse latency-budget specs such as `5ms,10ms`, `q10,q50` or `q5:q95:50` into arrays."""

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
from oneproxy.warehouse.errors import OneproxyError

MAX_BUDGETS = 100_000
EXAMPLES = (
    "'5ms,10ms,12.5ms' (milliseconds; also s or us), 'q10,q50' (percentiles of each device's "
    "latency), 'q5:q95:50' (50 budgets evenly spaced from the 5th to the 95th percentile), "
    "'2ms:20ms:10'"
)

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_TIME = re.compile(rf"({_NUMBER})(ms|s|us)", re.IGNORECASE)
_QUANTILE = re.compile(rf"q({_NUMBER})", re.IGNORECASE)
_COUNT = re.compile(r"\d+")


class BadBudget(OneproxyError):
    """A latency-budget spec that cannot be parsed."""


def _bad(token: str, spec: str, why: str) -> BadBudget:
    return BadBudget(f"bad budget {token!r} in {spec!r}: {why}; valid examples: {EXAMPLES}")


@dataclass(frozen=True)
class Budget:
    """One budget: milliseconds, or a percentile of each device's measured latencies."""

    value: float
    kind: Literal["ms", "q"] = "ms"

    def per_device(self, latency: np.ndarray) -> np.ndarray:
        """This budget in ms for each device (row) of `latency`."""
        if self.kind == "ms":
            return np.full(latency.shape[0], self.value)
        return _percentiles(latency, self.value)


@dataclass(frozen=True)
class BudgetRange:
    """`count` budgets evenly spaced from `start` to `stop` (both included)."""

    start: Budget
    stop: Budget
    count: int


BudgetSpec = tuple[Budget | BudgetRange, ...]
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "us": 0.001}


def _percentiles(latency: np.ndarray, q: float) -> np.ndarray:
    """Per device, the q-th percentile of its measured latencies; NaN for a device with none."""
    measured = np.isfinite(latency).any(axis=1)
    out = np.full(latency.shape[0], np.nan)
    if measured.any():
        out[measured] = np.nanpercentile(latency[measured], q, axis=1)
    return out


def _endpoint(token: str, spec: str) -> Budget:
    """One budget token: milliseconds (or s / us) or a percentile."""
    if match := _TIME.fullmatch(token):
        ms = float(match.group(1)) * _UNIT_MS[match.group(2).lower()]
        if not np.isfinite(ms):
            raise _bad(token, spec, "milliseconds must be a finite number")
        return Budget(ms)
    if match := _QUANTILE.fullmatch(token):
        q = float(match.group(1))
        if q > 100:
            raise _bad(token, spec, f"percentile {q:g} is above 100")
        return Budget(q, "q")
    raise _bad(token, spec, "expected a time like '5ms', '0.5s', '800us' or a percentile like "
               "'q50'")


def _item(token: str, spec: str) -> Budget | BudgetRange:
    """One comma-separated item: a budget or a range START:STOP:COUNT."""
    parts = token.split(":")
    if len(parts) == 1:
        return _endpoint(token, spec)
    if len(parts) != 3:
        raise _bad(token, spec, "a range is START:STOP:COUNT")
    start, stop, count = parts
    if not _COUNT.fullmatch(count) or not 2 <= int(count) <= MAX_BUDGETS:
        raise _bad(token, spec, f"COUNT must be an integer from 2 to {MAX_BUDGETS}")
    return BudgetRange(_endpoint(start, spec), _endpoint(stop, spec), int(count))


def parse_budget_spec(spec: str) -> BudgetSpec:
    """The budgets a spec such as '5ms,10ms', 'q10,q50' or 'q5:q95:50' lists, in its order;
    a budget listed twice is kept once."""
    tokens = [token.strip() for token in spec.split(",")]
    if not any(tokens):
        raise BadBudget(f"empty budget spec {spec!r}; valid examples: {EXAMPLES}")
    items = []
    for token in tokens:
        if not token:
            raise _bad(token, spec, "empty item between commas")
        items.append(_item(token, spec))
    count = sum(i.count if isinstance(i, BudgetRange) else 1 for i in items)
    if count > MAX_BUDGETS:
        raise BadBudget(f"budget spec {spec!r} asks for {count} budgets, more than {MAX_BUDGETS}")
    return tuple(dict.fromkeys(items))


def resolve_budgets(budgets: BudgetSpec, latency: np.ndarray) -> np.ndarray:
    """Budgets in milliseconds, n_devices x n_budgets, in the order the spec lists them.

    latency (n_devices x n_archs, NaN where not measured) resolves percentile budgets per
    device; a device with no measured latency gets NaN percentile budgets, which nothing fits.
    """
    lat = np.asarray(latency, dtype=np.float64)
    if lat.ndim != 2:
        raise ValueError(f"latency must be n_devices x n_archs, got shape {lat.shape}")
    if not budgets:
        raise BadBudget(f"no budgets given; valid examples: {EXAMPLES}")
    columns = [
        np.linspace(b.start.per_device(lat), b.stop.per_device(lat), b.count, axis=1)
        if isinstance(b, BudgetRange) else b.per_device(lat)[:, None]
        for b in budgets
    ]
    return np.concatenate(columns, axis=1)


def parse_budgets(spec: str, latency: np.ndarray) -> np.ndarray:
    """`resolve_budgets` of `parse_budget_spec(spec)`."""
    return resolve_budgets(parse_budget_spec(spec), latency)
