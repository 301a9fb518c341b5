"""How many BLAS threads the process uses: one place, set from $ONEPROXY_THREADS.

The default is one thread: on a shared two-core machine a second OpenBLAS thread made the SRCC
block products slower, not faster (`python -m bench.srcc` prints the measurement). The CLI entry
point and the batch call `apply_thread_setting()` once.
"""

from __future__ import annotations

import os
import sys

from oneproxy.warehouse.errors import OneproxyError

THREADS_ENV = "ONEPROXY_THREADS"
DEFAULT_THREADS = 1
# What OpenBLAS (numpy, scipy) and MKL read when they load; OpenMP (LightGBM) is left alone.
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class InvalidThreadSetting(OneproxyError, ValueError):
    """$ONEPROXY_THREADS is not a positive whole number."""


def thread_setting(environ: dict[str, str] | None = None) -> int:
    """BLAS threads from $ONEPROXY_THREADS (a positive integer), else `DEFAULT_THREADS`."""
    raw = (os.environ if environ is None else environ).get(THREADS_ENV, "").strip()
    if not raw:
        return DEFAULT_THREADS
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidThreadSetting(
            f"{THREADS_ENV}={raw!r} is not a positive whole number of threads; "
            f"set it to e.g. 1 or 2, or unset it for the default ({DEFAULT_THREADS})"
        )
    return int(raw)


def apply_thread_setting(threads: int | None = None) -> int:
    """Limit the BLAS thread pools of this process to `threads` (default: `thread_setting()`).

    Before numpy is loaded the limit goes into the variables BLAS reads when it loads (no cost,
    and inherited by worker processes); once it is loaded, through threadpoolctl.
    """
    count = thread_setting() if threads is None else threads
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=count, user_api="blas")
    else:
        os.environ.update({name: str(count) for name in BLAS_ENV})
    return count
