"""Reading the members of a (gzipped) tar archive in memory, safely: nothing touches the disk.

The archive's bytes are hashed before they are opened; a mismatch is `ChecksumMismatch`. A member
whose name is absolute or climbs out with ``..``, any link or device, a member larger than
`max_member` bytes, more than `max_members` members, or more than `max_total` bytes in all is
`UnsafeArchive` naming the archive and the member. Directories are skipped.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path, PurePosixPath

from oneproxy.ingest.errors import ChecksumMismatch, CorruptFile, UnsafeArchive

MAX_MEMBER = 1 << 20  # 1 MiB
MAX_TOTAL = 256 << 20  # 256 MiB
MAX_MEMBERS = 100_000


def _check_name(archive: Path, name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or not name.strip("./"):
        raise UnsafeArchive(f"{archive}: member {name!r} has an unsafe path")
    return str(PurePosixPath(*[p for p in path.parts if p != "."]))


def read_members(archive: Path, sha256: str, *, max_member: int = MAX_MEMBER,
                 max_total: int = MAX_TOTAL, max_members: int = MAX_MEMBERS) -> dict[str, bytes]:
    """Every regular file of the archive, by its normalised name, read into memory."""
    data = archive.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ChecksumMismatch(f"{archive}: sha256 {digest} is not the pinned {sha256}")
    members: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for count, member in enumerate(tar, start=1):
                if count > max_members:
                    raise UnsafeArchive(f"{archive}: more than {max_members} members")
                name = _check_name(archive, member.name)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise UnsafeArchive(f"{archive}: member {member.name!r} is a link or a "
                                        "device, not a regular file")
                if member.size > max_member:
                    raise UnsafeArchive(f"{archive}: member {member.name!r} holds "
                                        f"{member.size:,} bytes, over the {max_member:,} limit")
                total += member.size
                if total > max_total:
                    raise UnsafeArchive(f"{archive}: members hold over {max_total:,} bytes")
                if name in members:
                    raise UnsafeArchive(f"{archive}: member {member.name!r} occurs twice")
                stream = tar.extractfile(member)
                members[name] = stream.read(max_member + 1) if stream else b""
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CorruptFile(f"{archive}: not a readable tar archive: {exc}") from None
    return members
