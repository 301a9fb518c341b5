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
    """`--format` and `-o FILE`, shared by every command that prints rows."""
    fn = click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
                      default=None, help="Write to FILE instead of standard output.")(fn)
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                        show_default=True, help="Output format.")(fn)


def fetch_options(fn: Callable) -> Callable:
    """`--mirror DIR` and `--cache DIR`: where upstream files are found."""
    fn = click.option("--cache", type=click.Path(path_type=Path, file_okay=False), default=None,
                      help="Download cache [env ONEPROXY_CACHE; default the user cache dir].")(fn)
    return click.option("--mirror", type=click.Path(path_type=Path, file_okay=False),
                        default=None, help="Folder of pinned upstream files laid out as "
                        "<owner>__<repo>/<path> [env ONEPROXY_MIRROR].")(fn)


def space_option(fn: Callable) -> Callable:
    """`--space S`, default nb201."""
    return click.option("--space", default="nb201", show_default=True,
                        help="Search space (see `oneproxy spaces`).")(fn)


def save_option(table: str) -> Callable[[Callable], Callable]:
    """`--save/--no-save`: whether a command stores its rows in the warehouse table `table`."""
    return click.option("--save/--no-save", default=True, show_default=True,
                        help=f"Store the rows in the warehouse table {table}.")


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
