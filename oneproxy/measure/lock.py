"""One `measure` at a time per machine: an exclusive flock on a file that names its holder."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from oneproxy.warehouse.errors import OneproxyError

LOCK_NAME = "measure.lock"


class MachineBusy(OneproxyError):
    """Another measurement holds the machine."""


@contextmanager
def machine_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (its content: our pid); MachineBusy names the holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise MachineBusy(
                f"another `oneproxy measure` (pid {holder}) holds the machine lock {path}; "
                "wait for it to finish, timings taken side by side are not comparable"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
