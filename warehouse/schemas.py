"""Every warehouse table, declared once: its Arrow schema, key, replace key, row order, partitions.

Ingested tables and result tables alike; every writer replaces rows through
`oneproxy.warehouse.tables.updated`, which reads the declaration here, so no call site invents
its own replace key.
"""

from dataclasses import dataclass

import pyarrow as pa

SOURCE_FILE = pa.struct([
    ("path", pa.string()), ("sha256", pa.string()), ("bytes", pa.int64()), ("role", pa.string()),
])

SOURCES = pa.schema([
    ("source_id", pa.string()),
    ("repo", pa.string()),
    ("commit", pa.string()),
    ("license", pa.string()),
    ("description", pa.string()),
    ("files", pa.list_(SOURCE_FILE)),
    ("fingerprint", pa.string()),
    ("ingested_at", pa.string()),
    ("latency_rows", pa.int64()),
    ("accuracy_rows", pa.int64()),
])

SPACES = pa.schema([
    ("space_id", pa.string()),
    ("description", pa.string()),
    ("size", pa.string()),
    ("log10_size", pa.float64()),
    ("encoding_notes", pa.string()),
])

DEVICES = pa.schema([
    ("device_id", pa.string()),
    ("display_name", pa.string()),
    ("hardware", pa.string()),
    ("platform_class", pa.string()),
    ("framework", pa.string()),
    ("precision", pa.string()),
    ("batch_size", pa.int32()),
    ("origin_study", pa.string()),
    ("resolution_ms", pa.float64()),
    ("notes", pa.string()),
    ("cores", pa.string()),  # core configuration, e.g. "1large2med" or "gpu" (mobile-ml-benchmark)
])

LATENCY = pa.schema([
    ("space_id", pa.string()),
    ("dataset", pa.string()),
    ("device_id", pa.string()),
    ("arch_id", pa.int64()),
    ("latency_ms", pa.float64()),
    ("status", pa.string()),
    ("source_id", pa.string()),
])

# Every series as each file carried it, before copies are merged: the provenance of `latency`.
LATENCY_RAW = pa.schema([*LATENCY, ("file", pa.string())])

SERIES_PROVENANCE = pa.schema([
    ("space_id", pa.string()),
    ("dataset", pa.string()),
    ("device_id", pa.string()),
    ("source_id", pa.string()),
    ("file", pa.string()),
    ("rows", pa.int64()),
    ("rows_shared", pa.int64()),
    ("max_rel_diff", pa.float64()),
    ("role", pa.string()),
])

ACCURACY = pa.schema([
    ("space_id", pa.string()),
    ("dataset", pa.string()),
    ("arch_id", pa.int64()),
    ("metric", pa.string()),
    ("value", pa.float64()),
    ("source_id", pa.string()),
])

# HELP's reference architectures: measured on every device it profiles, on top of its samples.
REFERENCE_ARCHS = pa.schema([
    ("space_id", pa.string()),
    ("arch_id", pa.int64()),
    ("position", pa.int32()),
    ("source_id", pa.string()),
])

# Operator lookup tables: one row per (device, space, network resolution, op key, metric).
# Kernel-configuration columns are null where an op type does not have them.
OP_LATENCY = pa.schema([
    ("device_id", pa.string()),
    ("space_id", pa.string()),
    ("resolution", pa.int32()),
    ("op_key", pa.string()),
    ("op_type", pa.string()),
    ("input_h", pa.int32()),
    ("input_w", pa.int32()),
    ("input_c", pa.int32()),
    ("output_h", pa.int32()),
    ("output_w", pa.int32()),
    ("output_c", pa.int32()),
    ("mid_c", pa.int32()),
    ("expand_ratio", pa.float64()),
    ("kernel", pa.int32()),
    ("stride", pa.int32()),
    ("groups", pa.int32()),
    ("idskip", pa.bool_()),
    ("se", pa.bool_()),
    ("activation", pa.string()),
    ("metric", pa.string()),
    ("mean", pa.float64()),
    ("std", pa.float64()),
    ("count", pa.int64()),
    ("source_id", pa.string()),
])

# Whole-network energy per architecture (HW-NAS-Bench), beside `latency` and keyed like it.
ENERGY = pa.schema([
    ("space_id", pa.string()),
    ("dataset", pa.string()),
    ("device_id", pa.string()),
    ("arch_id", pa.int64()),
    ("energy_mj", pa.float64()),
    ("source_id", pa.string()),
])

# Standard deviation of a whole-network latency, where the study reports one; keyed like `latency`.
# A side table, so that `latency` (merged across copies, read by every view) keeps one shape.
LATENCY_STD = pa.schema([
    ("space_id", pa.string()),
    ("dataset", pa.string()),
    ("device_id", pa.string()),
    ("arch_id", pa.int64()),
    ("latency_std_ms", pa.float64()),
    ("source_id", pa.string()),
])

# Inference throughput (images per second at the study's batch size): not a latency, never
# inverted into one. batch_size is null where the study does not record it per measurement.
THROUGHPUT = pa.schema([
    ("space_id", pa.string()),
    ("dataset", pa.string()),
    ("device_id", pa.string()),
    ("arch_id", pa.int64()),
    ("images_per_s", pa.float64()),
    ("images_per_s_std", pa.float64()),
    ("batch_size", pa.int32()),
    ("source_id", pa.string()),
])

SRCC = pa.schema([
    ("space_id", pa.string()),
    ("dataset", pa.string()),
    ("device_a", pa.string()),
    ("device_b", pa.string()),
    ("method", pa.string()),
    ("n_common", pa.int64()),
    ("value", pa.float64()),
    ("reason", pa.string()),
    ("ci_low", pa.float64()),
    ("ci_high", pa.float64()),
    ("computed_at", pa.string()),
    ("input_fingerprint", pa.string()),
])

# The `oneproxy run` ledger: one row per run (stage "run") and one per stage of each run.
RUNS = pa.schema([
    ("run_id", pa.string()),
    ("stage", pa.string()),
    ("status", pa.string()),
    ("input_fingerprint", pa.string()),
    ("started_at", pa.string()),
    ("finished_at", pa.string()),
    ("seconds", pa.float64()),
    ("message", pa.string()),
    ("pid", pa.int64()),
])

# Per seed: one adaptation of one target with n samples (warehouse table `predictor_eval`).
PREDICTOR_EVAL = pa.schema([
    ("protocol", pa.string()),
    ("space_id", pa.string()),
    ("strategy", pa.string()),
    ("target", pa.string()),
    ("method", pa.string()),
    ("n_samples", pa.int64()),
    ("seed", pa.int64()),
    ("proxy", pa.string()),
    ("chosen_strategy", pa.string()),
    ("encoding", pa.string()),
    ("proxy_only", pa.bool_()),
    ("loo_rmse_ms", pa.float64()),
    ("n_reference", pa.int64()),
    ("before_srcc", pa.float64()),
    ("after_srcc", pa.float64()),
    ("kendall", pa.float64()),
    ("rmse_ms", pa.float64()),
    ("mape_pct", pa.float64()),
    ("mape_dropped", pa.int64()),
    ("mape_reason", pa.string()),
    ("within10", pa.float64()),
    ("n_eval", pa.int64()),
    ("computed_at", pa.string()),
])
# Per target × n: mean and std over seeds (warehouse table `adaptation`).
ADAPTATION = pa.schema([
    ("protocol", pa.string()),
    ("space_id", pa.string()),
    ("strategy", pa.string()),
    ("target", pa.string()),
    ("method", pa.string()),
    ("n_samples", pa.int64()),
    ("seeds", pa.int64()),
    ("proxy", pa.string()),
    ("proxy_share", pa.float64()),
    ("before_srcc_mean", pa.float64()),
    ("before_srcc_std", pa.float64()),
    ("after_srcc_mean", pa.float64()),
    ("after_srcc_std", pa.float64()),
    ("kendall_mean", pa.float64()),
    ("rmse_ms_mean", pa.float64()),
    ("mape_pct_mean", pa.float64()),
    ("within10_mean", pa.float64()),
    ("n_eval_mean", pa.float64()),
    ("published_srcc", pa.float64()),
    ("computed_at", pa.string()),
])
# AdaProxy predictions of every architecture of a space for one device (table `predictions`).
PREDICTIONS = pa.schema([
    ("space_id", pa.string()),
    ("device_id", pa.string()),
    ("arch_id", pa.int64()),
    ("predicted_ms", pa.float64()),
    ("proxy", pa.string()),
    ("strategy", pa.string()),
    ("encoding", pa.string()),
    ("n_samples", pa.int64()),
    ("seed", pa.int64()),
    ("created", pa.string()),
])
SEARCH_RESULT = pa.schema([
    ("space_id", pa.string()),
    ("dataset", pa.string()),
    ("latency_dataset", pa.string()),
    ("device_id", pa.string()),
    ("budget_ms", pa.float64()),
    ("arch_id", pa.int64()),
    ("arch_key", pa.string()),
    ("accuracy", pa.float64()),
    ("latency_ms", pa.float64()),
    ("predicted_ms", pa.float64()),
    ("method", pa.string()),
    ("proxy", pa.string()),
    ("chosen_proxy", pa.string()),
    ("n_samples", pa.int64()),
    ("seed", pa.int64()),
    ("regret", pa.float64()),
    ("violation", pa.bool_()),
    ("violation_ms", pa.float64()),
    ("violation_pct", pa.float64()),
    ("partial_coverage", pa.bool_()),
    ("n_searched", pa.int64()),
])
# `oneproxy lut-eval`: one row per device × mode × training resolutions × held-out resolution ×
# seed.
LUT_EVAL = pa.schema([
    ("device_id", pa.string()),
    ("space_id", pa.string()),
    ("mode", pa.string()),
    ("resolution", pa.int32()),
    ("train_resolutions", pa.string()),
    ("n_train_ops", pa.int64()),
    ("n_ops", pa.int64()),
    ("op_rmse_ms", pa.float64()),
    ("op_mape_pct", pa.float64()),
    ("op_within10", pa.float64()),
    ("op_srcc", pa.float64()),
    ("n_unseen_ops", pa.int64()),
    ("unseen_mape_pct", pa.float64()),
    ("unseen_within10", pa.float64()),
    ("n_archs", pa.int64()),
    ("arch_rmse_ms", pa.float64()),
    ("arch_mape_pct", pa.float64()),
    ("arch_within10", pa.float64()),
    ("arch_srcc", pa.float64()),
    ("seed", pa.int64()),
    ("computed_at", pa.string()),
])

# `oneproxy evaluate --search`: the verify loop simulated on a protocol's targets, one row per
# protocol × draw (random / planned first measurements) × target × n × seed (null for the planned
# draw, which is deterministic). Counts are over the run's budgets: first_* the first round's
# picks (verified or likely), final_* the shipped ones (verified only), pending the budgets whose
# best pick was still likely (unmeasured) when the loop ended. Regret in percentage points.
VERIFY_LOOP = pa.schema([
    ("protocol", pa.string()),
    ("space_id", pa.string()),
    ("strategy", pa.string()),
    ("accuracy_dataset", pa.string()),
    ("draw", pa.string()),
    ("target", pa.string()),
    ("n_samples", pa.int64()),
    ("seed", pa.int64()),
    ("budgets", pa.string()),
    ("confidence", pa.float64()),
    ("max_rounds", pa.int64()),
    ("per_budget", pa.int64()),
    ("min_gain_pp", pa.float64()),
    ("n_budgets", pa.int64()),
    ("first_picks", pa.int64()),
    ("first_over", pa.int64()),
    ("first_coverage", pa.float64()),
    ("final_picks", pa.int64()),
    ("final_over", pa.int64()),
    ("pending", pa.int64()),
    ("pending_over", pa.int64()),
    ("mean_regret_pp", pa.float64()),
    ("max_regret_pp", pa.float64()),
    ("extra", pa.int64()),
    ("rounds", pa.int64()),
    ("settled", pa.bool_()),
    ("first_srcc", pa.float64()),
    ("baseline_srcc", pa.float64()),
    ("computed_at", pa.string()),
])

@dataclass(frozen=True)
class TableDef:
    """One warehouse table: `key` identifies a row; a new result replaces the stored rows that
    share its `replace_key` values; `sort` is the row order of every write (byte-identical
    re-writes); `partition` the hive partition column, if any."""

    name: str
    schema: pa.Schema | None  # None: the columns depend on the space (architectures)
    key: tuple[str, ...]
    sort: tuple[str, ...]
    replace_key: tuple[str, ...] = ()
    partition: str | None = None

    @property
    def replaces_by(self) -> tuple[str, ...]:
        return self.replace_key or self.key


_LATENCY_KEY = ("space_id", "dataset", "device_id", "arch_id")
_SEARCH_RUN = ("space_id", "dataset", "method", "proxy", "n_samples", "device_id")
# A new evaluation replaces all seeds of a group at once: a re-run with fewer seeds leaves no
# stale seeds behind.
_EVAL_GROUP = ("protocol", "strategy", "target", "method", "n_samples")
_LOOP_GROUP = ("protocol", "strategy", "draw", "target", "n_samples")

REGISTRY: dict[str, TableDef] = {t.name: t for t in (
    TableDef("sources", SOURCES, ("source_id",), ("source_id",)),
    TableDef("spaces", SPACES, ("space_id",), ("space_id",)),
    TableDef("devices", DEVICES, ("device_id",), ("device_id",)),
    TableDef("architectures", None, ("space_id", "arch_id"), ("space_id", "arch_id")),
    TableDef("latency", LATENCY, _LATENCY_KEY, _LATENCY_KEY, partition="space_id"),
    TableDef("latency_raw", LATENCY_RAW, (*_LATENCY_KEY, "source_id", "file"),
             ("space_id", "dataset", "device_id", "source_id", "file", "arch_id"),
             partition="space_id"),
    TableDef("series_provenance", SERIES_PROVENANCE,
             ("space_id", "dataset", "device_id", "source_id", "file"),
             ("space_id", "dataset", "device_id", "source_id", "file")),
    TableDef("accuracy", ACCURACY, ("space_id", "dataset", "arch_id", "metric"),
             ("space_id", "dataset", "metric", "arch_id")),
    TableDef("reference_archs", REFERENCE_ARCHS, ("space_id", "position"),
             ("space_id", "position")),
    TableDef("op_latency", OP_LATENCY,
             ("device_id", "space_id", "resolution", "metric", "op_key"),
             ("device_id", "space_id", "resolution", "metric", "op_key")),
    TableDef("energy", ENERGY, _LATENCY_KEY, _LATENCY_KEY),
    TableDef("latency_std", LATENCY_STD, _LATENCY_KEY, _LATENCY_KEY),
    TableDef("throughput", THROUGHPUT, _LATENCY_KEY, _LATENCY_KEY),
    TableDef("srcc", SRCC, ("space_id", "dataset", "method", "device_a", "device_b"),
             ("space_id", "dataset", "method", "device_a", "device_b")),
    TableDef("runs", RUNS, ("run_id", "stage"), ("run_id", "started_at", "stage")),
    TableDef("predictor_eval", PREDICTOR_EVAL, (*_EVAL_GROUP, "seed"), (*_EVAL_GROUP, "seed"),
             replace_key=_EVAL_GROUP),
    TableDef("adaptation", ADAPTATION, _EVAL_GROUP, _EVAL_GROUP),
    TableDef("predictions", PREDICTIONS, ("space_id", "device_id", "arch_id"),
             ("space_id", "device_id", "arch_id"), replace_key=("space_id", "device_id")),
    TableDef("search_result", SEARCH_RESULT, (*_SEARCH_RUN, "budget_ms"),
             (*_SEARCH_RUN, "budget_ms"), replace_key=_SEARCH_RUN),
    TableDef("verify_loop", VERIFY_LOOP, (*_LOOP_GROUP, "seed"), (*_LOOP_GROUP, "seed"),
             replace_key=_LOOP_GROUP),
    TableDef("lut_eval", LUT_EVAL, ("device_id", "mode", "train_resolutions", "resolution", "seed"),
             ("device_id", "mode", "train_resolutions", "resolution", "seed")),
)}

TABLES: dict[str, pa.Schema] = {n: t.schema for n, t in REGISTRY.items() if t.schema is not None}
PARTITIONS: dict[str, str] = {n: t.partition for n, t in REGISTRY.items() if t.partition}
SORT_KEYS: dict[str, tuple[str, ...]] = {n: t.sort for n, t in REGISTRY.items()}
