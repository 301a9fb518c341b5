"""Where things are: warehouse, mirror and cache folders, from options or environment variables."""

from __future__ import annotations

import os
from pathlib import Path

WAREHOUSE_ENV = "ONEPROXY_WAREHOUSE"
MIRROR_ENV = "ONEPROXY_MIRROR"
DEFAULT_WAREHOUSE = Path("oneproxy-warehouse")


def warehouse_dir(option: Path | None) -> Path:
    """`--warehouse`, else $ONEPROXY_WAREHOUSE, else ./oneproxy-warehouse."""
    if option is not None:
        return option
    return Path(os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE)


def mirror_dir(option: Path | None) -> Path | None:
    """`--mirror`, else $ONEPROXY_MIRROR, else none (files come from the cache or a download)."""
    if option is not None:
        return option
    value = os.environ.get(MIRROR_ENV)
    return Path(value) if value else None


def cache_dir(option: Path | None) -> Path:
    """`--cache`, else $ONEPROXY_CACHE, else the user cache folder."""
    if option is not None:
        return option
    from oneproxy.ingest.fetch import default_cache_dir  # urllib, platformdirs: only when asked

    return default_cache_dir()
