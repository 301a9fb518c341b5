"""Obtain a pinned upstream file as verified local bytes: mirror, then cache, then HTTPS.

`fetch` hands loaders a private copy written from the very bytes it hashed, so a file swapped
in the mirror or cache after the check is never parsed (hash and parse the same bytes).
"""

import atexit
import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import platformdirs
from oneproxy.ingest.errors import ChecksumMismatch, FetchError
from oneproxy.ingest.registry import UpstreamFile

GITHUB_RAW = "https://raw.githubusercontent.com"
_CHUNK = 1 << 20
_BACKOFF_S = 0.25
_MIRROR_HINT = (
    "set ONEPROXY_MIRROR (or --mirror DIR) to a folder laid out as <owner>__<repo>/<path>"
)

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """The download cache: env ONEPROXY_CACHE, else the user cache dir for ``oneproxy``."""
    env = os.environ.get("ONEPROXY_CACHE")
    return Path(env) if env else Path(platformdirs.user_cache_dir("oneproxy"))


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def cache_path(f: UpstreamFile, cache: Path) -> Path:
    """Where ``f`` is kept in the download cache: ``<cache>/<source_id>/<commit>/<path>``."""
    return cache / f.source_id / f.commit / f.path


_private: list[Path] = []  # this process's folder of verified copies (made on first use)


def _private_dir() -> Path:
    if not _private:
        folder = Path(tempfile.mkdtemp(prefix="oneproxy-verified-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _private.append(folder)
    return _private[0]


def fetch(f: UpstreamFile, *, mirror: Path | None, cache: Path, timeout: float = 30,
          retries: int = 3, base_url: str | None = None) -> Path:
    """A private copy of the verified bytes of ``f`` (found as `fetch_source` finds it).

    The bytes are read once, hashed, and written to a folder only this process uses; the
    loader parses that copy, never the mirror or cache file that was checked.
    """
    source = fetch_source(f, mirror=mirror, cache=cache, timeout=timeout, retries=retries,
                          base_url=base_url)
    data = source.read_bytes()
    got = hashlib.sha256(data).hexdigest()
    if got != f.sha256 or len(data) != f.bytes:
        raise _mismatch(f, source, got, len(data))
    target = _private_dir() / f.sha256[:16] / Path(f.path).name
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    return target


def fetch_source(
    f: UpstreamFile,
    *,
    mirror: Path | None,
    cache: Path,
    timeout: float = 30,
    retries: int = 3,
    base_url: str | None = None,
) -> Path:
    """Return the mirror or cache path holding the verified bytes of ``f``.

    Order: ``mirror/<owner>__<repo>/<path>`` if ``mirror`` is given and the file is there
    (a bad copy raises ChecksumMismatch and is left untouched), then the cache
    (a bad cached copy is deleted), then a download of ``f.url`` tried ``1 + retries`` times
    with ``timeout`` seconds per attempt. ``base_url`` replaces the
    ``https://raw.githubusercontent.com`` prefix of the URL (e.g. ``http://127.0.0.1:8000``
    for a local server laid out as ``/<owner>/<repo>/<commit>/<path>``).
    """
    if mirror is not None:
        if not mirror.is_dir():
            raise FetchError(f"mirror folder {mirror} does not exist; {_MIRROR_HINT}")
        mirrored = mirror / f.mirror_relpath
        if mirrored.is_file():
            _verify(f, mirrored)
            return mirrored

    cached = cache_path(f, cache)
    if cached.is_file():
        try:
            _verify(f, cached)
            return cached
        except ChecksumMismatch as bad:
            log.warning("deleting bad cached copy and downloading again: %s", bad)
            cached.unlink()

    return _download(f, _url(f, base_url), cache, timeout=timeout, retries=retries)


def _url(f: UpstreamFile, base_url: str | None) -> str:
    if base_url is None:
        return f.url
    if not f.url.startswith(GITHUB_RAW + "/"):
        raise FetchError(f"{f}: URL {f.url} does not start with {GITHUB_RAW}; cannot rebase it")
    return base_url.rstrip("/") + f.url.removeprefix(GITHUB_RAW)


def _mismatch(f: UpstreamFile, where: object, got_sha256: str, got_bytes: int) -> ChecksumMismatch:
    return ChecksumMismatch(
        f"{f} (commit {f.commit[:12]}) from {where}: expected sha256 {f.sha256} "
        f"({f.bytes} bytes), got sha256 {got_sha256} ({got_bytes} bytes); "
        "the copy is corrupt or from another commit"
    )


def _verify(f: UpstreamFile, path: Path) -> None:
    got_sha256 = sha256_file(path)
    got_bytes = path.stat().st_size
    if got_sha256 != f.sha256 or got_bytes != f.bytes:
        raise _mismatch(f, path, got_sha256, got_bytes)


def _download(f: UpstreamFile, url: str, cache: Path, *, timeout: float, retries: int) -> Path:
    """Stream ``url`` into a temp file in ``cache``, hashing as it goes; rename when it matches."""
    attempts = 1 + max(retries, 0)
    for attempt in range(attempts):
        try:
            got_sha256, got_bytes, tmp = _stream(url, cache, timeout)
        except urllib.error.HTTPError as err:
            if err.code < 500 or attempt == attempts - 1:
                raise FetchError(
                    f"cannot download {url}: HTTP {err.code} {err.reason}; {_MIRROR_HINT}"
                ) from None
        except (OSError, http.client.HTTPException) as err:  # URLError is an OSError
            if attempt == attempts - 1:
                reason = getattr(err, "reason", None) or err
                raise FetchError(
                    f"cannot download {url} after {attempts} attempts ({reason}); {_MIRROR_HINT}"
                ) from None
        else:
            if got_sha256 != f.sha256 or got_bytes != f.bytes:
                tmp.unlink()
                raise _mismatch(f, url, got_sha256, got_bytes)
            target = cache_path(f, cache)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            return target
        time.sleep(_BACKOFF_S * 2**attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _stream(url: str, folder: Path, timeout: float) -> tuple[str, int, Path]:
    """Download into a temp file in ``folder``; return its sha256, size and path."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as out:
        tmp = Path(out.name)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except BaseException:
            out.close()
            tmp.unlink()
            raise
    return digest.hexdigest(), size, tmp
