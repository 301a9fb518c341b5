"""The verify loop through the CLI on the real warehouse: plan → ingest → propose → --append."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.warehouse.catalog import query

from oneproxy.api.adapt import adapt
from oneproxy.api.propose import adapt_device, device_state, search_picks
from oneproxy.cli import main

pytestmark = pytest.mark.integration


def invoke(wh, *args: str):
    return CliRunner().invoke(main, [*args, "--warehouse", str(wh.root)])


def pixel3_csv(wh, ids: list[int], path, scale: float = 1.5) -> None:
    rows = query(wh, "SELECT arch_id, latency_ms * ? AS latency_ms FROM latency WHERE "
                 "space_id = 'nb201' AND dataset = 'cifar10' AND device_id = 'pixel3' AND "
                 "arch_id IN (SELECT unnest(?)) ORDER BY arch_id", [scale, ids])
    pl.from_arrow(rows).write_csv(path)


def my_phone(wh) -> dict[int, float]:
    rows = query(wh, "SELECT arch_id, latency_ms, dataset FROM latency "
                 "WHERE device_id = 'my_phone'").to_pylist()
    assert {r["dataset"] for r in rows} <= {"cifar100"}
    return {r["arch_id"]: r["latency_ms"] for r in rows}


def test_plan_propose_append(warehouse, tmp_path, snapshot):
    result = invoke(warehouse, "plan", "--space", "nb201", "--n", "20", "-o",
                    str(tmp_path / "plan.csv"))
    assert result.exit_code == 0, result.output
    planned = pl.read_csv(tmp_path / "plan.csv")
    assert planned.columns == ["arch_id", "arch_key"] and planned.height == 20
    assert planned["arch_id"].n_unique() == 20
    ids = planned["arch_id"].to_list()
    pixel3_csv(warehouse, ids, tmp_path / "measured.csv")
    result = invoke(warehouse, "ingest", "table", str(tmp_path / "measured.csv"), "--space",
                    "nb201", "--device", "my_phone", "--dataset", "cifar100",
                    "--platform", "mobile_cpu")
    assert result.exit_code == 0, result.output
    assert sorted(my_phone(warehouse)) == sorted(ids)

    # imported on cifar100 only: adapt, predict and search find it without --dataset
    result = invoke(warehouse, "adapt", "--space", "nb201", "--device", "my_phone", "--proxy",
                    "auto", "--from-measured", "--no-save", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["n_samples"] == 20
    named = invoke(warehouse, "adapt", "--space", "nb201", "--device", "my_phone", "--proxy",
                   "auto", "--from-measured", "--no-save", "--format", "json", "--dataset",
                   "cifar100")
    assert json.loads(named.stdout) == json.loads(result.stdout)
    wrong = invoke(warehouse, "adapt", "--space", "nb201", "--device", "my_phone",
                   "--from-measured", "--dataset", "cifar10")
    assert wrong.exit_code == 1 and "Traceback" not in wrong.output
    assert "device 'my_phone' has no latency for dataset 'cifar10' in nb201: it has cifar100" \
        in wrong.output
    result = invoke(warehouse, "predict", "--space", "nb201", "--device", "my_phone", "--archs",
                    str(ids[0]), "--format", "json")
    assert result.exit_code == 0, result.output
    (shown,) = json.loads(result.stdout)
    assert shown["source"] == "measured"
    assert shown["measured_ms"] == pytest.approx(my_phone(warehouse)[ids[0]])
    result = invoke(warehouse, "search", "--space", "nb201", "--devices", "my_phone", "--budget",
                    "q50", "--confidence", "0.9", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["device_id"] == "my_phone"

    result = invoke(warehouse, "propose", "--space", "nb201", "--device", "my_phone",
                    "--budget", "q25,q50", "--per-budget", "2", "-o", str(tmp_path / "next.csv"))
    assert result.exit_code == 0, result.output
    proposed = pl.read_csv(tmp_path / "next.csv")
    assert proposed.columns == ["arch_id", "arch_key", "reason"]
    assert 1 <= proposed.height <= 6 and not set(proposed["arch_id"]) & set(ids)
    assert all(r.startswith(("leading candidate for", "uncertainty deciding"))
               for r in proposed["reason"])

    new_ids = proposed["arch_id"].to_list()
    pixel3_csv(warehouse, new_ids, tmp_path / "next_measured.csv")
    append = ("ingest", "table", str(tmp_path / "next_measured.csv"), "--space", "nb201",
              "--device", "my_phone", "--dataset", "cifar100", "--append")
    result = invoke(warehouse, *append)
    assert result.exit_code == 0, result.output
    rows = my_phone(warehouse)
    assert sorted(rows) == sorted({*ids, *new_ids})
    device = query(warehouse, "SELECT platform_class FROM devices "
                   "WHERE device_id = 'my_phone'").to_pylist()
    assert device == [{"platform_class": "mobile_cpu"}]  # kept from the first import

    result = invoke(warehouse, *append)  # the same values again: nothing changes
    assert result.exit_code == 0, result.output
    assert my_phone(warehouse) == rows

    # at 1000 ms every measured architecture fits: the most accurate of them is the verified
    # pick, and no candidate is expected to beat it by 100 pp, so nothing is worth measuring
    settle = ("propose", "--space", "nb201", "--device", "my_phone", "--budget", "1000ms",
              "--format", "json")
    result = invoke(warehouse, *settle, "--min-gain", "100")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "nothing left worth measuring on my_phone" in result.stderr
    result = invoke(warehouse, *settle, "--min-gain", "0")
    assert result.exit_code == 0 and len(json.loads(result.stdout)) >= 1
    assert "nothing left" not in result.stderr

    clash = pl.DataFrame({"arch_id": [ids[0], 3], "latency_ms": [rows[ids[0]] * 2, 1.0]})
    clash.write_csv(tmp_path / "clash.csv")
    before = snapshot(warehouse.root)
    result = invoke(warehouse, "ingest", "table", str(tmp_path / "clash.csv"), "--space",
                    "nb201", "--device", "my_phone", "--dataset", "cifar100", "--append")
    assert result.exit_code == 1
    assert f"line 2: architecture {ids[0]} is already measured at" in result.output
    assert "Traceback" not in result.output
    assert snapshot(warehouse.root) == before

    state = device_state(warehouse, "nb201", "my_phone")
    assert (state.dataset, state.accuracy_dataset) == ("cifar100", "cifar100")
    _, adapted = adapt_device(state)
    assert (adapted.predicted > 0).all() and (adapted.upper >= adapted.predicted).all()
    budgets = np.nanpercentile(adapted.predicted, [25, 50])
    picks = pl.from_arrow(search_picks(state, adapted, budgets))
    assert set(picks["status"]) <= {"verified", "likely", "none"}
    for row in picks.iter_rows(named=True):
        if row["status"] == "verified":
            assert row["measured_ms"] <= row["budget_ms"] and row["p_fit"] == 1.0
        if row["status"] == "likely":
            assert row["measured_ms"] is None and row["upper_ms"] <= row["budget_ms"]

    # `adapt --proxy auto --from-measured` screens and chooses the proxies as search and
    # propose do: the device's predictions are the same whichever command made them
    name, _ = adapt_device(state, wh=warehouse)
    run = adapt(warehouse, "nb201", "my_phone")
    assert run.summary.column("proxy").to_pylist() == [name]
    np.testing.assert_allclose(run.adapted.predicted, adapted.predicted, rtol=1e-12)


def test_bad_plan_and_propose_input(warehouse, snapshot):
    query(warehouse, "SELECT 1")  # the copied warehouse's catalog is rebuilt on first use
    before = snapshot(warehouse.root)
    result = invoke(warehouse, "plan", "--space", "nb201", "--n", "0")
    assert result.exit_code == 1 and "--n must be from 1 to the 15625" in result.output
    result = invoke(warehouse, "propose", "--space", "nb201", "--device", "nobody",
                    "--budget", "q50")
    assert result.exit_code == 1 and "device 'nobody' has no latency" in result.output
    assert "Traceback" not in result.output
    result = invoke(warehouse, "propose", "--space", "nb201", "--device", "pixel3",
                    "--budget", "q50", "--min-gain", "-1")
    assert result.exit_code == 2 and "Invalid value for '--min-gain'" in result.output
    assert "Traceback" not in result.output
    assert snapshot(warehouse.root) == before
