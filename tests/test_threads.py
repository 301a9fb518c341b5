"""The BLAS thread setting: parsed from $ONEPROXY_THREADS, applied through threadpoolctl."""

import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from oneproxy.threads import (
    DEFAULT_THREADS,
    InvalidThreadSetting,
    apply_thread_setting,
    thread_setting,
)


def test_default_and_explicit_settings():
    assert thread_setting({}) == DEFAULT_THREADS
    assert thread_setting({"ONEPROXY_THREADS": " 2 "}) == 2


@pytest.mark.parametrize("raw", ["0", "-1", "two", "1.5"])
def test_bad_settings_name_the_variable(raw):
    with pytest.raises(InvalidThreadSetting, match=rf"ONEPROXY_THREADS='{raw}' is not a positive"):
        thread_setting({"ONEPROXY_THREADS": raw})


def test_apply_limits_the_blas_pool():
    np.ones((2, 2)) @ np.ones((2, 2))
    with threadpool_limits(limits=None):
        assert apply_thread_setting(1) == 1
        blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 1 for p in blas)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_the_cli_sets_blas_threads_before_numpy_loads(threads, tmp_path):
    """The command line limits BLAS through the variables it reads at load: a fresh process
    that starts the CLI and then loads numpy has exactly that many BLAS threads."""
    probe = (
        "import sys\n"
        "from oneproxy import cli\n"
        "assert 'numpy' not in sys.modules\n"
        "cli._limit_blas_threads()\n"
        "import numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "print(sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'}))\n"
    )
    env = {**os.environ, "ONEPROXY_THREADS": threads}
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"[{threads}]"
