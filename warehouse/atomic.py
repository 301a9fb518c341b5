"""Atomic file writes: a temp name in the target's folder, then one rename.

A failed or interrupted write leaves the previous file intact; a target that is not a regular
file (a device such as /dev/full, a pipe) is written in place and never replaced or deleted.
Errors become one line: `DiskFull` when the device is full, `WriteFailed` otherwise.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from oneproxy.warehouse.errors import DiskFull, WriteFailed

_FULL = (errno.ENOSPC, errno.EDQUOT)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_error(exc: OSError, target: Path) -> DiskFull | WriteFailed:
    """The one-line error for a failed write of `target` (its previous content is intact)."""
    reason = exc.strerror or " ".join(str(exc).split())[:200]
    if exc.errno in _FULL:
        return DiskFull(f"no space left to write {target} ({reason}); the previous file is "
                        "intact: free some space and run the command again")
    return WriteFailed(f"cannot write {target} ({reason}); the previous file is intact")


@contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temp path (same folder and suffix as `target`) to write; renamed on success."""
    target = Path(target)
    if target.exists() and not target.is_file() and not target.is_dir():
        try:
            yield target
        except OSError as exc:
            raise write_error(exc, target) from None
        return
    if target.is_dir():
        raise WriteFailed(f"cannot write {target}: it is a folder; give a file name")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix or None,
                                    dir=target.parent)
    except OSError as exc:
        raise write_error(exc, target) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(exc, target) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(target: Path | str, data: bytes, *, fsync: bool = False) -> None:
    """Write `data` to `target` atomically (see `atomic_path`); `fsync` before the rename."""
    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
