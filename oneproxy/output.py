"""Render a result table as a terminal table, CSV, JSON or Parquet, to stdout or a file."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import click
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

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


def _width() -> int:
    """The terminal's width on a terminal; wide enough for any table when piped."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else 1000


def _table_text(table: pa.Table, title: str | None) -> str:
    frame = _flat(table)
    view = Table(title=title, show_lines=False)
    for name, dtype in frame.schema.items():
        # fold rather than cut: an identifier is never shortened to "n…" on a narrow terminal
        view.add_column(name, justify="right" if dtype.is_numeric() else "left",
                        overflow="fold")
    for row in frame.iter_rows():
        view.add_row(*("" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)
                       for v in row))
    buffer = io.StringIO()
    Console(file=buffer, width=_width()).print(view)
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
        text = _table_text(table, title)
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
