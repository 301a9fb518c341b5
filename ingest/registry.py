"""The pinned upstream files the project reads: repo, commit, path, sha256, size, URL, license.

The facts live in ``registry.json`` next to this module (package data), so an installed
project knows every file it needs without any manifest from outside.
"""

import difflib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import PurePosixPath

from oneproxy.warehouse.errors import OneproxyError


class UnknownSource(OneproxyError):
    """A source id that the registry does not list."""


class UnknownFile(OneproxyError):
    """A path that the registry does not list for a source."""


@dataclass(frozen=True)
class UpstreamFile:
    """One file of an upstream repository, pinned to a commit and a sha256."""

    source_id: str
    repo: str
    commit: str
    path: str
    sha256: str
    bytes: int
    url: str
    license: str

    @property
    def mirror_relpath(self) -> str:
        """Where the file sits in a mirror folder: ``<owner>__<repo>/<path>``."""
        return f"{self.repo.replace('/', '__')}/{self.path}"

    def __str__(self) -> str:
        return f"{self.repo}/{self.path}"


@dataclass(frozen=True)
class Source:
    """An upstream repository at a pinned commit and the files the project takes from it."""

    source_id: str
    repo: str
    commit: str
    license: str
    description: str
    files: tuple[UpstreamFile, ...]


def _source_from_json(raw: dict) -> Source:
    files = tuple(
        UpstreamFile(
            source_id=raw["source_id"],
            repo=raw["repo"],
            commit=raw["commit"],
            path=f["path"],
            sha256=f["sha256"],
            bytes=f["bytes"],
            url=f["url"],
            license=raw["license"],
        )
        for f in raw["files"]
    )
    return Source(
        source_id=raw["source_id"],
        repo=raw["repo"],
        commit=raw["commit"],
        license=raw["license"],
        description=raw["description"],
        files=files,
    )


@cache
def _registry() -> dict[str, Source]:
    text = resources.files("oneproxy.ingest").joinpath("registry.json").read_text(encoding="utf-8")
    return {raw["source_id"]: _source_from_json(raw) for raw in json.loads(text)["sources"]}


def sources() -> list[Source]:
    """Every registered source, in registry order."""
    return list(_registry().values())


def source(source_id: str) -> Source:
    """The source registered under ``source_id``; raises UnknownSource listing the known ids."""
    try:
        return _registry()[source_id]
    except KeyError:
        known = ", ".join(_registry())
        raise UnknownSource(f"unknown source {source_id!r}; known sources: {known}") from None


def files(source_id: str, pattern: str | None = None) -> list[UpstreamFile]:
    """The files of a source, optionally only those whose whole path matches a glob.

    ``*`` and ``?`` do not cross ``/``: ``data/*/latency/*.pt`` matches
    ``data/fbnet/latency/pixel3.pt`` but ``*.pt`` matches only top-level files.
    A pattern that matches nothing gives an empty list.
    """
    all_files = source(source_id).files
    if pattern is None:
        return list(all_files)
    # An absolute pattern makes PurePosixPath.match compare the whole path, segment by segment.
    anchored = "/" + pattern.lstrip("/")
    return [f for f in all_files if PurePosixPath("/" + f.path).match(anchored)]


def file(source_id: str, path: str) -> UpstreamFile:
    """The file at ``path`` in a source; raises UnknownFile suggesting close paths."""
    by_path = {f.path: f for f in source(source_id).files}
    try:
        return by_path[path]
    except KeyError:
        close = difflib.get_close_matches(path, by_path, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownFile(
            f"source {source_id!r} ({source(source_id).repo}) has no file {path!r}{hint}"
        ) from None
