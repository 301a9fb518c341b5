"""Stored proxy fits: read back exactly, and ignored when stale, damaged, mis-shaped or pickled."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest

from oneproxy.api import proxy_cache

IDS = np.arange(5, dtype=np.int64)
KERNEL = np.array([1.5, 2.25, 3.0, 4.125, 5.0])
COEFS = {"counts": np.array([0.5, -1.0, 2.0])}


@pytest.fixture
def slot(tmp_path):
    proxy_cache._write(tmp_path, "key", KERNEL, COEFS)
    return tmp_path


def _store_base(slot, array: np.ndarray) -> None:
    """Replace base.npy by `array` and name its sha256 in meta.json (a consistent edit)."""
    sink = io.BytesIO()
    np.save(sink, array, allow_pickle=True)
    (slot / proxy_cache.BASE).write_bytes(sink.getvalue())
    meta = json.loads((slot / "meta.json").read_text())
    meta["sha256"] = hashlib.sha256(sink.getvalue()).hexdigest()
    (slot / "meta.json").write_text(json.dumps(meta))


def test_fits_are_read_back_exactly(slot):
    kernel, coefs = proxy_cache._read(slot, "key", IDS)
    np.testing.assert_array_equal(kernel, KERNEL)
    assert kernel.dtype == np.float64 and list(coefs) == ["counts"]
    np.testing.assert_array_equal(coefs["counts"], COEFS["counts"])
    assert not (slot / "base.parquet").exists()


def test_another_key_or_format_is_stale(slot):
    assert proxy_cache._read(slot, "other key", IDS) is None
    meta = json.loads((slot / "meta.json").read_text())
    (slot / "meta.json").write_text(json.dumps({**meta, "format": 1}))
    assert proxy_cache._read(slot, "key", IDS) is None


def test_a_damaged_base_is_ignored(slot):
    base = slot / proxy_cache.BASE
    base.write_bytes(base.read_bytes()[:-8])
    assert proxy_cache._read(slot, "key", IDS) is None


@pytest.mark.parametrize("array", [np.arange(4, dtype=np.float64),  # not one per architecture
                                   np.arange(5, dtype=np.int64),  # not latencies
                                   np.array([{"a": 1}] * 5, dtype=object)])  # a pickle
def test_a_consistent_but_wrong_base_is_ignored(slot, array):
    _store_base(slot, array)
    assert proxy_cache._read(slot, "key", IDS) is None
