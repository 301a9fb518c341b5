"""Proxy-side models built once: a proxy's fitted predictors are stored in the warehouse folder
and reused by every adaptation until the proxy's latencies or the predictor code change.

Per proxy series and set of architectures, `<warehouse>/models/<space>/<dataset>/<device>/<slot>/`
holds `base.npy` (the kernel predictor's latency of every architecture of the space)
and `meta.json` (the linear predictors' weights per encoding, the key the files were built for,
and the sha256 of base.npy). No pickle: a file whose sha256, key or shape does not match is
ignored and rebuilt.
The key covers the space's architecture ids, the proxy's latency row and the source of the
predictor modules, so a changed series or a changed predictor never reuses old fits.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from oneproxy.analytics.adaptation import BASE_ENCODING, ProxyModels
from oneproxy.analytics.predictors.encodings import SpaceFeatures
from oneproxy.api.checked_files import read_checked, source_key, write_checked
from oneproxy.warehouse.store import Warehouse

FOLDER = "models"
FORMAT = 3  # 3: meta's "sha256" (2 named it base_sha256; 1 stored base.parquet, slower to read)
BASE = "base.npy"
_CODE = ("oneproxy.analytics.adaptation", "oneproxy.analytics.predictors.kernel",
         "oneproxy.analytics.predictors.linear", "oneproxy.analytics.predictors.encodings")


def series_key(arch_ids: np.ndarray, latency: np.ndarray) -> str:
    """What a proxy's fits depend on: its architectures, its latencies, the predictor code."""
    h = hashlib.sha256(np.ascontiguousarray(arch_ids, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(latency, dtype="<f8").tobytes())
    h.update(source_key(_CODE).encode())
    return h.hexdigest()[:24]


def cached_models(wh: Warehouse, space: str, dataset: str, features: SpaceFeatures,
                  arch_ids: np.ndarray, proxies: dict[str, np.ndarray]) -> dict[str, ProxyModels]:
    """`ProxyModels` of each proxy (device -> latency row), fitted now or read back.

    A proxy has one stored slot per set of architectures it is fitted on (the whole series, or
    the pool of an evaluation split), so that adapting and evaluating do not evict each other.
    """
    return {device: _one(wh.root / FOLDER / space / dataset / device / _slot(arch_ids, latency),
                         features, arch_ids, latency) for device, latency in proxies.items()}


def _slot(arch_ids: np.ndarray, latency: np.ndarray) -> str:
    """Which architectures a proxy row covers and measured: its slot's folder name."""
    h = hashlib.sha256(np.ascontiguousarray(arch_ids, dtype="<i8").tobytes())
    h.update(np.packbits(np.isfinite(latency)).tobytes())
    return h.hexdigest()[:12]


def _one(folder: Path, features: SpaceFeatures, arch_ids: np.ndarray,
         latency: np.ndarray) -> ProxyModels:
    key = series_key(arch_ids, latency)
    stored = _read(folder, key, arch_ids)
    if stored is not None:
        kernel, coefs = stored
        return ProxyModels.of(features, latency, kernel=kernel, linear_coefs=coefs)
    models = ProxyModels.of(features, latency)
    models.linear_coef(BASE_ENCODING)
    _write(folder, key, models.kernel, models.fitted_coefs())
    return models


def _read(folder: Path, key: str,
          arch_ids: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """The stored fits when they are whole and were built for `key`, else None."""
    stored = read_checked(folder, BASE, FORMAT, key)
    if stored is None:
        return None
    meta, base = stored
    try:
        kernel = np.load(io.BytesIO(base), allow_pickle=False)
        if kernel.dtype.kind != "f" or kernel.shape != arch_ids.shape:
            return None
        coefs = {enc: np.asarray(w, dtype=np.float64) for enc, w in meta["coefs"].items()}
        return kernel, coefs
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write(folder: Path, key: str, kernel: np.ndarray, coefs: dict[str, np.ndarray]) -> None:
    """Store the fits: base.npy first, meta.json (naming its sha256) last (`write_checked`)."""
    sink = io.BytesIO()
    np.save(sink, np.asarray(kernel), allow_pickle=False)
    write_checked(folder, BASE, sink.getvalue(), FORMAT, key,
                  {"coefs": {enc: w.tolist() for enc, w in coefs.items()}})
