"""Shared fixtures: the mirror of pinned public files, and one warehouse ingested from it."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from oneproxy.ingest.fetch import fetch
from oneproxy.ingest.pipeline import LOADERS, commit_batches, load_sources
from oneproxy.warehouse.store import Warehouse


@pytest.fixture(scope="session")
def mirror() -> Path:
    """ONEPROXY_MIRROR; a test that needs it fails (never skips) when it is missing."""
    value = os.environ.get("ONEPROXY_MIRROR")
    if not value or not Path(value, "MANIFEST.json").is_file():
        pytest.fail(
            f"ONEPROXY_MIRROR={value!r} is unset or holds no MANIFEST.json: set it to the folder "
            "of pinned public files laid out as <owner>__<repo>/<path> (e.g. ../shared/datasets)"
        )
    return Path(value).absolute()


@pytest.fixture(scope="session")
def resolve(mirror, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return lambda f: fetch(f, mirror=mirror, cache=cache)


@pytest.fixture(scope="session")
def ingested(resolve, tmp_path_factory) -> Warehouse:
    """A warehouse holding every NAS-Bench-201 source (read-only for tests: do not commit to it)."""
    wh = Warehouse(tmp_path_factory.mktemp("warehouse"))
    commit_batches(wh, load_sources(sorted(LOADERS), resolve), resolve)
    return wh


@pytest.fixture
def warehouse(ingested, tmp_path) -> Warehouse:
    """A private copy of the ingested warehouse that a test may write to."""
    return Warehouse(shutil.copytree(ingested.root, tmp_path / "wh"))


def _snapshot(root: Path) -> dict[str, str]:
    """Data files only: the lock file and the hash cache (root dotfiles) are bookkeeping."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and not p.relative_to(root).parts[0].startswith(".")}


@pytest.fixture
def snapshot():
    """Every file under a warehouse with its sha256: equal snapshots = an untouched warehouse."""
    return _snapshot


@pytest.fixture
def refused_ingest(tmp_path, monkeypatch):
    """Check that `oneproxy ingest SOURCE` from `tmp_path/mirror` fails with one line naming
    `message` and leaves the warehouse exactly as it was (the registry's pinned sha256 is not
    consulted first, so the doctored file is loaded)."""
    from click.testing import CliRunner

    from oneproxy.cli import main

    def check(warehouse: Warehouse, source: str, message: str) -> None:
        monkeypatch.setattr("oneproxy.api.ingest.unchanged", lambda *_: None)
        before = _snapshot(warehouse.root)
        result = CliRunner().invoke(main, [
            "ingest", source, "--mirror", str(tmp_path / "mirror"), "--cache",
            str(tmp_path / "cache"), "--warehouse", str(warehouse.root)])
        assert result.exit_code == 1
        assert message in result.output
        assert "Traceback" not in result.output
        assert _snapshot(warehouse.root) == before

    return check


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A synthetic NB201 warehouse (tests/synthetic.py), built once; read-only for tests."""
    from synthetic import build

    return build(tmp_path_factory.mktemp("synthetic") / "wh").root


@pytest.fixture
def synth(synthetic_root, tmp_path) -> Warehouse:
    """A private copy of the synthetic warehouse that a test may write to."""
    return Warehouse(shutil.copytree(synthetic_root, tmp_path / "synth"))
