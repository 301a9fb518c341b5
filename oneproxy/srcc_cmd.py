"""`oneproxy srcc`: parse the options, call `oneproxy.api.srcc`, render the pairs."""

from __future__ import annotations

from pathlib import Path

import click

from oneproxy.analytics.environments import GROUPINGS, heatmap_groups
from oneproxy.analytics.srcc import against
from oneproxy.api import srcc as api
from oneproxy.api.srcc import TABLE as RESULT_TABLE
from oneproxy.options import (
    names,
    now,
    out_file_option,
    output_options,
    save_option,
    scale_options,
    space_option,
    warehouse_option,
)
from oneproxy.output import render
from oneproxy.scale import Engine
from oneproxy.warehouse.store import Warehouse


def _names(spec: str | None) -> list[str] | None:
    return None if spec is None else names(spec)


@click.command()
@space_option
@click.option("--dataset", default=None,
              help="Latency dataset (needed only where a space has several).")
@click.option("--devices", "device_spec", default=None,
              help="Only these devices, comma-separated (e.g. pixel3,raspi4,fpga).")
@click.option("--platform", "platform_spec", default=None,
              help="Only devices of these platform classes (e.g. mobile_cpu,mobile_gpu).")
@click.option("--method", type=click.Choice(["spearman", "kendall"]), default="spearman",
              show_default=True, help="Rank correlation.")
@click.option("--min-common", type=click.IntRange(min=2), default=30, show_default=True,
              help="Fewest shared architectures for a pair to get a value.")
@click.option("--ci", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Add a bootstrap confidence interval at this level (e.g. 0.95).")
@click.option("--bootstrap", type=click.IntRange(min=10), default=200, show_default=True,
              help="Bootstrap resamples for --ci.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--ragged", type=click.Choice(["auto", "exact", "approx"]), default="auto",
              show_default=True,
              help="Spearman of devices with their own gaps: exact (pairs x architectures work), "
              "approx (masked matrix products, error ~1e-3) or auto (exact up to 2e9 pair-"
              "architectures, approx beyond).")
@click.option("--against", "device", default=None,
              help="List the most and least monotone partners of this device.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="Partners per side with --against.")
@out_file_option("--heatmap", help="Draw the SRCC matrix to FILE.png.")
@click.option("--group-by", "group_by", type=click.Choice(GROUPINGS), default="platform",
              show_default=True, help="Heatmap blocks: platform class, or for mobile-ml-benchmark "
              "environments their phone or framework.")
@save_option(RESULT_TABLE)
@output_options
@scale_options
@warehouse_option
def srcc(wh: Warehouse, engine: Engine, space: str, dataset: str | None, device_spec: str | None,
         platform_spec: str | None, method: str, min_common: int, ci: float | None,
         bootstrap: int, seed: int, ragged: str, device: str | None, top: int, heatmap: Path | None,
         group_by: str, save: bool, fmt: str, output: Path | None) -> None:
    """Spearman (or Kendall) rank correlation of latency between every pair of devices.

    Each pair is compared on the architectures both measured (`n_common`); pairs sharing
    fewer than --min-common architectures get no value and a reason. SRCC >= 0.9 means the
    architectures searched on one device can be reused on the other as they are.

    \b
    Examples:
      oneproxy srcc --space nb201 --heatmap nb201-srcc.png
      oneproxy srcc --devices pixel3,raspi4,fpga,eyeriss --ci 0.95
      oneproxy srcc --against pixel3 --top 5
      oneproxy srcc --platform mobile_cpu,mobile_gpu --method kendall --format csv
      oneproxy srcc --space mobile_nas --heatmap phones.png --group-by phone
    """
    if ci is not None and method != "spearman":
        raise click.UsageError("--ci is computed for --method spearman only")
    result = api.srcc(wh, space, dataset=dataset, devices=_names(device_spec),
                      platforms=_names(platform_spec), method=method, min_common=min_common,
                      ci=ci, bootstrap=bootstrap, seed=seed, ragged=ragged, engine=engine)
    if save:
        api.save_srcc(wh, result, now())
    if heatmap is not None:
        from oneproxy.analytics.heatmap import draw_heatmap  # matplotlib only when drawing

        square, devices, platform = api.srcc_square(wh, result)
        draw_heatmap(square, devices, heatmap_groups(devices, platform, group_by), heatmap,
                     f"{space} {result.dataset}: latency {method} rank correlation")
        click.echo(f"heatmap of {len(devices)} devices written to {heatmap}", err=True)
    pairs = result.pairs
    shown = (against(pairs, device, top) if device is not None
             else pairs.sort("value", descending=True, nulls_last=True))
    render(shown.to_arrow(), fmt, output, title=f"{method} {space} {result.dataset}")
