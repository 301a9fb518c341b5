"""The write lock of a warehouse: one writer at a time publishes versions and the manifest.

An exclusive `flock` on `<root>/.write.lock`, reentrant within a process (a commit inside a
`Warehouse.writing()` block takes it again for free). Writers wait for it up to a timeout
(env `ONEPROXY_LOCK_TIMEOUT`, seconds, default 600): two ingests of different devices must both
land. The operating system drops the lock when the holding process dies, however it dies.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from oneproxy.warehouse.errors import WarehouseLocked

LOCK_FILE = ".write.lock"
TIMEOUT_ENV = "ONEPROXY_LOCK_TIMEOUT"
DEFAULT_TIMEOUT_S = 600.0
_POLL_S = 0.05

_held: dict[Path, list[int]] = {}  # root → [fd, depth] of the locks this process holds
_guard = threading.RLock()


def lock_timeout() -> float:
    """Seconds a writer waits for the lock (env ONEPROXY_LOCK_TIMEOUT)."""
    value = os.environ.get(TIMEOUT_ENV)
    try:
        return float(value) if value else DEFAULT_TIMEOUT_S
    except ValueError:
        return DEFAULT_TIMEOUT_S


def holder(root: Path) -> str:
    """Who last took the lock, as written in the lock file ('pid unknown' if unreadable)."""
    try:
        pid, taken = (root / LOCK_FILE).read_text().split(maxsplit=1)
        return f"pid {int(pid)}, since {taken.strip()}"
    except (OSError, ValueError):
        return "pid unknown"


def _acquire(fd: int, root: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise WarehouseLocked(
                    f"another oneproxy writer ({holder(root)}) has held the write lock on {root} "
                    f"for over {timeout:g}s: let it finish, or raise {TIMEOUT_ENV}"
                ) from None
            time.sleep(_POLL_S)


@contextmanager
def write_lock(root: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the warehouse's write lock for the block (waits up to `timeout` seconds)."""
    root = Path(root).absolute()
    with _guard:
        entry = _held.get(root)
        if entry is not None:
            entry[1] += 1
        else:
            root.mkdir(parents=True, exist_ok=True)
            fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _acquire(fd, root, lock_timeout() if timeout is None else timeout)
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()} {datetime.now(UTC).isoformat()}\n".encode(), 0)
            except BaseException:
                os.close(fd)
                raise
            _held[root] = entry = [fd, 1]
    try:
        yield
    finally:
        with _guard:
            entry[1] -= 1
            if entry[1] == 0:
                del _held[root]
                os.close(entry[0])
