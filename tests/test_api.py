"""The public Python API: its names, the README example, and an install from a built wheel."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import oneproxy as op
from oneproxy.cli import COMMANDS, load_command
from oneproxy.cli import main as CLI

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_every_public_name_resolves_to_a_function_or_class():
    for name in op.__all__:
        value = getattr(op, name)
        assert callable(value), name
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        _ = op.nosuch


def test_importing_oneproxy_loads_no_heavy_library():
    code = ("import sys, oneproxy, oneproxy.cli; "
            "print(sorted(m for m in ('lightgbm', 'scipy', 'matplotlib', 'polars', 'pyarrow', "
            "'duckdb') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_the_cli_help_lists_each_command_with_its_own_first_line():
    for name, (_, short) in COMMANDS.items():
        assert load_command(name).get_short_help_str(limit=300) == short, name
    listed = CliRunner().invoke(CLI, ["--help"]).output
    assert all(name in listed for name in COMMANDS)


def test_no_module_imports_a_command_module_but_the_cli():
    pattern = re.compile(r"^\s*(?:from|import) oneproxy\.\w+_cmd\b", re.MULTILINE)
    offenders = [
        str(p.relative_to(ROOT)) for room in ("oneproxy", "analytics", "ingest", "search",
                                              "warehouse")
        for p in (ROOT / room).rglob("*.py") if pattern.search(p.read_text())
    ]
    assert offenders == []


def test_the_api_imports_no_click_and_no_rich():
    pattern = re.compile(r"^\s*(?:from|import) (?:click|rich)\b", re.MULTILINE)
    offenders = [p.name for p in (ROOT / "oneproxy" / "api").glob("*.py")
                 if pattern.search(p.read_text())]
    assert offenders == []


def _readme_example() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


@pytest.mark.integration
def test_readme_python_example_gives_the_cli_values(ingested, tmp_path):
    (tmp_path / "oneproxy-warehouse").symlink_to(ingested.root)
    done = subprocess.run([sys.executable, "-c", _readme_example()], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    cli = CliRunner().invoke(CLI, ["srcc", "--devices", "pixel3,raspi4,fpga", "--no-save",
                                   "--format", "json", "--warehouse", str(ingested.root)])
    for row in json.loads(cli.stdout):
        assert f"{row['value']:.4f}"[:6] in done.stdout, row
    adapt = CliRunner().invoke(CLI, ["adapt", "--device", "raspi4", "--proxy", "pixel3",
                                     "--samples", "20", "--no-save", "--format", "json",
                                     "--warehouse", str(ingested.root)])
    assert repr(json.loads(adapt.stdout)[0]["srcc_rest"]) in done.stdout
    picks = CliRunner().invoke(CLI, ["search", "--dataset", "cifar10", "--devices", "edgetpu",
                                     "--budget", "q10,q50", "--format", "json",
                                     "--warehouse", str(ingested.root)])
    for row in json.loads(picks.stdout):  # the CLI switches to the predictions as the API does
        assert str(row["arch_id"]) in done.stdout and row["status"] in done.stdout, row


@pytest.mark.integration
def test_a_wheel_installs_only_oneproxy_and_works_from_any_folder(ingested, tmp_path):
    source, dist = tmp_path / "source", tmp_path / "dist"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    for name in tracked:  # build from a copy: setuptools leaves build/ in the source folder
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist),
                    str(source)], check=True, capture_output=True, timeout=600)
    wheel = next(dist.glob("oneproxy-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {
        "oneproxy"}
    assert "oneproxy/sql/queries/devices.sql" in names
    assert "oneproxy/ingest/registry.json" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "ONEPROXY_WAREHOUSE": str(ingested.root)}
    where = subprocess.run([sys.executable, "-c", "import oneproxy.warehouse.catalog as c; "
                            "print(c.__file__)"], cwd=empty, env=env, capture_output=True,
                           text=True, check=True)
    assert where.stdout.startswith(str(site))
    for args in (["sql", "SELECT count(*) AS n FROM latency", "--format", "json"],
                 ["srcc", "--devices", "pixel3,raspi4", "--no-save", "--format", "json"],
                 ["search", "--dataset", "cifar100", "--devices", "raspi4", "--budget",
                  "5ms,10ms", "--no-save", "--format", "json"]):
        done = subprocess.run([sys.executable, "-m", "oneproxy.cli", *args], cwd=empty, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        assert json.loads(done.stdout), args
