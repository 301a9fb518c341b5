"""Scoring adapted latency predictions, and running an evaluation protocol over targets × n × seeds.

Every score is computed on the evaluation set of one adaptation: the architectures the target
measured that were not among its n samples, or the protocol's own scoring set (HELP's query
rows; every architecture with ``score_on = "all"``), see `analytics.splits`. Each seed scores
our adapted proxy (method ``adaproxy``) and the baselines of `analytics.baselines` on the same
samples and the same evaluation set.

- `srcc`: Spearman rank correlation (average ranks for ties, as `scipy.stats.spearmanr`).
- `kendall`: Kendall's tau-b (`scipy.stats.kendalltau`); null with ``kendall=False``, which spares
  a caller that does not show it the import of scipy.stats.
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
from typing import TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
from numpy.typing import ArrayLike
from oneproxy.analytics import baselines
from oneproxy.analytics.adaptation import ProxyModels, select_proxy_models
from oneproxy.analytics.predictors.encodings import SpaceFeatures
from oneproxy.analytics.protocols import Protocol
from oneproxy.analytics.ranks import centred_ranks
from oneproxy.analytics.splits import DeviceSplit, all_split, help_split
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
# (data, proxy -> its latency row) -> proxy -> its models
BuildModels = Callable[["ProtocolData", dict[str, np.ndarray]], dict[str, "ProxyModels"]]
"""`map(fn, items, shared, on_done)` → `[fn(item, **shared) …]`, as `oneproxy.scale.Engine.map`."""
T = TypeVar("T")


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
    order: np.ndarray | None = None  # columns in the paper's file order (HELP's split needs it)
    arch_ids: np.ndarray | None = None  # the architectures' ids (columns), where known
    dataset: str | None = None  # the latency dataset the rows are of, where known

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
               floor_share: float = MAPE_FLOOR_SHARE, kendall: bool = True) -> pl.DataFrame:
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
            "kendall": _kendall(p, t, mask, n_eval) if kendall else np.full(n_eval.size, np.nan),
            "rmse_ms": rmse,
            "mape_pct": mape,
            "mape_dropped": n_eval - n_kept,
            "mape_reason": reason.tolist(),
            "within10": within10,
            "n_eval": n_eval,
        },
        schema=SCORE_SCHEMA,
    ).with_columns(pl.col(pl.Float64).fill_nan(None))


def score(predicted: ArrayLike, true: ArrayLike, *, floor_share: float = MAPE_FLOOR_SHARE,
          kendall: bool = True) -> dict[str, float | int | str | None]:
    """The scores of one prediction vector against one true vector (see `score_rows`)."""
    return score_rows(predicted, true, floor_share=floor_share, kendall=kendall).row(0, named=True)


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
    build_models: BuildModels | None = None,
) -> Evaluation:
    """Adapt and score every target × n × seed of the protocol, beside the baselines.

    Per seed: the n samples are drawn with `draw_samples` from the target's pool (its split),
    the proxy is the protocol's fixed one or the candidate `select_proxy_models` picks (the
    target itself is never a candidate; each proxy's models are fitted on its own pool), and
    the adapted predictions ("after"), the chosen proxy's raw latencies ("before") and each
    baseline are scored on the target's evaluation set. `on_step` is called before each
    target × n with a label, for progress bars.

    `map_tasks` (an engine's `map`, see `oneproxy.scale`) runs the groups of `seeds_per_task`
    seeds of one target × n as tasks; the fitted proxy models go to it once, as shared inputs.
    Each seed draws its own samples, so the rows are the same however the seeds are grouped.
    `build_models` is `proxy_models`'s `build`.
    """
    check_data(protocol, data)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    splits = device_splits(protocol, data)
    models = proxy_models(protocol, data, splits, build_models)
    first, last, step = protocol.first_seed, protocol.first_seed + protocol.seeds, \
        seeds_per_task or protocol.seeds
    tasks = [(t, n, range(s, min(s + step, last))) for t in protocol.targets
             for n in protocol.samples for s in range(first, last, step)]
    shared = {"protocol": protocol, "data": data, "models": models, "splits": splits}
    done = None if on_step is None else lambda i: on_step(f"{tasks[i][0]} n={tasks[i][1]}")
    frames = run_tasks(_group_task, tasks, shared, protocol.strategy, done, map_tasks)
    long = _in_protocol_order(pl.concat(frames, how="diagonal_relaxed"), protocol).with_columns(
        protocol=pl.lit(protocol.name), space_id=pl.lit(protocol.space),
        strategy=pl.lit(protocol.strategy), computed_at=pl.lit(stamp),
    ).select(PREDICTOR_EVAL.names)
    long_table = long.to_arrow().cast(PREDICTOR_EVAL)
    return Evaluation(long_table, summarize(long_table, protocol, stamp), overall(long_table))


def run_tasks(fn: Callable[..., T], tasks: list, shared: dict, strategy: str,
              done: Callable[[int], None] | None, map_tasks: MapTasks | None) -> list[T]:
    """`[fn(task, **shared) …]`: in process (`done(i)` before task i), or on `map_tasks` with
    the proxy models in `shared["models"]` fitted for `strategy` first, so that they are
    fitted once, not once per worker (`done(i)` as task i finishes)."""
    if map_tasks is not None:
        shared = shared | {"models": {p: m.fitted(strategy) for p, m in shared["models"].items()}}
        return map_tasks(fn, tasks, shared, done)
    results = []
    for i, task in enumerate(tasks):
        if done is not None:
            done(i)
        results.append(fn(task, **shared))
    return results


def _in_protocol_order(long: pl.DataFrame, protocol: Protocol) -> pl.DataFrame:
    """Rows by target and n in the protocol's order, then ours before the baselines, then seed:
    the same order however the seeds were grouped into tasks."""
    methods = [baselines.OURS, *(m for m in baselines.METHODS if m != baselines.OURS)]
    order = [pl.col("target").replace_strict(list(protocol.targets),
                                             range(len(protocol.targets))),
             pl.col("n_samples").replace_strict(list(protocol.samples),
                                                range(len(protocol.samples))),
             pl.col("method").replace_strict(methods, range(len(methods))), pl.col("seed")]
    return long.sort(order, maintain_order=True)


def _group_task(task: tuple[str, int, range], protocol: Protocol, data: ProtocolData,
                models: dict[str, ProxyModels], splits: dict[str, DeviceSplit]) -> pl.DataFrame:
    """One task of `run_protocol`: some seeds of one target and n."""
    target, n, seeds = task
    candidates = {p: m for p, m in models.items() if p != target}
    return _run_group(protocol, data, target, splits[target], candidates, n, seeds)


def device_splits(protocol: Protocol, data: ProtocolData) -> dict[str, DeviceSplit]:
    """`device_split` of every target and proxy of the protocol."""
    return {d: device_split(protocol, data, d) for d in (*protocol.targets, *protocol.proxies)}


def proxy_models(protocol: Protocol, data: ProtocolData, splits: dict[str, DeviceSplit],
                 build: BuildModels | None = None) -> dict[str, ProxyModels]:
    """Each proxy's models, fitted on its own pool (the target-independent half of adapting);
    `build` makes them from the proxies' rows instead (e.g. read back from a store)."""
    rows = {p: _only(data.row(p), splits[p].pool) for p in protocol.proxies}
    if build is not None:
        return build(data, rows)
    return {p: ProxyModels.of(data.features, row) for p, row in rows.items()}


def sample_pool(protocol: Protocol, data: ProtocolData, target: str, split: DeviceSplit,
                n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """What `draw_samples` draws a target's n samples from: its pool (with the reference
    architectures it measured, when the protocol counts them) and the references, or None."""
    if n >= split.pool.size:
        raise TooManySamples(
            f"protocol {protocol.name}: n={n} samples but target '{target}' has only "
            f"{split.pool.size} architectures to draw from; use fewer samples"
        )
    reference = data.reference if protocol.reference else None
    pool = split.pool
    if reference is not None:  # measured on the target whether or not its pool holds them
        true = data.row(target)
        pool = np.union1d(pool, reference[np.isfinite(true[reference])])
    return pool, reference


def device_split(protocol: Protocol, data: ProtocolData, device: str) -> DeviceSplit:
    """The pool and scoring set the protocol's split gives `device` (`analytics.splits`)."""
    row = data.row(device)
    if protocol.split == "all":
        return all_split(row)
    if data.order is None:
        raise BadEvaluationInput(
            f"protocol {protocol.name} uses HELP's split, which needs the architectures in "
            "HELP's file order"
        )
    return help_split(row, data.order, protocol.train_rows, protocol.query_rows)


def _only(row: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """`row` with NaN outside `columns`."""
    kept = np.full_like(row, np.nan)
    kept[columns] = row[columns]
    return kept


def _evaluation_row(protocol: Protocol, true: np.ndarray, split: DeviceSplit,
                    idx: np.ndarray) -> np.ndarray:
    """The target's latencies where a seed is scored, NaN elsewhere."""
    if split.scored is not None:
        return _only(true, split.scored)
    row = true.copy()
    if protocol.score_on == "held_out":
        row[idx] = np.nan
    return row


def _run_group(protocol: Protocol, data: ProtocolData, target: str, split: DeviceSplit,
               models: dict[str, ProxyModels], n: int,
               seeds: range | None = None) -> pl.DataFrame:
    """All seeds (or `seeds`) of one target and n: adapt each and run the baselines, then
    score them."""
    true = data.row(target)
    pool, reference = sample_pool(protocol, data, target, split, n)
    raw = {name: data.row(name) for name in models}
    costs = {m: baselines.cost(data.features, m) for m in baselines.COSTS}
    onehot = data.features.matrix(baselines.RIDGE_ENCODING)
    predicted: dict[str, list[np.ndarray]] = {m: [] for m in baselines.METHODS}
    before, held_out, info, extra = [], [], [], []
    first = protocol.first_seed
    for seed in range(first, first + protocol.seeds) if seeds is None else seeds:
        idx = draw_samples(pool, n, seed, reference)
        y = true[idx]
        name, adapted, _ = select_proxy_models(models, idx, y, strategy=protocol.strategy)
        held_out.append(_evaluation_row(protocol, true, split, idx))
        predicted[baselines.OURS].append(adapted.predicted)
        before.append(raw[name])
        n_ref = 0 if reference is None else int(np.isin(idx, reference).sum())
        info.append((seed, name, adapted.strategy, adapted.encoding, adapted.proxy_only,
                     adapted.loo_rmse, n_ref))
        best = baselines.best_raw_proxy(raw, idx, y)
        predicted["raw_proxy"].append(raw[best])
        ridge, ridge_rmse = baselines.ridge_fit_predict(onehot, idx, y)
        predicted["ridge"].append(ridge)
        for method, values in costs.items():
            if values is not None:
                predicted[method].append(values)
        extra.append((seed, best, ridge_rmse, n_ref))
    held = np.stack(held_out)
    scores = score_rows(np.stack(predicted[baselines.OURS]), held)
    before_srcc = score_rows(np.stack(before), held, kendall=False)["srcc"]
    meta = pl.DataFrame(info, orient="row", schema=_META)
    frames = [pl.concat([meta, scores.rename({"srcc": "after_srcc"})], how="horizontal")
              .with_columns(method=pl.lit(baselines.OURS), before_srcc=before_srcc)]
    extras = pl.DataFrame(extra, orient="row", schema={
        "seed": pl.Int64, "proxy": pl.String, "loo_rmse_ms": pl.Float64, "n_reference": pl.Int64})
    for method in baselines.METHODS[:-1]:
        if not predicted[method]:
            continue
        base = extras.select("seed", "n_reference").with_columns(
            proxy=extras["proxy"] if method == "raw_proxy" else pl.lit(None, pl.String),
            loo_rmse_ms=extras["loo_rmse_ms"] if method == "ridge" else pl.lit(None, pl.Float64),
            encoding=pl.lit(baselines.RIDGE_ENCODING if method == "ridge" else None, pl.String),
        )
        frames.append(pl.concat([base, score_rows(np.stack(predicted[method]), held)
                                 .rename({"srcc": "after_srcc"})], how="horizontal")
                      .with_columns(method=pl.lit(method)))
    return pl.concat(frames, how="diagonal_relaxed").with_columns(
        target=pl.lit(target), n_samples=pl.lit(n, dtype=pl.Int64),
    )


_META = {
    "seed": pl.Int64, "proxy": pl.String, "chosen_strategy": pl.String,
    "encoding": pl.String, "proxy_only": pl.Boolean, "loo_rmse_ms": pl.Float64,
    "n_reference": pl.Int64,
}


def summarize(long: pa.Table, protocol: Protocol, stamp: str) -> pa.Table:
    """Per target × method × n: the most frequent proxy and its share, mean ± std of the scores.

    The published SRCC (a paper's method, not a baseline) sits on our method's rows.
    """
    frame = pl.from_arrow(long)
    published = pl.col("target").replace_strict(
        protocol.published, default=None, return_dtype=pl.Float64)
    at_published = ((pl.col("n_samples") == (protocol.published_samples or -1))
                    & (pl.col("method") == baselines.OURS))
    summary = (
        frame.group_by("protocol", "space_id", "strategy", "target", "method", "n_samples",
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
    """Per method and n: the mean over targets of each seed's SRCC, then mean ± std over seeds.

    Sorted by `baselines.METHODS` (ours last), then n: the last row is ours at the largest n.
    """
    per_seed = (
        pl.from_arrow(long)
        .group_by("method", "n_samples", "seed", maintain_order=True)  # the same std, to the bit
        .agg(pl.col("before_srcc").mean(), pl.col("after_srcc").mean())
    )
    return (
        per_seed.group_by("method", "n_samples")
        .agg(
            before_srcc_mean=pl.col("before_srcc").mean(),
            before_srcc_std=pl.col("before_srcc").std(),
            after_srcc_mean=pl.col("after_srcc").mean(),
            after_srcc_std=pl.col("after_srcc").std(),
        )
        .with_columns(rank=pl.col("method").replace_strict(
            baselines.METHODS, range(len(baselines.METHODS)), return_dtype=pl.Int64))
        .sort("rank", "n_samples")
        .drop("rank")
        .to_arrow()
    )


def with_method(stored: pa.Table | None, schema: pa.Schema) -> pa.Table | None:
    """Rows stored before baselines existed are our method's: add `method` = adaproxy, in
    `schema`'s column order."""
    if stored is None or "method" in stored.column_names:
        return stored
    added = stored.append_column("method", pa.array([baselines.OURS] * stored.num_rows,
                                                    pa.string()))
    return added.select(schema.names)


def check_data(protocol: Protocol, data: ProtocolData) -> None:
    """Every device of the protocol has a row of `data`, and the rows are one per device."""
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
    """Row-wise Spearman correlation over the masked entries (`p` and `t` are NaN off `mask`):
    Pearson of average ranks, centred (the rows of one vector share a sort)."""
    cp, ct = centred_ranks(p), centred_ranks(t)
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

