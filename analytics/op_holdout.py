"""How well an operator-level model priced on some lookup-table resolutions prices the others.

`holdout_eval` trains an `OpLatencyModel` on the op_latency rows of the resolutions it keeps
and scores, at each held-out resolution:

- op level: every op key of that resolution's table, predicted against its measured mean, and
  apart the "unseen" keys that no trained resolution's table lists (a held-out table shares
  the keys of its deeper layers with its neighbours: Note10 at 164 has 29 of its 96 keys unseen);
- architecture level: architectures of the space at that resolution (sampled with a seed, or
  given), the sum of their predicted ops against the sum of the table's means (`price`, OFA's
  own estimate) — the figure that matters to a search that ranks and budgets networks.

Scores are `analytics.evaluate.score`'s: RMSE (ms), MAPE (%), the share within ±10% of the
true value (nn-Meter's accuracy) and Spearman's rank correlation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
from oneproxy.analytics.evaluate import score
from oneproxy.analytics.predictors.lookup import price
from oneproxy.analytics.predictors.op_latency_model import OpLatencyModel
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.schemas import LUT_EVAL
from oneproxy.warehouse.spaces.ofa_net import ElasticNet

METRIC = "latency_ms"

HOLDOUT_SCHEMA: dict[str, pl.DataType] = dict(
    pl.from_arrow(LUT_EVAL.empty_table()).drop("computed_at").schema)
"""One row per held-out resolution."""


class BadHoldout(OneproxyError, ValueError):
    """A lookup table or a hold-out choice that a hold-out evaluation cannot use."""


def every_other(resolutions: Sequence[int]) -> list[int]:
    """The default hold-out: the 2nd, 4th, … of the sorted resolutions (both ends stay trained)."""
    return sorted(resolutions)[1::2]


def sample_archs(net: ElasticNet, resolution: int, n: int, seed: int) -> list[str]:
    """`n` canonical keys with uniform random ks, e (per layer) and d (per stage) at `resolution`.

    Drawn with ``np.random.default_rng(seed)`` in the order ks, e, d: the same seed gives the
    same architectures.
    """
    rng = np.random.default_rng(seed)
    ks = rng.choice(net.kernels, (n, net.n_layers))
    e = rng.choice(net.expand_ratios, (n, net.n_layers))
    d = rng.choice(net.depths, (n, len(net.elastic_stages)))
    return net.format_keys(net.from_arrays(ks, e, d, np.full(n, resolution)))


def _one_table(table: pl.DataFrame, net: ElasticNet) -> tuple[str, str]:
    """The device and space of `table`, refusing a mix, another space or another metric."""
    if table.height == 0:
        raise BadHoldout("the op_latency table has no rows: ingest ofa_note10 or ofa_zcu first")
    pairs = table.select("device_id", "space_id").unique().sort("device_id", "space_id")
    if pairs.height != 1:
        raise BadHoldout(f"the table mixes {pairs.height} device / space series "
                         f"({', '.join(pairs['device_id'])}): give one device's rows")
    device, space = pairs.row(0)
    if space != net.space_id:
        raise BadHoldout(f"device {device}'s table is of space {space}, not {net.space_id}")
    metrics = set(table["metric"].unique().to_list()) - {METRIC}
    if metrics:
        raise BadHoldout(f"device {device}: metric {sorted(metrics)[0]!r} is not {METRIC}: "
                         f"filter the table on metric = '{METRIC}'")
    return device, space


def holdout_eval(
    table: pl.DataFrame,
    holdout: Sequence[int],
    net: ElasticNet,
    archs: int | Sequence[str] = 1000,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    mode: str = "holdout",
) -> pl.DataFrame:
    """Train on the resolutions not in `holdout`, score each held-out one (`HOLDOUT_SCHEMA`).

    `table` is one device's `op_latency` rows (one space, metric latency_ms); `net` the codec of
    its space. `archs` is either how many architectures to sample at each held-out resolution
    (`sample_archs` with `seed` + the resolution) or the arch keys to price, each at its own
    resolution (keys at a trained resolution are ignored). `params` go to `OpLatencyModel`.
    """
    device, space = _one_table(table, net)
    resolutions = sorted(table["resolution"].unique().to_list())
    holdout = sorted(set(holdout))
    unknown = sorted(set(holdout) - set(resolutions))
    if not holdout or unknown:
        raise BadHoldout(
            f"device {device}: hold out some of the table's resolutions "
            f"({', '.join(map(str, resolutions))}); got {unknown or 'none'}"
        )
    trained = [r for r in resolutions if r not in holdout]
    if not trained:
        raise BadHoldout(f"device {device}: every resolution is held out: keep one to train on")
    train = table.filter(pl.col("resolution").is_in(trained))
    model = OpLatencyModel(**dict(params or {})).fit(train, train["mean"].to_numpy(),
                                                     space=space, device=device)
    rows = []
    for r in holdout:
        ops = table.filter(pl.col("resolution") == r)
        predicted, true = model.predict(ops), ops["mean"].to_numpy()
        op = score(predicted, true)
        unseen = ~ops["op_key"].is_in(train["op_key"].implode()).to_numpy()
        new = score(predicted[unseen], true[unseen]) if unseen.any() else {}
        keys = (sample_archs(net, r, archs, seed + r) if isinstance(archs, int)
                else [k for k, kr in zip(archs, net.parse_keys(archs).r, strict=True) if kr == r])
        arch: dict[str, Any] = {}
        if keys:
            layers = net.layer_op_keys(keys)
            arch = score(model.predict_archs(layers, len(keys)), price(layers, ops, len(keys)))
        rows.append({
            "device_id": device, "space_id": space, "mode": mode, "resolution": r,
            "train_resolutions": ",".join(map(str, trained)), "n_train_ops": train.height,
            "n_ops": ops.height, "op_rmse_ms": op["rmse_ms"], "op_mape_pct": op["mape_pct"],
            "op_within10": op["within10"], "op_srcc": op["srcc"],
            "n_unseen_ops": int(unseen.sum()), "unseen_mape_pct": new.get("mape_pct"),
            "unseen_within10": new.get("within10"), "n_archs": len(keys),
            "arch_rmse_ms": arch.get("rmse_ms"), "arch_mape_pct": arch.get("mape_pct"),
            "arch_within10": arch.get("within10"), "arch_srcc": arch.get("srcc"), "seed": seed,
        })
    return pl.DataFrame(rows, schema=HOLDOUT_SCHEMA)


def leave_one_out(table: pl.DataFrame, net: ElasticNet, archs: int | Sequence[str] = 1000,
                  seed: int = 0, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
    """`holdout_eval` once per resolution of the table, each held out alone (mode ``loo``)."""
    resolutions = sorted(table["resolution"].unique().to_list()) if table.height else []
    if len(resolutions) < 2:
        raise BadHoldout("leave-one-out needs a table of at least two resolutions, got "
                         f"{len(resolutions)}")
    return pl.concat([holdout_eval(table, [r], net, archs, seed, params, mode="loo")
                      for r in resolutions])
