"""`oneproxy run` (the whole batch, incremental and locked) and `oneproxy runs` (its ledger)."""

from __future__ import annotations

from pathlib import Path

import click

from oneproxy.analytics.protocols import BUILTIN, get_protocol, with_overrides
from oneproxy.api.warehouse import require_warehouse
from oneproxy.batch import RunDisplay, run_batch
from oneproxy.options import (
    check_parent,
    fetch_options,
    output_options,
    scale_options,
    warehouse_option,
)
from oneproxy.output import render
from oneproxy.runs import run_summary, stage_rows
from oneproxy.scale import Engine
from oneproxy.stages import STAGE_KINDS, RunSettings
from oneproxy.warehouse.names import check_space_name
from oneproxy.warehouse.store import Warehouse


def _names(spec: str) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in spec.split(",") if n.strip()))
    if not names:
        raise click.BadParameter("give at least one name")
    return names


@click.command()
@click.option("--force", is_flag=True, help="Recompute every stage, even with unchanged inputs.")
@click.option("--seeds", type=click.IntRange(min=1), default=20, show_default=True,
              help="Seeds per target and sample count in the evaluation protocols.")
@click.option("--protocols", "protocol_spec", default=",".join(BUILTIN), show_default=True,
              help="Evaluation protocols, comma-separated: built-in names or .toml / .json files.")
@click.option("--spaces", "space_spec", default=None,
              help="Only these search spaces, comma-separated; protocols of other spaces are "
              "left out [default: every space with latency].")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              callback=check_parent, help="Report folder [default: report/ inside the warehouse].")
@click.option("--only", "only_spec", default=None,
              help="Only these stages, comma-separated: kinds (ingest, srcc, evaluate, search, "
              "report) or names such as 'srcc nb201'.")
@click.option("--wait", is_flag=True,
              help="If another run holds this warehouse, wait for it instead of exiting 1.")
@fetch_options
@scale_options
@warehouse_option
def run(wh: Warehouse, engine: Engine, force: bool, seeds: int, protocol_spec: str,
        space_spec: str | None, out: Path | None, only_spec: str | None, wait: bool,
        mirror: Path | None, cache: Path | None) -> None:
    """The whole batch: ingest → SRCC per space → evaluation protocols → one-proxy search →
    report.

    Incremental: each stage's input fingerprint (source sha256s, the warehouse rows it reads,
    its parameters, the code version) is kept in the `runs` ledger, and a stage whose inputs
    are unchanged is skipped. Killing a run leaves the previous results; the next run picks up.
    Exit code 0 when done (stdout says "nothing changed" when every stage was skipped), 1 with
    one line when a stage failed or another run holds the warehouse.

    \b
    Examples:
      ONEPROXY_MIRROR=../shared/datasets oneproxy run
      oneproxy run --seeds 5 --protocols help-nb201 --out /srv/www/oneproxy
      oneproxy run --force --wait
    """
    protocols = tuple(with_overrides(get_protocol(p), seeds=seeds) for p in _names(protocol_spec))
    spaces = tuple(_names(space_spec)) if space_spec is not None else None
    if spaces:
        from oneproxy.warehouse import spaces as space_registry  # every codec: only for --spaces

        for space in spaces:
            check_space_name(space, sorted(space_registry.known()))
    only = tuple(_names(only_spec)) if only_spec is not None else None
    unknown = [n for n in only or () if n.split()[0] not in STAGE_KINDS]
    if unknown:
        raise click.BadParameter(f"unknown stage '{unknown[0]}': name one of "
                                 f"{', '.join(STAGE_KINDS)} or a stage such as 'srcc nb201'",
                                 param_hint="--only")
    settings = RunSettings(protocols=protocols, spaces=spaces, out=out, mirror=mirror, cache=cache,
                           only=only, engine=engine)
    outcome = run_batch(wh, settings, force=force, wait=wait, display=RunDisplay())
    click.echo(outcome.summary())


@click.command()
@click.option("--last", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many of the newest runs to list.")
@click.option("--run", "run_id", default=None,
              help="List the stages of this run instead ('last' = the newest).")
@output_options
@warehouse_option
def runs(wh: Warehouse, last: int, run_id: str | None, fmt: str, output: Path | None) -> None:
    """Past `oneproxy run`s: status, start, end, stages run / skipped / failed.

    A run whose process died without closing it (killed, power loss) shows as killed.

    \b
    Examples:
      oneproxy runs
      oneproxy runs --run last
      oneproxy runs --format json --last 1
    """
    require_warehouse(wh)
    if run_id is not None:
        render(stage_rows(wh, run_id), fmt, output, title=f"stages of run {run_id}")
    else:
        render(run_summary(wh, last), fmt, output, title="runs")
