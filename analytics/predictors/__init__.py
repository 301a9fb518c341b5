"""Latency predictors: their errors, and the input checks shared by `fit` and `predict`."""

import numpy as np
from numpy.typing import ArrayLike

from warehouse.errors import OneproxyError


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
