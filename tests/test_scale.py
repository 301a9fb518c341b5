"""Jobs on a Dask cluster give the tables they give in process (oneproxy.scale)."""

from __future__ import annotations

import builtins
import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.analytics import spearman_exact
from oneproxy.analytics.evaluate import TooManySamples
from oneproxy.analytics.protocols import protocol_from_dict
from oneproxy.analytics.srcc import resolved_ragged, srcc_matrix

import oneproxy as op
from oneproxy.api.evaluate import EVAL_TABLE
from oneproxy.cli import main as CLI
from oneproxy.scale import DASK_MISSING, InProcess, engine_from
from oneproxy.scale.engine import seeds_per_task
from oneproxy.scale.srcc import block_count, blocked_srcc

distributed = pytest.importorskip("distributed")

SCORES = ["after_srcc", "before_srcc", "kendall", "rmse_ms", "mape_pct", "within10"]


@pytest.fixture(scope="module")
def cluster():
    """Two in-process (thread) workers: fast to start, the same scheduling as processes."""
    with engine_from(workers=2, processes=False) as engine:
        yield engine


def _protocol(seeds: int = 3):
    return protocol_from_dict({"space": "nb201", "proxies": ["phone_a", "cpu_a"],
                               "targets": ["phone_b", "gpu_a", "phone_c"], "samples": [10, 20],
                               "seeds": seeds}, default_name="synthetic", where="test")


def _rows(table) -> pl.DataFrame:
    return pl.from_arrow(table).drop("computed_at")


def _latency(n_devices: int, n_archs: int, seed: int = 0) -> pl.DataFrame:
    """Long latency rows with three coverage patterns, rounded so that ties are common."""
    rng = np.random.default_rng(seed)
    base = rng.lognormal(0, 0.5, n_archs)
    frames = []
    for d in range(n_devices):
        lat = np.round(base * rng.uniform(0.5, 2) + rng.normal(0, 0.05, n_archs), 1)
        keep = n_archs if d % 3 == 0 else n_archs // 2 if d % 3 == 1 else 40
        frames.append(pl.DataFrame({"device_id": f"dev{d:03d}", "arch_id": np.arange(keep),
                                    "latency_ms": lat[:keep]}))
    return pl.concat(frames)


def test_the_in_process_engine_maps_in_order_with_shared_arguments():
    seen = []
    out = InProcess().map(lambda x, k: x * k, [1, 2, 3], {"k": 10}, seen.append)
    assert out == [10, 20, 30] and seen == [0, 1, 2]


def test_the_dask_engine_maps_in_order_and_scatters(cluster):
    handles = cluster.scatter([np.arange(3), np.arange(4)])
    assert cluster.map(_total, [(h, i) for i, h in enumerate(handles)], {"k": 2}) == [6, 13]
    assert cluster.workers == 2 and cluster.distributed


def _total(item, k):
    values, i = item
    return int(values.sum()) * k + i


def test_seeds_are_split_so_that_every_worker_has_tasks():
    assert seeds_per_task(groups=20, seeds=10, workers=2) == 10  # groups alone are enough
    assert seeds_per_task(groups=1, seeds=10, workers=2) == 2  # 5 tasks of 2 seeds
    assert seeds_per_task(groups=2, seeds=3, workers=4) == 1


def test_evaluation_rows_on_a_cluster_equal_the_rows_in_process(synth, cluster):
    protocol = _protocol()
    local = op.evaluate(synth, protocol)
    steps = []
    spread = op.evaluate(synth, protocol, lambda label, done, total: steps.append(total),
                         engine=cluster)
    assert _rows(spread.long).equals(_rows(local.long))
    assert _rows(spread.summary).equals(_rows(local.summary))
    assert pl.from_arrow(spread.overall).equals(pl.from_arrow(local.overall))
    assert steps[-1] == 12  # 3 targets × 2 n, split in two for 4 tasks per worker
    ours = pl.from_arrow(local.long).filter(pl.col("method") == "adaproxy")
    assert ours["proxy"].n_unique() == 2  # the proxy is chosen per seed


def test_evaluation_split_into_single_seed_tasks_gives_the_same_rows(synth, cluster):
    protocol = protocol_from_dict({"space": "nb201", "proxies": ["phone_a"],
                                   "targets": ["phone_b"], "samples": [20], "seeds": 5,
                                   "proxy_mode": "fixed"}, default_name="one", where="test")
    local = op.evaluate(synth, protocol)
    spread = op.evaluate(synth, protocol, engine=cluster)  # 1 group → 5 tasks of one seed
    assert _rows(spread.long).equals(_rows(local.long))
    ours = _rows(local.long).filter(pl.col("method") == "adaproxy")
    assert ours["seed"].to_list() == [0, 1, 2, 3, 4]


def test_blocked_srcc_equals_one_run_with_partial_coverage_and_ties(cluster):
    rows = _latency(23, 300)
    whole = srcc_matrix(rows, min_common=50)
    for blocks in (2, 3, 5):
        pairs = blocked_srcc(rows, cluster, blocks=blocks, min_common=50)
        assert pairs.select("device_a", "device_b", "n_common", "reason").equals(
            whole.select("device_a", "device_b", "n_common", "reason"))
        diff = np.abs(pairs["value"].fill_null(0).to_numpy() - whole["value"].fill_null(0)
                      .to_numpy())
        assert diff.max() <= 1e-12
    assert whole["reason"].drop_nulls().str.contains("only 40 shared").all()
    assert whole.height == 23 * 22 // 2


def test_blocked_srcc_decides_ragged_auto_on_the_whole_fleet(cluster, monkeypatch):
    rng = np.random.default_rng(5)
    base = rng.lognormal(0, 0.5, 400)
    rows = pl.concat([  # 12 devices, each missing its own random 10 %: every pair is ragged
        pl.DataFrame({"device_id": f"dev{d:02d}", "arch_id": np.arange(400),
                      "latency_ms": np.where(rng.random(400) < 0.1, np.nan,
                                             np.round(base * rng.uniform(0.5, 2), 2))})
        for d in range(12)])
    # the fleet's 66 ragged pairs x 400 columns exceed the limit; a block pair's 28 or fewer not
    monkeypatch.setattr(spearman_exact, "EXACT_RAGGED_ELEMENTS", 20_000)
    assert resolved_ragged(rows, "auto") == "approx"
    assert resolved_ragged(rows.filter(pl.col("device_id") < "dev08"), "auto") == "exact"
    whole = srcc_matrix(rows)
    exact = srcc_matrix(rows, ragged="exact")
    assert np.abs(whole["value"].to_numpy() - exact["value"].to_numpy()).max() > 1e-6
    spread = blocked_srcc(rows, cluster, blocks=3)
    np.testing.assert_allclose(spread["value"].to_numpy(), whole["value"].to_numpy(),
                               rtol=0, atol=1e-12)


def test_blocked_kendall_and_bootstrap_equal_one_run(cluster):
    rows = _latency(7, 80, seed=1)
    kendall = srcc_matrix(rows, method="kendall")
    assert blocked_srcc(rows, cluster, blocks=3, method="kendall").equals(kendall)
    ci = srcc_matrix(rows, ci=0.9, n_bootstrap=20, seed=4)  # one seeded stream: one task
    assert blocked_srcc(rows, cluster, ci=0.9, n_bootstrap=20, seed=4).equals(ci)


def test_block_count_grows_with_the_workers():
    assert block_count(1000, 1) == 1
    assert block_count(1000, 2) == 4  # 6 block pairs for 2 workers
    assert block_count(3, 8) == 1


def test_srcc_of_the_warehouse_on_a_cluster_is_stored_as_in_process(synth, cluster):
    local = op.srcc(synth, "nb201")
    spread = op.srcc(synth, "nb201", engine=cluster)
    assert spread.pairs.equals(local.pairs)
    assert spread.input_fingerprint == local.input_fingerprint


def test_a_task_that_fails_raises_its_own_error_and_nothing_is_stored(synth, cluster, snapshot):
    protocol = protocol_from_dict({"space": "nb201", "proxies": ["phone_a"],
                                   "targets": ["phone_c"], "samples": [1000], "seeds": 2,
                                   "proxy_mode": "fixed"}, default_name="big", where="test")
    with pytest.raises(TooManySamples, match="has only 1000 architectures"):
        op.evaluate(synth, protocol)
    before = snapshot(synth.root)
    with pytest.raises(TooManySamples, match="has only 1000 architectures"):
        op.evaluate(synth, protocol, engine=cluster)
    assert snapshot(synth.root) == before


def test_cli_evaluate_with_two_worker_processes_gives_the_rows_of_a_run_without(synth):
    args = ["evaluate", "--protocol", str(_protocol_file(synth)), "--format", "json", "--save",
            "--warehouse", str(synth.root)]
    local = CliRunner().invoke(CLI, args)
    assert local.exit_code == 0, local.output
    stored = _rows(synth.read(EVAL_TABLE))
    spread = CliRunner().invoke(CLI, [*args, "--workers", "2"])
    assert spread.exit_code == 0, spread.output
    assert _json_rows(spread.stdout) == _json_rows(local.stdout)
    assert _rows(synth.read(EVAL_TABLE)).equals(stored)


def _protocol_file(wh):
    path = wh.root.parent / "synthetic-protocol.json"
    path.write_text(json.dumps({"name": "synthetic", "space": "nb201",
                                "proxies": ["phone_a", "cpu_a"], "targets": ["phone_b"],
                                "samples": [10], "seeds": 4}))
    return path


def _json_rows(text: str) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "computed_at"} for row in json.loads(text)]


def test_cli_scheduler_that_cannot_be_reached_is_one_line(synth, snapshot):
    before = snapshot(synth.root)
    result = CliRunner().invoke(CLI, ["srcc", "--scheduler", "tcp://127.0.0.1:9",
                                      "--warehouse", str(synth.root)])
    assert result.exit_code == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output
    assert "Traceback" not in result.output
    assert snapshot(synth.root) == before


def test_cli_workers_without_dask_names_the_extra(synth, monkeypatch):
    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    result = CliRunner().invoke(CLI, ["srcc", "--workers", "2", "--warehouse", str(synth.root)])
    assert result.exit_code == 1
    assert result.output.strip().endswith(DASK_MISSING)
    assert "pip install 'oneproxy[dask]'" in result.output


def test_picks_over_architecture_partitions_equal_one_search(cluster, monkeypatch):
    from oneproxy.search.exhaustive import best_under_budget

    from oneproxy.scale import search as scaled

    rng = np.random.default_rng(2)
    lat = np.round(rng.lognormal(0, 0.4, (3, 5_000)), 2)  # rounded: ties in latency
    lat[1, ::7] = np.nan  # partial coverage
    acc = np.round(rng.uniform(60, 90, 5_000), 0)  # ties in accuracy
    budgets = np.array([0.5, 0.9, 1.0, 1.5, 3.0, 0.01])
    monkeypatch.setattr(scaled, "MIN_PARTITION", 500)
    whole = best_under_budget(lat, acc, budgets)
    parts = scaled.partitioned_best(cluster)(lat, acc, budgets)
    assert len(scaled.partitions(5_000, cluster.workers)) == 4
    for field in ("arch_index", "accuracy", "latency", "n_searched"):
        np.testing.assert_array_equal(getattr(parts, field), getattr(whole, field))
    assert (whole.arch_index[:, -1] == -1).all()  # nothing fits 0.01 ms


def test_search_on_a_cluster_stores_the_picks_of_a_search_in_process(synth, cluster,
                                                                   monkeypatch):
    from oneproxy.scale import search as scaled

    monkeypatch.setattr(scaled, "MIN_PARTITION", 2_000)
    for proxy, samples in ((None, None), ("phone_a", None), ("phone_a", 20)):
        local = op.search_archs(synth, "nb201", "cifar100", "q10,q50,q90", proxy=proxy,
                          samples=samples)
        spread = op.search_archs(synth, "nb201", "cifar100", "q10,q50,q90", proxy=proxy,
                           samples=samples, engine=cluster)
        assert spread.table.equals(local.table)
        assert spread.table.num_rows == 3 * len(local.data.targets) >= 12


@pytest.mark.integration
def test_help_nb201_on_two_workers_gives_the_rows_of_a_run_without(warehouse):
    args = ["evaluate", "--protocol", "help-nb201", "--samples", "10", "--seeds", "4",
            "--format", "json", "--no-save", "--warehouse", str(warehouse.root)]
    local = CliRunner().invoke(CLI, args)
    spread = CliRunner().invoke(CLI, [*args, "--workers", "2"])
    assert local.exit_code == 0 and spread.exit_code == 0, local.output + spread.output
    rows = _json_rows(local.stdout)
    ours = [r for r in rows if r["method"] == "adaproxy"]
    assert len(ours) == 6 and len(rows) == 30 and all(r["seeds"] == 4 for r in rows)
    assert _json_rows(spread.stdout) == rows


def _die_once(marker: str) -> int:
    """Kill the worker process the first time, succeed when the scheduler re-runs it."""
    import os
    from pathlib import Path

    if not Path(marker).exists():
        Path(marker).touch()
        os._exit(1)
    return os.getpid()


def _die_always(_: int) -> int:
    import os

    os._exit(1)


def test_a_dead_worker_reruns_its_task_or_fails_the_job_in_one_line(tmp_path):
    import dask

    from oneproxy.scale import ScaleUnavailable

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            engine_from(workers=2) as engine:  # processes: a worker really dies
        assert len(engine.map(_die_once, [str(tmp_path / "died")])) == 1
        with pytest.raises(ScaleUnavailable, match="died too often.*nothing was stored"):
            engine.map(_die_always, [0])


def _worker_process_settings() -> tuple[list[int], int]:
    """This worker's BLAS thread counts and the minor faults of building and dropping two 1 MiB
    arrays 200 times (after a warm-up)."""
    import resource

    from threadpoolctl import threadpool_info

    def churn(rounds: int) -> None:
        for _ in range(rounds):
            a = np.ones((256, 1024))
            b = a * 2
            del a, b

    churn(5)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    churn(200)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    return sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}), faults


@pytest.mark.parametrize("malloc", ["keep", "system"])
def test_local_worker_processes_get_the_parent_process_settings(malloc, monkeypatch):
    """Worker processes of a local cluster run with the parent's BLAS threads and allocator
    setting: kept freed memory stops the page faults of repeated temporaries."""
    monkeypatch.setenv("ONEPROXY_THREADS", "1")
    monkeypatch.setenv("ONEPROXY_MALLOC", malloc)
    with engine_from(workers=1) as engine:
        [(threads, faults)] = engine.client.run(_worker_process_settings).values()
    assert threads == [1]
    if malloc == "keep":
        assert faults < 100
    else:
        assert faults > 200 * 256
