"""The upstream file registry: its API on the packaged JSON, and its facts on the mirror."""

import dataclasses
import json
import re

import pytest
from oneproxy.ingest import registry
from oneproxy.ingest.fetch import GITHUB_RAW, sha256_file
from oneproxy.warehouse.errors import OneproxyError

EXPECTED_COUNTS = {
    "help": 73,
    "oneproxy": 19,
    "eagle": 1,
    "nb201_acc": 1,
    "ofa_note10": 17,
    "ofa_zcu": 7,
    "mobile_ml_benchmark": 9,
    "accel_nasbench": 3,
}
EXPECTED_REPOS = {
    "help": "HayeonLee/HELP",
    "oneproxy": "Ren-Research/OneProxy",
    "eagle": "zheng-ningxin/brp-nas",
    "nb201_acc": "v-tao/nats-bench-landscape",
    "ofa_note10": "mit-han-lab/once-for-all",
    "ofa_zcu": "sxtyzhangzk/once-for-all",
    "mobile_ml_benchmark": "qed-usc/mobile-ml-benchmark",
    "accel_nasbench": "afzalxo/Accel-NASBench",
}




def test_sources_ids_repos_and_file_counts():
    got = {s.source_id: (s.repo, len(s.files)) for s in registry.sources()}
    assert got == {sid: (EXPECTED_REPOS[sid], n) for sid, n in EXPECTED_COUNTS.items()}


def test_source_fields():
    help_ = registry.source("help")
    assert help_.commit == "45f70eb92d0d735970a33b608d1544ad3c52f285"
    assert help_.license == "MIT"
    assert registry.source("eagle").license == "Apache-2.0"
    assert sum(f.bytes for f in help_.files) == 8_284_711
    assert all(s.description and "\n" not in s.description for s in registry.sources())


def test_every_file_is_pinned_consistently():
    for s in registry.sources():
        assert re.fullmatch(r"[0-9a-f]{40}", s.commit)
        assert len({f.path for f in s.files}) == len(s.files)
        for f in s.files:
            assert (f.source_id, f.repo, f.commit, f.license) == (
                s.source_id,
                s.repo,
                s.commit,
                s.license,
            )
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256)
            assert f.bytes > 0
            assert f.url == f"{GITHUB_RAW}/{s.repo}/{s.commit}/{f.path}"


def test_unknown_source_lists_known_ids():
    with pytest.raises(registry.UnknownSource) as err:
        registry.source("hwnasbench")
    assert isinstance(err.value, OneproxyError)
    message = str(err.value)
    assert "'hwnasbench'" in message
    assert all(sid in message for sid in EXPECTED_COUNTS)
    with pytest.raises(registry.UnknownSource):
        registry.files("nope", "*.pt")


@pytest.mark.parametrize(
    ("source_id", "pattern", "count"),
    [
        ("help", None, 73),
        ("help", "data/nasbench201/latency/*.pt", 27),
        ("help", "data/*/latency/*.pt", 66),
        ("help", "data/*/hardware_embedding_index.pt", 3),
        ("help", "*.pt", 0),
        ("help", "data/nasbench201/latency/pixel?.pt", 2),
        ("oneproxy", "latency_data/*.pickle", 18),
        ("oneproxy", "encode.pickle", 1),
        ("ofa_note10", "tutorial/checkpoints/latency_table@note10/*_lookup_table.yaml", 17),
        ("ofa_zcu", "*.yaml", 0),
    ],
)
def test_files_glob_matches_whole_path(source_id, pattern, count):
    got = registry.files(source_id, pattern)
    assert len(got) == count
    assert all(f.source_id == source_id for f in got)


def test_files_glob_keeps_registry_order():
    paths = [f.path for f in registry.files("help", "data/nasbench201/latency/titan*_1.pt")]
    assert paths == [
        "data/nasbench201/latency/titan_rtx_1.pt",
        "data/nasbench201/latency/titanx_1.pt",
        "data/nasbench201/latency/titanxp_1.pt",
    ]


def test_file_lookup_and_mirror_relpath():
    f = registry.file("help", "data/fbnet/hardware_embedding_index.pt")
    assert f.bytes == 431
    assert f.sha256 == "e76207257f9c50706ec2cae178a50e8341956e7bed1e0221fd41a82bfd9670e5"
    assert f.mirror_relpath == "HayeonLee__HELP/data/fbnet/hardware_embedding_index.pt"
    assert str(f) == "HayeonLee/HELP/data/fbnet/hardware_embedding_index.pt"
    zcu = registry.file("ofa_zcu", "vai_deploy/lut-examples/128_lookup_table.yaml")
    assert zcu.mirror_relpath == (
        "sxtyzhangzk__once-for-all/vai_deploy/lut-examples/128_lookup_table.yaml"
    )


def test_unknown_file_suggests_close_paths():
    with pytest.raises(registry.UnknownFile) as err:
        registry.file("help", "data/nasbench201/latency/pixel4.pt")
    message = str(err.value)
    assert "HayeonLee/HELP" in message
    assert "data/nasbench201/latency/pixel3.pt" in message


def test_records_are_frozen():
    f = registry.file("eagle", "examples/desktop-cpu-core-i7-7820x-fp32.pkl")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.sha256 = "0" * 64
    with pytest.raises(dataclasses.FrozenInstanceError):
        registry.source("eagle").commit = "x"


@pytest.mark.integration
def test_registry_agrees_with_manifest(mirror):
    manifest = json.loads((mirror / "MANIFEST.json").read_text())
    by_repo = {s.repo: s for s in registry.sources()}
    assert set(by_repo) == {raw["repo"] for raw in manifest["sources"]}
    for raw in manifest["sources"]:
        s = by_repo[raw["repo"]]
        assert (s.commit, s.license) == (raw["commit"], raw["license"])
        assert {(f.path, f.sha256, f.bytes, f.url) for f in s.files} == {
            (m["path"], m["sha256"], m["bytes"], m["url"]) for m in raw["files"]
        }
        assert {f.mirror_relpath.split("/", 1)[0] for f in s.files} == {raw["folder"]}


@pytest.mark.integration
def test_every_mirror_file_hashes_to_its_registry_sha256(mirror):
    pinned = {f.mirror_relpath: f for s in registry.sources() for f in s.files}
    on_disk = {
        p.relative_to(mirror).as_posix(): p
        for p in mirror.rglob("*")
        if p.is_file() and p.name != "MANIFEST.json"
    }
    assert set(on_disk) == set(pinned)
    for relpath, path in on_disk.items():
        assert path.stat().st_size == pinned[relpath].bytes, relpath
        assert sha256_file(path) == pinned[relpath].sha256, relpath
