"""Latency predictors: their errors, and the input checks shared by `fit` and `predict`."""

import numpy as np
from numpy.typing import ArrayLike
from oneproxy.warehouse.errors import OneproxyError


class InvalidPredictorInput(OneproxyError, ValueError):
    """A feature matrix, target vector or parameter that a predictor cannot use."""


class NotFittedError(OneproxyError):
    """`predict` (or serialisation) asked of a predictor before `fit`."""


def as_matrix(values: ArrayLike, name: str, n_features: int | None = None) -> np.ndarray:
    """`values` as a finite float64 n×d matrix (n ≥ 1), with `n_features` columns if given."""
    arr = _as_finite(values, name)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidPredictorInput(
            f"{name} must be a non-empty 2-D array (rows = architectures, columns = features), "
            f"got shape {arr.shape}"
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise InvalidPredictorInput(
            f"{name} must have {n_features} feature columns, got shape {arr.shape}"
        )
    return arr


def as_vector(values: ArrayLike, name: str, length: int) -> np.ndarray:
    """`values` as a finite float64 vector of `length` entries."""
    arr = _as_finite(values, name)
    if arr.shape != (length,):
        raise InvalidPredictorInput(
            f"{name} must be a 1-D array of {length} values, got shape {arr.shape}"
        )
    return arr


def _as_finite(values: ArrayLike, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidPredictorInput(f"{name} must be numeric: {exc}") from None
    if not np.isfinite(arr).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise InvalidPredictorInput(
            f"{name} holds NaN or infinite values (first at index {where}); "
            "drop failed measurements before fitting"
        )
    return arr


def check_document(doc: object, *, kind: str, format_version: int,
                   fields: dict[str, type | tuple[type, ...]], where: str) -> None:
    """Check a saved predictor's JSON document: its kind, format version and typed fields.

    `where` names the document in messages (a file path, or "predictor document").
    """
    if not isinstance(doc, dict):
        raise InvalidPredictorInput(f"{where} must hold a JSON object, got {type(doc).__name__}")
    if doc.get("kind") != kind:
        raise InvalidPredictorInput(
            f"{where}: field 'kind' must be {kind!r}, got {doc.get('kind')!r}"
        )
    if doc.get("format_version") != format_version:
        raise InvalidPredictorInput(
            f"{where}: field 'format_version' must be {format_version}, got "
            f"{doc.get('format_version')!r}: re-create it with this version of oneproxy"
        )
    for field, types in fields.items():
        if field not in doc:
            raise InvalidPredictorInput(f"{where} lacks the field {field!r}")
        if isinstance(doc[field], bool) or not isinstance(doc[field], types):
            raise InvalidPredictorInput(
                f"{where}: field {field!r} has the wrong type: got {doc[field]!r}"
            )
