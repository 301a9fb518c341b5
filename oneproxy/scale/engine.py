"""One small interface over the places a job's tasks run.

An `Engine` maps a module-level function over a list of items and returns the results in item
order; `shared` keyword arguments (the latency matrix, the fitted proxy models) are sent to
each worker once, not with every task. `InProcess` runs them one after the other in this
process, exactly as the code did before there were engines; `DaskEngine` runs them on a Dask
cluster. Another engine (Ray, a process pool) only has to implement `map`, `scatter` and `close`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from oneproxy.warehouse.errors import OneproxyError

T = TypeVar("T")
R = TypeVar("R")

DASK_MISSING = "running on a cluster needs Dask: pip install 'oneproxy[dask]'"
DEFAULT_RETRIES = 1


class ScaleUnavailable(OneproxyError):
    """A cluster that cannot be used: Dask is not installed, or the scheduler cannot be reached."""


class Engine(Protocol):
    """Runs the tasks of one job."""

    workers: int  # how many tasks can run at once (1 in process)
    distributed: bool  # False: the job runs its in-process code path, unchanged

    def map(self, fn: Callable[..., R], items: Sequence[T], shared: dict[str, Any] | None = None,
            on_done: Callable[[int], None] | None = None) -> list[R]:
        """`[fn(item, **shared) for item in items]`; `on_done(i)` as item i finishes."""
        ...

    def scatter(self, values: Sequence[Any]) -> list[Any]:
        """Handles to `values` placed on the workers, to put inside items (identity in process)."""
        ...

    def close(self) -> None:
        """Release the cluster (a local one is shut down, a remote one only disconnected)."""
        ...


class InProcess:
    """Every task in this process, in item order: what every command does without a cluster."""

    workers = 1
    distributed = False

    def map(self, fn: Callable[..., R], items: Sequence[T], shared: dict[str, Any] | None = None,
            on_done: Callable[[int], None] | None = None) -> list[R]:
        results = []
        for i, item in enumerate(items):
            results.append(fn(item, **(shared or {})))
            if on_done is not None:
                on_done(i)
        return results

    def scatter(self, values: Sequence[Any]) -> list[Any]:
        return list(values)

    def close(self) -> None:
        pass


class DaskEngine:
    """Tasks on a Dask cluster, through a `distributed.Client`.

    A task whose worker died is re-run on another worker by the scheduler (up to Dask's
    `distributed.scheduler.allowed-failures`, 3 by default); past that the job fails with
    `ScaleUnavailable`, one line. A task that raised is re-run `retries` times, then its own
    exception is raised here. Results come back to this process only when every task has
    finished, and the caller commits them only then: a failed job stores nothing.
    """

    distributed = True

    def __init__(self, client: Any, retries: int = DEFAULT_RETRIES, local: Any = None) -> None:
        self.client = client
        self.retries = retries
        self._local = local  # the LocalCluster this engine started, if any

    @property
    def workers(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def map(self, fn: Callable[..., R], items: Sequence[T], shared: dict[str, Any] | None = None,
            on_done: Callable[[int], None] | None = None) -> list[R]:
        import distributed

        if not items:
            return []
        handles = {name: self.client.scatter([value], broadcast=True, hash=False)[0]
                   for name, value in (shared or {}).items()}  # a list: a dict is not split
        futures = self.client.map(fn, list(items), pure=False, retries=self.retries, **handles)
        if on_done is not None:
            position = {f.key: i for i, f in enumerate(futures)}
            for future in distributed.as_completed(futures):
                on_done(position[future.key])
        try:
            return self.client.gather(futures)
        except distributed.KilledWorker as exc:
            raise ScaleUnavailable(
                f"a task of {getattr(fn, '__name__', 'the job')} was running on workers that "
                f"died too often ({exc}); nothing was stored: check the workers' memory "
                "(see docs/scale-out.md)") from None
        finally:
            for future in futures:
                future.release()
            for handle in handles.values():
                handle.release()

    def scatter(self, values: Sequence[Any]) -> list[Any]:
        return self.client.scatter(list(values), hash=False)

    def close(self) -> None:
        self.client.close()
        if self._local is not None:
            self._local.close()


def seeds_per_task(groups: int, seeds: int, workers: int, per_worker: int = 4) -> int:
    """Seeds per task so that `groups` (target × n) × seeds make about `per_worker` tasks per
    worker: every seed of a group in one task when the groups alone are enough."""
    chunks = max(1, -(-per_worker * workers // max(groups, 1)))
    return max(1, -(-seeds // chunks))


def _dask() -> Any:
    try:
        import distributed
    except ImportError:
        raise ScaleUnavailable(DASK_MISSING) from None
    return distributed


def dask_engine(scheduler: str | None = None, workers: int | None = None, *,
                processes: bool = True, retries: int = DEFAULT_RETRIES) -> DaskEngine:
    """A `DaskEngine` on the scheduler at `scheduler`, or on a new local cluster of `workers`
    single-threaded worker processes (threads with `processes=False`) that get this process's
    BLAS-thread and allocator settings (`oneproxy.scale.worker_settings`)."""
    distributed = _dask()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ScaleUnavailable(
                f"cannot reach the Dask scheduler at {scheduler}: {exc}; start one with "
                "`dask scheduler` or check --scheduler / ONEPROXY_SCHEDULER") from None
        return DaskEngine(client, retries)
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                       processes=processes, dashboard_address=None)
    client = distributed.Client(cluster)
    if processes:  # thread workers share this process and its settings
        from oneproxy.scale.worker_settings import parent_settings

        client.register_plugin(parent_settings())
    return DaskEngine(client, retries, local=cluster)


@contextlib.contextmanager
def engine_from(scheduler: str | None = None, workers: int | None = None,
                **options: Any) -> Iterator[Engine]:
    """The engine the options ask for, closed on exit: in process without either, a cluster at
    `scheduler`, or a local cluster of `workers` processes (`scheduler` wins when both)."""
    if scheduler is None and workers is None:
        yield InProcess()
        return
    engine = dask_engine(scheduler, workers, **options)
    try:
        yield engine
    finally:
        engine.close()
