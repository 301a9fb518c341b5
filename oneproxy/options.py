"""Option decorators shared by every command, so that each option behaves the same everywhere."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from oneproxy import settings
from oneproxy.output import FORMATS
from oneproxy.warehouse.names import check_space_name
from oneproxy.warehouse.store import Warehouse


def warehouse_option(fn: Callable) -> Callable:
    """`--warehouse DIR`, shared by every command; passes a `Warehouse` as `wh`."""

    @click.option("--warehouse", "warehouse", type=click.Path(path_type=Path, file_okay=False),
                  default=None, help="Warehouse folder [env ONEPROXY_WAREHOUSE; default "
                  "./oneproxy-warehouse].")
    @functools.wraps(fn)
    def wrapper(*args: Any, warehouse: Path | None, **kwargs: Any) -> Any:
        return fn(*args, wh=Warehouse(settings.warehouse_dir(warehouse)), **kwargs)

    return wrapper


SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


def output_format(fmt: str | None, output: Path | None) -> str:
    """`--format`, else the format `-o FILE`'s extension names, else table; a clash is an error."""
    inferred = SUFFIX_FORMATS.get(output.suffix.lower()) if output is not None else None
    if fmt is None:
        return inferred or "table"
    if inferred is not None and inferred != fmt:
        raise click.UsageError(f"--format {fmt} but -o {output} names {inferred}: give one "
                               "(or make them agree)")
    return fmt


def check_parent(ctx: click.Context | None, param: click.Parameter | None,
                 value: Path | None) -> Path | None:
    """Option callback: a path to write must be in an existing folder (checked before any work)."""
    if value is not None and not value.absolute().parent.is_dir():
        name = param.opts[-1] if param is not None else "path"
        raise click.ClickException(f"{name} {value}: folder {value.absolute().parent} does not "
                                   "exist; create it first")
    return value


def out_file_option(*decls: str, help: str, **kwargs: Any) -> Callable[[Callable], Callable]:
    """An option naming a file to write, whose folder must exist."""
    return click.option(*decls, type=click.Path(path_type=Path, dir_okay=False), default=None,
                        callback=check_parent, help=help, **kwargs)


def scale_options(fn: Callable) -> Callable:
    """`--scheduler ADDRESS` and `--workers N`: where the command's tasks run; passes an
    `oneproxy.scale.Engine` as `engine` (in process without either), closed when it returns."""

    @click.option("--scheduler", default=None, envvar="ONEPROXY_SCHEDULER",
                  help="Run the tasks on the Dask scheduler at ADDRESS (tcp://host:8786) "
                  "[env ONEPROXY_SCHEDULER].")
    @click.option("--workers", type=click.IntRange(min=1), default=None,
                  help="Run the tasks on a local Dask cluster of N worker processes.")
    @functools.wraps(fn)
    def wrapper(*args: Any, scheduler: str | None, workers: int | None, **kwargs: Any) -> Any:
        from oneproxy.scale import engine_from

        with engine_from(scheduler or None, workers) as engine:
            return fn(*args, engine=engine, **kwargs)

    return wrapper


def output_options(fn: Callable) -> Callable:
    """`--format` and `-o/--output FILE`, shared by every command that prints rows."""

    @out_file_option("-o", "--output", help="Write the table to FILE instead of standard "
                     "output (its folder must exist).")
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                  help="Output format [default: from -o's extension (.csv, .json, .parquet), "
                  "else table].")
    @functools.wraps(fn)
    def wrapper(*args: Any, fmt: str | None, output: Path | None, **kwargs: Any) -> Any:
        return fn(*args, fmt=output_format(fmt, output), output=output, **kwargs)

    return wrapper


def fetch_options(fn: Callable) -> Callable:
    """`--mirror DIR` and `--cache DIR`: where upstream files are found."""
    fn = click.option("--cache", type=click.Path(path_type=Path, file_okay=False), default=None,
                      help="Download cache [env ONEPROXY_CACHE; default the user cache dir].")(fn)
    return click.option("--mirror", type=click.Path(path_type=Path, file_okay=False),
                        default=None, help="Folder of pinned upstream files laid out as "
                        "<owner>__<repo>/<path> [env ONEPROXY_MIRROR].")(fn)


def _known_space(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        from oneproxy.warehouse import spaces  # the codecs: loaded by commands that name a space

        check_space_name(value, sorted(spaces.known()))
    return value


def space_option(fn: Callable | None = None, *, default: str | None = "nb201",
                 required: bool = False, help: str = "Search space (see `oneproxy spaces`).",
                 ) -> Callable:
    """`--space S` (default nb201), checked against the project's spaces before any work."""
    option = click.option("--space", default=None if required else default, required=required,
                          show_default=default is not None and not required,
                          callback=_known_space, help=help)
    return option(fn) if fn is not None else option


def save_option(table: str, default: bool = False) -> Callable[[Callable], Callable]:
    """`--save/--no-save`: whether a command stores its rows in the warehouse table `table`.

    Interactive commands default to not saving, so that they never replace what `oneproxy run`
    published; `adapt` saves by default because `predict` reads its predictions.
    """
    when = ("default: store" if default else
            "default: do not store, so that the results `oneproxy run` published stay as they are")
    return click.option("--save/--no-save", default=default,
                        help=f"Store the rows in the warehouse table {table} [{when}].")


def renamed(value: Any, old_value: Any, new: str, old: str, why: str = "") -> Any:
    """The value of an option, or of its deprecated spelling `old` (kept for one release, with a
    note on stderr that keeps standard output parseable); both at once is a usage error."""
    if value is not None and old_value is not None:
        raise click.UsageError(f"give {new} ({old} is its old spelling), not both")
    if old_value is None:
        return value
    click.echo(f"note: {old} is deprecated and will be removed in the next release; use {new}"
               f"{why}", err=True)
    return old_value


def int_list(value: str | None, option: str) -> tuple[int, ...] | None:
    """Comma-separated integers of an option (e.g. --samples 5,10,20), or None when not given."""
    if value is None:
        return None
    try:
        numbers = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}",
                                 param_hint=option) from None
    if not numbers:
        raise click.BadParameter("give at least one number", param_hint=option)
    return numbers


def names(spec: str) -> list[str]:
    """The comma-separated names of an option (e.g. --devices pixel3,fpga), repeats dropped."""
    return list(dict.fromkeys(n.strip() for n in spec.split(",") if n.strip()))


def now() -> str:
    """The current UTC time to the second, as stored in the result tables' timestamp columns."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()
