"""A data file beside the `meta.json` that vouches for it: how the warehouse folder stores what
it computed once (proxy fits, feature matrices) without pickle.

`meta.json` is written last and names the data file's sha256, the format and the key (what the
data was computed from); a reader that finds any of them different ignores the files, so a torn,
tampered or stale pair is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from functools import cache
from pathlib import Path

META = "meta.json"


@cache
def source_key(modules: tuple[str, ...]) -> str:
    """sha256 of the source of `modules` (every file of a package): what stored results were
    computed by, so that new code never reads old results."""
    h = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, name
        files = ([Path(spec.origin)] if spec.submodule_search_locations is None
                 else sorted(Path(spec.origin).parent.glob("*.py")))
        for path in files:
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def read_checked(folder: Path, data_name: str, form: int, key: str) -> tuple[dict, bytes] | None:
    """`meta.json` and the data file's bytes when the meta names `form`, `key` and the data's
    sha256, else None (missing, unreadable or mismatched)."""
    try:
        meta = json.loads((folder / META).read_text())
        data = (folder / data_name).read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != form or meta.get("key") != key \
            or meta.get("sha256") != hashlib.sha256(data).hexdigest():
        return None
    return meta, data


def write_checked(folder: Path, data_name: str, data: bytes, form: int, key: str,
                  meta: dict) -> None:
    """Store `data`, then `meta` with its format, key and sha256, each atomically; a folder that
    cannot be written (a read-only warehouse) just stores nothing."""
    record = {"format": form, "key": key, "sha256": hashlib.sha256(data).hexdigest(), **meta}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        replace_bytes(folder / data_name, data)
        replace_bytes(folder / META, json.dumps(record).encode())
    except OSError:
        return


def replace_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (a temp file in its folder, then one rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
