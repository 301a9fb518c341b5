"""The API and the CLI on the synthetic warehouse: values, stored rows and bad input, no mirror."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.analytics.baselines import PRESCREEN
from oneproxy.analytics.protocols import InvalidProtocol, protocol_from_dict
from oneproxy.warehouse.errors import UnknownDevice
from oneproxy.warehouse.tables import merged
from synthetic import DEVICES, PARTIAL, PARTIAL_ARCHS

import oneproxy as op
from oneproxy import stages
from oneproxy.cli import main as CLI
from oneproxy.stages import _code_of


def cli(wh, *args: str):
    return CliRunner().invoke(CLI, [*args, "--warehouse", str(wh.root)])


def test_srcc_of_every_pair_and_what_storing_replaces(synth):
    whole = op.srcc(synth, "nb201")
    n = len(DEVICES) + len(PARTIAL)
    assert whole.whole_space and whole.dataset == "cifar10"
    assert whole.pairs.height == n * (n - 1) // 2
    partial = whole.pairs.filter(pl.col("device_a").is_in(PARTIAL)
                                 | pl.col("device_b").is_in(PARTIAL))
    assert set(partial["n_common"]) == {PARTIAL_ARCHS}
    assert whole.pairs["value"].is_between(0, 1).all()

    op.save_srcc(synth, whole, "2026-01-01T00:00:00+00:00")
    two = op.srcc(synth, "nb201", devices=["phone_a", "phone_b"], min_common=100_000)
    assert not two.whole_space and two.pairs["value"].is_null().all()
    op.save_srcc(synth, two, "2026-01-02T00:00:00+00:00")
    stored = pl.from_arrow(synth.read("srcc"))
    assert stored.height == whole.pairs.height
    assert stored.filter(pl.col("value").is_null()).height == 1  # only the recomputed pair

    fewer = op.srcc(synth, "nb201", min_common=100_000)
    fewer = type(fewer)(**{**vars(fewer), "pairs": fewer.pairs.head(3)})
    op.save_srcc(synth, fewer, "2026-01-03T00:00:00+00:00")
    assert synth.read("srcc").num_rows == 3  # a whole-space run replaces every stored pair


def test_adapt_predicts_every_architecture_and_is_reproducible(synth):
    run = op.adapt(synth, "nb201", "phone_b", proxy="phone_a", samples=20, seed=3,
                   created="2026-01-01T00:00:00+00:00")
    again = op.adapt(synth, "nb201", "phone_b", proxy="phone_a", samples=20, seed=3,
                     created="2026-01-01T00:00:00+00:00")
    assert run.predictions.equals(again.predictions)
    summary = run.summary.to_pylist()[0]
    assert summary["n_samples"] == 20 and summary["n_rest"] == 15_625 - 20
    assert summary["srcc_rest"] > 0.7
    assert run.predictions.num_rows == 15_625


def test_adapt_auto_chooses_among_full_coverage_devices_only(synth):
    steps = []
    run = op.adapt(synth, "nb201", "phone_b", samples=20,
                   on_progress=lambda label, done, total: steps.append((label, done, total)))
    assert len(run.proxy_scores) == 2 and set(run.proxy_scores) < set(DEVICES) - {"phone_b"}
    assert run.summary.column("proxy")[0].as_py() in run.proxy_scores
    assert steps and all(total == len(run.proxy_scores) for _, _, total in steps)


def test_exhaustive_search_matches_a_brute_force(synth):
    found = op.search_archs(synth, "nb201", "cifar100", op.budgets("q10,q50"),
                            devices=["gpu_a"])
    lat = found.data.true[0]
    for row in found.table.to_pylist():
        fits = np.flatnonzero(lat <= row["budget_ms"])
        best = fits[np.argmax(found.data.accuracy[fits])]
        assert row["arch_id"] == found.data.arch_ids[best]


def test_search_samples_of_a_target_do_not_depend_on_the_other_targets(synth):
    def picks(devices):
        found = op.search_archs(synth, "nb201", "cifar10", op.budgets("q30"), devices=devices,
                                proxy="cpu_a", samples=20, seed=5)
        rows = pl.from_arrow(found.table)
        return rows.filter(pl.col("device_id") == "phone_b")["arch_id"].to_list()

    assert picks(["phone_b", "gpu_a"]) == picks(["gpu_a", "phone_b"]) == picks(["phone_b"])


def test_evaluate_a_protocol_of_synthetic_devices(synth):
    protocol = protocol_from_dict({"space": "nb201", "proxies": ["phone_a"],
                                   "targets": ["phone_b", "gpu_a"], "samples": [10, 20],
                                   "seeds": 2, "proxy_mode": "fixed"},
                                  default_name="synthetic", where="test")
    result = op.evaluate(synth, protocol)
    summary = pl.from_arrow(result.summary)
    ours = summary.filter(pl.col("method") == "adaproxy")
    assert ours.height == 4 and (ours["seeds"] == 2).all()
    assert (ours["after_srcc_mean"] > ours["before_srcc_mean"] - 0.05).all()
    assert {"flops", "raw_proxy"} <= set(summary["method"])
    op.save_evaluation(synth, result)
    op.save_evaluation(synth, result)
    assert synth.read("adaptation").num_rows == summary.height


def test_unknown_devices_are_domain_errors_in_the_api_and_one_line_in_the_cli(synth, snapshot):
    with pytest.raises(UnknownDevice, match="nosuch"):
        op.srcc(synth, "nb201", devices=["phone_a", "nosuch"])
    before = snapshot(synth.root)
    for args in (["srcc", "--devices", "phone_a,nosuch"],
                 ["adapt", "--device", "nosuch", "--samples", "20"],
                 ["search", "--dataset", "cifar10", "--devices", "nosuch", "--budget", "5ms"]):
        result = cli(synth, *args)
        assert result.exit_code == 1, args
        assert "nosuch" in result.output and "Traceback" not in result.output
    assert snapshot(synth.root) == before


def test_cli_commands_render_the_api_values(synth):
    result = cli(synth, "srcc", "--devices", "phone_a,phone_b", "--no-save", "--format", "json")
    assert result.exit_code == 0, result.output
    value = op.srcc(synth, "nb201", devices=["phone_a", "phone_b"]).pairs["value"][0]
    assert json.loads(result.stdout)[0]["value"] == pytest.approx(value)
    result = cli(synth, "adapt", "--device", "gpu_a", "--proxy", "phone_a", "--samples", "20",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    assert synth.read("predictions").num_rows == 15_625
    result = cli(synth, "search", "--dataset", "cifar10", "--devices", "gpu_a", "--budget",
                 "5s,q50", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [r["budget_ms"] for r in json.loads(result.stdout)][0] == 5000.0


def test_one_replace_path_uses_each_tables_declared_key():
    a = pl.DataFrame({"space_id": ["s"] * 2, "device_id": ["d", "e"], "arch_id": [1, 1],
                      "predicted_ms": [1.0, 2.0]}).to_arrow()
    new = pl.DataFrame({"space_id": ["s"], "device_id": ["d"], "arch_id": [2],
                        "predicted_ms": [3.0]}).to_arrow()
    with pytest.raises(op.OneproxyError, match="no warehouse table named 'nosuch'"):
        merged("nosuch", None, new)
    from oneproxy.warehouse.schemas import PREDICTIONS

    full = {n: [None] * 2 for n in PREDICTIONS.names}
    old = pl.DataFrame({**full, **a.to_pydict()}).to_arrow().cast(PREDICTIONS)
    fresh = pl.DataFrame({**{n: [None] for n in PREDICTIONS.names},
                          **new.to_pydict()}).to_arrow().cast(PREDICTIONS)
    rows = pl.from_arrow(merged("predictions", old, fresh))
    # predictions replace a device's whole series: d's arch 1 goes, e stays
    assert rows.select("device_id", "arch_id").rows() == [("d", 2), ("e", 1)]


def test_code_version_ignores_docstrings_and_comments():
    code = 'def f():\n    """Doc."""\n    return 1  # note\n'
    assert _code_of(code) == _code_of('def f():\n    """Other words."""\n    return 1\n')
    assert _code_of(code) != _code_of("def f():\n    return 2\n")


def test_code_version_parses_the_code_once_per_content(tmp_path, monkeypatch):
    monkeypatch.setenv("ONEPROXY_CACHE", str(tmp_path))
    stages.code_version.cache_clear()
    first = stages.code_version()
    assert (tmp_path / stages.CODE_VERSION_MEMO).is_file()

    def parse(text):
        raise AssertionError("the code was parsed again although no file changed")

    monkeypatch.setattr(stages, "_code_of", parse)
    stages.code_version.cache_clear()
    assert stages.code_version() == first
    monkeypatch.undo()
    files = stages.code_files()
    extra = ("x/extra.py", tmp_path / "e.py")
    monkeypatch.setattr(stages, "code_files", lambda: [*files[:-1], extra])
    (tmp_path / "e.py").write_text("X = 2\n")
    stages.code_version.cache_clear()
    try:
        assert stages.code_version() != first  # another file's content: parsed, another version
    finally:
        stages.code_version.cache_clear()


def test_evaluate_reads_the_proxy_fits_back_from_the_warehouse(synth, monkeypatch):
    from oneproxy.analytics.predictors.kernel import KernelLatencyPredictor

    protocol = protocol_from_dict({"space": "nb201", "proxies": ["phone_a", "gpu_a"],
                                   "targets": ["phone_b"], "samples": [10], "seeds": 2},
                                  default_name="cached", where="test")
    first = op.evaluate(synth, protocol)

    def refit(*args, **kwargs):
        raise AssertionError("a stored proxy was fitted again")

    monkeypatch.setattr(KernelLatencyPredictor, "fit", refit)
    again = op.evaluate(synth, protocol)
    columns = ["target", "method", "seed", "proxy", "after_srcc", "rmse_ms"]
    assert again.long.select(columns).equals(first.long.select(columns))


def test_warm_adapt_and_the_batch_modules_load_no_scipy_stats_lightgbm_or_matplotlib(synth):
    adapt = ["adapt", "--warehouse", str(synth.root), "--device", "phone_b", "--proxy", "auto",
             "--samples", "20", "--no-save", "--format", "json"]
    probe = (
        "import sys\n"
        "from oneproxy.cli import main\n"
        f"main({adapt!r}, standalone_mode=False)\n"
        "import oneproxy.batch, oneproxy.stages\n"
        "print(sorted(m for m in ('scipy.stats', 'lightgbm', 'matplotlib') if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    for _ in range(2):  # the first call fits and stores the proxies (LightGBM); then warm
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              check=True)
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_proxy_fits_are_stored_once_and_rebuilt_when_damaged(synth, monkeypatch):
    from oneproxy.analytics.predictors.kernel import KernelLatencyPredictor

    first = op.adapt(synth, "nb201", "phone_b", samples=20, seed=1,
                     created="2026-01-01T00:00:00+00:00")
    stored = sorted((synth.root / "models" / "nb201").rglob("meta.json"))  # the proxy fits
    assert len(stored) == PRESCREEN  # the screened full-coverage candidates, not the target

    def refit(*args, **kwargs):
        raise AssertionError("a stored proxy was fitted again")

    monkeypatch.setattr(KernelLatencyPredictor, "fit", refit)
    warm = op.adapt(synth, "nb201", "phone_b", samples=20, seed=1,
                    created="2026-01-01T00:00:00+00:00")
    assert warm.predictions.equals(first.predictions)

    monkeypatch.undo()
    base = stored[0].with_name("base.npy")
    base.write_bytes(base.read_bytes()[:-10])  # damaged: its sha256 no longer matches
    again = op.adapt(synth, "nb201", "phone_b", samples=20, seed=1,
                     created="2026-01-01T00:00:00+00:00")
    assert again.predictions.equals(first.predictions)
    assert base.stat().st_size > 0 and stored[0].is_file()


def test_search_with_confidence_picks_on_a_partial_devices_predictions(synth):
    result = cli(synth, "search", "--dataset", "cifar100", "--devices", "phone_c", "--budget",
                 "q20,q60", "--confidence", "0.9", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["status"] for r in rows] and {r["status"] for r in rows} <= {
        "verified", "likely", "none"}
    for r in rows:
        if r["status"] == "verified":
            assert r["measured_ms"] is not None and r["measured_ms"] <= r["budget_ms"]
        if r["status"] == "likely":
            assert r["upper_ms"] <= r["budget_ms"] and 0 <= r["p_fit"] <= 1
    before = synth.manifest()
    plain = cli(synth, "search", "--dataset", "cifar100", "--devices", "phone_c", "--budget",
                "q20,q60", "--format", "json", "--save")  # named and partial: its predictions
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.stdout) == rows  # at the default confidence, 0.9
    assert "phone_c measured only part of nb201: picks on adapted predictions" in plain.stderr
    assert "picks on predictions are not stored or drawn" in plain.stderr
    assert synth.manifest() == before  # --save stored nothing
    only = cli(synth, "search", "--dataset", "cifar100", "--devices", "phone_c", "--budget",
               "q20,q60", "--verified-only", "--format", "json")
    assert only.exit_code == 0, only.output
    assert {r["status"] for r in json.loads(only.stdout)} <= {"verified", "none"}
    bad = cli(synth, "search", "--devices", "phone_c", "--budget", "5ms", "--confidence", "0.9",
              "--proxy", "phone_a")
    assert bad.exit_code == 2 and "--confidence" in bad.output


def test_the_api_picks_a_partial_device_as_the_cli_does_and_refuses_a_silent_measured_search(
        synth):
    cli_rows = json.loads(cli(synth, "search", "--dataset", "cifar100", "--devices", "phone_c",
                              "--budget", "q20,q60", "--format", "json").stdout)
    picks = op.search_predicted(synth, "nb201", "cifar100", ["phone_c"], "q20,q60")
    assert picks.select(["arch_id", "status"]).to_pylist() == [
        {"arch_id": r["arch_id"], "status": r["status"]} for r in cli_rows]
    with pytest.raises(op.OneproxyError, match="phone_c measured only part of nb201: "
                       "search_predicted"):
        op.search_archs(synth, "nb201", "cifar100", op.budgets("q20,q60"), devices=["phone_c"])
    measured = op.search_archs(synth, "nb201", "cifar100", op.budgets("q20,q60"),
                               devices=["phone_c"], measured_only=True).table
    assert measured.num_rows == 2 and set(op.partial_devices(synth, "nb201", DEVICES)) == set()
    assert op.partial_devices(synth, "nb201", ["phone_c", "phone_a"]) == ["phone_c"]
    todo = op.propose_measurements(synth, "nb201", "phone_c", "q20,q60")
    assert todo.column_names == ["arch_id", "arch_key", "reason"] and todo.num_rows > 0


def test_a_warm_adapt_to_json_loads_no_dataset_compute_rich_console_or_predictor_files(synth):
    # With standard error a pipe there is no bar to draw, so rich's console is not needed; the
    # warehouse is only queried and the cached fits are read, so no pyarrow.dataset / compute.
    adapt = ["adapt", "--warehouse", str(synth.root), "--device", "phone_b", "--proxy", "auto",
             "--samples", "20", "--no-save", "--format", "json"]
    unwanted = ("pyarrow.dataset", "rich.console", "rich.progress",
                "oneproxy.analytics.predictors.files", "oneproxy.ingest.fetch")
    if importlib.util.find_spec("pandas") is None:  # with pandas, pyarrow's to_numpy loads it,
        unwanted += ("pyarrow.compute",)  # and pandas loads pyarrow.compute
    probe = (
        "import sys\n"
        "from oneproxy.cli import main\n"
        f"main({adapt!r}, standalone_mode=False)\n"
        f"print(sorted(m for m in {unwanted!r} if m in sys.modules), file=sys.stderr)\n"
    )
    for _ in range(2):  # the first call fits and stores the proxies; then warm
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              check=True)
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_reading_a_protocol_does_not_import_the_adaptation_code():
    probe = ("import sys\n"
             "from oneproxy.analytics.protocols import BUILTIN, get_protocol, protocol_from_dict\n"
             "[get_protocol(n) for n in BUILTIN]\n"
             "print('oneproxy.analytics.adaptation' in sys.modules)\n"
             "from oneproxy.analytics.protocols import STRATEGY_CHOICES\n"
             "print(STRATEGY_CHOICES)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    from oneproxy.analytics.adaptation import STRATEGIES

    assert done.stdout.splitlines() == ["False", repr(("auto", *STRATEGIES))]
    with pytest.raises(InvalidProtocol, match="'strategy' must be one of auto, linear, "):
        protocol_from_dict({"space": "nb201", "proxies": ["phone_a"], "targets": ["phone_b"],
                            "samples": [10], "seeds": 1, "strategy": "nosuch"},
                           default_name="bad", where="test")


def test_run_spaces_come_from_the_latency_partitions_as_the_query_finds_them(synth):
    from oneproxy.warehouse.catalog import query

    found = query(synth, "SELECT DISTINCT space_id FROM latency ORDER BY space_id")
    assert synth.partition_values("latency") == found.column("space_id").to_pylist()
    assert stages.Inputs(synth).spaces() == found.column("space_id").to_pylist()
    assert synth.partition_values("devices") is None  # not partitioned
    assert synth.partition_values("nosuch") is None


def test_a_one_file_version_reads_as_the_dataset_reader_reads_it(synth):
    import pyarrow.dataset as ds
    from oneproxy.warehouse.schemas import PARTITIONS
    from oneproxy.warehouse.store import _read_version

    for name, fp in synth.manifest().items():
        folder = synth.table_dir(name, fp)
        partitioning = "hive" if name in PARTITIONS else None
        expected = ds.dataset(folder, format="parquet", partitioning=partitioning).to_table()
        assert _read_version(folder, partitioning).equals(expected, check_metadata=True), name


def test_the_ingest_stage_lists_the_sources_ingest_loads():
    from oneproxy.ingest.pipeline import LOADERS
    from oneproxy.ingest.registry import sources

    assert sorted(s.source_id for s in sources()) == sorted(LOADERS)
