"""Messages about names a user gave that are not known: the known ones and a close match."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from oneproxy.warehouse.errors import UnknownSpace


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """'; did you mean 'x'?' for the closest of `known` to `name`, or '' when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def check_space_name(space: str, known: Sequence[str], where: str = "known spaces are") -> None:
    """Raise `UnknownSpace` listing `known` (and a close match) unless `space` is one of them."""
    if space not in known:
        raise UnknownSpace(f"unknown space '{space}': {where} {', '.join(known) or '(none)'}"
                           f"{did_you_mean(space, known)}")
