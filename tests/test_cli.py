"""The command line through click's runner and, once, as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from oneproxy.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_has_help_with_an_example_and_is_in_the_readme(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output
    assert f"oneproxy {command}" in README.read_text()


@pytest.mark.integration
def test_ingest_all_then_query_known_values(mirror, tmp_path):
    wh = str(tmp_path / "wh")
    env = {"ONEPROXY_MIRROR": str(mirror), "ONEPROXY_CACHE": str(tmp_path / "cache")}
    result = run("ingest", "--all", "--warehouse", wh, env=env)
    assert result.exit_code == 0, result.output
    assert "867,762 latency rows" in result.output and "57,151 accuracy rows" in result.output
    again = run("ingest", "--all", "--warehouse", wh, env=env)
    assert "nothing changed" in again.output
    out = run("sql", "SELECT device_id, round(latency_ms, 5) AS ms FROM latency "
              "WHERE arch_id = 0 AND device_id IN ('pixel3', 'raspi4') ORDER BY 1",
              "--format", "json", "--warehouse", wh)
    assert json.loads(out.output) == [{"device_id": "pixel3", "ms": 3.60585},
                                      {"device_id": "raspi4", "ms": 10.48198}]


@pytest.mark.integration
def test_listing_commands_on_the_real_warehouse(ingested):
    wh = str(ingested.root)
    devices = run("devices", "--space", "nb201", "--format", "csv", "--warehouse", wh)
    assert devices.exit_code == 0
    lines = devices.output.strip().splitlines()
    assert len(lines) == 1 + 41
    assert any(line.startswith("1080ti_256,") and ",desktop_gpu," in line for line in lines)
    sources = json.loads(run("sources", "--format", "json", "--warehouse", wh).output)
    assert [s["source_id"] for s in sources] == [
        "accel_nasbench", "eagle", "help", "mobile_ml_benchmark", "nb201_acc", "ofa_note10",
        "ofa_zcu", "oneproxy"]
    assert {s["license"] for s in sources} >= {"MIT", "Apache-2.0"}
    spaces = json.loads(run("spaces", "--format", "json", "--warehouse", wh).output)
    assert [(s["space_id"], s["devices"]) for s in spaces] == [
        ("accel_nasbench", 2), ("fbnet", 27), ("mobile_cnn", 174), ("mobile_nas", 174),
        ("mobile_transformer", 160), ("nb201", 41), ("ofa_fpga", 0), ("ofa_mbv3", 12)]
    size = {s["space_id"]: s["size"] for s in spaces}
    assert size["nb201"] == "15625" and size["fbnet"] == str(9**22)


@pytest.mark.integration
def test_sql_output_formats(ingested, tmp_path):
    wh = str(ingested.root)
    sql = ("SELECT dataset, count(*) AS n FROM accuracy WHERE space_id = 'nb201' "
           "GROUP BY 1 ORDER BY 1")
    csv = run("sql", sql, "--format", "csv", "--warehouse", wh)
    assert csv.output.splitlines() == ["dataset,n", "ImageNet16-120,15625", "cifar10,15625",
                                       "cifar100,15625"]
    target = tmp_path / "acc.parquet"
    run("sql", sql, "--format", "parquet", "-o", str(target), "--warehouse", wh)
    assert pq.read_table(target).column("n").to_pylist() == [15625] * 3
    empty = run("sql", "SELECT * FROM devices WHERE false", "--format", "json", "--warehouse", wh)
    assert json.loads(empty.output) == []
    table = run("sql", sql, "--warehouse", wh)
    assert "ImageNet16-120" in table.output and "15625" in table.output


@pytest.mark.integration
def test_user_errors_are_one_line_with_the_right_exit_code(ingested, tmp_path):
    wh = str(ingested.root)
    drop = run("sql", "DROP VIEW latency", "--warehouse", wh)
    assert drop.exit_code == 1 and "DROP statements are refused" in drop.output
    unknown = run("devices", "--space", "darts", "--warehouse", wh)
    assert unknown.exit_code == 1 and "unknown space 'darts'" in unknown.output
    assert run("ingest", "nosuch").exit_code == 2
    assert run("ingest").exit_code == 2
    assert run("sql", "SELECT 1", "--format", "parquet", "--warehouse", wh).exit_code == 2
    empty = run("devices", "--warehouse", str(tmp_path / "empty"))
    assert empty.exit_code == 1 and "oneproxy ingest --all" in empty.output


def test_console_script_reports_errors_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "oneproxy.cli", "sql", "SELECT 1", "--warehouse",
         str(tmp_path / "none")], capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("Error: no warehouse at")
