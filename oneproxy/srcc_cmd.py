"""`oneproxy srcc`: latency monotonicity (rank correlation) between every pair of devices."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import click
import polars as pl
import pyarrow as pa

from oneproxy.analytics.environments import GROUPINGS, heatmap_groups
from oneproxy.analytics.heatmap import draw_heatmap
from oneproxy.analytics.srcc import against, srcc_matrix, to_square
from oneproxy.lookups import check_space
from oneproxy.options import output_options, save_option, space_option, warehouse_option
from oneproxy.output import render
from oneproxy.warehouse.catalog import query, sql_text
from oneproxy.warehouse.errors import OneproxyError, UnknownDevice
from oneproxy.warehouse.schemas import SRCC
from oneproxy.warehouse.store import Warehouse, replace_rows

RESULT_TABLE = "srcc"
PAIR_KEY = ["space_id", "dataset", "method", "device_a", "device_b"]


def _names(spec: str | None) -> list[str] | None:
    return None if spec is None else [n.strip() for n in spec.split(",") if n.strip()]


def load_latency(wh: Warehouse, space: str, dataset: str | None, devices: list[str] | None,
                 platforms: list[str] | None) -> tuple[str, pl.DataFrame]:
    """The dataset and long latency table (device_id, arch_id, latency_ms) an SRCC run reads."""
    check_space(wh, space)
    rows = pl.from_arrow(query(wh, sql_text("queries/srcc_latency.sql"),
                               [space, dataset, devices, platforms]))
    if devices is not None:
        missing = sorted(set(devices) - set(rows["device_id"].unique().to_list()))
        if missing:
            raise UnknownDevice(
                f"unknown device '{missing[0]}' in space '{space}'"
                f"{f' and dataset {dataset!r}' if dataset else ''}: see `oneproxy devices "
                f"--space {space}`"
            )
    datasets = sorted(rows["dataset"].unique().to_list())
    if not datasets:
        raise OneproxyError(
            f"no latency rows in space '{space}' for these filters: see `oneproxy devices`"
        )
    if len(datasets) > 1:
        raise OneproxyError(
            f"space '{space}' has latency on several datasets: pass --dataset, one of "
            f"{', '.join(datasets)}"
        )
    return datasets[0], rows.drop("dataset")


def result_table(pairs: pl.DataFrame, space: str, dataset: str, fingerprint: str) -> pa.Table:
    """The `srcc` warehouse rows of one run."""
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    return pairs.select(
        pl.lit(space).alias("space_id"), pl.lit(dataset).alias("dataset"), pl.all(),
        pl.lit(stamp).alias("computed_at"), pl.lit(fingerprint).alias("input_fingerprint"),
    ).select(SRCC.names).to_arrow().cast(SRCC)


def _fingerprint(wh: Warehouse, params: dict) -> str:
    text = json.dumps({"latency": wh.manifest().get("latency"), **params}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
@click.option("--against", "device", default=None,
              help="List the most and least monotone partners of this device.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="Partners per side with --against.")
@click.option("--heatmap", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Draw the SRCC matrix to FILE.png.")
@click.option("--group-by", "group_by", type=click.Choice(GROUPINGS), default="platform",
              show_default=True, help="Heatmap blocks: platform class, or for mobile-ml-benchmark "
              "environments their phone or framework.")
@save_option(RESULT_TABLE)
@output_options
@warehouse_option
def srcc(wh: Warehouse, space: str, dataset: str | None, device_spec: str | None,
         platform_spec: str | None, method: str, min_common: int, ci: float | None,
         bootstrap: int, seed: int, device: str | None, top: int, heatmap: Path | None,
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
    dataset, latency = load_latency(wh, space, dataset, _names(device_spec),
                                    _names(platform_spec))
    pairs = srcc_matrix(latency, method=method, min_common=min_common, ci=ci,
                        n_bootstrap=bootstrap, seed=seed)
    if save:
        params = {"space": space, "dataset": dataset, "method": method, "min_common": min_common,
                  "ci": ci, "bootstrap": bootstrap, "seed": seed}
        table = result_table(pairs, space, dataset, _fingerprint(wh, params))
        wh.commit({RESULT_TABLE: replace_rows(wh.read_or_none(RESULT_TABLE), table, PAIR_KEY)})
    if heatmap is not None:
        square, devices = to_square(pairs, sorted(latency["device_id"].unique().to_list()))
        rows = query(wh, sql_text("queries/device_platforms.sql"))
        platform = dict(zip(rows["device_id"].to_pylist(), rows["platform_class"].to_pylist(),
                            strict=True))
        draw_heatmap(square, devices, heatmap_groups(devices, platform, group_by), heatmap,
                     f"{space} {dataset}: latency {method} rank correlation")
        click.echo(f"heatmap of {len(devices)} devices written to {heatmap}", err=True)
    if device is not None:
        shown = against(pairs, device, top)
    else:
        shown = pairs.sort("value", descending=True, nulls_last=True)
    render(shown.to_arrow(), fmt, output, title=f"{method} {space} {dataset}")
