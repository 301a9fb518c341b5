"""Arrow schemas of every warehouse table, in one place."""

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

TABLES: dict[str, pa.Schema] = {
    "sources": SOURCES,
    "spaces": SPACES,
    "devices": DEVICES,
    "latency": LATENCY,
    "latency_raw": LATENCY_RAW,
    "series_provenance": SERIES_PROVENANCE,
    "accuracy": ACCURACY,
    "reference_archs": REFERENCE_ARCHS,
    "srcc": SRCC,
    "runs": RUNS,
    "op_latency": OP_LATENCY,
    "energy": ENERGY,
    "latency_std": LATENCY_STD,
    "throughput": THROUGHPUT,
}

# Tables stored as hive partitions, and the column each is partitioned on.
PARTITIONS: dict[str, str] = {"latency": "space_id", "latency_raw": "space_id"}

# Row order of each table: writes sort by these keys so that re-ingests are byte-identical.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "sources": ("source_id",),
    "spaces": ("space_id",),
    "devices": ("device_id",),
    "latency": ("space_id", "dataset", "device_id", "arch_id"),
    "latency_raw": ("space_id", "dataset", "device_id", "source_id", "file", "arch_id"),
    "series_provenance": ("space_id", "dataset", "device_id", "source_id", "file"),
    "accuracy": ("space_id", "dataset", "metric", "arch_id"),
    "architectures": ("space_id", "arch_id"),
    "srcc": ("space_id", "dataset", "method", "device_a", "device_b"),
    "runs": ("run_id", "started_at", "stage"),
    "op_latency": ("device_id", "space_id", "resolution", "metric", "op_key"),
    "energy": ("space_id", "dataset", "device_id", "arch_id"),
    "latency_std": ("space_id", "dataset", "device_id", "arch_id"),
    "throughput": ("space_id", "dataset", "device_id", "arch_id"),
    "reference_archs": ("space_id", "position"),
    "predictor_eval": ("protocol", "strategy", "target", "n_samples", "seed"),
    "adaptation": ("protocol", "strategy", "target", "n_samples"),
    "predictions": ("space_id", "device_id", "arch_id"),
    "lut_eval": ("device_id", "mode", "train_resolutions", "resolution", "seed"),
}
