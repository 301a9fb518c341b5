"""Exhaustive picks over architecture partitions, one task per partition, reduced per (device,
budget).

Each task runs `search.exhaustive.best_under_budget` on a contiguous slice of the architectures;
the reduction keeps, per device and budget, the most accurate partition pick, ties to the lower
latency and then to the lower architecture index — the order `best_under_budget` breaks ties
in — so the picks are those of one run over every architecture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from oneproxy.scale.engine import Engine
from oneproxy.search.exhaustive import NO_FIT, BestPicks, best_under_budget

MIN_PARTITION = 10_000  # architectures: smaller slices cost more to ship than to search
PARTITIONS_PER_WORKER = 2


def partitions(n_archs: int, workers: int) -> list[slice]:
    """Contiguous slices of the architectures, `PARTITIONS_PER_WORKER` per worker at most."""
    k = max(1, min(PARTITIONS_PER_WORKER * workers, n_archs // MIN_PARTITION))
    bounds = np.linspace(0, n_archs, k + 1).astype(int)
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _partition_best(task: tuple[Any, Any, int], budgets: np.ndarray) -> BestPicks:
    latency, accuracy, offset = task
    picks = best_under_budget(latency, accuracy, budgets)
    index = np.where(picks.arch_index == NO_FIT, NO_FIT, picks.arch_index + offset)
    return BestPicks(index, picks.accuracy, picks.latency, picks.n_searched)


def reduce_picks(parts: list[BestPicks]) -> BestPicks:
    """Per (device, budget), the best of the partitions' picks (see the module docstring)."""
    index = np.stack([p.arch_index for p in parts])
    accuracy = np.stack([p.accuracy for p in parts])
    latency = np.stack([p.latency for p in parts])
    none = index == NO_FIT
    order = np.lexsort((np.where(none, np.iinfo(np.int64).max, index),
                        np.where(none, np.inf, latency),
                        np.where(none, np.inf, -accuracy)), axis=0)[0]
    take = order[None]
    return BestPicks(np.take_along_axis(index, take, 0)[0],
                     np.take_along_axis(accuracy, take, 0)[0],
                     np.take_along_axis(latency, take, 0)[0],
                     sum(p.n_searched for p in parts))


def partitioned_best(engine: Engine) -> Callable[[np.ndarray, np.ndarray, np.ndarray], BestPicks]:
    """`best_under_budget` computed as tasks over architecture partitions on `engine`."""

    def best(latency: np.ndarray, accuracy: np.ndarray, budgets: np.ndarray) -> BestPicks:
        lat = np.asarray(latency, dtype=np.float64)
        acc = np.asarray(accuracy, dtype=np.float64)
        cuts = partitions(lat.shape[-1], engine.workers)
        if len(cuts) == 1:
            return best_under_budget(lat, acc, budgets)
        lats = engine.scatter([lat[:, c] for c in cuts])
        accs = engine.scatter([acc[..., c] for c in cuts])
        tasks = list(zip(lats, accs, [c.start for c in cuts], strict=True))
        return reduce_picks(engine.map(_partition_best, tasks, {"budgets": np.asarray(budgets)}))

    return best

