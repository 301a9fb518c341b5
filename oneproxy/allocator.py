"""How much freed memory the C allocator keeps for reuse: one place, applied by the CLI.

glibc hands large arrays fresh pages from the system (mmap above a threshold it raises only as
such arrays are freed) and gives the top of its heap back as soon as more than a little is free.
Code that builds and drops the same large temporaries call after call (the rank tables of
`analytics.spearman_exact`, the folds of an evaluation) then takes a page fault for every 4 KiB
every time, and on a virtual machine a fault is dear: `python -m bench.allocator` counts them and
times the real-set SRCC with and without this setting, in the same run.

`keep_freed_memory()` sets glibc's mmap threshold to `MMAP_THRESHOLD` and its trim threshold to
`TRIM_THRESHOLD` (mallopt): arrays below the first come from the heap, and up to the second of
freed memory stays there for the next call. Larger arrays (fleet-scale matrices) are mapped and
unmapped as before. Elsewhere than glibc, or with $ONEPROXY_MALLOC=system, nothing changes.
"""

from __future__ import annotations

import os

from oneproxy.warehouse.errors import OneproxyError

MALLOC_ENV = "ONEPROXY_MALLOC"
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 128 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>


class InvalidMallocSetting(OneproxyError, ValueError):
    """$ONEPROXY_MALLOC is neither "keep" nor "system"."""


def malloc_setting(environ: dict[str, str] | None = None) -> str:
    """"keep" (the default) or "system", from $ONEPROXY_MALLOC."""
    raw = (os.environ if environ is None else environ).get(MALLOC_ENV, "").strip().lower()
    if raw in ("", "keep"):
        return "keep"
    if raw == "system":
        return "system"
    raise InvalidMallocSetting(
        f"{MALLOC_ENV}={raw!r} is not an allocator setting; set it to 'keep' (the default: "
        f"freed memory is reused) or 'system' (glibc's own thresholds), or unset it"
    )


def keep_freed_memory(setting: str | None = None) -> bool:
    """Raise glibc's mmap and trim thresholds unless `setting` (default: `malloc_setting()`) is
    "system"; True when they were set (glibc only)."""
    if malloc_setting(None if setting is None else {MALLOC_ENV: setting}) == "system":
        return False
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        glibc = None
    if not glibc:
        return False
    import ctypes

    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
