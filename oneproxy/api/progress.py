"""How long API calls report progress: a callback the caller passes, never a display."""

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
"""Called with a label, the steps done and the steps in all."""


def silent(label: str, done: int, total: int) -> None:
    """The default progress callback: reports nothing."""
