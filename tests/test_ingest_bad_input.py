"""Bad input gives one clear error and leaves the warehouse exactly as it was."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from pathlib import Path

import pytest

from ingest.errors import ChecksumMismatch, CorruptFile, InconsistentCopies, UnsafePickle
from ingest.fetch import fetch
from ingest.pipeline import commit_batches, load_sources
from ingest.safe_load import load_file
from warehouse.store import Warehouse

pytestmark = pytest.mark.integration

EAGLE_I7 = "zheng-ningxin__brp-nas/examples/desktop-cpu-core-i7-7820x-fp32.pkl"


def snapshot(root: Path) -> dict[str, str]:
    """Every file under the warehouse with its sha256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def warehouse(ingested, tmp_path) -> Warehouse:
    wh = Warehouse(tmp_path / "wh")
    shutil.copytree(ingested.root, wh.root)
    return wh


def _linked_mirror(mirror: Path, target: Path) -> Path:
    """A mirror of symlinks to the real one, so that one file can be swapped for a bad copy."""
    shutil.copytree(mirror, target, copy_function=os.symlink)
    return target


def _ingest(wh: Warehouse, sources: list[str], mirror: Path, cache: Path,
            eagle_dir: Path | None = None) -> None:
    def resolve(f):
        return fetch(f, mirror=mirror, cache=cache)

    commit_batches(wh, load_sources(sources, resolve, eagle_dir), resolve)


def test_corrupted_mirror_file_is_refused(warehouse, mirror, tmp_path):
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


def test_malicious_eagle_pickle_is_refused_and_never_runs(warehouse, mirror, tmp_path):
    folder = tmp_path / "eagle"
    folder.mkdir()
    marker = tmp_path / "pwned"
    (folder / "desktop-gpu-gtx-1080ti-fp32.pkl").write_bytes(pickle.dumps(_Exploit(marker)))
    before = snapshot(warehouse.root)
    with pytest.raises(UnsafePickle, match=r"desktop-gpu-gtx-1080ti-fp32\.pkl.*system"):
        _ingest(warehouse, ["eagle"], mirror, tmp_path / "cache", folder)
    assert not marker.exists()
    assert snapshot(warehouse.root) == before


def test_truncated_eagle_pickle_is_refused(warehouse, mirror, tmp_path):
    folder = tmp_path / "eagle"
    folder.mkdir()
    data = (mirror / EAGLE_I7).read_bytes()
    (folder / "desktop-cpu-core-i7-7820x-fp32.pkl").write_bytes(data[: len(data) // 2])
    before = snapshot(warehouse.root)
    with pytest.raises(CorruptFile, match=r"desktop-cpu-core-i7-7820x-fp32\.pkl"):
        _ingest(warehouse, ["eagle"], mirror, tmp_path / "cache", folder)
    assert snapshot(warehouse.root) == before


def test_eagle_copy_that_disagrees_with_oneproxy_is_an_error(warehouse, mirror, tmp_path):
    folder = tmp_path / "eagle"
    folder.mkdir()
    series = load_file(mirror / EAGLE_I7)
    altered = {key: float(value) * 1.01 for key, value in series.items()}
    (folder / "desktop-cpu-core-i7-7820x-fp32.pkl").write_bytes(pickle.dumps(altered))
    before = snapshot(warehouse.root)
    with pytest.raises(InconsistentCopies, match=r"eagle_i7.*disagrees"):
        _ingest(warehouse, ["eagle"], mirror, tmp_path / "cache", folder)
    assert snapshot(warehouse.root) == before


def test_users_eagle_folder_adds_a_device_named_from_the_file(warehouse, mirror, tmp_path):
    folder = tmp_path / "eagle"
    folder.mkdir()
    series = load_file(mirror / EAGLE_I7)
    shutil.copy(mirror / EAGLE_I7, folder)
    scaled = {key: float(value) * 2 for key, value in series.items()}
    (folder / "mobile-cpu-snapdragon-675-kryo-460-int8.pkl").write_bytes(pickle.dumps(scaled))
    _ingest(warehouse, ["eagle"], mirror, tmp_path / "cache", folder)
    latency = warehouse.read("latency").to_pylist()
    sd675 = [r for r in latency if r["device_id"] == "eagle_sd675_cpu"]
    assert len(sd675) == 15_284
    i7 = {r["arch_id"]: r["latency_ms"] for r in latency if r["device_id"] == "eagle_i7"}
    assert all(r["latency_ms"] == pytest.approx(2 * i7[r["arch_id"]]) for r in sd675)
    devices = {r["device_id"]: r["platform_class"] for r in warehouse.read("devices").to_pylist()}
    assert devices["eagle_sd675_cpu"] == "mobile_cpu"
