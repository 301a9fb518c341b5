"""Bad input gives one clear error and leaves the warehouse exactly as it was."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
from oneproxy.ingest.errors import ChecksumMismatch, CorruptFile, InconsistentCopies, UnsafePickle
from oneproxy.ingest.fetch import fetch
from oneproxy.ingest.pipeline import commit_batches, load_sources
from oneproxy.ingest.safe_load import load_file
from oneproxy.warehouse.store import Warehouse

pytestmark = pytest.mark.integration

EAGLE_I7 = "zheng-ningxin__brp-nas/examples/desktop-cpu-core-i7-7820x-fp32.pkl"




def _linked_mirror(mirror: Path, target: Path) -> Path:
    """A mirror of symlinks to the real one, so that one file can be swapped for a bad copy."""
    shutil.copytree(mirror, target, copy_function=os.symlink)
    return target


def _ingest(wh: Warehouse, sources: list[str], mirror: Path, cache: Path,
            eagle_dir: Path | None = None) -> None:
    def resolve(f):
        return fetch(f, mirror=mirror, cache=cache)

    commit_batches(wh, load_sources(sources, resolve, eagle_dir), resolve)


def test_corrupted_mirror_file_is_refused(warehouse, mirror, tmp_path, snapshot):
    bad_mirror = _linked_mirror(mirror, tmp_path / "mirror")
    target = bad_mirror / "HayeonLee__HELP/data/nasbench201/latency/raspi4.pt"
    data = bytearray(target.read_bytes())
    target.unlink()
    data[200] ^= 0xFF
    target.write_bytes(bytes(data))
    before = snapshot(warehouse.root)
    with pytest.raises(ChecksumMismatch, match=r"HELP/data/nasbench201/latency/raspi4\.pt"):
        _ingest(warehouse, ["help"], bad_mirror, tmp_path / "cache")
    assert snapshot(warehouse.root) == before


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _eagle_folder(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "eagle"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _refused_and_unchanged(wh: Warehouse, mirror: Path, tmp_path: Path, files: dict[str, bytes],
                           error: type[Exception], match: str, snapshot) -> None:
    folder = _eagle_folder(tmp_path, files)
    before = snapshot(wh.root)
    with pytest.raises(error, match=match):
        _ingest(wh, ["eagle"], mirror, tmp_path / "cache", folder)
    assert snapshot(wh.root) == before


def test_malicious_eagle_pickle_is_refused_and_never_runs(warehouse, mirror, tmp_path, snapshot):
    marker = tmp_path / "pwned"
    _refused_and_unchanged(warehouse, mirror, tmp_path,
                           {"desktop-gpu-gtx-1080ti-fp32.pkl": pickle.dumps(_Exploit(marker))},
                           UnsafePickle, r"desktop-gpu-gtx-1080ti-fp32\.pkl.*system", snapshot)
    assert not marker.exists()


def test_truncated_eagle_pickle_is_refused(warehouse, mirror, tmp_path, snapshot):
    data = (mirror / EAGLE_I7).read_bytes()
    _refused_and_unchanged(warehouse, mirror, tmp_path,
                           {"desktop-cpu-core-i7-7820x-fp32.pkl": data[: len(data) // 2]},
                           CorruptFile, r"desktop-cpu-core-i7-7820x-fp32\.pkl", snapshot)


def test_eagle_copy_that_disagrees_with_oneproxy_is_an_error(warehouse, mirror, tmp_path, snapshot):
    series = load_file(mirror / EAGLE_I7)
    altered = {key: float(value) * 1.01 for key, value in series.items()}
    _refused_and_unchanged(warehouse, mirror, tmp_path,
                           {"desktop-cpu-core-i7-7820x-fp32.pkl": pickle.dumps(altered)},
                           InconsistentCopies, r"eagle_i7.*disagrees", snapshot)


def test_users_eagle_folder_adds_a_device_named_from_the_file(warehouse, mirror, tmp_path):
    series = load_file(mirror / EAGLE_I7)
    scaled = {key: float(value) * 2 for key, value in series.items()}
    folder = _eagle_folder(tmp_path, {
        "desktop-cpu-core-i7-7820x-fp32.pkl": (mirror / EAGLE_I7).read_bytes(),
        "mobile-cpu-snapdragon-675-kryo-460-int8.pkl": pickle.dumps(scaled),
    })
    _ingest(warehouse, ["eagle"], mirror, tmp_path / "cache", folder)
    latency = warehouse.read("latency").to_pylist()
    sd675 = [r for r in latency if r["device_id"] == "eagle_sd675_cpu"]
    assert len(sd675) == 15_284
    i7 = {r["arch_id"]: r["latency_ms"] for r in latency if r["device_id"] == "eagle_i7"}
    assert all(r["latency_ms"] == pytest.approx(2 * i7[r["arch_id"]]) for r in sd675)
    devices = {r["device_id"]: r["platform_class"] for r in warehouse.read("devices").to_pylist()}
    assert devices["eagle_sd675_cpu"] == "mobile_cpu"
