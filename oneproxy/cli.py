"""The `oneproxy` command line: parses options, calls the Python API, renders the result.

Commands are imported when they run (or when their own --help is asked for), so that
`oneproxy --help` and light commands do not pay for LightGBM, SciPy or matplotlib.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import sys
from typing import Any

import click

from oneproxy.warehouse.errors import OneproxyError

# name -> (module:attribute, the one-line help shown by `oneproxy --help`).
COMMANDS: dict[str, tuple[str, str]] = {
    "sources": ("oneproxy.catalog_cmd:sources",
                "List ingested sources with commit, license, files and row counts."),
    "spaces": ("oneproxy.catalog_cmd:spaces",
               "List search spaces with their size and how many devices cover them."),
    "devices": ("oneproxy.catalog_cmd:devices",
                "List devices with platform class, framework, precision and coverage."),
    "sql": ("oneproxy.catalog_cmd:sql",
            "Run one read-only SQL query (SELECT, or EXPLAIN of a SELECT) over the warehouse "
            "catalog (DuckDB)."),
    "ingest": ("oneproxy.ingest_cmd:ingest",
               "Load data into the warehouse (sha256-verified, atomic, idempotent)."),
    "srcc": ("oneproxy.srcc_cmd:srcc",
             "Spearman (or Kendall) rank correlation of latency between every pair of devices."),
    "search": ("oneproxy.search_cmd:search",
               "Most accurate architecture per device under each latency budget."),
    "adapt": ("oneproxy.adapt_cmd:adapt",
              "Predict every architecture of a space on a target from a proxy and a few "
              "measurements."),
    "predict": ("oneproxy.adapt_cmd:predict",
                "Latency of architectures on a device: its measurements, else stored AdaProxy "
                "predictions; or, with --model, a trained predictor file's predictions."),
    "evaluate": ("oneproxy.evaluate_cmd:evaluate",
                 "Run an AdaProxy evaluation protocol: adapt every target × n × seed and score "
                 "it."),
    "lut-eval": ("oneproxy.lut_cmd:lut_eval",
                 "Score a kernel-level LightGBM (op configuration → latency) on held-out table "
                 "resolutions."),
    "export": ("oneproxy.export_cmd:export",
               "Write one ONNX model per NAS-Bench-201 architecture (seeded random weights)."),
    "measure": ("oneproxy.measure_cmd:measure",
                "Time NAS-Bench-201 networks with ONNX Runtime on this CPU; write a CSV for "
                "`ingest table`."),
    "verify": ("oneproxy.verify_cmd:verify_command",
               "Check the manifest, every table's files (sha256 as recorded) and the catalog."),
    "plan": ("oneproxy.plan_cmd:plan",
             "List the architectures to measure first on a new device, chosen for information."),
    "propose": ("oneproxy.propose_cmd:propose",
                "List the architectures to measure next on a device, with why."),
    "train": ("oneproxy.train_cmd:train",
              "Fit a latency predictor on a device's measured architectures and save it as a "
              "file."),
    "report": ("oneproxy.report_cmd:report",
               "Write a self-contained HTML report (figures embedded, opens offline) and "
               "summary.json."),
    "run": ("oneproxy.run_cmd:run",
            "The whole batch: ingest → SRCC per space → evaluation protocols → one-proxy search "
            "→ report."),
    "runs": ("oneproxy.run_cmd:runs",
             "Past `oneproxy run`s: status, start, end, stages run / skipped / failed."),
}


def load_command(name: str) -> click.Command:
    """The click command registered under `name`, imported now."""
    module, attr = COMMANDS[name][0].split(":")
    return getattr(importlib.import_module(module), attr)


class OneproxyGroup(click.Group):
    """Commands loaded on first use; domain errors become one line and exit code 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            _limit_blas_threads()
            _keep_freed_memory()
            _no_collection_at_exit()
            return super().invoke(ctx)
        except OneproxyError as exc:
            raise click.ClickException(str(exc)) from None


def _no_collection_at_exit() -> None:
    """Freeze every object when the process exits, so that the interpreter's last full garbage
    collection does not walk the heap that NumPy, polars, pyarrow and DuckDB leave (~0.1 s of
    every command); registered once however many commands run in the process."""
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


def _limit_blas_threads() -> None:
    """BLAS threads as $ONEPROXY_THREADS says (default 1: see `oneproxy.threads`)."""
    from oneproxy.threads import apply_thread_setting

    apply_thread_setting()


def _keep_freed_memory() -> None:
    """Freed memory kept for reuse as $ONEPROXY_MALLOC says (default: see `oneproxy.allocator`)."""
    from oneproxy.allocator import keep_freed_memory

    keep_freed_memory()


@click.group(cls=OneproxyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oneproxy")
def main() -> None:
    """Latency monotonicity, AdaProxy adaptation and hardware-aware NAS over a warehouse of
    public neural-network latency measurements.

    \b
    Start with:
      oneproxy ingest --all          # load every pinned public source
      oneproxy devices --space nb201
      oneproxy sql "SELECT device_id, count(*) FROM latency GROUP BY 1"
    """


if __name__ == "__main__":
    sys.exit(main())
