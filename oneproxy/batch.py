"""`oneproxy run` as a Python call: every stage in order, skipped when its inputs are unchanged.

The run holds the warehouse's run lock, writes its run row to the ledger, then runs each stage:
a stage whose input fingerprint equals the one recorded at its last run or skip is skipped; any
other stage computes its result tables, which are published with its ledger row in one atomic
commit. A killed run leaves the previous complete results and a run row the next run marks
killed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress, TaskID

from oneproxy.api.names import REPORT_HTML
from oneproxy.progress import progress_bar, stderr
from oneproxy.runs import (
    DONE,
    FAILED,
    INTERRUPTED,
    STAGE_FAILED,
    STAGE_RAN,
    STAGE_SKIPPED,
    Ledger,
    now,
    run_lock,
)
from oneproxy.stages import (
    Inputs,
    NotApplicable,
    RunSettings,
    Stage,
    downstream_stages,
    ingest_stage,
    report_dir,
)
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.store import Warehouse

UNCHANGED = "inputs unchanged"


class StageFailed(OneproxyError):
    """A stage raised: the run stops, the stage is recorded as failed."""


@dataclass(frozen=True)
class StageOutcome:
    """How one stage of a run ended."""

    stage: str
    status: str  # run, skipped, failed
    seconds: float
    message: str
    fingerprint: str


@dataclass(frozen=True)
class RunOutcome:
    """What one `oneproxy run` did."""

    run_id: str
    stages: tuple[StageOutcome, ...]
    seconds: float
    report: Path

    @property
    def nothing_changed(self) -> bool:
        return all(s.status == STAGE_SKIPPED for s in self.stages)

    def count(self, status: str) -> int:
        return sum(s.status == status for s in self.stages)

    def summary(self) -> str:
        page = self.report / REPORT_HTML
        if self.nothing_changed:
            return (f"nothing changed: all {len(self.stages)} stages skipped in "
                    f"{self.seconds:.1f}s (run {self.run_id}); report: {page}")
        return (f"run {self.run_id}: {self.count(STAGE_RAN)} stages run, "
                f"{self.count(STAGE_SKIPPED)} skipped in {self.seconds:.1f}s; report: {page}")


class RunDisplay:
    """One progress display on stderr: a line per finished stage, and on a terminal a bar for
    the running one (logs of scheduled runs get the lines only)."""

    def __init__(self, enabled: bool = True) -> None:
        self.progress: Progress = progress_bar(enabled and stderr.is_terminal)
        self.enabled = enabled
        self.task: TaskID | None = None

    def __enter__(self) -> RunDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def begin(self, stage: str) -> None:
        self.task = self.progress.add_task(stage, total=1)

    def step(self, label: str, done: int, total: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, description=label, completed=done, total=total)

    def end(self, stage: str, text: str) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        self.note(f"{stage}: {text}")

    def note(self, text: str) -> None:
        if self.enabled:
            stderr.print(text, markup=False, highlight=False, soft_wrap=True)


def _one_line(exc: BaseException) -> str:
    """A domain error's own message; anything else prefixed by its type."""
    return str(exc) if isinstance(exc, OneproxyError) else f"{type(exc).__name__}: {exc}"


class _Runner:
    """Runs stages one by one against the ledger's last fingerprints."""

    def __init__(self, ledger: Ledger, previous: dict[str, str], force: bool,
                 display: RunDisplay) -> None:
        self.ledger = ledger
        self.previous = previous
        self.force = force
        self.display = display
        self.outcomes: list[StageOutcome] = []

    def run_info(self) -> dict[str, Any]:
        """What the report says about this run."""
        return {"run_id": self.ledger.run_id, "started_at": self.ledger.started_at,
                "fingerprints": {o.stage: o.fingerprint for o in self.outcomes}}

    def run(self, stage: Stage) -> None:
        started_at, start = now(), time.perf_counter()
        self.display.begin(stage.name)
        try:
            fingerprint = stage.fingerprint()
            if (not self.force and self.previous.get(stage.name) == fingerprint
                    and not stage.outputs_missing()):
                self._finish(stage, STAGE_SKIPPED, started_at, start, fingerprint, UNCHANGED)
                return
            try:
                result = stage.run(self.display.step)
            except NotApplicable as exc:
                self._finish(stage, STAGE_SKIPPED, started_at, start, fingerprint,
                             f"not applicable: {exc}")
                return
            self._finish(stage, STAGE_RAN, started_at, start, fingerprint, result.message,
                         result.tables)
        except Exception as exc:
            message = _one_line(exc)
            self._finish(stage, STAGE_FAILED, started_at, start, "", message)
            raise StageFailed(f"stage {stage.name} failed: {message}") from exc

    def _finish(self, stage: Stage, status: str, started_at: str, start: float,
                fingerprint: str, message: str, tables: dict | None = None) -> None:
        self.ledger.record(stage.name, status, started_at, fingerprint, message, tables)
        seconds = time.perf_counter() - start
        self.outcomes.append(StageOutcome(stage.name, status, seconds, message, fingerprint))
        shown = f"{status} ({message})" if status == STAGE_SKIPPED else (
            f"{status} in {seconds:.1f}s: {message}")
        self.display.end(stage.name, shown)


def run_batch(wh: Warehouse, settings: RunSettings, *, force: bool = False, wait: bool = False,
              display: RunDisplay | None = None) -> RunOutcome:
    """Run every stage under the warehouse's run lock; raises `RunLocked` or `StageFailed`."""
    display = display or RunDisplay(enabled=False)
    start = time.perf_counter()
    with run_lock(wh.root, wait, display.note), display:
        ledger = Ledger(wh)
        runner = _Runner(ledger, ledger.open(), force, display)
        try:
            if settings.selects("ingest"):
                runner.run(ingest_stage(wh, settings))
            for stage in downstream_stages(wh, settings, Inputs(wh), runner.run_info):
                runner.run(stage)
        except BaseException as exc:
            failed = isinstance(exc, Exception)  # not Ctrl-C or SystemExit
            ledger.close(FAILED if failed else INTERRUPTED, _one_line(exc))
            raise
        outcome = RunOutcome(ledger.run_id, tuple(runner.outcomes), time.perf_counter() - start,
                             report_dir(wh, settings))
        ledger.close(DONE, f"{outcome.count(STAGE_RAN)} run, {outcome.count(STAGE_SKIPPED)} "
                           "skipped")
    return outcome

