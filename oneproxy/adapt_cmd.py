"""`oneproxy adapt` and `predict`: parse the options, call `oneproxy.api.adapt`, render."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np
import polars as pl
import pyarrow as pa
from click.core import ParameterSource

from oneproxy.analytics.adaproxy import MIN_SAMPLES
from oneproxy.analytics.protocols import STRATEGY_CHOICES
from oneproxy.api import adapt as api
from oneproxy.api.adapt import PREDICTIONS_TABLE, AdaptRun
from oneproxy.options import (
    int_list,
    output_options,
    renamed,
    save_option,
    space_option,
    warehouse_option,
)
from oneproxy.output import render
from oneproxy.progress import progress_callback
from oneproxy.search.proxy_choice import AUTO
from oneproxy.shown import vertical
from oneproxy.warehouse.store import Warehouse

if TYPE_CHECKING:  # `predict --model` only: loaded there
    from oneproxy.analytics.predictors.files import PredictorMeta


def _model_note(table: pa.Table, meta: PredictorMeta, model: Path, device: str) -> str:
    frame = pl.from_arrow(table)
    note = (f"{frame.height:,} architectures predicted by the {meta.kind} predictor of "
            f"{meta.device} in {model} ({meta.encoding} encoding, trained {meta.trained_at} on "
            f"{meta.training_rows:,} rows)")
    n = frame["measured_ms"].is_not_null().sum()
    if n < 2:
        return f"{note}; {n} measured on {device}"
    from oneproxy.analytics.evaluate import score

    s = score(frame["predicted_ms"].to_numpy(), frame["measured_ms"].fill_null(np.nan).to_numpy())
    return (f"{note}; against the {n:,} measured on {device}: SRCC {s['srcc']:.4f}, RMSE "
            f"{s['rmse_ms']:.3g} ms, within ±10% {s['within10']:.1%}")


def _proxy_notes(run: AdaptRun, proxy: str) -> list[str]:
    s = run.summary.to_pylist()[0]
    ranked = sorted(run.proxy_scores.items(), key=lambda kv: kv[1])
    if proxy == AUTO:
        shown = ", ".join(f"{d} {v:.3g}" for d, v in ranked[:5])
        more = f" (+{len(ranked) - 5} more)" if len(ranked) > 5 else ""
        why = (f"proxy {s['proxy']} chosen among the {len(ranked)} full-coverage devices whose "
               f"raw latency ranks the {s['n_samples']} samples best: the least leave-one-out "
               "RMSE among adaptations that rank the samples (each left out in turn) at least "
               "as well as the best baseline (FLOPs, params, a raw proxy); least LOO RMSE per "
               f"proxy, ms: {shown}{more}")
    else:
        why = f"proxy {s['proxy']} (given): leave-one-out RMSE {s['loo_rmse_ms']:.3g} ms"
    strategies = ", ".join(f"{k} {v:.3g}" for k, v in run.adapted.scores.items())
    notes = [why, f"strategy {s['strategy']} on encoding {s['encoding']}"
             + (f" (LOO RMSE ms: {strategies})" if strategies else "")
             + (", proxy rescaled only" if s["proxy_only"] else "")]
    if s["n_rest"]:
        mape = "n/a" if s["mape_rest_pct"] is None else f"{s['mape_rest_pct']:.1f}%"
        notes.append(
            f"on the {s['n_rest']:,} measured architectures not sampled: SRCC "
            f"{s['srcc_rest']:.4f}, RMSE "
            f"{s['rmse_rest_ms']:.3g} ms, MAPE {mape}, within ±10% {s['within10_rest']:.1%}"
        )
    return notes


@click.command()
@space_option
@click.option("--device", "target", default=None, help="The device to predict (the target).")
@click.option("--target", "legacy_target", default=None, hidden=True,
              help="Old spelling of --device (deprecated).")
@click.option("--proxy", default=AUTO, show_default=True,
              help="Proxy device, or 'auto': choose among the full-coverage devices by "
              "leave-one-out on the samples (never below the FLOPs / params / raw-proxy "
              "baselines there).")
@click.option("--samples", type=click.IntRange(min=MIN_SAMPLES), default=None,
              help="Draw N of the target's measured architectures as the only known ones; the "
              "rest score the predictions.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draw.")
@click.option("--from-measured", is_flag=True,
              help="Use every latency the target measured as samples.")
@click.option("--strategy", type=click.Choice(STRATEGY_CHOICES), default=AUTO,
              show_default=True, help="Adaptation strategy.")
@click.option("--dataset", default=None,
              help="The target's latency dataset [default: its only one, else the space's "
              "main one, e.g. cifar10 for nb201].")
@save_option(PREDICTIONS_TABLE, default=True)
@output_options
@warehouse_option
def adapt(wh: Warehouse, space: str, target: str | None, legacy_target: str | None, proxy: str,
          samples: int | None, seed: int, from_measured: bool, strategy: str,
          dataset: str | None, save: bool, fmt: str, output: Path | None) -> None:
    """Predict every architecture of a space on a target from a proxy and a few measurements.

    Prints the chosen proxy and why, and the scores on the target's measured architectures
    that were not samples. The predictions of all architectures go to the warehouse table
    `predictions` (read them with `oneproxy predict`) and, with -o, to FILE in --format.

    \b
    Examples:
      oneproxy adapt --device raspi4 --proxy pixel3 --samples 20
      oneproxy adapt --device fpga --samples 10 --seed 3 -o fpga.parquet --format parquet
      oneproxy adapt --device nnmeter_adreno640 --proxy pixel3 --from-measured
    """
    target = renamed(target, legacy_target, "--device D", "`adapt --target D`",
                     " (--device names the one device a command works on everywhere)")
    if target is None:
        raise click.UsageError("give --device D: the device to predict")
    if (samples is None) == (not from_measured):
        raise click.UsageError("give --samples N or --from-measured (one of them)")
    with progress_callback() as on_progress:
        run = api.adapt(wh, space, target, proxy, samples, seed=seed, strategy=strategy,
                        dataset=dataset, on_progress=on_progress)
    if save:
        api.save_predictions(wh, run.predictions)
    if output is not None:
        render(run.predictions, fmt, output)
    if fmt in ("table", "parquet"):
        render(vertical(run.summary), "table", title=f"adapt {space} {target}")
    else:
        render(run.summary, fmt)
    for note in _proxy_notes(run, proxy):
        click.echo(note, err=True)
    if save:
        click.echo(f"stored {run.predictions.num_rows:,} predictions of {target} in table "
                   f"{PREDICTIONS_TABLE}", err=True)


@click.command()
@space_option
@click.option("--device", default=None,
              help="The device whose latency to show (with --model: whose measured latency to "
              "show beside the predictions; default the model's device).")
@click.option("--model", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Predict with a predictor file written by `oneproxy train`.")
@click.option("--archs", "archs_spec", default=None,
              help="Comma-separated arch ids (default: every architecture).")
@click.option("--arch-key", default=None, help="One architecture by its arch key.")
@output_options
@warehouse_option
def predict(wh: Warehouse, space: str, device: str | None, model: Path | None,
            archs_spec: str | None, arch_key: str | None, fmt: str, output: Path | None) -> None:
    """Latency of architectures on a device: its measurements, else stored AdaProxy predictions;
    or, with --model, a trained predictor file's predictions.

    The `source` column says which value `latency_ms` is (predicted / measured / none); both
    are shown side by side. With --model FILE, the space is the model's; `predicted_ms` is the
    model's prediction and `measured_ms` the device's measured latency where there is one.

    \b
    Examples:
      oneproxy predict --device raspi4 --archs 0,1,2
      oneproxy predict --device nnmeter_adreno640 --arch-key \\
          '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
      oneproxy predict --model pixel3.json --archs 0,1,2
      oneproxy predict --model pixel3.json --device raspi4 --format csv -o raspi4.csv
    """
    if archs_spec is not None and arch_key is not None:
        raise click.UsageError("give --archs or --arch-key, not both")
    ids = int_list(archs_spec, "--archs")
    arch_ids = None if ids is None else list(ids)
    if model is not None:
        table, meta = api.predict_model(wh, model, arch_ids, arch_key, device)
        explicit = click.get_current_context().get_parameter_source("space")
        if explicit != ParameterSource.DEFAULT and space != meta.space:
            raise click.UsageError(f"--space {space} but {model} predicts space {meta.space}: "
                                   "leave out --space")
        render(table, fmt, output, title=f"{meta.device} predictor on {meta.space}")
        click.echo(_model_note(table, meta, model, device or meta.device), err=True)
        return
    if device is None:
        raise click.UsageError("give --device (or --model FILE)")
    table = api.predict(wh, space, device, arch_ids, arch_key)
    render(table, fmt, output, title=f"{device} on {space}")
    counts = pl.from_arrow(table)["source"].value_counts(sort=True)
    click.echo(", ".join(f"{n:,} {s}" for s, n in counts.iter_rows()), err=True)

