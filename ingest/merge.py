"""Merge every file's copy of a device series into one stored series, checking that copies agree."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
from oneproxy.ingest.errors import InconsistentCopies
from oneproxy.warehouse.schemas import LATENCY, SERIES_PROVENANCE

SERIES = ["space_id", "dataset", "device_id"]
KEY = [*SERIES, "arch_id"]
REL_TOLERANCE = 1e-9


def _primary_files(raw: pl.DataFrame) -> pl.DataFrame:
    """Per series, the file whose values are stored: the one covering most architectures."""
    return (
        raw.group_by([*SERIES, "source_id", "file"]).agg(pl.len().alias("rows"))
        .sort([*SERIES, "rows", "source_id", "file"], descending=[False] * 3 + [True, False, False])
        .group_by(SERIES, maintain_order=True).first()
        .select([*SERIES, "source_id", "file"])
    )


def _against(rows: pl.DataFrame, reference: pl.DataFrame) -> pl.DataFrame:
    """Rows beside the reference value of their series and architecture, and the difference."""
    ref = reference.select([
        *KEY, pl.col("latency_ms").alias("ref_ms"), pl.col("status").alias("ref_status"),
        pl.col("file").alias("ref_file"), pl.col("source_id").alias("ref_source"),
    ])
    return rows.join(ref, on=KEY, how="left").with_columns(
        ((pl.col("latency_ms") - pl.col("ref_ms")).abs() / pl.col("ref_ms").abs())
        .alias("rel_diff"),
        pl.col("ref_status").is_not_null().alias("shared"),
    )


def _check_agreement(compared: pl.DataFrame) -> None:
    bad = compared.filter(
        pl.col("shared")
        & ((pl.col("status") != pl.col("ref_status")) | (pl.col("rel_diff") > REL_TOLERANCE))
    )
    if bad.is_empty():
        return
    row = bad.row(0, named=True)
    raise InconsistentCopies(
        f"device '{row['device_id']}' ({row['space_id']}/{row['dataset']}): {row['file']} "
        f"({row['source_id']}) disagrees with {row['ref_file']} ({row['ref_source']}) on "
        f"{bad.height} architectures, e.g. arch {row['arch_id']}: {row['latency_ms']} vs "
        f"{row['ref_ms']} ms; ingest them as distinct devices or fix the file"
    )


def merge_series(raw: pa.Table) -> tuple[pa.Table, pa.Table]:
    """`latency` and `series_provenance` from `latency_raw`; copies that disagree are an error.

    Each series stores the values of the file covering most architectures; every other file's
    copy must agree with it on shared architectures (relative difference ≤ 1e-9, same status),
    and contributes the architectures the stored file lacks.
    """
    frame = pl.from_arrow(raw)
    chosen = _primary_files(frame)
    primary = frame.join(chosen, on=[*SERIES, "source_id", "file"], how="semi")
    others = frame.join(chosen, on=[*SERIES, "source_id", "file"], how="anti")
    compared = _against(others, primary)
    _check_agreement(compared)
    extra = compared.filter(~pl.col("shared")).select(frame.columns)
    first_extra = extra.unique(KEY, keep="first", maintain_order=True)
    _check_agreement(_against(extra, first_extra))
    latency = pl.concat([primary.select(LATENCY.names), first_extra.select(LATENCY.names)])
    group = [*SERIES, "source_id", "file"]
    provenance = pl.concat([
        primary.group_by(group).agg(
            pl.len().alias("rows"), pl.len().alias("rows_shared"),
            pl.lit(0.0).alias("max_rel_diff"), pl.lit("stored").alias("role")),
        compared.group_by(group).agg(
            pl.len().alias("rows"), pl.col("shared").sum().alias("rows_shared"),
            pl.col("rel_diff").max().fill_null(0.0).alias("max_rel_diff"),
            pl.lit("verified copy").alias("role")),
    ], how="vertical_relaxed")
    return (latency.to_arrow().cast(LATENCY),
            provenance.select(SERIES_PROVENANCE.names).to_arrow().cast(SERIES_PROVENANCE))
