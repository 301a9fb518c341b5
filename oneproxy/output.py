"""Render a result table as a terminal table, CSV, JSON or Parquet, to stdout or a file."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import click
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from oneproxy.shown import cell, layout
from oneproxy.warehouse.atomic import atomic_path

FORMATS = ("table", "csv", "json", "parquet")


def _flat(table: pa.Table) -> pl.DataFrame:
    """Nested columns as JSON text, so that every format can print them."""
    frame = pl.from_arrow(table)
    nested = [c for c, t in frame.schema.items() if t.is_nested()]
    return frame.with_columns(
        pl.col(c).map_elements(lambda v: json.dumps(v.to_list() if hasattr(v, "to_list") else v),
                               return_dtype=pl.String)
        for c in nested
    )


def _width(to_file: bool) -> int:
    """The terminal's width (`COLUMNS` when set, as `shutil` reads it) for standard output on a
    terminal; wide enough for any table when piped or written to a file."""
    if not to_file and ("COLUMNS" in os.environ or sys.stdout.isatty()):
        return shutil.get_terminal_size().columns
    return 1000


def _table_text(table: pa.Table, title: str | None, width: int) -> str:
    """The table as rich draws it within `width` cells: in panels of columns when it is wider
    (see `oneproxy.shown.layout`); no cell is cut or folded inside a word."""
    from rich.console import Console  # the table format only: csv / json / parquet skip rich
    from rich.table import Table
    from rich.text import Text

    frame = _flat(table)
    header = list(frame.columns)
    rows = [tuple(cell(v) for v in row) for row in frame.iter_rows()]
    right = [dtype.is_numeric() for dtype in frame.schema.values()]
    panels = layout(header, rows, width)
    buffer = io.StringIO()
    console = Console(file=buffer, width=max(width, *(p.width for p in panels)))
    for k, panel in enumerate(panels, 1):
        part = f" ({k}/{len(panels)})" if len(panels) > 1 else ""
        view = Table(title=f"{title or ''}{part}".strip() or None)
        for i, w in zip(panel.columns, panel.widths, strict=True):
            view.add_column(Text(header[i]), justify="right" if right[i] else "left", width=w,
                            overflow="fold")
        for row in rows:  # Text: a cell is shown as it is, never read as rich markup
            view.add_row(*(Text(row[i]) for i in panel.columns))
        console.print(view)
    if frame.is_empty():
        buffer.write("(no rows)\n")
    return buffer.getvalue()


def render(table: pa.Table, fmt: str, output: Path | None = None, title: str | None = None) -> None:
    """Write the table in one of FORMATS; Parquet needs `output`. A file is replaced atomically:
    a failed write leaves the previous file as it was."""
    if fmt == "parquet":
        if output is None:
            raise click.UsageError("--format parquet needs -o FILE")
        with atomic_path(output) as tmp, open(tmp, "wb") as f:  # a file object: pyarrow never
            pq.write_table(table, f, compression="zstd")  # deletes it on failure
        return
    if fmt == "table":
        text = _table_text(table, title, _width(output is not None))
    elif fmt == "csv":
        text = _flat(table).write_csv()
    else:
        text = json.dumps(pl.from_arrow(table).to_dicts(), indent=1, default=str) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        with atomic_path(output) as tmp, open(tmp, "w") as f:
            f.write(text)


def format_for(fmt: str, output: Path | None) -> str:
    """`fmt`, except that the default "table" written to a file follows the file's suffix
    (.parquet, .json; csv otherwise), so `-o to_measure.csv` writes a CSV."""
    if fmt != "table" or output is None:
        return fmt
    return {".parquet": "parquet", ".json": "json"}.get(output.suffix.lower(), "csv")
