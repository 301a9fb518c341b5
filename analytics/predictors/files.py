"""Trained latency predictors as files: a predictor, what it was trained on, and nothing executable.

`save_predictor` writes the predictor's own document (never a pickle) and adds a training
record under the document's ``details`` key:

``linear``
    one JSON file: `LinearLatencyPredictor.to_json` plus ``details``.
``kernel``
    `KernelLatencyPredictor.save`'s two files: LightGBM's text model at the path and its JSON
    document (holding ``details``) at the path + ``.json``.

The training record (`RECORD_KIND`, version `RECORD_VERSION`) holds the latency dataset, the
feature columns of the encoding, the training rows' fingerprint, when the model was trained and
the library versions; the space, device, encoding and row count are the predictor's own
fields. The fingerprint (`arch_ids_fingerprint`) is the sha256 of the distinct training arch ids,
sorted, as little-endian int64 bytes: two models trained on the same architectures share it.

`load_predictor` tells the kinds apart by content (a LightGBM text model starts with ``tree``),
checks every document before anything is built from it, and raises `PredictorFileError` naming
the file for a missing, truncated, corrupted or foreign file (a pickle is refused by its first
byte and never read further). `predict_archs` encodes arch keys as at training time and
refuses a model whose feature columns this version of oneproxy no longer produces.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from oneproxy.analytics.predictors import InvalidPredictorInput, check_document
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.analytics.predictors.kernel import KIND as KERNEL_KIND
from oneproxy.analytics.predictors.kernel import METADATA_SUFFIX, KernelLatencyPredictor
from oneproxy.analytics.predictors.linear import LinearLatencyPredictor

Predictor = LinearLatencyPredictor | KernelLatencyPredictor
KINDS: dict[str, type[Predictor]] = {
    "linear": LinearLatencyPredictor, "kernel": KernelLatencyPredictor,
}
RECORD_KIND = "oneproxy_training_record"
RECORD_VERSION = 1
_RECORD_FIELDS: dict[str, type | tuple[type, ...]] = {
    "dataset": str,
    "columns": list,
    "arch_ids_sha256": str,
    "trained_at": str,
    "versions": dict,
}
_LIGHTGBM_TEXT = b"tree\n"
_PICKLE_PROTOCOL = 0x80


class PredictorFileError(InvalidPredictorInput):
    """A predictor file that is missing, truncated, corrupted or not a oneproxy predictor."""


@dataclass(frozen=True)
class PredictorMeta:
    """What a saved predictor was trained on."""

    kind: str  # "linear" | "kernel"
    space: str
    device: str
    dataset: str  # the latency dataset (NB201: cifar10)
    encoding: str  # an encoding of `space_features`, e.g. "onehot"
    columns: tuple[str, ...]  # its feature columns, in order
    training_rows: int
    training_fingerprint: str  # `arch_ids_fingerprint` of the training architectures
    trained_at: str  # ISO 8601, UTC
    versions: Mapping[str, str]  # numpy, lightgbm, oneproxy


def arch_ids_fingerprint(arch_ids: ArrayLike) -> str:
    """sha256 (hex) of the distinct arch ids, sorted, as little-endian int64 bytes."""
    ids = np.unique(np.asarray(arch_ids, dtype=np.int64))
    return hashlib.sha256(ids.astype("<i8").tobytes()).hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries a saved predictor depends on."""
    return {"numpy": np.__version__, "lightgbm": importlib.metadata.version("lightgbm"),
            "oneproxy": importlib.metadata.version("oneproxy")}


def describe(predictor: Predictor, *, dataset: str, arch_ids: ArrayLike,
             columns: Sequence[str]) -> PredictorMeta:
    """The metadata of a predictor fitted (with space, device and encoding) on `arch_ids`."""
    kind, space, device, encoding = _labels(predictor)
    return PredictorMeta(
        kind=kind, space=space, device=device, dataset=dataset, encoding=encoding,
        columns=tuple(columns),
        training_rows=int(np.asarray(arch_ids).size),
        training_fingerprint=arch_ids_fingerprint(arch_ids),
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        versions=library_versions(),
    )


def save_predictor(path: str | Path, predictor: Predictor, meta: PredictorMeta) -> list[Path]:
    """Write `predictor` with its training record to `path`; returns the files written."""
    path = Path(path)
    _check_agrees(predictor, meta)
    record = {"kind": RECORD_KIND, "format_version": RECORD_VERSION, "dataset": meta.dataset,
              "columns": list(meta.columns), "arch_ids_sha256": meta.training_fingerprint,
              "trained_at": meta.trained_at, "versions": dict(meta.versions)}
    if isinstance(predictor, LinearLatencyPredictor):
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(json.dumps({**predictor.to_json(), "details": record}, indent=1) + "\n")
        os.replace(partial, path)
        return [path]
    if predictor.details_ and predictor.details_.get("kind") != RECORD_KIND:
        raise InvalidPredictorInput(
            f"the kernel predictor already carries details {sorted(predictor.details_)}: "
            "save_predictor writes its own; save this one with KernelLatencyPredictor.save"
        )
    recorded = copy.copy(predictor)  # shares the booster; the caller's object is left as is
    recorded.details_ = record
    recorded.save(path)
    return [path, _sidecar(path)]


def load_predictor(path: str | Path) -> tuple[Predictor, PredictorMeta]:
    """The predictor `save_predictor` wrote to `path`, and its metadata."""
    path = Path(path)
    if not path.is_file():
        raise PredictorFileError(f"predictor file {path} does not exist: train one with "
                                 "`oneproxy train … -o FILE` (or save_predictor)")
    with path.open("rb") as f:
        head = f.read(len(_LIGHTGBM_TEXT))
    with _naming(path):
        if head == _LIGHTGBM_TEXT:
            predictor: Predictor = KernelLatencyPredictor.load(path)
            return predictor, _meta(predictor, predictor.details_, f"{_sidecar(path)} details")
        doc = _read_json(path, head)
        predictor = LinearLatencyPredictor.from_json(doc, where=str(path))
        return predictor, _meta(predictor, doc.get("details"), f"{path} details")


def predict_archs(predictor: Predictor, meta: PredictorMeta, arch_keys: Sequence[str], *,
                  where: str = "the predictor") -> np.ndarray:
    """Predicted latency (ms) of architectures of `meta.space`, encoded as at training time."""
    features = space_features(meta.space, arch_keys, dataset=meta.dataset)
    X = features.matrix(meta.encoding)
    columns = tuple(features.columns[meta.encoding])
    if columns != meta.columns:
        differ = next((i for i, (a, b) in enumerate(zip(columns, meta.columns, strict=False))
                       if a != b), min(len(columns), len(meta.columns)))
        raise PredictorFileError(
            f"{where} was trained on {len(meta.columns)} {meta.encoding!r} columns of "
            f"{meta.space}, but this version of oneproxy encodes {len(columns)} (first "
            f"difference at column {differ}): re-train it with `oneproxy train`"
        )
    return predictor.predict(X)


def _labels(predictor: object) -> tuple[str, str, str, str]:
    """Kind, space, device and encoding of a fitted predictor; raises unless it has them all."""
    kind = next((k for k, cls in KINDS.items() if isinstance(predictor, cls)), None)
    if kind is None:
        raise InvalidPredictorInput(
            f"a {type(predictor).__name__} is not a predictor these files hold: use "
            f"{' or '.join(cls.__name__ for cls in KINDS.values())}"
        )
    if not hasattr(predictor, "training_rows_"):
        raise InvalidPredictorInput(f"the {kind} predictor is not fitted: call fit first")
    labels = (predictor.space_, predictor.device_, predictor.encoding_)
    for name, value in zip(("space", "device", "encoding"), labels, strict=True):
        if not isinstance(value, str):
            raise InvalidPredictorInput(
                f"the {kind} predictor has no {name}: fit it with space=, device= and "
                "encoding= so that its file says what it predicts"
            )
    return (kind, *labels)


def _check_agrees(predictor: Predictor, meta: PredictorMeta) -> None:
    """Raise unless `meta` describes `predictor` (see `describe`)."""
    kind, space, device, encoding = _labels(predictor)
    pairs = {"kind": (kind, meta.kind), "space": (space, meta.space),
             "device": (device, meta.device), "encoding": (encoding, meta.encoding),
             "training_rows": (predictor.training_rows_, meta.training_rows),
             "columns": (predictor.n_features_in_, len(meta.columns))}
    for field, (fitted, described) in pairs.items():
        if fitted != described:
            raise InvalidPredictorInput(
                f"meta.{field} says {described!r} but the predictor was fitted with {fitted!r}: "
                "build the metadata with describe(predictor, …)"
            )


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + METADATA_SUFFIX)


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Re-raise a predictor error that does not name `path` as a `PredictorFileError` that does."""
    try:
        yield
    except PredictorFileError:
        raise
    except InvalidPredictorInput as exc:
        message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
        raise PredictorFileError(message) from None


def _read_json(path: Path, head: bytes) -> dict[str, Any]:
    if head[:1] == bytes([_PICKLE_PROTOCOL]):
        raise PredictorFileError(
            f"{path} looks like a Python pickle, which oneproxy never loads: predictor files "
            "are JSON or LightGBM text written by `oneproxy train` (or save_predictor)"
        )
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PredictorFileError(
            f"{path} is neither a JSON predictor document nor a LightGBM text model ({exc}): "
            "it is corrupted or truncated, or not a oneproxy predictor file"
        ) from None
    if isinstance(doc, dict) and doc.get("kind") == KERNEL_KIND:
        model = path.with_name(path.name.removesuffix(METADATA_SUFFIX))
        raise PredictorFileError(f"{path} is the JSON document of a kernel predictor: pass its "
                                 f"model file {model}")
    return doc


def _meta(predictor: Predictor, record: object, where: str) -> PredictorMeta:
    """The metadata of a loaded predictor from its training record (checked first)."""
    if record is None:
        raise PredictorFileError(f"{where}: there is no training record: the file was not written "
                                 "by save_predictor (`oneproxy train`)")
    check_document(record, kind=RECORD_KIND, format_version=RECORD_VERSION,
                   fields=_RECORD_FIELDS, where=where)
    columns, versions = record["columns"], record["versions"]
    if not all(isinstance(c, str) for c in columns) or len(columns) != predictor.n_features_in_:
        raise PredictorFileError(
            f"{where}: field 'columns' must list the predictor's {predictor.n_features_in_} "
            f"feature names, got {len(columns)} entries"
        )
    if not all(isinstance(v, str) for v in versions.values()):
        raise PredictorFileError(f"{where}: field 'versions' must map library names to strings")
    kind, space, device, encoding = _labels(predictor)
    return PredictorMeta(
        kind=kind, space=space, device=device, dataset=record["dataset"], encoding=encoding,
        columns=tuple(columns),
        training_rows=predictor.training_rows_, training_fingerprint=record["arch_ids_sha256"],
        trained_at=record["trained_at"], versions=dict(versions),
    )
