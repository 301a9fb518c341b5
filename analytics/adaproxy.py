"""AdaProxy: adapt a proxy device's linear latency predictor to a target from a few measurements.

With proxy weights w, encodings X and z = x ⊙ w, the target model is

    ŷ = z·(a·1 + b) + c = a·s + z·b + c,    s = x·w (the proxy's own prediction),

fitted by least squares with penalty λ‖b‖²: a ridge regression whose scale a and intercept c
are free and whose per-feature correction b is shrunk towards 0 (b = 0 is the proxy, rescaled).
`fit_adaptation` solves the general form ŷ = a·s + c + Z·b for any base prediction s and
penalised matrix Z (`analytics.adaptation` uses it with other bases); `AdaProxy` is the paper's
case s = x·w, Z = x ⊙ w.

One decomposition serves the whole λ grid. Let Q be an orthonormal basis of the unpenalised
columns [1, s], M = I − QQᵀ, and M·Z = U S Vᵀ (thin SVD). For every λ

    fitted  ŷ = QQᵀy + U diag(S²/(S²+λ)) Uᵀy,   b = V diag(S/(S²+λ)) Uᵀy,
    h_ii    = (QQᵀ)_ii + Σ_k U_ik² S_k²/(S_k²+λ),

and the exact leave-one-out residual of sample i is e_i / (1 − h_ii). Residuals and 1 − h are
computed from the complementary factors λ/(S²+λ) so that they keep their precision as λ → 0.

LOO is undefined where h_ii = 1: the fit then passes through sample i whatever its value (this
happens as λ → 0 with fewer samples than features). A λ at which some 1 − h_ii < `H_FLOOR` is
invalid: its entry in `loo_path_` is NaN and it is never chosen.

Choosing λ. With 10–20 samples the LOO curve is noisy and its minimum often sits at a λ that
over-fits the few samples and loses ranking quality on the rest. The default `selection="1se"`
takes the most regularised λ whose LOO MSE is within one standard error of the minimum (the
one-standard-error rule); `selection="min"` takes the minimum itself. Never-worse: the scaled
proxy alone (b = 0, least squares of y on [1, s], λ = ∞) has its own exact LOO RMSE; unless
some λ beats it strictly, the scaled proxy is returned (`proxy_only_`), and "1se" only considers
λ that beat it.

Non-negative scale. A proxy that is slower where the target is faster is no proxy: a fit whose
scale a comes out negative is refitted with a = 0 (the constrained least-squares optimum, since
the objective is convex in a), so the model becomes ŷ = c + Z·b and its LOO errors are those of
that fit (`scale_clamped`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from threading import Lock
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike
from oneproxy.analytics.predictors import (
    InvalidPredictorInput,
    NotFittedError,
    as_matrix,
    as_vector,
)

DEFAULT_LAMBDAS = np.logspace(-6, 6, 49)
H_FLOOR = 1e-10
MIN_SAMPLES = 3
MEMO_SIZE = 512  # fits (and bases) kept for inputs seen again

Selection = Literal["1se", "min"]


@dataclass(frozen=True, eq=False)
class AdaptationFit:
    """ŷ = a·s + c + Z·b fitted to n target samples, λ chosen by exact leave-one-out."""

    a: float
    c: float
    b: np.ndarray  # d corrections of the penalised columns (zeros when proxy_only)
    lambda_: float  # the chosen penalty; inf when proxy_only
    loo_rmse: float  # LOO RMSE of the chosen model (units of y)
    loo_path: np.ndarray  # LOO RMSE per λ of the grid, NaN where undefined
    loo_residuals: np.ndarray  # n exact LOO residuals y_i − ŷ_(−i) of the chosen model
    proxy_only: bool  # the scaled base a·s + c was kept (never-worse)
    scaled_proxy_loo_rmse: float  # LOO RMSE of the scaled base alone
    scale_clamped: bool = False  # the free scale came out negative: refitted with a = 0

    def predict(self, s: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """ŷ of rows with base prediction `s` and penalised features `Z`."""
        return self.a * s + self.c + Z @ self.b


def fit_adaptation(
    s: ArrayLike,
    Z: ArrayLike,
    y: ArrayLike,
    *,
    lambdas: np.ndarray | None = None,
    never_worse: bool = True,
    selection: Selection = "1se",
) -> AdaptationFit:
    """Ridge fit of y on [1, s, Z] with only Z penalised, over the whole λ grid from one SVD.

    `s` is the base prediction of each of the n samples (a proxy's predictor, or its measured
    latency), `Z` (n×d) the penalised correction features, `y` the target's measurements.
    The same inputs always give the same fit, so the last `MEMO_SIZE` fits are kept and reused
    (a candidate that does not depend on the proxy is fitted once for all proxies); each call
    gets its own arrays.
    """
    lambdas = _check_lambdas(lambdas)
    _check_options(never_worse, selection)
    Z = as_matrix(Z, "Z")
    s = as_vector(s, "s", Z.shape[0])
    y = as_vector(y, "y", Z.shape[0])
    if y.size < MIN_SAMPLES:
        raise InvalidPredictorInput(
            f"{y.size} target samples: leave-one-out selection needs at least "
            f"{MIN_SAMPLES}; measure more architectures on the target"
        )
    fit = _memo_fit(_Problem(s, Z, y, lambdas, bool(never_worse), selection))
    return replace(fit, b=fit.b.copy(), loo_path=fit.loo_path.copy(),
                   loo_residuals=fit.loo_residuals.copy())


class _Problem:
    """The inputs of one fit, hashed and compared by their bytes (a key of `_memo_fit`)."""

    __slots__ = ("s", "Z", "y", "lambdas", "never_worse", "selection", "_key", "_hash")

    def __init__(self, s: np.ndarray, Z: np.ndarray, y: np.ndarray, lambdas: np.ndarray,
                 never_worse: bool, selection: Selection) -> None:
        self.s, self.Z, self.y, self.lambdas = s, Z, y, lambdas
        self.never_worse, self.selection = never_worse, selection
        self._key = (Z.shape, s.tobytes(), Z.tobytes(), y.tobytes(), lambdas.tobytes(),
                     never_worse, selection)
        self._hash = hash(self._key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Problem) and self._key == other._key


@lru_cache(maxsize=MEMO_SIZE)
def _memo_fit(p: _Problem) -> AdaptationFit:
    fit = _fit(p.s, p.Z, p.y, p.lambdas, p.never_worse, p.selection, scaled=True)
    if fit.a < 0:
        fit = _fit(p.s, p.Z, p.y, p.lambdas, p.never_worse, p.selection, scaled=False)
    for values in (fit.b, fit.loo_path, fit.loo_residuals):
        values.flags.writeable = False  # shared by every caller of these inputs
    return fit


def _fit(s: np.ndarray, Z: np.ndarray, y: np.ndarray, lambdas: np.ndarray, never_worse: bool,
         selection: Selection, *, scaled: bool) -> AdaptationFit:
    """`fit_adaptation` with the scale a free (`scaled`) or fixed at 0."""
    if scaled:
        base = _scaled_base(s, y)
        Q, proxy_residuals = base.Q, base.proxy_residuals
    else:
        Q = np.full((y.size, 1), 1.0 / np.sqrt(y.size))
        proxy_residuals = _proxy_loo_residuals(y, Q, np.einsum("ij,ij->i", Q, Q))
    proxy_loo = _rmse(proxy_residuals)
    U, S, Vt = _penalised_svd(Z, Q)
    S2, Uty = S**2, U.T @ y
    residuals = _loo_residuals(y, Q, U, S2, Uty, lambdas)
    mse = (residuals**2).sum(axis=1) / y.size  # np.mean's sum and division, to the bit
    path = np.sqrt(mse)
    chosen = _choose(residuals, mse, path, lambdas, proxy_loo if never_worse else np.inf,
                     selection)
    if chosen is None and not never_worse:
        raise InvalidPredictorInput(
            f"no λ in lambdas (from {lambdas.min():g} to {lambdas.max():g}) gives a defined "
            "leave-one-out error: add larger lambdas or set never_worse=True"
        )
    lam = np.inf if chosen is None else float(lambdas[chosen])
    b = _correction(S, S2, Uty, Vt, lam)
    target = y - Z @ b
    c, a = (_scale_and_intercept(target, base.design) if scaled
            else (float(target.sum() / y.size), 0.0))
    return AdaptationFit(
        a=a,
        c=c,
        b=b,
        lambda_=lam,
        loo_rmse=proxy_loo if chosen is None else float(path[chosen]),
        loo_path=path,
        loo_residuals=proxy_residuals.copy() if chosen is None else residuals[chosen],
        proxy_only=chosen is None,
        scaled_proxy_loo_rmse=proxy_loo,
        scale_clamped=not scaled,
    )


class AdaProxy:
    """Proxy weights adapted to a target device, λ chosen by exact leave-one-out RMSE."""

    def __init__(
        self,
        lambdas: np.ndarray | None = None,
        never_worse: bool = True,
        selection: Selection = "1se",
    ) -> None:
        self.lambdas = lambdas
        self.never_worse = never_worse
        self.selection = selection

    def fit(self, X: ArrayLike, y: ArrayLike, proxy_coef: ArrayLike) -> AdaProxy:
        """Adapt `proxy_coef` (d proxy weights) to latencies `y` (ms) of the n target rows `X`."""
        X = as_matrix(X, "X")
        y = as_vector(y, "y", X.shape[0])
        w = as_vector(proxy_coef, "proxy_coef", X.shape[1])
        fit = fit_adaptation(
            X @ w, X * w, y,
            lambdas=self.lambdas, never_worse=self.never_worse, selection=self.selection,
        )
        self.lambda_, self.a_, self.b_, self.c_ = fit.lambda_, fit.a, fit.b, fit.c
        self.loo_rmse_ = fit.loo_rmse
        self.loo_path_ = fit.loo_path
        self.proxy_only_ = fit.proxy_only
        self.scaled_proxy_loo_rmse_ = fit.scaled_proxy_loo_rmse
        self.proxy_coef_ = w
        self.coef_ = w * (self.a_ + self.b_)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Adapted latency (ms) of every row of `X`."""
        if not hasattr(self, "coef_"):
            raise NotFittedError(
                "AdaProxy.predict called before fit: call fit(X, y, proxy_coef) first"
            )
        return as_matrix(X, "X", self.n_features_in_) @ self.coef_ + self.c_


def _check_lambdas(lambdas: np.ndarray | None) -> np.ndarray:
    if lambdas is None:
        return DEFAULT_LAMBDAS
    arr = np.asarray(lambdas, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0 or not (np.isfinite(arr) & (arr > 0)).all():
        raise InvalidPredictorInput(
            f"lambdas must be a non-empty 1-D array of finite penalties > 0, got {lambdas!r}"
        )
    return arr


def _check_options(never_worse: object, selection: object) -> None:
    if not isinstance(never_worse, bool | np.bool_):
        raise InvalidPredictorInput(f"never_worse must be True or False, got {never_worse!r}")
    if selection not in get_args(Selection):
        raise InvalidPredictorInput(
            f"selection must be one of {', '.join(map(repr, get_args(Selection)))}, "
            f"got {selection!r}"
        )


def check_sample_indices(sample_idx: ArrayLike, n: int) -> np.ndarray:
    """`sample_idx` as distinct integer row numbers of n rows; a bad entry raises naming it."""
    idx = np.asarray(sample_idx)
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise InvalidPredictorInput(
            f"sample_idx must be a 1-D array of integer row numbers, got {idx.dtype} of shape "
            f"{idx.shape}"
        )
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise InvalidPredictorInput(
            f"sample_idx must index rows 0…{n - 1}, got values {idx.min()}…{idx.max()}"
        )
    if np.unique(idx).size != idx.size:
        raise InvalidPredictorInput("sample_idx repeats a row: each sample must be measured once")
    return idx


@dataclass(frozen=True)
class _ScaledBase:
    """What every fit with the same base s and samples y shares: the design [1, s], its
    orthonormal basis Q and the exact LOO residuals of y on it."""

    design: np.ndarray
    Q: np.ndarray
    proxy_residuals: np.ndarray


def _scaled_base(s: np.ndarray, y: np.ndarray) -> _ScaledBase:
    key = (s.tobytes(), y.tobytes())
    base = _BASES.get(key)
    if base is None:
        design = _design(s)
        Q = np.linalg.qr(design)[0]
        base = _ScaledBase(design, Q, _proxy_loo_residuals(y, Q, np.einsum("ij,ij->i", Q, Q)))
        with _BASES_LOCK:
            _BASES[key] = base
            while len(_BASES) > MEMO_SIZE:
                del _BASES[next(iter(_BASES))]
    return base


_BASES: dict[tuple[bytes, bytes], _ScaledBase] = {}
_BASES_LOCK = Lock()


def _design(s: np.ndarray) -> np.ndarray:
    """The unpenalised columns [1, s] (n×2)."""
    if np.ptp(s) <= 1e-12 * max(np.abs(s).max(), 1.0):
        raise InvalidPredictorInput(
            f"the proxy predicts the same latency ({s[0]:g}) for every target sample, so it "
            "cannot be rescaled: sample architectures the proxy tells apart, or check proxy_coef"
        )
    design = np.empty((s.size, 2))
    design[:, 0] = 1.0
    design[:, 1] = s
    return design


def _unpenalised_basis(s: np.ndarray) -> np.ndarray:
    """Orthonormal basis Q (n×2) of the columns [1, s]."""
    return np.linalg.qr(_design(s))[0]


def _penalised_svd(Z: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD U, S, Vᵀ of (I − QQᵀ)Z, without its numerically zero singular values."""
    if not Z.any():  # (I − QQᵀ)0 = 0: no singular value is kept
        return np.zeros((Z.shape[0], 0)), np.zeros(0), np.zeros((0, Z.shape[1]))
    u, sv, vt = np.linalg.svd(Z - Q @ (Q.T @ Z), full_matrices=False)
    keep = sv > sv.max(initial=0.0) * max(Z.shape) * np.finfo(float).eps
    return u[:, keep], sv[keep], vt[keep]


def _proxy_loo_residuals(y: np.ndarray, Q: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Exact LOO residuals of the scaled base alone (least squares of y on [1, s]); `h` is the
    hat diagonal Σ_k Q_ik²."""
    residual = y - Q @ (Q.T @ y)
    one_minus_h = 1.0 - h
    if (one_minus_h < H_FLOOR).any():
        i = int(np.argmin(one_minus_h))
        raise InvalidPredictorInput(
            f"target sample {i} is the only one whose proxy prediction differs from the rest, "
            "so leave-one-out is undefined: measure architectures with varied proxy latency"
        )
    return residual / one_minus_h


def _rmse(residuals: np.ndarray) -> float:
    return float(np.sqrt((residuals**2).sum() / residuals.size))


def _loo_residuals(
    y: np.ndarray, Q: np.ndarray, U: np.ndarray, S2: np.ndarray, Uty: np.ndarray,
    lambdas: np.ndarray,
) -> np.ndarray:
    """n_λ × n exact LOO residuals of the adapted fit (NaN rows where undefined), no loop;
    `S2` are the squared singular values, `Uty` = Uᵀy."""
    n = y.size
    if Q.shape[1] + S2.size < n:  # part of y and of the hat diagonal outside both spans
        outside = y - Q @ (Q.T @ y) - U @ Uty
        outside_h = np.clip(1.0 - np.einsum("ij,ij->i", Q, Q) - np.einsum("ij,ij->i", U, U), 0, 1)
    else:
        outside, outside_h = np.zeros(n), np.zeros(n)
    kept = lambdas[:, None] / (S2 + lambdas[:, None])  # n_λ × r, the unfitted share
    residuals = outside + (kept * Uty) @ U.T
    one_minus_h = outside_h + kept @ (U**2).T
    defined = (one_minus_h >= H_FLOOR).all(axis=1, keepdims=True)
    if defined.all():
        return residuals / one_minus_h
    return np.where(defined, residuals / np.where(defined, one_minus_h, 1.0), np.nan)


def _choose(
    residuals: np.ndarray, mse: np.ndarray, rmse: np.ndarray, lambdas: np.ndarray,
    to_beat: float, selection: Selection,
) -> int | None:
    """Index of the chosen λ, or None when no λ has a LOO RMSE strictly below `to_beat`.

    `mse` and `rmse` are the mean squared `residuals` per λ and its square root. "min" takes
    the λ of least LOO MSE; "1se" the largest λ whose LOO MSE is within one standard error of
    that least one (the standard error of the mean of the n squared LOO residuals there), among
    the λ that beat `to_beat`.
    """
    undefined = np.isnan(mse)
    better = ~undefined & (rmse < to_beat)
    if not better.any():
        return None
    best = int(np.argmin(np.where(undefined, np.inf, mse) if undefined.any() else mse))
    if selection == "min":
        return best
    squared = residuals[best] ** 2
    near = better & (mse <= mse[best] + _std(squared) / math.sqrt(squared.size))
    return int(np.flatnonzero(near)[np.argmax(lambdas[near])])


def _std(x: np.ndarray) -> np.floating:
    """`np.std(x, ddof=1)` of a vector, to the bit (the same sums), without its overhead."""
    deviation = x - x.sum() / x.size
    return np.sqrt((deviation * deviation).sum() / (x.size - 1))


def _correction(
    S: np.ndarray, S2: np.ndarray, Uty: np.ndarray, Vt: np.ndarray, lam: float
) -> np.ndarray:
    """Penalised correction b at λ (zero at λ = ∞, the scaled proxy)."""
    if np.isinf(lam):
        return np.zeros(Vt.shape[1])
    return Vt.T @ (S / (S2 + lam) * Uty)


def _scale_and_intercept(target: np.ndarray, design: np.ndarray) -> tuple[float, float]:
    """Least-squares c, a of target ≈ c + a·s (`design` = [1, s])."""
    c, a = np.linalg.lstsq(design, target, rcond=None)[0]
    return float(c), float(a)
