"""The in-memory tar reader refuses traversal, links, oversized members and bad checksums."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from oneproxy.ingest.errors import ChecksumMismatch, CorruptFile, UnsafeArchive
from oneproxy.ingest.safe_tar import read_members


def _archive(tmp_path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    path = tmp_path / "a.tar.gz"
    path.write_bytes(buffer.getvalue())
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _link(name: str, kind: bytes, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_reads_regular_members_in_memory_and_writes_nothing(tmp_path):
    folder = tarfile.TarInfo("./d")
    folder.type = tarfile.DIRTYPE
    path = _archive(tmp_path, [folder, ("./d/result_0.json", b"{}"), ("d/b.json", b"[1]")])
    assert read_members(path, _sha(path)) == {"d/result_0.json": b"{}", "d/b.json": b"[1]"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz"]


@pytest.mark.parametrize("name", ["../evil.json", "/etc/passwd", "d/../../x", "a\\..\\b"])
def test_path_traversal_is_refused(tmp_path, name):
    path = _archive(tmp_path, [(name, b"x")])
    with pytest.raises(UnsafeArchive, match="unsafe path"):
        read_members(path, _sha(path))
    assert not (tmp_path.parent / "evil.json").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
                                  tarfile.FIFOTYPE])
def test_links_and_devices_are_refused(tmp_path, kind):
    path = _archive(tmp_path, [("ok.json", b"{}"), _link("link.json", kind, "ok.json")])
    with pytest.raises(UnsafeArchive, match="'link.json' is a link or a device"):
        read_members(path, _sha(path))


def test_oversized_member_total_and_count_are_refused(tmp_path):
    path = _archive(tmp_path, [("big.json", b"x" * 2000)])
    with pytest.raises(UnsafeArchive, match="2,000 bytes, over the 1,000 limit"):
        read_members(path, _sha(path), max_member=1000)
    path = _archive(tmp_path, [(f"m{i}.json", b"x" * 600) for i in range(3)])
    with pytest.raises(UnsafeArchive, match="over 1,500 bytes"):
        read_members(path, _sha(path), max_total=1500)
    with pytest.raises(UnsafeArchive, match="more than 2 members"):
        read_members(path, _sha(path), max_members=2)


def test_checksum_is_verified_before_the_archive_is_opened(tmp_path):
    path = tmp_path / "a.tar.gz"
    path.write_bytes(b"not even a tar")
    with pytest.raises(ChecksumMismatch, match="is not the pinned"):
        read_members(path, "0" * 64)
    with pytest.raises(CorruptFile, match="not a readable tar archive"):
        read_members(path, _sha(path))


def test_a_member_repeated_is_refused(tmp_path):
    path = _archive(tmp_path, [("a.json", b"1"), ("./a.json", b"2")])
    with pytest.raises(UnsafeArchive, match="occurs twice"):
        read_members(path, _sha(path))
