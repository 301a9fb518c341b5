"""Scoring adapted latency predictions, and running an evaluation protocol over targets × n × seeds.

Every score is computed on the evaluation set of one adaptation: the architectures the target
measured that were not among its n samples.

- `srcc`: Spearman rank correlation (average ranks for ties, as `scipy.stats.spearmanr`).
- `kendall`: Kendall's tau-b (`scipy.stats.kendalltau`).
- `rmse_ms`: root mean squared error in milliseconds.
- `mape_pct`: mean absolute percentage error, over the rows whose true latency is above a floor
  of `MAPE_FLOOR_SHARE` (1%) of the median true latency of the evaluation set. A near-zero true
  latency (HW-NAS-Bench's Pixel 3 and Raspberry Pi 4 list models of a few microseconds) would
  make the ratio explode; such rows are left out and counted in `mape_dropped`. With no row above
  the floor, `mape_pct` is null and `mape_reason` says why — it is never infinite.
- `within10`: nn-Meter's accuracy, the share of rows with |predicted − true| ≤ 10% of true
  (computed without a division, over every evaluation row).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa
from numpy.typing import ArrayLike
from oneproxy.analytics.adaptation import ProxyModels, select_proxy_models
from oneproxy.analytics.predictors.encodings import SpaceFeatures
from oneproxy.analytics.protocols import Protocol
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.schemas import ADAPTATION, PREDICTOR_EVAL

MAPE_FLOOR_SHARE = 0.01
WITHIN_SHARE = 0.10

SCORE_SCHEMA = {
    "srcc": pl.Float64, "kendall": pl.Float64, "rmse_ms": pl.Float64, "mape_pct": pl.Float64,
    "mape_dropped": pl.Int64, "mape_reason": pl.String, "within10": pl.Float64,
    "n_eval": pl.Int64,
}

MapTasks = Callable[..., list]
"""`map(fn, items, shared, on_done)` → `[fn(item, **shared) …]`, as `oneproxy.scale.Engine.map`."""


class BadEvaluationInput(OneproxyError, ValueError):
    """Latency matrices, sample counts or devices an evaluation cannot use."""


class TooManySamples(BadEvaluationInput):
    """More samples asked of a target than it measured (or than leaves anything to score)."""


@dataclass(frozen=True)
class ProtocolData:
    """What a protocol run reads from the warehouse, as arrays over one architecture set."""

    devices: list[str]  # rows of `latency`
    latency: np.ndarray  # devices × archs, ms, NaN where not measured
    features: SpaceFeatures  # encodings of the same architectures, in the same order
    reference: np.ndarray  # column indices of the reference architectures, in their order

    def row(self, device: str) -> np.ndarray:
        return self.latency[self.devices.index(device)]


@dataclass(frozen=True)
class Evaluation:
    """The long per-seed table (`PREDICTOR_EVAL`), the per target × n summary (`ADAPTATION`),
    and the mean over targets per n (mean ± std over seeds of the per-seed target mean)."""

    long: pa.Table
    summary: pa.Table
    overall: pa.Table


def score_rows(predicted: ArrayLike, true: ArrayLike, *,
               floor_share: float = MAPE_FLOOR_SHARE) -> pl.DataFrame:
    """Scores of each row of `predicted` against the same row of `true` (k × m, ms).

    A row's evaluation set is the columns where both are finite: put NaN in `true` for the
    architectures used for adaptation or not measured. One output row per input row with the
    columns of `SCORE_SCHEMA`; a score that is undefined (fewer than 2 rows, constant ranks) is
    null.
    """
    pred = np.atleast_2d(np.asarray(predicted, dtype=np.float64))
    tru = np.atleast_2d(np.asarray(true, dtype=np.float64))
    if pred.shape != tru.shape:
        raise BadEvaluationInput(
            f"predicted {pred.shape} and true {tru.shape} latency must have the same shape"
        )
    mask = np.isfinite(pred) & np.isfinite(tru)
    n_eval = mask.sum(axis=1)
    p = np.where(mask, pred, np.nan)
    t = np.where(mask, tru, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.where(mask, p - t, 0.0)
        rmse = np.sqrt((error**2).sum(axis=1) / np.where(n_eval > 0, n_eval, np.nan))
        floor = floor_share * _nanmedian(t)
        kept = mask & (t > floor[:, None])
        n_kept = kept.sum(axis=1)
        ape = np.where(kept, np.abs(error) / np.where(kept, t, 1.0), 0.0)
        mape = np.where(n_kept > 0, 100.0 * ape.sum(axis=1) / np.maximum(n_kept, 1), np.nan)
        within = np.where(mask, np.abs(error) <= WITHIN_SHARE * t, False).sum(axis=1)
        within10 = np.where(n_eval > 0, within / np.maximum(n_eval, 1), np.nan)
    reason = np.where(
        n_eval == 0, "no architecture to evaluate",
        np.where(n_kept == 0, f"no true latency above {floor_share:.0%} of the median", None),
    )
    return pl.DataFrame(
        {
            "srcc": _spearman(p, t, mask, n_eval),
            "kendall": _kendall(p, t, mask, n_eval),
            "rmse_ms": rmse,
            "mape_pct": mape,
            "mape_dropped": n_eval - n_kept,
            "mape_reason": reason.tolist(),
            "within10": within10,
            "n_eval": n_eval,
        },
        schema=SCORE_SCHEMA,
    ).with_columns(pl.col(pl.Float64).fill_nan(None))


def score(predicted: ArrayLike, true: ArrayLike, *,
          floor_share: float = MAPE_FLOOR_SHARE) -> dict[str, float | int | str | None]:
    """The scores of one prediction vector against one true vector (see `score_rows`)."""
    return score_rows(predicted, true, floor_share=floor_share).row(0, named=True)


def draw_samples(
    measured: ArrayLike, n: int, seed: int, reference: ArrayLike | None = None
) -> np.ndarray:
    """Indices of the n architectures a target measures for adaptation.

    `measured` are the indices the target has a latency for; `np.random.default_rng(seed)`
    draws without replacement. With `reference` (HELP's reference architectures, those the
    target measured), the references are part of the n when n ≥ their number: all of them
    first, then n − len(reference) drawn among the other measured ones (n = 20 → 10 reference
    + 10 random, n = 10 → the 10 reference). When n is smaller than their number (n = 5), all
    n are drawn at random among every measured architecture, references included, as if no
    reference set existed.
    """
    pool = np.asarray(measured, dtype=np.int64)
    if not 1 <= n < pool.size:
        raise TooManySamples(
            f"{n} samples asked of a target that measured {pool.size} architectures: use at "
            f"most {pool.size - 1} so that some are left to evaluate"
        )
    rng = np.random.default_rng(seed)
    ref = np.asarray([] if reference is None else reference, dtype=np.int64)
    ref = ref[np.isin(ref, pool)]
    if ref.size == 0 or n < ref.size:
        return rng.choice(pool, size=n, replace=False)
    rest = pool[~np.isin(pool, ref)]
    return np.concatenate([ref, rng.choice(rest, size=n - ref.size, replace=False)])


def run_protocol(
    protocol: Protocol,
    data: ProtocolData,
    on_step: Callable[[str], None] | None = None,
    map_tasks: MapTasks | None = None,
    seeds_per_task: int | None = None,
) -> Evaluation:
    """Adapt and score every target × n × seed of the protocol.

    Per seed: the n samples are drawn with `draw_samples`, the proxy is the protocol's fixed one
    or the candidate `select_proxy_models` picks (the target itself is never a candidate), and both
    the adapted predictions ("after") and the proxy's raw latencies ("before") are scored on
    the target's measured architectures outside the samples. `on_step` is called before each
    target × n with a label, for progress bars.

    `map_tasks` (an engine's `map`, see `oneproxy.scale`) runs the groups of `seeds_per_task`
    seeds of one target × n as tasks; the fitted proxy models go to it once, as shared inputs.
    Each seed draws its own samples, so the rows are the same however the seeds are grouped.
    """
    _check_data(protocol, data)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    models = {p: ProxyModels.of(data.features, data.row(p)) for p in protocol.proxies}
    step = seeds_per_task or protocol.seeds
    tasks = [(t, n, range(s, min(s + step, protocol.seeds))) for t in protocol.targets
             for n in protocol.samples for s in range(0, protocol.seeds, step)]
    shared = {"protocol": protocol, "data": data, "models": models}
    done = None if on_step is None else lambda i: on_step(f"{tasks[i][0]} n={tasks[i][1]}")
    if map_tasks is None:
        frames = []
        for i, task in enumerate(tasks):
            if done is not None:
                done(i)
            frames.append(_group_task(task, **shared))
    else:
        shared["models"] = {p: m.fitted(protocol.strategy) for p, m in models.items()}
        frames = map_tasks(_group_task, tasks, shared, done)
    long = pl.concat(frames).with_columns(
        protocol=pl.lit(protocol.name), space_id=pl.lit(protocol.space),
        strategy=pl.lit(protocol.strategy), computed_at=pl.lit(stamp),
    ).select(PREDICTOR_EVAL.names)
    long_table = long.to_arrow().cast(PREDICTOR_EVAL)
    return Evaluation(long_table, summarize(long_table, protocol, stamp), overall(long_table))


def _group_task(task: tuple[str, int, range], protocol: Protocol, data: ProtocolData,
                models: dict[str, ProxyModels]) -> pl.DataFrame:
    """One task of `run_protocol`: some seeds of one target and n."""
    target, n, seeds = task
    candidates = {p: m for p, m in models.items() if p != target}
    return _run_group(protocol, data, target, candidates, n, seeds)


def _run_group(protocol: Protocol, data: ProtocolData, target: str,
               models: dict[str, ProxyModels], n: int,
               seeds: range | None = None) -> pl.DataFrame:
    """All seeds (or `seeds`) of one target and n: adapt each, then score them together."""
    true = data.row(target)
    measured = np.flatnonzero(np.isfinite(true))
    if n >= measured.size:
        raise TooManySamples(
            f"protocol {protocol.name}: n={n} samples but target '{target}' measured only "
            f"{measured.size} architectures; use fewer samples"
        )
    reference = data.reference if protocol.reference else None
    after, before, held_out, info = [], [], [], []
    for seed in range(protocol.seeds) if seeds is None else seeds:
        idx = draw_samples(measured, n, seed, reference)
        name, adapted, _ = select_proxy_models(models, idx, true[idx], strategy=protocol.strategy)
        row = true.copy()
        row[idx] = np.nan
        held_out.append(row)
        after.append(adapted.predicted)
        before.append(models[name].proxy_latency)
        n_ref = 0 if reference is None else int(np.isin(idx, reference).sum())
        info.append((seed, name, adapted.strategy, adapted.encoding, adapted.proxy_only,
                     adapted.loo_rmse, n_ref))
    held = np.stack(held_out)
    scores = score_rows(np.stack(after), held)
    before_srcc = score_rows(np.stack(before), held)["srcc"]
    meta = pl.DataFrame(info, orient="row", schema={
        "seed": pl.Int64, "proxy": pl.String, "chosen_strategy": pl.String,
        "encoding": pl.String, "proxy_only": pl.Boolean, "loo_rmse_ms": pl.Float64,
        "n_reference": pl.Int64,
    })
    return pl.concat([meta, scores.rename({"srcc": "after_srcc"})], how="horizontal").with_columns(
        target=pl.lit(target), n_samples=pl.lit(n, dtype=pl.Int64), before_srcc=before_srcc,
    )


def summarize(long: pa.Table, protocol: Protocol, stamp: str) -> pa.Table:
    """Per target × n: the most frequent proxy and its share, mean ± std of the scores."""
    frame = pl.from_arrow(long)
    published = pl.col("target").replace_strict(
        protocol.published, default=None, return_dtype=pl.Float64)
    at_published = pl.col("n_samples") == (protocol.published_samples or -1)
    summary = (
        frame.group_by("protocol", "space_id", "strategy", "target", "n_samples",
                       maintain_order=True)
        .agg(
            seeds=pl.len().cast(pl.Int64),
            proxy=pl.col("proxy").mode().sort().first(),
            proxy_share=(pl.col("proxy") == pl.col("proxy").mode().sort().first()).mean(),
            before_srcc_mean=pl.col("before_srcc").mean(),
            before_srcc_std=pl.col("before_srcc").std(),
            after_srcc_mean=pl.col("after_srcc").mean(),
            after_srcc_std=pl.col("after_srcc").std(),
            kendall_mean=pl.col("kendall").mean(),
            rmse_ms_mean=pl.col("rmse_ms").mean(),
            mape_pct_mean=pl.col("mape_pct").mean(),
            within10_mean=pl.col("within10").mean(),
            n_eval_mean=pl.col("n_eval").mean().cast(pl.Float64),
        )
        .with_columns(
            published_srcc=pl.when(at_published).then(published),
            computed_at=pl.lit(stamp),
        )
    )
    return summary.select(ADAPTATION.names).to_arrow().cast(ADAPTATION)


def overall(long: pa.Table) -> pa.Table:
    """Per n: the mean over targets of each seed's SRCC, then mean ± std of that over seeds."""
    per_seed = (
        pl.from_arrow(long)
        .group_by("n_samples", "seed", maintain_order=True)  # the same std to the last bit
        .agg(pl.col("before_srcc").mean(), pl.col("after_srcc").mean())
    )
    return (
        per_seed.group_by("n_samples")
        .agg(
            before_srcc_mean=pl.col("before_srcc").mean(),
            before_srcc_std=pl.col("before_srcc").std(),
            after_srcc_mean=pl.col("after_srcc").mean(),
            after_srcc_std=pl.col("after_srcc").std(),
        )
        .sort("n_samples")
        .to_arrow()
    )


def _check_data(protocol: Protocol, data: ProtocolData) -> None:
    missing = [d for d in (*protocol.targets, *protocol.proxies) if d not in data.devices]
    if missing:
        raise BadEvaluationInput(
            f"protocol {protocol.name}: device '{missing[0]}' has no latency row in the data"
        )
    if data.latency.shape != (len(data.devices), data.latency.shape[1]):
        raise BadEvaluationInput(
            f"latency must have one row per device ({len(data.devices)}), got shape "
            f"{data.latency.shape}"
        )


def _nanmedian(t: np.ndarray) -> np.ndarray:
    """Row medians ignoring NaN; NaN (without a warning) for rows with nothing finite."""
    out = np.full(t.shape[0], np.nan)
    some = np.isfinite(t).any(axis=1)
    out[some] = np.nanmedian(t[some], axis=1)
    return out


def _spearman(p: np.ndarray, t: np.ndarray, mask: np.ndarray, n_eval: np.ndarray) -> np.ndarray:
    """Row-wise Spearman correlation over the masked entries: Pearson of average ranks."""
    from scipy.stats import rankdata  # imported when scoring: scipy.stats is slow to import

    rp = np.where(mask, rankdata(p, axis=1, nan_policy="omit"), 0.0)
    rt = np.where(mask, rankdata(t, axis=1, nan_policy="omit"), 0.0)
    centre = (n_eval + 1) / 2.0
    cp = np.where(mask, rp - centre[:, None], 0.0)
    ct = np.where(mask, rt - centre[:, None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (cp * ct).sum(axis=1) / np.sqrt((cp**2).sum(axis=1) * (ct**2).sum(axis=1))
    return np.where(n_eval >= 2, np.clip(corr, -1.0, 1.0), np.nan)


def _kendall(p: np.ndarray, t: np.ndarray, mask: np.ndarray, n_eval: np.ndarray) -> np.ndarray:
    """Row-wise Kendall tau-b (scipy has no batched form; each call is O(m log m))."""
    from scipy.stats import kendalltau

    return np.array([
        kendalltau(p[i, m], t[i, m]).statistic if n_eval[i] >= 2 else np.nan
        for i, m in enumerate(mask)
    ], dtype=np.float64)

