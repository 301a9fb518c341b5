"""Unit tests of series merging on small tables the tests build."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest
from oneproxy.ingest.errors import InconsistentCopies
from oneproxy.ingest.merge import merge_series
from oneproxy.warehouse.schemas import LATENCY_RAW


def raw(rows: list[tuple[str, str, str, int, float | None]]) -> pa.Table:
    """Rows of (device, source, file, arch, latency); None is a failed measurement."""
    return pa.Table.from_pylist([
        {"space_id": "nb201", "dataset": "cifar10", "device_id": d, "arch_id": a,
         "latency_ms": v, "status": "ok" if v is not None else "failed", "source_id": s, "file": f}
        for d, s, f, a, v in rows
    ], schema=LATENCY_RAW)


def test_copy_covering_fewer_architectures_is_verified_and_adds_its_extras():
    table = raw([
        ("dev", "big", "a.pt", 0, 1.0), ("dev", "big", "a.pt", 1, 2.0),
        ("dev", "big", "a.pt", 2, None),
        ("dev", "small", "b.pkl", 1, 2.0), ("dev", "small", "b.pkl", 2, None),
        ("dev", "small", "b.pkl", 7, 9.5),
        ("other", "small", "c.pkl", 0, 4.0),
    ])
    latency, provenance = merge_series(table)
    rows = sorted((r["device_id"], r["arch_id"], r["latency_ms"], r["source_id"])
                  for r in latency.to_pylist())
    assert rows == [("dev", 0, 1.0, "big"), ("dev", 1, 2.0, "big"), ("dev", 2, None, "big"),
                    ("dev", 7, 9.5, "small"), ("other", 0, 4.0, "small")]
    roles = {(r["device_id"], r["file"]): (r["role"], r["rows"], r["rows_shared"])
             for r in provenance.to_pylist()}
    assert roles == {("dev", "a.pt"): ("stored", 3, 3), ("dev", "b.pkl"): ("verified copy", 3, 2),
                     ("other", "c.pkl"): ("stored", 1, 1)}


def test_copies_that_disagree_are_an_error_naming_both_files():
    table = raw([("dev", "big", "a.pt", 0, 1.0), ("dev", "big", "a.pt", 1, 2.0),
                 ("dev", "small", "b.pkl", 1, 2.5)])
    with pytest.raises(InconsistentCopies, match=r"'dev'.*b\.pkl \(small\) disagrees with a\.pt"):
        merge_series(table)


def test_failed_in_one_copy_and_measured_in_the_other_is_an_error():
    table = raw([("dev", "big", "a.pt", 0, 1.0), ("dev", "big", "a.pt", 1, None),
                 ("dev", "small", "b.pkl", 1, 3.0)])
    with pytest.raises(InconsistentCopies, match="1 architectures"):
        merge_series(table)


def test_two_copies_that_disagree_on_an_architecture_the_stored_file_lacks():
    table = raw([("dev", "big", "a.pt", 0, 1.0), ("dev", "big", "a.pt", 1, 1.0),
                 ("dev", "big", "a.pt", 2, 1.0),
                 ("dev", "s1", "b.pkl", 5, 3.0), ("dev", "s2", "c.pkl", 5, 3.5)])
    with pytest.raises(InconsistentCopies, match="arch 5"):
        merge_series(table)


def test_agreement_allows_float_rounding_only():
    value = 6.134995222091675
    table = raw([("dev", "big", "a.pt", 0, value), ("dev", "big", "a.pt", 1, 1.0),
                 ("dev", "small", "b.pkl", 0, value * (1 + 1e-12))])
    latency, provenance = merge_series(table)
    assert latency.num_rows == 2
    copy = [r for r in provenance.to_pylist() if r["role"] == "verified copy"][0]
    assert 0 < copy["max_rel_diff"] < 1e-11
    assert not math.isnan(copy["max_rel_diff"])
