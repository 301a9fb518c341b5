"""Figures of the HTML report as PNG data URIs (matplotlib Agg, no pyplot state)."""

from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from oneproxy.analytics.heatmap import THRESHOLD, annotate, draw_heatmap

_DPI = 100
OPTIMUM = "optimum (own latencies)"
# The markers of a search beside its line: picks over budget on the device, budgets without a
# pick (drawn along the bottom of the panel).
OVER, NO_PICK = "pick over budget on the device", "no pick within the budget"
_MARKERS: dict[str, dict[str, object]] = {
    OVER: {"linestyle": "none", "marker": "x", "markersize": 6},
    NO_PICK: {"linestyle": "none", "marker": "|", "markersize": 9},
}


def png_uri(png: bytes) -> str:
    """A `data:image/png;base64,…` URI holding the PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_uri(fig: Figure) -> str:
    """The figure rendered to PNG, as a data URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return png_uri(buffer.getvalue())


def srcc_heatmap(square: np.ndarray, devices: list[str], platform: dict[str, str],
                 title: str, shown_px: float | None = None) -> str:
    """The SRCC heatmap of `analytics.heatmap.draw_heatmap`, as a data URI; labels readable at
    `shown_px` wide."""
    with tempfile.TemporaryDirectory(prefix="oneproxy-report-") as folder:
        path = draw_heatmap(square, devices, platform, Path(folder) / "srcc.png", title,
                            shown_px)
        return png_uri(path.read_bytes())


def srcc_rows(values: np.ndarray, rows: list[str], targets: list[str], title: str) -> str:
    """A paper-style heatmap strip: one row per setting (before, after n, published), one
    column per target, SRCC annotated and outlined from the 0.9 threshold up; NaN is grey."""
    grid = np.asarray(values, dtype=np.float64)
    fig = Figure(figsize=(0.85 * len(targets) + 2.6, 0.42 * len(rows) + 1.5), dpi=_DPI)
    ax = fig.add_subplot()
    finite = grid[np.isfinite(grid)]
    low = min(float(finite.min()) if finite.size else 0.0, THRESHOLD - 0.05)
    cmap = colormaps["RdBu_r"].with_extremes(bad="lightgrey")
    norm = TwoSlopeNorm(vmin=low, vcenter=THRESHOLD, vmax=1.0)
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto",
              interpolation="nearest")
    annotate(ax, grid, cmap(norm(grid)), 9.0)
    ax.set_xticks(range(len(targets)), targets, rotation=30, ha="right", fontsize=9)
    ax.set_yticks(range(len(rows)), rows, fontsize=9)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return figure_uri(fig)


def budget_curves(curves: pl.DataFrame, devices: list[str], title: str) -> str:
    """`budget_figure` as a data URI."""
    return figure_uri(budget_figure(curves, devices, title))


def _series_styles(labels: list[str]) -> dict[str, dict[str, object]]:
    """The optimum as a solid black line, every search dashed in a colour of its own."""
    searches = sorted(set(labels) - {OPTIMUM})
    return {OPTIMUM: {"color": "black", "linewidth": 1.8}} | {
        label: {"color": f"C{i % 10}", "linestyle": "--", "marker": ".", "markersize": 4}
        for i, label in enumerate(searches)
    }


def _draw_series(ax: Axes, run: pl.DataFrame, label: str, style: dict[str, object]) -> set[str]:
    """One search's curve on a device's panel, its picks over budget as crosses and its budgets
    without a pick as ticks along the bottom, all in its colour; returns the marker kinds drawn
    (OVER, NO_PICK)."""
    picked = run.filter(pl.col("accuracy").is_not_null())
    ax.plot(run["budget_ms"].to_numpy(), run["accuracy"].fill_null(np.nan).to_numpy(), **style)
    drawn = set()
    over = picked.filter(pl.col("violation").fill_null(False))
    if over.height:
        ax.plot(over["budget_ms"].to_numpy(), over["accuracy"].to_numpy(), **_MARKERS[OVER],
                color=style["color"])
        drawn.add(OVER)
    missing = run.filter(pl.col("accuracy").is_null())
    if missing.height:  # on the x axis, whatever the accuracy range
        ax.plot(missing["budget_ms"].to_numpy(), np.full(missing.height, 0.03),
                transform=ax.get_xaxis_transform(), **_MARKERS[NO_PICK], color=style["color"])
        drawn.add(NO_PICK)
    if run.height and picked.is_empty():
        ax.text(0.5, 0.5, f"{label}:\nno pick at any budget", transform=ax.transAxes,
                ha="center", va="center", fontsize=8, color=str(style["color"]),
                bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
    return drawn


def budget_figure(curves: pl.DataFrame, devices: list[str], title: str) -> Figure:
    """Accuracy versus latency budget, one panel per device.

    `curves` has device_id, label, budget_ms, accuracy (null where the search picked nothing)
    and violation (null for the optimum). Every search is drawn in every panel: its line, its
    picks over budget on the device as crosses and the budgets it picked nothing for as ticks
    along the bottom, in its colour; the legend names each line and each kind of marker of
    each search that some panel shows.
    """
    fig = Figure(figsize=(3.3 * len(devices) + 0.4, 3.6), dpi=_DPI)
    axes = fig.subplots(1, len(devices), squeeze=False)[0]
    styles = _series_styles(curves["label"].to_list())
    markers: dict[str, set[str]] = {label: set() for label in styles}
    for ax, device in zip(axes, devices, strict=True):
        rows = curves.filter(pl.col("device_id") == device).sort("budget_ms")
        for label, style in styles.items():
            markers[label] |= _draw_series(ax, rows.filter(pl.col("label") == label), label,
                                           style)
        ax.set_title(device, fontsize=10)
        ax.set_xlabel("latency budget (ms)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)", fontsize=9)
    handles, names = [], []
    for label, style in styles.items():
        handles.append(Line2D([], [], **style))
        names.append(label)
        for kind in (OVER, NO_PICK):
            if kind in markers[label]:
                handles.append(Line2D([], [], **_MARKERS[kind], color=style["color"]))
                names.append(f"{label}: {kind}")
    columns = min(3, len(handles))
    fig.legend(handles, names, loc="lower center", ncol=columns, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.03 + 0.065 * -(-len(handles) // columns), 1, 1))
    return fig
