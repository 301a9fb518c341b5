"""How result rows are laid out for a terminal: cell text, and column widths that fit its width
without ever cutting or folding an identifier."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from rich.cells import cell_len

# Each column of a rich table costs its width plus two cells of padding and one of border; the
# table one more border cell.
COLUMN_COST = 3
TABLE_COST = 1
# Cells at most this wide are never wrapped (a number with its interval, a device name); longer
# ones wrap at their spaces, never inside a word.
SHORT_CELL = 40


def cell(value: object) -> str:
    """A value as a table cell shows it."""
    return "" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def vertical(row: pa.Table) -> pa.Table:
    """A one-row table as (field, value) rows, for the terminal."""
    values = row.to_pylist()[0]
    return pa.table({"field": list(values), "value": [cell(v) for v in values.values()]})


@dataclass(frozen=True)
class Panel:
    """Some of a table's columns, with the width each gets, shown as one terminal table."""

    columns: list[int]
    widths: list[int]

    @property
    def width(self) -> int:
        """The terminal cells the panel takes, borders included."""
        return _cost(self.widths)


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _line_width(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def _least(header: str, column: list[str]) -> int:
    """The narrowest a column may be: its header wraps at spaces, short cells stay whole, long
    ones wrap at spaces."""
    cells = max(((_line_width(c) if _line_width(c) <= SHORT_CELL else _longest_word(c))
                 for c in column), default=0)
    return max(_longest_word(header), cells, 1)


def _most(header: str, column: list[str]) -> int:
    return max(_line_width(header), *(_line_width(c) for c in column), 1)


def _cost(widths: list[int]) -> int:
    return sum(widths) + COLUMN_COST * len(widths) + TABLE_COST


def _widths(least: list[int], most: list[int], width: int) -> list[int]:
    """Widths from `least` up to `most` within `width`: the columns that need the least extra
    room are made whole first, so that as few columns as possible wrap."""
    widths = list(least)
    spare = width - _cost(widths)
    for i in sorted(range(len(widths)), key=lambda i: most[i] - least[i]):
        grow = max(0, min(most[i] - least[i], spare))
        widths[i] += grow
        spare -= grow
    return widths


def _key_columns(rows: list[tuple[str, ...]], least: list[int], width: int) -> int:
    """How many leading columns tell the rows apart (repeated in every panel so that a row can
    be followed across them), taking at most half the width: at least the first, unless it is
    wider than that."""
    for n in range(1, len(least) + 1):
        if _cost(least[:n]) > width // 2:
            return n - 1
        if len({row[:n] for row in rows}) == len(rows):
            return n
    return 1


def layout(header: list[str], rows: list[tuple[str, ...]], width: int) -> list[Panel]:
    """Panels showing every column in full within `width` terminal cells: one when the table
    fits (long text wrapped at spaces), else several, each repeating the columns that identify a
    row. A column too wide for any panel gets one of its own, wider than the terminal."""
    columns = [[row[i] for row in rows] for i in range(len(header))]
    least = [_least(h, c) for h, c in zip(header, columns, strict=True)]
    most = [_most(h, c) for h, c in zip(header, columns, strict=True)]
    if _cost(least) <= width:
        return [Panel(list(range(len(header))), _widths(least, most, width))]
    keys = list(range(_key_columns(rows, least, width)))
    groups: list[list[int]] = []
    for i in range(len(keys), len(header)):
        if groups and _cost([least[c] for c in [*groups[-1], i]]) <= width:
            groups[-1].append(i)
        else:
            fits = _cost([least[c] for c in [*keys, i]]) <= width
            groups.append([*keys, i] if fits else [i])
    return [Panel(g, _widths([least[c] for c in g], [most[c] for c in g], width))
            for g in groups or [keys]]
