"""Removing a device (or its series of one space) and every row derived from it, atomically."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from oneproxy.warehouse.errors import OneproxyError, UnknownDevice
from oneproxy.warehouse.names import did_you_mean
from oneproxy.warehouse.store import Warehouse

# table -> the columns naming a device in it; rows naming the device in any of them go.
DEVICE_COLUMNS: dict[str, tuple[str, ...]] = {
    "latency": ("device_id",),
    "latency_raw": ("device_id",),
    "series_provenance": ("device_id",),
    "energy": ("device_id",),
    "predictions": ("device_id",),
    "srcc": ("device_a", "device_b"),
    "search_result": ("device_id",),
}
SERIES_TABLES = ("latency", "latency_raw", "series_provenance")


@dataclass(frozen=True)
class Removed:
    """What `remove_device` took out: rows per table, and whether the device row went too."""

    device: str
    space: str | None
    rows: dict[str, int]
    device_row: bool

    def summary(self) -> str:
        where = f" in space {self.space}" if self.space else ""
        counts = ", ".join(f"{n:,} {t}" for t, n in self.rows.items() if n) or "no rows"
        gone = "; device removed" if self.device_row else "; the device keeps its other series"
        return f"removed {self.device}{where}: {counts}{gone}"


def _known_devices(wh: Warehouse) -> list[str]:
    frames = [pl.from_arrow(wh.read(t)).select("device_id") for t in ("devices", "latency")
              if wh.has(t)]
    return sorted(pl.concat(frames)["device_id"].unique().to_list()) if frames else []


def _keep(frame: pl.DataFrame, columns: tuple[str, ...], device: str,
          space: str | None) -> pl.Expr:
    names = pl.any_horizontal([pl.col(c) == device for c in columns]).fill_null(False)
    if space is not None and "space_id" in frame.columns:
        names = names & (pl.col("space_id") == space)
    return ~names


def remove_device(wh: Warehouse, device: str, space: str | None = None) -> Removed:
    """Remove the device's series (of `space`, or all) and their derived rows in one commit.

    The `devices` row goes when no series of the device is left. An unknown device changes
    nothing and raises `UnknownDevice` with the known ones' closest match.
    """
    known = _known_devices(wh)
    if device not in known:
        raise UnknownDevice(f"unknown device '{device}': nothing was removed (see `oneproxy "
                            f"devices`){did_you_mean(device, known)}")
    tables, counts = {}, {}
    for name, columns in DEVICE_COLUMNS.items():
        if not wh.has(name):
            continue
        frame = pl.from_arrow(wh.read(name))
        kept = frame.filter(_keep(frame, columns, device, space))
        counts[name] = frame.height - kept.height
        if counts[name]:
            tables[name] = kept.to_arrow()
    latency = tables.get("latency", wh.read_or_none("latency"))
    left = latency is not None and device in set(latency.column("device_id").to_pylist())
    device_row = False
    if not left and wh.has("devices"):
        devices = pl.from_arrow(wh.read("devices"))
        kept = devices.filter(pl.col("device_id") != device)
        device_row = kept.height < devices.height
        if device_row:
            tables["devices"] = kept.to_arrow()
    if wh.has("sources"):  # the user tables that brought the removed series
        sources = pl.from_arrow(wh.read("sources"))
        prefix = f"table:{device}:{space + ':' if space else ''}"
        kept = sources.filter(~pl.col("source_id").str.starts_with(prefix))
        if kept.height < sources.height:
            counts["sources"] = sources.height - kept.height
            tables["sources"] = kept.to_arrow()
    if space is not None and not any(counts.get(t) for t in SERIES_TABLES):
        raise UnknownDevice(f"device '{device}' has no series in space '{space}': nothing was "
                            "removed")
    emptied = sorted(t for t in SERIES_TABLES if t in tables and tables[t].num_rows == 0)
    if emptied:
        raise OneproxyError(f"removing {device} would leave the table {emptied[0]} empty: "
                            "nothing was removed (start a new warehouse instead)")
    if tables:
        wh.commit(tables)
    return Removed(device, space, counts, device_row)
