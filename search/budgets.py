"""Parse latency-budget specs such as `5ms,10ms`, `q10,q50` or `q5:q95:50` into arrays."""

import re

import numpy as np
from oneproxy.warehouse.errors import OneproxyError

MAX_BUDGETS = 100_000
EXAMPLES = (
    "'5ms,10ms,12.5ms' (milliseconds), 'q10,q50' (percentiles of each device's latency), "
    "'q5:q95:50' (50 budgets evenly spaced from the 5th to the 95th percentile), '2ms:20ms:10'"
)

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_MS = re.compile(rf"({_NUMBER})ms", re.IGNORECASE)
_QUANTILE = re.compile(rf"q({_NUMBER})", re.IGNORECASE)
_COUNT = re.compile(r"\d+")


class BadBudget(OneproxyError):
    """A latency-budget spec that cannot be parsed."""


def _bad(token: str, spec: str, why: str) -> BadBudget:
    return BadBudget(f"bad budget {token!r} in {spec!r}: {why}; valid examples: {EXAMPLES}")


def _percentiles(latency: np.ndarray, q: float) -> np.ndarray:
    """Per device, the q-th percentile of its measured latencies; NaN for a device with none."""
    measured = np.isfinite(latency).any(axis=1)
    out = np.full(latency.shape[0], np.nan)
    if measured.any():
        out[measured] = np.nanpercentile(latency[measured], q, axis=1)
    return out


def _endpoint(token: str, spec: str, latency: np.ndarray) -> np.ndarray:
    """One budget per device for a single token: milliseconds or a percentile."""
    if match := _MS.fullmatch(token):
        ms = float(match.group(1))
        if not np.isfinite(ms):
            raise _bad(token, spec, "milliseconds must be a finite number")
        return np.full(latency.shape[0], ms)
    if match := _QUANTILE.fullmatch(token):
        q = float(match.group(1))
        if q > 100:
            raise _bad(token, spec, f"percentile {q:g} is above 100")
        return _percentiles(latency, q)
    raise _bad(token, spec, "expected milliseconds like '5ms' or a percentile like 'q50'")


def _columns(token: str, spec: str, latency: np.ndarray) -> np.ndarray:
    """The n_devices x k budgets of one comma-separated token (k > 1 for a range)."""
    parts = token.split(":")
    if len(parts) == 1:
        return _endpoint(token, spec, latency)[:, None]
    if len(parts) != 3:
        raise _bad(token, spec, "a range is START:STOP:COUNT")
    start, stop, count = parts
    if not _COUNT.fullmatch(count) or not 2 <= int(count) <= MAX_BUDGETS:
        raise _bad(token, spec, f"COUNT must be an integer from 2 to {MAX_BUDGETS}")
    return np.linspace(
        _endpoint(start, spec, latency), _endpoint(stop, spec, latency), int(count), axis=1
    )


def parse_budgets(spec: str, latency: np.ndarray) -> np.ndarray:
    """Budgets in milliseconds, n_devices x n_budgets, in the order the spec lists them.

    latency (n_devices x n_archs, NaN where not measured) resolves percentile tokens per device;
    a device with no measured latency gets NaN percentile budgets, which nothing fits.
    """
    lat = np.asarray(latency, dtype=np.float64)
    if lat.ndim != 2:
        raise ValueError(f"latency must be n_devices x n_archs, got shape {lat.shape}")
    tokens = [token.strip() for token in spec.split(",")]
    if not any(tokens):
        raise BadBudget(f"empty budget spec {spec!r}; valid examples: {EXAMPLES}")
    columns = []
    for token in tokens:
        if not token:
            raise _bad(token, spec, "empty item between commas")
        columns.append(_columns(token, spec, lat))
    budgets = np.concatenate(columns, axis=1)
    if budgets.shape[1] > MAX_BUDGETS:
        raise BadBudget(
            f"budget spec {spec!r} asks for {budgets.shape[1]} budgets, more than {MAX_BUDGETS}"
        )
    return budgets
