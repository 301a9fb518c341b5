"""The progress bar of long commands, on standard error so that output stays clean."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from oneproxy.api.progress import Progress as Callback

stderr = Console(stderr=True)


def progress_bar(enabled: bool = True) -> Progress:
    """A transient progress bar on stderr when it is a terminal: description, bar, done/total,
    elapsed time (a log file or a pipe gets nothing, not even a blank line)."""
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    return Progress(*columns, console=stderr, transient=True,
                    disable=not enabled or not stderr.is_terminal)


@contextmanager
def progress_callback(enabled: bool = True) -> Iterator[Callback]:
    """A progress bar driven by the API's callback (label, done, total); it appears on the
    first report, so that a call that fails its checks prints nothing but its error."""
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
