"""Adapt a proxy device's latencies to a target device from a few target measurements.

Every candidate fits the closed form of `analytics.adaproxy.fit_adaptation` to the target's n
samples: y ≈ a·s + c + Z·b with a base prediction s, a penalised encoding Z, λ on b chosen by
exact leave-one-out, and a ≥ 0. A candidate is named ``strategy/encoding``.

Adaptations (``auto`` tries ``linear`` and ``kernel``; ``residual`` on request):

- ``linear``: s = the proxy's operator-level linear predictor (one-hot), the paper's AdaProxy;
- ``kernel``: s = a `KernelLatencyPredictor` fitted on the proxy;
- ``residual``: s = the proxy's own measured latency (its linear predictor's where unmeasured);

each with the penalised encodings of `CANDIDATES`. The three ways a runtime treats dead ops are
encodings among them: ``onehot`` (every op executes), ``live_onehot`` (dead ops pruned,
disconnected cells folded away) and ``costly_onehot`` (dead ops pruned, but a disconnected cell
executes all its ops, plus a disconnected indicator).

Baselines (`BASELINES`), what a user would try without adaptation, are candidates too: the raw
proxy (``proxy/raw``: a·proxy latency + c), and FLOPs / params fits (``flops/exec``,
``flops/pruned`` on live FLOPs, ``flops/costly``: live FLOPs plus a penalised disconnected
term, ``params/exec``) where the space has them.

Choice (never worse): every candidate's LOO predictions ŷ_(−i) give a LOO SRCC against the
samples. Only candidates whose LOO SRCC is at least the best baseline's are eligible; among them
the least LOO RMSE wins (ties go to the earlier candidate). Across proxies (`select_proxy_models`)
the baselines of every proxy set the bar. Predictions are floored at `FLOOR_SHARE` of the
smallest sample (a latency is positive), and carry conformal intervals (`analytics.intervals`)
at `confidence`.

The proxy-side models do not depend on the target: build a `ProxyModels` once per proxy and
call its `adapt` for every target and seed; `adapt` is the one-shot form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike
from oneproxy.analytics.adaproxy import AdaptationFit, check_sample_indices, fit_adaptation
from oneproxy.analytics.baselines import PRESCREEN, prescreen
from oneproxy.analytics.intervals import DEFAULT_CONFIDENCE, Calibration, cell_class
from oneproxy.analytics.predictors import InvalidPredictorInput
from oneproxy.analytics.predictors.encodings import SpaceFeatures
from oneproxy.analytics.predictors.kernel import KernelLatencyPredictor
from oneproxy.analytics.predictors.linear import LinearLatencyPredictor
from oneproxy.analytics.ranks import spearman_rows

STRATEGIES = ("linear", "residual", "kernel")
ENCODINGS = ("weighted_onehot", "onehot", "weighted_live_onehot", "live_onehot", "costly_onehot",
             "counts", "counts+onehot", "counts+live_onehot", "counts+costly_onehot")
HIERARCHICAL = ("counts+onehot", "counts+live_onehot", "counts+costly_onehot", "counts")
CANDIDATES: dict[str, tuple[str, ...]] = {  # strategy -> the encodings it tries
    "linear": HIERARCHICAL,
    "residual": ENCODINGS,
    "kernel": HIERARCHICAL,
}
AUTO = ("linear", "kernel")
# baseline -> (base column: "proxy" or a `kernel` column, penalised `kernel` columns)
BASELINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "proxy/raw": ("proxy", ()),
    "flops/exec": ("flops_m", ()),
    "flops/pruned": ("live_flops_m", ()),
    "flops/costly": ("live_flops_m", ("disconnected",)),
    "params/exec": ("params_m", ()),
}
BASE_ENCODING = "onehot"  # the linear predictor that is `linear`'s base and fills `residual`'s
KERNEL_ENCODING = "kernel"
MIN_PROXY_ROWS = 10
FLOOR_SHARE = 0.25  # predictions are at least this share of the smallest target sample
# LOO RMSEs this close (relative to the latencies) are a tie: the earlier candidate is kept.
TIE_TOLERANCE = 1e-9
_WEIGHTED = "weighted_"
_BLOCKS = "+"  # joins the encodings whose columns are penalised side by side


@dataclass(frozen=True, eq=False)
class Adapted:
    """Adapted latencies of every architecture, their intervals, and how they were obtained."""

    predicted: np.ndarray  # ms for every architecture of the space (len = n_archs), > 0
    lower: np.ndarray  # ms, lower end of each architecture's interval at `confidence`
    upper: np.ndarray  # ms, upper end (inf when the samples are too few for `confidence`)
    confidence: float
    strategy: str  # one of STRATEGIES, or a baseline's family ("proxy", "flops", "params")
    encoding: str  # the penalised encoding used (or the baseline's variant)
    loo_rmse: float  # leave-one-out RMSE (ms) of the chosen model on the target samples
    loo_srcc: float  # Spearman correlation of the samples with their LOO predictions
    proxy_only: bool  # True when the scaled base alone was kept (never-worse fallback)
    scores: dict[str, float]  # LOO RMSE (ms) of every candidate tried, e.g. "kernel/onehot"
    calibration: Calibration  # the LOO residuals behind the intervals and `p_fit`
    classes: np.ndarray  # cell class of every architecture (`analytics.intervals.CELL_CLASSES`)

    @property
    def baseline(self) -> bool:
        """The chosen model is one of `BASELINES`."""
        return f"{self.strategy}/{self.encoding}" in BASELINES

    def p_fit(self, budget: float) -> np.ndarray:
        """Estimated probability that each architecture's latency is ≤ `budget` (ms)."""
        return self.calibration.p_fit(self.predicted, self.classes, budget, self.confidence)


@dataclass(frozen=True, eq=False)
class Candidate:
    """One candidate model fitted to the target samples, with its LOO scores."""

    strategy: str
    encoding: str
    fit: AdaptationFit
    loo_srcc: float
    baseline: bool

    @property
    def name(self) -> str:
        return f"{self.strategy}/{self.encoding}"


def candidates(strategy: str) -> tuple[tuple[str, str], ...]:
    """The (strategy, encoding) pairs that `strategy` ("auto" or one of `STRATEGIES`) tries."""
    if strategy == "auto":
        return tuple(c for s in AUTO for c in candidates(s))
    if strategy not in STRATEGIES:
        raise InvalidPredictorInput(
            f"strategy must be 'auto' or one of {', '.join(map(repr, STRATEGIES))}, "
            f"got {strategy!r}"
        )
    return tuple((strategy, encoding) for encoding in CANDIDATES[strategy])


def loo_srccs(y: np.ndarray, loo_residuals: np.ndarray) -> np.ndarray:
    """Spearman correlation of `y` with each row's LOO predictions y − e (−1 when undefined)."""
    rho = spearman_rows(y, y - np.atleast_2d(loo_residuals))
    return np.where(np.isfinite(rho), rho, -1.0)


Fit = tuple[tuple[str, str], AdaptationFit, bool]  # (strategy, encoding), its fit, baseline


def scored(y: np.ndarray, groups: list[list[Fit]]) -> list[list[Candidate]]:
    """The candidates of each group of fits to the same samples `y`, with their LOO SRCC (all
    ranked in one batch)."""
    fits = [fit for group in groups for fit in group]
    srccs = iter(loo_srccs(y, np.array([fit.loo_residuals for _, fit, _ in fits]))
                 if fits else [])
    return [[Candidate(cand[0], cand[1], fit, float(next(srccs)), baseline)
             for cand, fit, baseline in group] for group in groups]


def choose(cands: list[Candidate], bar: float) -> Candidate | None:
    """The least-LOO-RMSE candidate whose LOO SRCC reaches `bar` (None when none does)."""
    eligible = [c for c in cands if c.loo_srcc >= bar]
    if not eligible:
        return None
    least = min(c.fit.loo_rmse for c in eligible)
    scale = max((float(np.abs(c.fit.loo_residuals).max()) for c in eligible), default=1.0)
    return next(c for c in eligible if c.fit.loo_rmse <= least + TIE_TOLERANCE * max(1.0, scale))


def baseline_bar(cands: list[Candidate]) -> float:
    """The best LOO SRCC among the baselines of `cands` (−inf without any)."""
    return max((c.loo_srcc for c in cands if c.baseline), default=-np.inf)


@dataclass(frozen=True, eq=False)
class ProxyModels:
    """One proxy's measured latencies over a space, and the predictors fitted on them (lazily)."""

    features: SpaceFeatures
    proxy_latency: np.ndarray  # ms per architecture of `features`, NaN where not measured

    @classmethod
    def of(cls, features: SpaceFeatures, proxy_latency: ArrayLike, *,
           kernel: np.ndarray | None = None,
           linear_coefs: dict[str, np.ndarray] | None = None) -> ProxyModels:
        """Check `proxy_latency` against `features` (the predictors are fitted when needed).

        `kernel` and `linear_coefs` restore fits made earlier on the same latencies
        (`fitted_coefs`, `kernel`), so that a stored proxy is not fitted again.
        """
        lat = np.array(proxy_latency, dtype=np.float64)
        if lat.shape != (features.n_archs,):
            raise InvalidPredictorInput(
                f"proxy_latency must hold one value per architecture of the features "
                f"({features.n_archs}), got shape {lat.shape}"
            )
        measured = np.isfinite(lat)
        if measured.sum() < MIN_PROXY_ROWS:
            raise InvalidPredictorInput(
                f"the proxy measured {int(measured.sum())} architectures: its predictors need "
                f"at least {MIN_PROXY_ROWS}"
            )
        if (lat[measured] <= 0).any():
            raise InvalidPredictorInput(
                f"proxy_latency holds a latency ≤ 0 ms at architecture "
                f"{int(np.flatnonzero(measured & (lat <= 0))[0])}: failed measurements must be NaN"
            )
        lat.flags.writeable = False
        models = cls(features, lat)
        if kernel is not None:
            if np.shape(kernel) != lat.shape:
                raise InvalidPredictorInput("a stored kernel prediction must cover every "
                                            f"architecture ({lat.size}), got {np.shape(kernel)}")
            models.__dict__["kernel"] = np.asarray(kernel, dtype=np.float64)
        models._linear_coefs.update(linear_coefs or {})
        return models

    def fitted_coefs(self) -> dict[str, np.ndarray]:
        """The linear predictors' weights fitted so far, by encoding."""
        return dict(self._linear_coefs)

    @property
    def measured(self) -> np.ndarray:
        return np.isfinite(self.proxy_latency)

    def linear_coef(self, encoding: str) -> np.ndarray:
        """Weights of the linear predictor on `encoding`, fitted on the proxy's measured rows."""
        if encoding not in self._linear_coefs:
            X, m = self.features.matrix(encoding), self.measured
            coef = LinearLatencyPredictor().fit(X[m], self.proxy_latency[m]).coef_
            self._linear_coefs[encoding] = coef
        return self._linear_coefs[encoding]

    @cached_property
    def _linear_coefs(self) -> dict[str, np.ndarray]:
        return {}

    @cached_property
    def linear(self) -> np.ndarray:
        """The linear predictor's latency (ms) for every architecture."""
        return self.features.matrix(BASE_ENCODING) @ self.linear_coef(BASE_ENCODING)

    @cached_property
    def filled(self) -> np.ndarray:
        """The proxy's latency (ms), its linear predictor's where it did not measure."""
        return np.where(self.measured, self.proxy_latency, self.linear)

    @cached_property
    def kernel(self) -> np.ndarray:
        """The kernel predictor's latency (ms) for every architecture."""
        K, m = self.features.matrix(KERNEL_ENCODING), self.measured
        return KernelLatencyPredictor().fit(K[m], self.proxy_latency[m]).predict(K)

    def candidates(
        self,
        sample_idx: ArrayLike,
        y_sample: ArrayLike,
        *,
        strategy: str = "auto",
        lambdas: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, list[Candidate]]:
        """The checked samples and every candidate (adaptations, then baselines) fitted to them."""
        idx, y, fits = self.fits(sample_idx, y_sample, strategy=strategy, lambdas=lambdas)
        return idx, y, scored(y, [fits])[0]

    def fits(
        self,
        sample_idx: ArrayLike,
        y_sample: ArrayLike,
        *,
        strategy: str = "auto",
        lambdas: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, list[Fit]]:
        """`candidates` before their LOO SRCC is computed (`scored` ranks many in one batch)."""
        tried = candidates(strategy)
        idx, y = checked_samples(sample_idx, y_sample, self.features.n_archs)
        fits = []
        for cand in (*tried, *(tuple(b.split("/")) for b in self._baselines)):
            s, Z = self._design(*cand, rows=idx)
            try:
                fits.append((cand, fit_adaptation(s, Z, y, lambdas=lambdas), cand not in tried))
            except InvalidPredictorInput:
                if cand in tried:
                    raise
                # a baseline the samples cannot tell apart (e.g. equal FLOPs) is left out
        return idx, y, fits

    def adapt(
        self,
        sample_idx: ArrayLike,
        y_sample: ArrayLike,
        *,
        strategy: str = "auto",
        lambdas: np.ndarray | None = None,
        confidence: float = DEFAULT_CONFIDENCE,
    ) -> Adapted:
        """Adapted latencies (ms) of every architecture from the target's measured samples."""
        idx, y, cands = self.candidates(sample_idx, y_sample, strategy=strategy, lambdas=lambdas)
        best = choose(cands, baseline_bar(cands))
        return self.adapted(best, idx, y, cands, confidence)

    def adapted(self, best: Candidate, idx: np.ndarray, y: np.ndarray,
                cands: list[Candidate], confidence: float) -> Adapted:
        """The `Adapted` result of candidate `best`, floored, with its intervals."""
        floor = FLOOR_SHARE * float(y.min())
        predicted = np.maximum(best.fit.predict(*self._design(best.strategy, best.encoding)),
                               floor)
        classes = self._classes
        calibration = Calibration.of(y, np.maximum(y - best.fit.loo_residuals, floor),
                                     classes[idx])
        lower, upper = calibration.bounds(predicted, classes, confidence)
        for a in (predicted, lower, upper):
            a.flags.writeable = False
        return Adapted(
            predicted=predicted, lower=lower, upper=upper, confidence=confidence,
            strategy=best.strategy, encoding=best.encoding, loo_rmse=best.fit.loo_rmse,
            loo_srcc=best.loo_srcc, proxy_only=best.fit.proxy_only,
            scores={c.name: c.fit.loo_rmse for c in cands}, calibration=calibration,
            classes=classes,
        )

    @cached_property
    def _classes(self) -> np.ndarray:
        return cell_class(self.features)

    @cached_property
    def _baselines(self) -> tuple[str, ...]:
        """The `BASELINES` whose columns the space's `kernel` encoding has."""
        have = self.features.columns.get(KERNEL_ENCODING, ())
        return tuple(name for name, (base, pen) in BASELINES.items()
                     if all(c in have for c in (*pen, *([] if base == "proxy" else [base]))))

    def fitted(self, strategy: str = "auto") -> ProxyModels:
        """These models with every predictor `strategy` uses fitted now (before shipping them
        to the workers of a cluster, so that each proxy is fitted once, not once per worker)."""
        for cand in candidates(strategy):
            self._design(*cand, rows=np.arange(1))  # one row is enough to fit what it uses
        return self

    def _design(self, strategy: str, encoding: str,
                rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Base prediction s (ms) and penalised matrix Z of the architectures `rows` (all by
        default): the samples' rows are all that choosing among candidates needs."""
        at = slice(None) if rows is None else rows
        name = f"{strategy}/{encoding}"
        if name in BASELINES:
            return self._baseline_design(name, at)
        Z = np.column_stack([self._block(b, at) for b in encoding.split(_BLOCKS)])
        base = {"linear": "linear", "residual": "filled"}.get(strategy, "kernel")
        return getattr(self, base)[at], Z

    def _baseline_design(self, name: str, at: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        base, penalised = BASELINES[name]
        kernel = self.features.matrix(KERNEL_ENCODING)[at]
        columns = self.features.columns[KERNEL_ENCODING]
        s = self.filled[at] if base == "proxy" else kernel[:, columns.index(base)]
        Z = (kernel[:, [columns.index(c) for c in penalised]] if penalised
             else np.zeros((kernel.shape[0], 1)))
        return s, Z

    def _block(self, encoding: str, at: slice | np.ndarray) -> np.ndarray:
        """One penalised block: a feature matrix, scaled by the proxy's weights if weighted_."""
        plain = encoding.removeprefix(_WEIGHTED)
        if plain == "costly_onehot":
            return self._costly_onehot(at)
        Z = self.features.matrix(plain)[at]
        return Z * self.linear_coef(plain) if encoding != plain else Z

    def _costly_onehot(self, at: slice | np.ndarray) -> np.ndarray:
        """Live ops of connected cells, every op of disconnected ones, and a disconnected flag."""
        disconnected = (self._classes[at] == 2)[:, None]
        full = self.features.matrix("onehot")[at]
        live = self.features.matrix("live_onehot")[at]
        return np.column_stack([np.where(disconnected, full, live), disconnected])


def adapt(
    features: SpaceFeatures,
    proxy_latency: np.ndarray,
    sample_idx: np.ndarray,
    y_sample: np.ndarray,
    *,
    strategy: str = "auto",
    lambdas: np.ndarray | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Adapted:
    """Adapted latencies (ms) of every architecture of `features` (see the module docstring)."""
    return ProxyModels.of(features, proxy_latency).adapt(
        sample_idx, y_sample, strategy=strategy, lambdas=lambdas, confidence=confidence
    )


def checked_samples(sample_idx: ArrayLike, y_sample: ArrayLike,
                    n_archs: int) -> tuple[np.ndarray, np.ndarray]:
    """The sample indices and latencies as arrays, or `InvalidPredictorInput` naming what is
    wrong with them."""
    idx = check_sample_indices(sample_idx, n_archs)
    y = np.asarray(y_sample, dtype=np.float64)
    if y.shape != idx.shape:
        raise InvalidPredictorInput(
            f"y_sample must hold one latency (ms) per entry of sample_idx ({idx.size}), "
            f"got shape {y.shape}"
        )
    if (y <= 0).any() or not np.isfinite(y).all():
        raise InvalidPredictorInput(
            f"y_sample holds a latency that is not a positive number at position "
            f"{int(np.flatnonzero(~(np.isfinite(y) & (y > 0)))[0])}"
        )
    return idx, y


def select_proxy(
    features: SpaceFeatures,
    proxies: dict[str, np.ndarray],
    sample_idx: np.ndarray,
    y_sample: np.ndarray,
    *,
    strategy: str = "auto",
    confidence: float = DEFAULT_CONFIDENCE,
) -> tuple[str, Adapted, dict[str, float]]:
    """The proxy whose adaptation is chosen (see `select_proxy_models`), its adaptation, and
    each proxy's least LOO RMSE (ms)."""
    models = {name: ProxyModels.of(features, lat) for name, lat in proxies.items()}
    return select_proxy_models(models, sample_idx, y_sample, strategy=strategy,
                               confidence=confidence)


def select_proxy_models(
    models: dict[str, ProxyModels],
    sample_idx: np.ndarray,
    y_sample: np.ndarray,
    *,
    strategy: str = "auto",
    on_proxy: Callable[[str], None] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    screen: int = PRESCREEN,
) -> tuple[str, Adapted, dict[str, float]]:
    """`select_proxy` over proxies whose fits are made once and reused across targets and seeds.

    Only the `screen` proxies whose raw latency ranks the samples best are adapted
    (`baselines.prescreen`). Their candidates compete: the best LOO SRCC among their baselines
    (each one's raw latency, FLOPs, params) is the bar, and the least LOO RMSE above it wins;
    ties go to the first proxy in sorted order. `on_proxy` is called before each proxy is
    fitted (progress). Returns the chosen proxy, its adaptation and each screened proxy's least
    LOO RMSE (ms).
    """
    if not models:
        raise InvalidPredictorInput("proxies is empty: pass at least one proxy's latencies")
    if len(models) > screen:
        idx, y = checked_samples(sample_idx, y_sample, next(iter(models.values())).features.n_archs)
        raw = {name: model.proxy_latency for name, model in models.items()}
        models = {name: models[name] for name in prescreen(raw, idx, y, screen)}
    fits = {}
    for name, model in sorted(models.items()):
        if on_proxy is not None:
            on_proxy(name)
        fits[name] = model.fits(sample_idx, y_sample, strategy=strategy)
    y = next(iter(fits.values()))[1]
    ranked = scored(y, [group for _, _, group in fits.values()])
    fitted = {name: (idx, y, cands) for (name, (idx, _, _)), cands
              in zip(fits.items(), ranked, strict=True)}
    bar = max(baseline_bar(cands) for _, _, cands in fitted.values())
    chosen = {name: choose(cands, bar) for name, (_, _, cands) in fitted.items()}
    best = choose([c for c in chosen.values() if c is not None], -np.inf)
    name = next(n for n, c in chosen.items() if c is best)
    idx, y, cands = fitted[name]
    scores = {n: min(c.fit.loo_rmse for c in cs) for n, (_, _, cs) in fitted.items()}
    return name, models[name].adapted(best, idx, y, cands, confidence), scores
