"""The allocator setting: parsed from $ONEPROXY_MALLOC, applied through glibc's mallopt, and
visible as page faults that stop recurring."""

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from oneproxy.allocator import InvalidMallocSetting, keep_freed_memory, malloc_setting
from oneproxy.cli import main

GLIBC = bool(os.confstr("CS_GNU_LIBC_VERSION")) if "CS_GNU_LIBC_VERSION" in os.confstr_names \
    else False


def test_default_and_explicit_settings():
    assert malloc_setting({}) == "keep"
    assert malloc_setting({"ONEPROXY_MALLOC": " System "}) == "system"
    assert malloc_setting({"ONEPROXY_MALLOC": "keep"}) == "keep"


def test_a_bad_setting_names_the_variable():
    with pytest.raises(InvalidMallocSetting, match=r"ONEPROXY_MALLOC='huge' is not an allocator"):
        malloc_setting({"ONEPROXY_MALLOC": "huge"})


def test_system_changes_nothing_and_a_bad_setting_is_refused():
    assert keep_freed_memory("system") is False
    with pytest.raises(InvalidMallocSetting, match="ONEPROXY_MALLOC='huge'"):
        keep_freed_memory("huge")


def test_a_bad_setting_stops_a_command_cleanly(monkeypatch):
    monkeypatch.setenv("ONEPROXY_MALLOC", "huge")
    result = CliRunner().invoke(main, ["sql", "SELECT 1"])
    assert result.exit_code == 1
    assert "ONEPROXY_MALLOC='huge'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(not GLIBC, reason="mallopt thresholds are glibc's")
@pytest.mark.parametrize("setting", ["system", "keep"])
def test_kept_memory_stops_the_page_faults_of_repeated_temporaries(setting):
    """A fresh process that builds and drops the same 1 MiB arrays 200 times faults on their
    pages every time with glibc's thresholds, and almost never once freed memory is kept."""
    probe = (
        "import resource\n"
        "import numpy as np\n"
        "from oneproxy.allocator import keep_freed_memory\n"
        f"print(keep_freed_memory({setting!r}))\n"
        "for _ in range(5):\n"
        "    a = np.ones((256, 1024)); b = a * 2; del a, b\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(200):\n"
        "    a = np.ones((256, 1024)); b = a * 2; del a, b\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    applied, faults = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                     text=True, check=True).stdout.split()
    assert applied == str(setting == "keep")
    if setting == "system":
        assert int(faults) > 200 * 256  # two fresh 1 MiB arrays a round: 512 pages
    else:
        assert int(faults) < 100
