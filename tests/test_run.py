"""`oneproxy run` / `oneproxy runs`: skips with unchanged inputs, re-runs downstream of a change,
survives SIGKILL, and keeps two runs on one warehouse apart with a lock."""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.analytics.protocols import BUILTIN
from oneproxy.warehouse.schemas import LATENCY
from oneproxy.warehouse.store import Warehouse

import oneproxy as op
from oneproxy.cli import main as CLI
from oneproxy.runs import LOCK_FILE
from oneproxy.stages import SRCC_MIN_COMMON, Inputs, RunSettings, downstream_stages, ingest_stage

pytestmark = pytest.mark.integration
PAUSED_RUN = Path(__file__).with_name("paused_run.py")

FAST = ["--seeds", "2", "--protocols", "oneproxy-nb201"]
NB201_STAGES = {"srcc nb201", "search nb201",
                *(f"evaluate {p.name}" for p in BUILTIN.values() if p.space == "nb201")}


def run_cli(root: Path, *args: str):
    return CliRunner().invoke(CLI, ["run", "--warehouse", str(root), *args])


def runs_cli(root: Path, *args: str):
    return CliRunner().invoke(CLI, ["runs", "--warehouse", str(root), *args])


def ledger(root: Path) -> pl.DataFrame:
    return pl.from_arrow(Warehouse(root).read("runs"))


def last_stages(root: Path) -> dict[str, tuple[str, str]]:
    """Stage → (status, message) of the newest run."""
    rows = ledger(root)
    newest = rows.filter(pl.col("stage") == "run").sort("started_at")["run_id"][-1]
    rows = rows.filter((pl.col("run_id") == newest) & (pl.col("stage") != "run"))
    return {r["stage"]: (r["status"], r["message"]) for r in rows.iter_rows(named=True)}


def change_latency(root: Path, space: str) -> None:
    """Double one measured latency of `space` and commit it, as a new measurement would."""
    wh = Warehouse(root)
    latency = pl.from_arrow(wh.read("latency")).with_row_index("i")
    target = latency.filter((pl.col("space_id") == space) & pl.col("latency_ms").is_not_null())
    row = target["i"][0]
    changed = latency.with_columns(
        latency_ms=pl.when(pl.col("i") == row).then(pl.col("latency_ms") * 2)
        .otherwise(pl.col("latency_ms"))).drop("i")
    wh.commit({"latency": changed.to_arrow().cast(LATENCY)})


def copy(root: Path, tmp_path: Path) -> Path:
    return shutil.copytree(root, tmp_path / "wh")


@pytest.fixture(scope="module")
def ran(ingested, mirror, tmp_path_factory) -> Path:
    """A copy of the ingested warehouse after one complete fast run (read-only: copy it)."""
    root = shutil.copytree(ingested.root, tmp_path_factory.mktemp("ran") / "wh")
    result = run_cli(root, *FAST, "--mirror", str(mirror))
    assert result.exit_code == 0, result.output
    return root


def subprocess_env(mirror: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "ONEPROXY_MIRROR": str(mirror), **extra}


def stderr_lines(proc: subprocess.Popen) -> queue.Queue:
    """Lines of the process's stderr as they come, read by a thread."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def wait_for(lines: queue.Queue, text: str, seconds: float = 120) -> list[str]:
    seen = []
    while True:
        line = lines.get(timeout=seconds)
        assert line is not None, f"process ended before printing {text!r}: {''.join(seen)}"
        seen.append(line)
        if text in line:
            return seen


def test_first_run_runs_every_stage_the_data_feeds(ran):
    stages = last_stages(ran)
    for name in ("ingest", "srcc nb201", "evaluate oneproxy-nb201", "search nb201", "report"):
        assert stages[name][0] == "run", stages[name]
    assert "evaluate help-nb201" not in stages  # only the protocols asked for
    for name, (status, message) in stages.items():
        assert status == "run" or message.startswith("not applicable: "), (name, message)
    run_row = ledger(ran).filter(pl.col("stage") == "run").row(0, named=True)
    assert run_row["status"] == "done" and run_row["finished_at"] is not None
    assert (ran / "report" / "report.html").is_file()
    srcc = pl.from_arrow(Warehouse(ran).read("srcc")).filter(pl.col("space_id") == "nb201")
    assert srcc.height == 41 * 40 // 2  # every pair of the 41 NB201 series
    # the rows' fingerprint is the API's (latency rows + parameters), as `oneproxy srcc` writes
    assert set(srcc["input_fingerprint"]) == {
        op.srcc(Warehouse(ran), "nb201", min_common=SRCC_MIN_COMMON).input_fingerprint}
    # the search stage makes the AdaProxy picks twice: on the predictions, and on the upper ends
    # of their 0.9 intervals, which put fewer picks over budget
    picks = pl.from_arrow(Warehouse(ran).read("search_result")).filter(
        pl.col("method").is_in(["adaproxy", "adaproxy@0.9"]))
    over = dict(picks.group_by("method").agg(pl.col("violation").cast(pl.Float64).mean()).rows())
    assert set(over) == {"adaproxy", "adaproxy@0.9"}
    assert over["adaproxy@0.9"] < over["adaproxy"]
    assert "by the 0.9 upper bound" in last_stages(ran)["search nb201"][1]


def test_second_run_skips_every_stage_and_says_nothing_changed(ran, tmp_path, monkeypatch):
    root = copy(ran, tmp_path)
    before = {k: v for k, v in Warehouse(root).manifest().items() if k != "runs"}
    commits = []
    commit = Warehouse.commit
    monkeypatch.setattr(Warehouse, "commit",
                        lambda self, *a, **k: commits.append(1) or commit(self, *a, **k))
    result = run_cli(root, *FAST)
    assert result.exit_code == 0, result.output
    assert len(commits) == 2  # the run row when it opens and when it closes, not one per stage
    assert result.stdout.startswith("nothing changed: all ")
    stages = last_stages(root)
    assert set(stages) == set(last_stages(ran))
    assert {s for s, _ in stages.values()} == {"skipped"}
    assert {m for _, m in stages.values()} == {"inputs unchanged"}
    assert {k: v for k, v in Warehouse(root).manifest().items() if k != "runs"} == before

    listed = json.loads(runs_cli(root, "--format", "json").stdout)
    assert [r["status"] for r in listed] == ["done", "done"]
    assert listed[0]["stages_run"] == 0 and listed[0]["stages_skipped"] == len(stages)
    assert listed[1]["stages_run"] == sum(s == "run" for s, _ in last_stages(ran).values())
    assert listed[0]["started_at"] > listed[1]["started_at"]
    table = runs_cli(root, "--run", "last")
    assert table.exit_code == 0 and "inputs unchanged" in table.stdout


def test_a_warm_run_loads_no_stage_code_and_opens_no_catalog(ran, mirror, tmp_path):
    # Every stage is skipped: the checks read the manifest, the fingerprint memos and the
    # ledger, so the code the stages run and DuckDB (whose catalog the ledger's commit would
    # make stale) are not loaded.
    root = copy(ran, tmp_path)
    unwanted = ("duckdb", "pyarrow.dataset", "oneproxy.warehouse.catalog",
                "oneproxy.analytics.adaptation", "oneproxy.api.evaluate", "oneproxy.api.search",
                "oneproxy.api.srcc", "oneproxy.api.ingest", "oneproxy.api.report",
                "oneproxy.ingest.pipeline", "oneproxy.warehouse.spaces")
    probe = (
        "import sys\n"
        "from oneproxy.cli import main\n"
        f"main(['run', '--warehouse', {str(root)!r}, *{FAST!r}], standalone_mode=False)\n"
        f"print(sorted(m for m in {unwanted!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, env=subprocess_env(mirror))
    assert done.stdout.startswith("nothing changed: all ")
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_new_measurements_of_one_space_rerun_only_its_stages_and_the_report(ran, tmp_path):
    root = copy(ran, tmp_path)
    spaces = set(ledger(ran)["stage"].str.extract(r"^srcc (.+)$").drop_nulls()) - {"nb201"}
    assert spaces, "the ingested warehouse should hold a space besides nb201"
    space = sorted(spaces)[0]
    change_latency(root, space)
    result = run_cli(root, *FAST)
    assert result.exit_code == 0, result.output
    searched = last_stages(ran)[f"search {space}"][0] == "run"
    stages = last_stages(root)
    assert {s for s, (status, _) in stages.items() if status == "run"} == {
        f"srcc {space}", "report", *([f"search {space}"] if searched else [])}
    assert stages["srcc nb201"] == stages["search nb201"] == ("skipped", "inputs unchanged")
    assert stages["ingest"] == stages["evaluate oneproxy-nb201"] == ("skipped", "inputs unchanged")


def test_fingerprints_follow_the_rows_of_their_space(ran, tmp_path):
    root = copy(ran, tmp_path)
    wh = Warehouse(root)
    settings = RunSettings(protocols=tuple(BUILTIN.values()))

    def fingerprints() -> dict[str, str]:
        stages = [ingest_stage(wh, settings),
                  *downstream_stages(wh, settings, Inputs(wh), dict)]
        return {s.name: s.fingerprint() for s in stages}

    before = fingerprints()
    change_latency(root, "nb201")
    after = fingerprints()
    assert {s for s in before if before[s] != after[s]} == NB201_STAGES | {"report"}
    assert "evaluate help-fbnet" in before  # a protocol of another space keeps its fingerprint


def test_force_reruns_and_only_limits_the_stages(ran, tmp_path):
    root = copy(ran, tmp_path)
    result = run_cli(root, *FAST, "--only", "srcc")
    assert result.exit_code == 0 and result.stdout.startswith("nothing changed")
    result = run_cli(root, *FAST, "--only", "srcc", "--force")
    assert result.exit_code == 0, result.output
    stages = last_stages(root)
    assert set(stages) == {s for s in last_stages(ran) if s.startswith("srcc ")}
    assert {s for s, _ in stages.values()} == {"run"}
    assert f"{len(stages)} stages run, 0 skipped" in result.stdout


def test_a_failing_stage_exits_1_with_one_line_and_is_retried(ran, tmp_path):
    root = copy(ran, tmp_path)
    protocol = tmp_path / "too-many.json"
    protocol.write_text(json.dumps({"space": "nb201", "proxies": ["pixel3"], "targets": ["fpga"],
                                    "samples": [20000], "proxy_mode": "fixed"}))
    for _ in range(2):
        result = run_cli(root, "--protocols", str(protocol), "--only", "evaluate")
        assert result.exit_code == 1
        assert result.stdout == ""
        progress, error = result.stderr.splitlines()[-2:]
        assert progress.startswith("evaluate too-many: failed in ")
        assert error == ("Error: stage evaluate too-many failed: protocol too-many: n=20000 "
                         "samples but target 'fpga' has only 15625 architectures to draw from; "
                         "use fewer samples")
        assert last_stages(root)["evaluate too-many"][0] == "failed"
    runs = ledger(root).filter(pl.col("stage") == "run").sort("started_at")
    assert runs["status"].to_list()[-2:] == ["failed", "failed"]
    assert runs["message"][-1].startswith("stage evaluate too-many failed: ")


def test_bad_options_are_one_line_errors(ran, tmp_path):
    result = run_cli(ran, "--only", "coffee")
    assert result.exit_code == 2 and "unknown stage 'coffee'" in result.output
    result = run_cli(ran, "--protocols", "nope")
    assert result.exit_code == 1 and "unknown protocol 'nope'" in result.output
    result = runs_cli(ran, "--run", "nope")
    assert result.exit_code == 1 and "no run 'nope' in the ledger" in result.output
    empty = runs_cli(tmp_path / "empty", "--format", "json")
    assert empty.exit_code == 1 and "no warehouse" in empty.output


def test_a_second_run_on_a_locked_warehouse_exits_1_or_waits(ran, mirror, tmp_path):
    root = copy(ran, tmp_path)
    rows_before = ledger(root).height
    command = [sys.executable, "-m", "oneproxy.cli", "run", "--warehouse", str(root), *FAST,
               "--only", "srcc"]
    with open(root / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write(f"{os.getpid()} 2030-01-01T00:00:00+00:00\n")
        lock.flush()
        refused = subprocess.run(command, env=subprocess_env(mirror), capture_output=True,
                                 text=True, timeout=120)
        assert refused.returncode == 1
        assert refused.stderr == (
            f"Error: another oneproxy run (pid {os.getpid()}, started 2030-01-01T00:00:00+00:00) "
            f"holds the lock on {root}: let it finish, or pass --wait to queue\n")
        assert ledger(root).height == rows_before

        waiting = subprocess.Popen([*command, "--wait"], env=subprocess_env(mirror),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(stderr_lines(waiting), "waiting for it to finish")
        assert waiting.poll() is None
    waiting.communicate(timeout=120)
    assert waiting.returncode == 0
    assert ledger(root).filter(pl.col("stage") == "run")["status"].to_list()[-1] == "done"


def test_sigkill_mid_stage_keeps_previous_results_and_the_next_run_picks_up(ran, mirror,
                                                                             tmp_path):
    root = copy(ran, tmp_path)
    change_latency(root, "nb201")
    previous = pl.from_arrow(Warehouse(root).read("srcc")).filter(pl.col("space_id") == "nb201")
    proc = subprocess.Popen(
        [sys.executable, str(PAUSED_RUN), "srcc", "run", "--warehouse", str(root), *FAST,
         "--only", "srcc"],
        env=subprocess_env(mirror), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(stderr_lines(proc), "paused before committing srcc")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()

    wh = Warehouse(root)
    kept = pl.from_arrow(wh.read("srcc")).filter(pl.col("space_id") == "nb201")
    assert kept.equals(previous)
    killed = ledger(root).filter(pl.col("pid") == proc.pid)
    assert killed.filter(pl.col("stage") == "run")["status"].to_list() == ["running"]
    assert "srcc nb201" not in killed["stage"].to_list()
    sql = CliRunner().invoke(CLI, ["sql", "SELECT count(*) AS n FROM srcc", "--warehouse",
                                   str(root), "--format", "json"])
    assert sql.exit_code == 0 and json.loads(sql.stdout)[0]["n"] > 0
    listed = json.loads(runs_cli(root, "--format", "json").stdout)
    assert listed[0]["status"] == "killed" and listed[0]["finished_at"] is None

    result = run_cli(root, *FAST, "--only", "srcc")
    assert result.exit_code == 0, result.output
    assert last_stages(root)["srcc nb201"][0] == "run"
    fresh = pl.from_arrow(wh.read("srcc")).filter(pl.col("space_id") == "nb201")
    assert set(fresh["input_fingerprint"]) == {
        op.srcc(wh, "nb201", min_common=SRCC_MIN_COMMON).input_fingerprint}
    assert set(fresh["input_fingerprint"]).isdisjoint(previous["input_fingerprint"])
    assert not fresh.equals(previous)
    statuses = [r["status"] for r in json.loads(runs_cli(root, "--format", "json").stdout)]
    assert statuses[:2] == ["done", "killed"]
    row = ledger(root).filter((pl.col("pid") == proc.pid) & (pl.col("stage") == "run"))
    assert row["status"].to_list() == ["killed"]
    assert row["message"][0].startswith(f"process {proc.pid} ended without closing the run")
