"""`oneproxy ingest`: parse the options, call `oneproxy.api.ingest`, print what was written."""

from __future__ import annotations

import re
from pathlib import Path

import click

from oneproxy.api import ingest as api
from oneproxy.ingest import user_table
from oneproxy.ingest.pipeline import LOADERS, IngestResult
from oneproxy.ingest.user_table import (
    ARCH_COLUMNS,
    LATENCY_COLUMNS,
    UNITS,
    TableSpec,
    user_device,
    user_spaces,
)
from oneproxy.options import fetch_options, space_option, warehouse_option
from oneproxy.progress import progress_callback
from oneproxy.warehouse import spaces
from oneproxy.warehouse.devices import PLATFORM_CLASSES, known_device
from oneproxy.warehouse.store import Warehouse

DEVICE_ID = re.compile(r"[a-z0-9][a-z0-9_]*")
MAX_REPEATS = 10


def print_ingest(result: IngestResult, wh: Warehouse) -> None:
    changed = ", ".join(result.changed_tables) or "nothing changed"
    click.echo(
        f"ingested {', '.join(result.sources)} into {wh.root} in {result.seconds:.1f}s: "
        f"{result.latency_rows:,} latency rows, {result.accuracy_rows:,} accuracy rows, "
        f"{result.devices} devices; tables written: {changed}"
    )


class IngestGroup(click.Group):
    """`ingest SOURCE… | --all` by default; `ingest hwnasbench` and `ingest table` as commands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        asks_help = bool(args) and args[0] in ctx.help_option_names
        if not asks_help and (not args or args[0] not in self.commands):
            args = ["sources", *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[SOURCE... | --all] [OPTIONS] | COMMAND [ARGS]...")


@click.group(cls=IngestGroup, invoke_without_command=False)
def ingest() -> None:
    """Load data into the warehouse (sha256-verified, atomic, idempotent).

    \b
    Examples:
      ONEPROXY_MIRROR=../shared/datasets oneproxy ingest --all
      oneproxy ingest help oneproxy --mirror ../shared/datasets
      oneproxy ingest eagle --path ~/eagle-latency-files
      oneproxy ingest hwnasbench --path HW-NAS-Bench-v1_0.pickle
      oneproxy ingest table my_phone.csv --space nb201 --device my_phone --platform mobile_cpu

    Sources: {sources}. `oneproxy ingest sources --help` lists the options of
    the default form (--all, --path, --mirror, --cache, --warehouse).
    """


ingest.help = (ingest.help or "").replace("{sources}", ", ".join(sorted(LOADERS)))


@ingest.command("sources")
@click.argument("sources", nargs=-1, type=click.Choice(sorted(LOADERS)))
@click.option("--all", "all_sources", is_flag=True, help="Ingest every known source.")
@click.option("--path", "eagle_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=None, help="With `eagle`: a folder of your own Eagle latency files.")
@fetch_options
@warehouse_option
def ingest_sources(wh: Warehouse, sources: tuple[str, ...], all_sources: bool,
                   eagle_dir: Path | None, mirror: Path | None, cache: Path | None) -> None:
    """Pinned upstream sources (the default): `oneproxy ingest SOURCE… | --all`."""
    if all_sources == bool(sources):
        raise click.UsageError("name SOURCES or give --all, not both or neither")
    if eagle_dir is not None and "eagle" not in sources:
        raise click.UsageError("--path goes with the `eagle` source")
    with progress_callback() as on_progress:
        result = api.ingest(wh, None if all_sources else list(sources), mirror=mirror,
                            cache=cache, eagle_dir=eagle_dir, on_progress=on_progress)
    print_ingest(result, wh)



@ingest.command("hwnasbench")
@click.option("--path", "path", required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="HW-NAS-Bench-v1_0.pickle, downloaded from GATECH-EIC/HW-NAS-Bench.")
@fetch_options
@warehouse_option
def ingest_hwnasbench(wh: Warehouse, path: Path, mirror: Path | None,
                      cache: Path | None) -> None:
    """HW-NAS-Bench's pickle: NB201 latency and energy on three datasets, FBNet op tables.

    Loaded with the restricted unpickler. The CIFAR-10 series are checked against the copies
    HELP and OneProxy carry; energies go to the `energy` table, FBNet lookup tables to
    `op_latency`.

    \b
    Example:
      oneproxy ingest hwnasbench --path ~/Downloads/HW-NAS-Bench-v1_0.pickle
    """
    print_ingest(api.ingest_hwnasbench(wh, path, mirror=mirror, cache=cache), wh)


@ingest.command("table")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@space_option(required=True, help=f"Search space of the architectures: "
              f"{', '.join(user_spaces())}.")
@click.option("--device", "device_id", required=True,
              help="Id of the measured device, e.g. my_pixel7 (lowercase letters, digits, _).")
@click.option("--dataset", default=None,
              help="Dataset setting [default: cifar10 for nb201, cifar100 for fbnet, imagenet "
              "for ofa_mbv3].")
@click.option("--unit", type=click.Choice(sorted(UNITS)), default="ms", show_default=True,
              help="Unit of the latency column.")
@click.option("--arch-column", default=None,
              help=f"Architecture column [default: the first of {', '.join(ARCH_COLUMNS)}]. "
              "Values: NB201 index or arch string; FBNet op list; OFA key or JSON.")
@click.option("--latency-column", default=None,
              help=f"Latency column [default: the first of {', '.join(LATENCY_COLUMNS)}].")
@click.option("--platform", type=click.Choice(PLATFORM_CLASSES), default=None,
              help="Platform class of the device [default: the one stored for it, else the "
              "sidecar's, else other].")
@click.option("--display-name", default=None, help="Human-readable device name.")
@click.option("--hardware", default=None, help="Chip or board, e.g. 'Google Tensor G2'.")
@click.option("--framework", default=None, help="Runtime, e.g. TFLite, ONNX Runtime.")
@click.option("--precision", default=None, help="e.g. fp32, fp16, int8.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Batch size.")
@click.option("--notes", default=None, help="Free text kept with the device.")
@click.option("--append", is_flag=True, help="Add the rows to the device's series instead of "
              "replacing it (an already-measured architecture must keep its value).")
@fetch_options
@warehouse_option
def ingest_table(wh: Warehouse, file: Path, space: str, device_id: str, dataset: str | None,
                 unit: str, arch_column: str | None, latency_column: str | None,
                 platform: str | None, display_name: str | None, hardware: str | None,
                 framework: str | None, precision: str | None, batch_size: int | None,
                 notes: str | None, append: bool, mirror: Path | None, cache: Path | None) -> None:
    """Your own measurements of one device: a CSV or Parquet of architecture + latency.

    Every row is checked first (unknown architecture, missing, non-numeric or non-positive
    latency, an architecture repeated with another value); any problem lists the offending
    lines and nothing is written. Importing the same file again changes nothing; a changed
    file for the same device, space and dataset replaces that series atomically. A device the
    registry knows (e.g. pixel3) keeps its registry metadata, and rows of a series another source
    already holds must agree with it (a verified copy), else nothing is written. Device fields
    not given as options come from FILE.json when present (`oneproxy measure` writes it).

    \b
    Examples:
      oneproxy ingest table pixel7.csv --space nb201 --device pixel7 --platform mobile_cpu \\
          --framework TFLite --hardware "Google Tensor G2"
      oneproxy ingest table fpga.parquet --space fbnet --device my_fpga --unit us \\
          --arch-column ops --latency-column mean_us
      oneproxy ingest table measured.csv --space nb201 --device pixel7 --append
    """
    if not DEVICE_ID.fullmatch(device_id):
        raise click.BadParameter("use lowercase letters, digits and _ (e.g. my_pixel7)",
                                 param_hint="--device")
    given = {"display_name": display_name, "hardware": hardware, "framework": framework,
             "precision": precision, "batch_size": batch_size, "notes": notes}
    stored = user_table.stored_device(api.looking(wh).read_or_none("devices"), device_id)
    if known_device(device_id) is not None:
        device = known_device(device_id)
    elif stored is not None and platform is None and not any(v is not None for v in given.values()):
        device = stored  # a re-import keeps what the device was described as
    else:
        kept = stored.platform_class if stored is not None else None
        device = user_device(device_id, **user_table.device_options(
            file, platform=platform or kept, **given))
    dataset = dataset or spaces.get(space).default_dataset
    api.check_dataset(wh, space, dataset)
    spec = TableSpec(file, space, device, dataset, unit, arch_column, latency_column)
    existing = (user_table.existing_rows(*(wh.read(t) if wh.has(t) else None
                                           for t in ("latency_raw", "sources")), spec)
                if append else None)
    result = api.ingest_table(wh, spec, existing=existing, mirror=mirror, cache=cache)
    print_ingest(result, wh)
    for line, first in user_table.exact_repeats(file)[:MAX_REPEATS]:
        click.echo(f"note: {file} line {line} repeats line {first} exactly; it was imported "
                   "once", err=True)
    stale = api.stale_predictions(wh, device_id, space) if result.changed_tables else 0
    if stale:
        click.echo(f"warning: the {stale:,} stored predictions of {device_id} on {space} were "
                   f"made before these measurements; re-run `oneproxy adapt --space {space} "
                   f"--device {device_id} …` to refresh them", err=True)
