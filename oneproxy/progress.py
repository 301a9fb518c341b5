"""The progress bar of long commands, on standard error so that output stays clean.

rich is imported when a bar or the stderr console is first used: a command whose standard error
is a pipe or a log file (scripts, tests, `bench.adapt`) draws no bar and does not load rich.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from oneproxy.api.progress import Progress as Callback

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


@cache
def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def __getattr__(name: str) -> Any:
    """`stderr`: the rich console on standard error, made when it is first asked for."""
    if name == "stderr":
        return _stderr()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _surely_not_a_terminal() -> bool:
    """True when rich would find that standard error is no terminal, known without rich: not a
    tty, and neither FORCE_COLOR nor TTY_COMPATIBLE=1 (which make rich draw anyway) is set."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return not tty and "FORCE_COLOR" not in os.environ and \
        os.environ.get("TTY_COMPATIBLE", "") != "1"


def progress_bar(enabled: bool = True) -> Progress:
    """A transient progress bar on stderr when it is a terminal: description, bar, done/total,
    elapsed time (a log file or a pipe gets nothing, not even a blank line)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    stderr = _stderr()
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    return Progress(*columns, console=stderr, transient=True,
                    disable=not enabled or not stderr.is_terminal)


def _no_progress(label: str, done: int, total: int) -> None:
    pass


@contextmanager
def progress_callback(enabled: bool = True) -> Iterator[Callback]:
    """A progress bar driven by the API's callback (label, done, total); it appears on the
    first report, so that a call that fails its checks prints nothing but its error."""
    if not enabled or _surely_not_a_terminal():
        yield _no_progress  # the bar rich would make here is disabled: it would draw nothing
        return
    bar = progress_bar(enabled)
    task: list[TaskID] = []

    def update(label: str, done: int, total: int) -> None:
        if not task:
            bar.start()
            task.append(bar.add_task(label, total=total))
        bar.update(task[0], description=label, completed=done, total=total)

    try:
        yield update
    finally:
        if task:
            bar.stop()
