"""The `runs` ledger of `oneproxy run`, and the lock that keeps two runs on one warehouse apart.

The ledger is the warehouse table `runs`: one row per run (stage "run": running, done, failed,
interrupted or killed) and one row per stage of the run (run, skipped or failed) with the
fingerprint of the stage's inputs. A stage's row is committed together with its result tables,
so a killed process never leaves a result without its row or a row without its result.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa

from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.schemas import RUNS
from oneproxy.warehouse.store import Warehouse, replace_rows

TABLE = "runs"
LOCK_FILE = ".run.lock"
RUN_STAGE = "run"
ROW_KEY = ["run_id", "stage"]

# Statuses of a run row, then of a stage row.
RUNNING, DONE, FAILED, INTERRUPTED, KILLED = "running", "done", "failed", "interrupted", "killed"
STAGE_RAN, STAGE_SKIPPED, STAGE_FAILED = "run", "skipped", "failed"


_KILLED_MESSAGE = pl.format("process {} ended without closing the run (killed or lost power)",
                            pl.col("pid"))


class RunLocked(OneproxyError):
    """Another `oneproxy run` holds the warehouse's run lock."""


def now() -> str:
    """The current UTC time, to the microsecond (ledger rows sort by it)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_run_id(started_at: str) -> str:
    """A sortable run id, unique even for two runs of one process in the same second: the start
    time to the millisecond, then the process id."""
    start = datetime.fromisoformat(started_at)
    return f"{start:%Y%m%dT%H%M%S}.{start.microsecond // 1000:03d}Z-{os.getpid()}"


def _row(run_id: str, stage: str, status: str, started_at: str, *, fingerprint: str | None = None,
         finished_at: str | None = None, message: str = "") -> pa.Table:
    seconds = None
    if finished_at is not None:
        seconds = (datetime.fromisoformat(finished_at)
                   - datetime.fromisoformat(started_at)).total_seconds()
    return pa.Table.from_pylist([{
        "run_id": run_id, "stage": stage, "status": status, "input_fingerprint": fingerprint,
        "started_at": started_at, "finished_at": finished_at, "seconds": seconds,
        "message": message, "pid": os.getpid(),
    }], schema=RUNS)


class Ledger:
    """The ledger rows of one run, committed to the warehouse as the run goes."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        self.started_at = now()
        self.run_id = new_run_id(self.started_at)
        self._pending: list[pa.Table] = []  # stage rows not committed yet (see `record`)

    def open(self) -> dict[str, str]:
        """Write the run row (status running); returns stage → input fingerprint of its last
        run or skip, to decide what is unchanged. Call it holding the lock: any other run row
        still marked running belongs to a process that died, and is marked killed."""
        frame = _ledger(self.wh)
        dead = frame.filter((pl.col("stage") == RUN_STAGE) & (pl.col("status") == RUNNING))
        dead = dead.with_columns(status=pl.lit(KILLED), message=_KILLED_MESSAGE)
        start = _row(self.run_id, RUN_STAGE, RUNNING, self.started_at)
        rows = replace_rows(frame.to_arrow().cast(RUNS),
                            pa.concat_tables([dead.to_arrow().cast(RUNS), start]), ROW_KEY)
        self.wh.commit({TABLE: rows})
        done = frame.filter((pl.col("stage") != RUN_STAGE) & (pl.col("status") != STAGE_FAILED))
        last = done.sort("started_at").group_by("stage").last()
        return dict(zip(last["stage"], last["input_fingerprint"], strict=True))

    def record(self, stage: str, status: str, started_at: str, fingerprint: str, message: str,
               tables: dict[str, pa.Table] | None = None) -> None:
        """Commit a stage's row together with its result tables, in one manifest swap.

        The row of a stage that wrote no table (skipped, failed, or files only) waits for the
        next commit or `close`, so a warm run commits once, not once per stage; a process killed
        before then loses only such rows, and the next run checks those stages again.
        """
        self._pending.append(_row(self.run_id, stage, status, started_at,
                                  fingerprint=fingerprint, finished_at=now(), message=message))
        if tables:
            self._commit(tables)

    def close(self, status: str, message: str) -> None:
        """Replace the run row by its final status and a one-line summary."""
        self._pending.append(_row(self.run_id, RUN_STAGE, status, self.started_at,
                                  finished_at=now(), message=message))
        self._commit({})

    def _commit(self, tables: dict[str, pa.Table]) -> None:
        rows = pa.concat_tables(self._pending)
        self.wh.commit({**tables, TABLE: replace_rows(self.wh.read_or_none(TABLE), rows, ROW_KEY)})
        self._pending = []


def _ledger(wh: Warehouse) -> pl.DataFrame:
    old = wh.read_or_none(TABLE)
    return pl.from_arrow(old if old is not None else RUNS.empty_table())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def _lock_holder(root: Path) -> tuple[int, str] | None:
    """Process id and lock time written by the process that last took the lock."""
    try:
        pid, taken = (root / LOCK_FILE).read_text().split(maxsplit=1)
        return int(pid), taken.strip()
    except (OSError, ValueError):
        return None


def run_summary(wh: Warehouse, last: int | None = None) -> pa.Table:
    """One row per run, newest first: status, start, end, seconds and stage counts.

    A run row still marked running whose process is gone (or no longer holds the lock) shows
    as killed: the process ended without closing it.
    """
    rows = _ledger(wh)
    holder = _lock_holder(wh.root)
    live = holder[0] if holder is not None and _alive(holder[0]) else None
    counts = (rows.filter(pl.col("stage") != RUN_STAGE)
              .group_by("run_id")
              .agg(*(pl.col("status").eq(s).sum().cast(pl.Int64).alias(s)
                     for s in (STAGE_RAN, STAGE_SKIPPED, STAGE_FAILED))))
    runs = rows.filter(pl.col("stage") == RUN_STAGE).join(counts, on="run_id", how="left")
    gone = (pl.col("status") == RUNNING) & pl.col("pid").ne_missing(pl.lit(live, pl.Int64))
    table = runs.select(
        "run_id", pl.when(gone).then(pl.lit(KILLED)).otherwise("status").alias("status"),
        "started_at", "finished_at", "seconds",
        *(pl.col(s).fill_null(0) for s in (STAGE_RAN, STAGE_SKIPPED, STAGE_FAILED)),
        pl.when(gone).then(_KILLED_MESSAGE).otherwise("message").alias("message"),
    ).rename({STAGE_RAN: "stages_run", STAGE_SKIPPED: "stages_skipped",
              STAGE_FAILED: "stages_failed"}).sort("started_at", descending=True)
    return (table.head(last) if last is not None else table).to_arrow()


def stage_rows(wh: Warehouse, run_id: str) -> pa.Table:
    """The stage rows of one run ("last" = the newest), in the order they ran."""
    rows = _ledger(wh)
    if run_id == "last" and rows.height:
        run_id = rows.sort("started_at")["run_id"][-1]
    picked = rows.filter((pl.col("run_id") == run_id) & (pl.col("stage") != RUN_STAGE))
    if picked.is_empty():
        known = rows["run_id"].unique().sort(descending=True).head(3).to_list()
        raise OneproxyError(f"no run '{run_id}' in the ledger of {wh.root}: see `oneproxy runs`"
                            f"{' (latest: ' + ', '.join(known) + ')' if known else ''}")
    return picked.sort("started_at").select(
        "stage", "status", "seconds", "input_fingerprint", "message").to_arrow()


@contextmanager
def run_lock(root: Path, wait: bool, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive `flock` on `<root>/.run.lock` for the duration of a run.

    Without `wait`, a held lock raises `RunLocked` naming the holder; with it, `on_wait` is told
    once and the call blocks until the holder ends. The operating system drops the lock when the
    holding process dies, however it dies.
    """
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(root)
            who = f"pid {holder[0]}, started {holder[1]}" if holder else "pid unknown"
            message = f"another oneproxy run ({who}) holds the lock on {root}"
            if not wait:
                raise RunLocked(f"{message}: let it finish, or pass --wait to queue") from None
            on_wait(f"{message}: waiting for it to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {now()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
