"""Operator-level linear latency predictor: latency ≈ X·w over an encoding (e.g. NB201 one-hot).

The encoding carries its own bias column (NB201 `onehot` ends in a constant 1), so there is no
separate intercept. With ``alpha = 0`` the fit is least squares, minimum-norm when columns are
collinear (one-hot blocks sum to the bias column); with ``alpha > 0`` it is ridge regression
penalising every weight. A fitted predictor serialises to plain JSON, never to a pickle.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from oneproxy.analytics.predictors import (
    InvalidPredictorInput,
    NotFittedError,
    as_matrix,
    as_vector,
    check_document,
)

KIND = "linear_latency_predictor"
FORMAT_VERSION = 1


class LinearLatencyPredictor:
    """Least-squares (``alpha = 0``) or ridge weight per encoding feature; predicts milliseconds."""

    def __init__(self, alpha: float = 0.0) -> None:
        self.alpha = alpha

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        *,
        space: str | None = None,
        device: str | None = None,
        encoding: str | None = None,
    ) -> LinearLatencyPredictor:
        """Fit weights to latencies `y` (ms) of the rows of `X`; the keywords describe the data."""
        alpha = _check_alpha(self.alpha)
        X = as_matrix(X, "X")
        y = as_vector(y, "y", X.shape[0])
        self.coef_ = _solve(X, y, alpha)
        self.n_features_in_ = X.shape[1]
        self.training_rows_ = X.shape[0]
        self.space_, self.device_, self.encoding_ = space, device, encoding
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted latency (ms) of every row of `X`."""
        coef = self._fitted_coef("predict")
        return as_matrix(X, "X", coef.size) @ coef

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the weights and where they came from."""
        coef = self._fitted_coef("to_json")
        return {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "alpha": float(self.alpha),
            "coef": coef.tolist(),
            "n_features_in": self.n_features_in_,
            "training_rows": self.training_rows_,
            "space": self.space_,
            "device": self.device_,
            "encoding": self.encoding_,
            "numpy_version": np.__version__,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str = "predictor document"
                  ) -> LinearLatencyPredictor:
        """The predictor `to_json` described; a malformed dict raises naming the bad field
        (and `where` it came from, e.g. a file)."""
        _check_document(d, where)
        model = cls(alpha=float(d["alpha"]))
        model.coef_ = as_vector(d["coef"], "coef", d["n_features_in"])
        model.n_features_in_ = d["n_features_in"]
        model.training_rows_ = d["training_rows"]
        model.space_, model.device_, model.encoding_ = d["space"], d["device"], d["encoding"]
        return model

    def _fitted_coef(self, method: str) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                f"LinearLatencyPredictor.{method} called before fit: call fit(X, y) first "
                "or load a fitted predictor with LinearLatencyPredictor.from_json"
            )
        return self.coef_


def _check_alpha(alpha: object) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0 <= alpha < np.inf:
        raise InvalidPredictorInput(
            f"alpha must be a finite number ≥ 0 (0 = least squares), got {alpha!r}"
        )
    return float(alpha)


def _solve(X: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """argmin_w ‖Xw − y‖² + alpha‖w‖², the minimum-norm solution when it is not unique."""
    if alpha == 0:
        return np.linalg.lstsq(X, y, rcond=None)[0]
    d = X.shape[1]
    augmented = np.vstack([X, np.sqrt(alpha) * np.eye(d)])
    return np.linalg.lstsq(augmented, np.concatenate([y, np.zeros(d)]), rcond=None)[0]


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "alpha": (int, float),
    "coef": list,
    "n_features_in": int,
    "training_rows": int,
    "space": (str, type(None)),
    "device": (str, type(None)),
    "encoding": (str, type(None)),
}


def _check_document(d: object, where: str) -> None:
    check_document(d, kind=KIND, format_version=FORMAT_VERSION, fields=_FIELDS, where=where)
    _check_alpha(d["alpha"])
