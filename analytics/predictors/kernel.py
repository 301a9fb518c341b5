"""Kernel-level latency predictor: gradient-boosted trees on execution-unit features.

A LightGBM regressor fitted on log-latency, so that relative errors weigh the same on fast and
slow architectures and predictions stay positive; `predict` returns milliseconds. Training is
deterministic (`deterministic=True`, fixed seed, `num_threads` fixed, row / feature bagging off):
the same data and parameters give bit-identical predictions. One thread by default: a fit on the
15,625 NB201 rows takes about 0.4 s, while two OpenMP threads on a busy two-core machine were
measured 100× slower (their spin-waits compete with the other processes).

A fitted predictor is saved as two files, never a pickle: LightGBM's own text model at
``path`` and a JSON document at ``path`` + ``.json`` (parameters, space, device, encoding,
training rows, feature count, LightGBM version, and the caller's ``details``: a JSON object that
wrappers such as `analytics.predictors.op_latency_model` use for what they add). The document
holds the text model's sha256, checked before LightGBM reads the model: LightGBM aborts the
whole process on some truncated models instead of raising.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike
from oneproxy.analytics.predictors import (
    InvalidPredictorInput,
    NotFittedError,
    as_matrix,
    as_vector,
    check_document,
)

KIND = "kernel_latency_predictor"
FORMAT_VERSION = 2  # 2: the document holds model_sha256
METADATA_SUFFIX = ".json"

if TYPE_CHECKING:
    import lightgbm as lgb


class KernelLatencyPredictor:
    """LightGBM on log-latency; predicts milliseconds."""

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.1,
        num_leaves: int = 31,
        min_child_samples: int = 5,
        seed: int = 0,
        num_threads: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.seed = seed
        self.num_threads = num_threads

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _PARAMS}

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        *,
        space: str | None = None,
        device: str | None = None,
        encoding: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> KernelLatencyPredictor:
        """Fit to latencies `y` (ms, > 0) of the rows of `X`; the keywords describe the data.

        `details` is any JSON-serialisable mapping, saved and loaded with the model.
        """
        params = _check_params(self.get_params())
        X = as_matrix(X, "X")
        y = as_vector(y, "y", X.shape[0])
        if (y <= 0).any():
            i = int(np.argmax(y <= 0))
            raise InvalidPredictorInput(
                f"y[{i}] = {y[i]:g} ms: latencies must be > 0 to be fitted in log space; "
                "drop failed measurements before fitting"
            )
        import lightgbm as lgb  # imported when a model is fitted: it is slow to import

        dataset = lgb.Dataset(X, np.log(y), params={"verbose": -1, "max_bin": 255})
        self.booster_ = lgb.train(
            _lgb_params(params), dataset, num_boost_round=params["n_estimators"]
        )
        self.n_features_in_ = X.shape[1]
        self.training_rows_ = X.shape[0]
        self.space_, self.device_, self.encoding_ = space, device, encoding
        self.details_ = dict(details or {})
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted latency (ms) of every row of `X`."""
        booster = self._fitted("predict")
        X = as_matrix(X, "X", self.n_features_in_)
        return np.exp(booster.predict(X, num_threads=self.num_threads))

    def save(self, path: str | Path) -> None:
        """Write the text model to `path` and its metadata to `path` + ``.json``."""
        booster = self._fitted("save")
        path = Path(path)
        text = booster.model_to_string().encode()
        path.write_bytes(text)
        meta = {
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "params": self.get_params(),
            "n_features_in": self.n_features_in_,
            "training_rows": self.training_rows_,
            "space": self.space_,
            "device": self.device_,
            "encoding": self.encoding_,
            "lightgbm_version": _lightgbm_version(),
            "model_sha256": hashlib.sha256(text).hexdigest(),
            "details": self.details_,
        }
        _metadata_path(path).write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> KernelLatencyPredictor:
        """The predictor `save` wrote to `path`; a missing or malformed file raises naming it."""
        path = Path(path)
        meta_path = _metadata_path(path)
        for p in (path, meta_path):
            if not p.is_file():
                raise InvalidPredictorInput(
                    f"kernel predictor file {p} does not exist: save the predictor with "
                    "KernelLatencyPredictor.save(path), which writes the model and its .json"
                )
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise InvalidPredictorInput(f"{meta_path} is not valid JSON: {exc}") from None
        check_document(meta, kind=KIND, format_version=FORMAT_VERSION, fields=_META_FIELDS,
                       where=str(meta_path))
        model = cls(**_check_params(meta["params"]))
        text = path.read_bytes()
        if hashlib.sha256(text).hexdigest() != meta["model_sha256"]:
            raise InvalidPredictorInput(
                f"{path} is not the model {meta_path} describes (its sha256 differs): the file "
                "was changed or truncated after it was saved; save the predictor again"
            )
        try:
            import lightgbm as lgb

            model.booster_ = lgb.Booster(model_str=text.decode())
        except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
            raise InvalidPredictorInput(f"{path} is not a LightGBM text model: {exc}") from None
        if model.booster_.num_feature() != meta["n_features_in"]:
            raise InvalidPredictorInput(
                f"{path} has {model.booster_.num_feature()} features but {meta_path} says "
                f"{meta['n_features_in']}: the two files do not belong together"
            )
        model.n_features_in_ = meta["n_features_in"]
        model.training_rows_ = meta["training_rows"]
        model.space_, model.device_ = meta["space"], meta["device"]
        model.encoding_ = meta["encoding"]
        model.details_ = meta.get("details", {})
        if not isinstance(model.details_, dict):
            raise InvalidPredictorInput(
                f"{meta_path}: field 'details' must be a JSON object, got {model.details_!r}"
            )
        return model

    def _fitted(self, method: str) -> lgb.Booster:
        if not hasattr(self, "booster_"):
            raise NotFittedError(
                f"KernelLatencyPredictor.{method} called before fit: call fit(X, y) first "
                "or load a saved predictor with KernelLatencyPredictor.load(path)"
            )
        return self.booster_


_PARAMS: dict[str, tuple[type, float, float]] = {  # name: (type, lowest, highest) allowed
    "n_estimators": (Integral, 1, np.inf),
    "learning_rate": (Real, np.nextafter(0, 1), np.inf),
    "num_leaves": (Integral, 2, 131_072),
    "min_child_samples": (Integral, 1, np.inf),
    "seed": (Integral, 0, 2**31 - 1),
    "num_threads": (Integral, 1, 1024),
}


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    for name, (kind, low, high) in _PARAMS.items():
        value = params.get(name)
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            what = "an integer" if kind is Integral else "a number"
            raise InvalidPredictorInput(
                f"{name} must be {what} from {low:g} to {high:g}, got {value!r}"
            )
    return dict(params)


def _lgb_params(params: dict[str, Any]) -> dict[str, Any]:
    return {
        "objective": "regression",
        "learning_rate": params["learning_rate"],
        "num_leaves": params["num_leaves"],
        "min_data_in_leaf": params["min_child_samples"],
        "seed": params["seed"],
        "num_threads": params["num_threads"],
        "deterministic": True,
        "force_row_wise": True,
        "bagging_fraction": 1.0,
        "feature_fraction": 1.0,
        "verbose": -1,
    }


def _metadata_path(path: Path) -> Path:
    return path.with_name(path.name + METADATA_SUFFIX)


_META_FIELDS: dict[str, type | tuple[type, ...]] = {
    "params": dict,
    "n_features_in": int,
    "training_rows": int,
    "space": (str, type(None)),
    "device": (str, type(None)),
    "encoding": (str, type(None)),
    "lightgbm_version": str,
    "model_sha256": str,
}




def _lightgbm_version() -> str:
    from importlib.metadata import version

    return version("lightgbm")
