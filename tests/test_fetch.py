"""Fetch against a real HTTP server on 127.0.0.1 serving real upstream files (and altered ones)."""

import hashlib
import shutil
import socket
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import platformdirs
import pytest
from oneproxy.ingest import registry
from oneproxy.ingest.errors import ChecksumMismatch, FetchError
from oneproxy.ingest.fetch import (
    cache_path,
    default_cache_dir,
    fetch,
    fetch_source,
    sha256_file,
)

SMALL = [
    registry.file("help", "data/fbnet/hardware_embedding_index.pt"),
    registry.file("help", "data/nasbench201/hardware_embedding_index.pt"),
    registry.file("ofa_zcu", "vai_deploy/lut-examples/128_lookup_table.yaml"),
]
FAST = {"timeout": 2.0, "retries": 1}




class _Server:
    """A static server of ``root`` that records request paths and can answer 503 first."""

    def __init__(self, root: Path):
        self.root = root
        self.hits: list[str] = []
        self.fail_next = 0
        handler = partial(_Handler, self, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def served(self, f: registry.UpstreamFile) -> Path:
        return self.root / f.repo / f.commit / f.path


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, server_state: _Server, *args, **kwargs):
        self.state = server_state
        super().__init__(*args, **kwargs)

    def do_GET(self):
        self.state.hits.append(self.path)
        if self.state.fail_next:
            self.state.fail_next -= 1
            self.send_error(503, "busy")
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(mirror, tmp_path) -> _Server:
    """Upstream URL layout ``/<owner>/<repo>/<commit>/<path>`` built from mirror copies."""
    state = _Server(tmp_path / "upstream")
    for f in SMALL:
        state.served(f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mirror / f.mirror_relpath, state.served(f))
    thread = threading.Thread(target=state.httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield state
    state.httpd.shutdown()
    state.httpd.server_close()
    thread.join()


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def _flip_first_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.mark.integration
def test_download_lands_in_cache_and_is_not_fetched_twice(server, cache):
    paths = [fetch_source(f, mirror=None, cache=cache, base_url=server.base_url, **FAST)
             for f in SMALL]
    assert paths == [cache / f.source_id / f.commit / f.path for f in SMALL]
    assert [sha256_file(p) for p in paths] == [f.sha256 for f in SMALL]
    assert server.hits == [f"/{f.repo}/{f.commit}/{f.path}" for f in SMALL]
    assert _files_under(cache) == sorted(paths)

    again = [fetch_source(f, mirror=None, cache=cache, base_url=server.base_url, **FAST)
             for f in SMALL]
    assert again == paths
    assert len(server.hits) == 3


@pytest.mark.integration
@pytest.mark.parametrize(
    "alter",
    [_flip_first_byte, lambda p: p.write_bytes(p.read_bytes()[:-1])],
    ids=["flipped-byte", "truncated"],
)
def test_altered_download_is_rejected_and_nothing_is_kept(server, cache, alter):
    f = SMALL[0]
    alter(server.served(f))
    bad_sha256 = sha256_file(server.served(f))
    with pytest.raises(ChecksumMismatch) as err:
        fetch_source(f, mirror=None, cache=cache, base_url=server.base_url, **FAST)
    message = str(err.value)
    assert "HayeonLee/HELP/data/fbnet/hardware_embedding_index.pt" in message
    assert f.sha256 in message
    assert bad_sha256 in message
    assert _files_under(cache) == []
    assert len(server.hits) == 1


@pytest.mark.integration
def test_unreachable_host_names_url_and_mirror_setting(cache):
    f = SMALL[0]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetch(
            f, mirror=None, cache=cache, base_url=f"http://127.0.0.1:{port}", timeout=0.5, retries=1
        )
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert "\n" not in message
    assert f"http://127.0.0.1:{port}/{f.repo}/{f.commit}/{f.path}" in message
    assert "ONEPROXY_MIRROR" in message
    assert "<owner>__<repo>/<path>" in message
    assert not isinstance(err.value, ChecksumMismatch)
    assert _files_under(cache) == []


@pytest.mark.integration
def test_missing_upstream_file_is_not_retried(server, cache):
    f = SMALL[1]
    server.served(f).unlink()
    with pytest.raises(FetchError, match="HTTP 404.*ONEPROXY_MIRROR"):
        fetch_source(f, mirror=None, cache=cache, base_url=server.base_url, timeout=2.0, retries=3)
    assert len(server.hits) == 1
    assert _files_under(cache) == []


@pytest.mark.integration
def test_server_error_is_retried(server, cache):
    f = SMALL[2]
    server.fail_next = 1
    path = fetch_source(f, mirror=None, cache=cache, base_url=server.base_url, **FAST)
    assert sha256_file(path) == f.sha256
    assert len(server.hits) == 2


@pytest.mark.integration
def test_server_error_after_all_retries_is_a_fetch_error(server, cache):
    server.fail_next = 5
    with pytest.raises(FetchError, match="HTTP 503"):
        fetch_source(SMALL[0], mirror=None, cache=cache, base_url=server.base_url, **FAST)
    assert len(server.hits) == 2
    assert _files_under(cache) == []


@pytest.mark.integration
def test_mirror_hit_returns_mirror_path(mirror, server, cache):
    for f in SMALL:
        got = fetch_source(f, mirror=mirror, cache=cache, base_url=server.base_url, **FAST)
        assert got == mirror / f.mirror_relpath
    assert server.hits == []
    assert _files_under(cache) == []


@pytest.mark.integration
def test_file_missing_from_mirror_is_downloaded(server, cache, tmp_path):
    empty_mirror = tmp_path / "mirror"
    empty_mirror.mkdir()
    f = SMALL[0]
    got = fetch_source(f, mirror=empty_mirror, cache=cache, base_url=server.base_url, **FAST)
    assert got == cache_path(f, cache)
    assert len(server.hits) == 1


def test_mirror_folder_that_does_not_exist_is_an_error(cache, tmp_path):
    with pytest.raises(FetchError, match="mirror folder .*nowhere does not exist"):
        fetch_source(SMALL[0], mirror=tmp_path / "nowhere", cache=cache)


@pytest.mark.integration
def test_corrupted_mirror_file_is_rejected_and_left_alone(mirror, server, cache, tmp_path):
    f = SMALL[2]
    bad_mirror = tmp_path / "mirror"
    copy = bad_mirror / f.mirror_relpath
    copy.parent.mkdir(parents=True)
    shutil.copyfile(mirror / f.mirror_relpath, copy)
    _flip_first_byte(copy)
    bad_bytes = copy.read_bytes()
    with pytest.raises(ChecksumMismatch) as err:
        fetch_source(f, mirror=bad_mirror, cache=cache, base_url=server.base_url, **FAST)
    message = str(err.value)
    assert str(f) in message
    assert str(copy) in message
    assert f.sha256 in message
    assert hashlib.sha256(bad_bytes).hexdigest() in message
    assert copy.read_bytes() == bad_bytes
    assert _files_under(cache) == []
    assert server.hits == []


@pytest.mark.integration
def test_corrupted_cache_file_is_replaced_by_a_fresh_download(server, cache):
    f = SMALL[1]
    first = fetch_source(f, mirror=None, cache=cache, base_url=server.base_url, **FAST)
    _flip_first_byte(first)
    second = fetch_source(f, mirror=None, cache=cache, base_url=server.base_url, **FAST)
    assert second == first
    assert sha256_file(second) == f.sha256
    assert len(server.hits) == 2
    assert _files_under(cache) == [first]


def test_default_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ONEPROXY_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("ONEPROXY_CACHE")
    assert default_cache_dir() == Path(platformdirs.user_cache_dir("oneproxy"))


def test_sha256_file_matches_known_digest(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    assert sha256_file(path) == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    big = tmp_path / "big"
    big.write_bytes(b"x" * (3 << 20))
    assert sha256_file(big) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()


@pytest.mark.integration
def test_fetch_hands_out_a_private_copy_of_the_bytes_it_hashed(mirror, cache, tmp_path):
    f = SMALL[0]
    own = tmp_path / "mirror"
    original = own / f.mirror_relpath
    original.parent.mkdir(parents=True)
    shutil.copyfile(mirror / f.mirror_relpath, original)
    got = fetch(f, mirror=own, cache=cache)
    assert got != original and sha256_file(got) == f.sha256
    _flip_first_byte(original)  # swapped after the check: the loader still parses what was hashed
    assert sha256_file(got) == f.sha256
    with pytest.raises(ChecksumMismatch):
        fetch(f, mirror=own, cache=cache)
