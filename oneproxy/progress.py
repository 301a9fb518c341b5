"""The progress bar of long commands, on standard error so that output stays clean."""

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

stderr = Console(stderr=True)


def progress_bar(enabled: bool = True) -> Progress:
    """A transient progress bar on stderr: description, bar, done/total, elapsed time."""
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    return Progress(*columns, console=stderr, transient=True, disable=not enabled)
