"""Catalog connections: plain queries share one held connection, users' SQL gets its own locked
one, and neither changes what the other may do; a replaced catalog is reopened."""

from __future__ import annotations

import pytest
from oneproxy.warehouse import catalog
from oneproxy.warehouse.catalog import QueryRefused, query


def count(wh) -> int:
    return query(wh, "SELECT count(*) AS n FROM latency").column("n")[0].as_py()


def test_plain_and_user_queries_interleave(synth, tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    rows = count(synth)
    for _ in range(2):  # a user query locks only its own connection
        assert query(synth, "SELECT count(*) AS n FROM latency", guard=True).column(
            "n")[0].as_py() == rows
        with pytest.raises(QueryRefused):
            query(synth, f"SELECT * FROM read_csv('{outside}')", guard=True)
        assert count(synth) == rows
        assert query(synth, f"SELECT * FROM read_csv('{outside}')").num_rows == 1


def test_a_rebuilt_catalog_is_reopened(synth):
    before = count(synth)
    held = catalog._HELD[str(catalog.catalog_path(synth))][1]
    catalog.build_catalog(synth)  # a new file under the same name
    assert count(synth) == before
    assert catalog._HELD[str(catalog.catalog_path(synth))][1] is not held


def test_queries_share_one_connection_and_one_check(synth, monkeypatch):
    checks = []
    check = type(synth).check
    monkeypatch.setattr(type(synth), "check", lambda wh, *a: checks.append(1) or check(wh, *a))
    n, spaces = catalog.queries(synth, [("SELECT count(*) AS n FROM latency", None),
                                        ("SELECT space_id FROM spaces WHERE space_id = ?",
                                         ["nb201"])])
    assert len(checks) == 1
    assert n.column("n")[0].as_py() == count(synth)
    assert spaces.column("space_id").to_pylist() == ["nb201"]
    with pytest.raises(QueryRefused, match="query failed"):
        catalog.queries(synth, [("SELECT 1", None), ("SELECT * FROM no_such_table", None)])
