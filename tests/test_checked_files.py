"""The data file + meta.json pair the proxy cache and the feature store share."""

from __future__ import annotations

import json

from oneproxy.api.checked_files import META, read_checked, source_key, write_checked


def test_a_pair_reads_back_only_for_its_format_key_and_bytes(tmp_path):
    write_checked(tmp_path, "data.bin", b"\x00\x01payload", 3, "k1", {"extra": [1, 2]})
    meta, data = read_checked(tmp_path, "data.bin", 3, "k1")
    assert data == b"\x00\x01payload" and meta["extra"] == [1, 2] and meta["key"] == "k1"
    assert read_checked(tmp_path, "data.bin", 2, "k1") is None  # another format
    assert read_checked(tmp_path, "data.bin", 3, "k2") is None  # built from other inputs
    (tmp_path / "data.bin").write_bytes(b"\x00\x01payloaX")  # same size, other bytes
    assert read_checked(tmp_path, "data.bin", 3, "k1") is None
    (tmp_path / META).write_text("[1, 2]")  # valid JSON, not a meta object
    assert read_checked(tmp_path, "data.bin", 3, "k1") is None
    (tmp_path / META).write_text("{torn")
    assert read_checked(tmp_path, "data.bin", 3, "k1") is None
    assert read_checked(tmp_path / "absent", "data.bin", 3, "k1") is None


def test_a_folder_that_cannot_be_written_stores_nothing_and_raises_nothing(tmp_path):
    blocker = tmp_path / "a file"  # as unwritable as a read-only warehouse, even for root
    blocker.write_text("x")
    write_checked(blocker / "slot", "data.bin", b"x", 1, "k", {})
    assert blocker.read_text() == "x" and read_checked(blocker / "slot", "data.bin", 1, "k") is None


def test_meta_is_written_last_and_names_the_data(tmp_path):
    write_checked(tmp_path, "data.bin", b"abc", 1, "k", {})
    meta = json.loads((tmp_path / META).read_text())
    assert meta["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin", META]  # no temp files left


def test_the_source_key_follows_every_file_of_a_package(tmp_path, monkeypatch):
    package = tmp_path / "pkg_for_key"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("X = 1\n")
    (tmp_path / "mod_for_key.py").write_text("Y = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = source_key.__wrapped__(("pkg_for_key", "mod_for_key"))
    (package / "a.py").write_text("X = 2\n")
    changed = source_key.__wrapped__(("pkg_for_key", "mod_for_key"))
    (tmp_path / "mod_for_key.py").write_text("Y = 2\n")
    assert len({first, changed, source_key.__wrapped__(("pkg_for_key", "mod_for_key"))}) == 3
