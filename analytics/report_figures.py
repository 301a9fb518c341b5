"""Figures of the HTML report as PNG data URIs (matplotlib Agg, no pyplot state)."""

from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib import colormaps
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from oneproxy.analytics.heatmap import THRESHOLD, annotate, draw_heatmap

_DPI = 100
OPTIMUM = "optimum (own latencies)"


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
    """Accuracy versus latency budget, one panel per device.

    `curves` has device_id, label, budget_ms, accuracy and violation (null for the optimum);
    the label `OPTIMUM` is drawn as a solid black line, every other label (a one-proxy search)
    dashed, with its picks over budget on the device marked by a cross of the search's colour.
    """
    fig = Figure(figsize=(3.3 * len(devices) + 0.4, 3.6), dpi=_DPI)
    axes = fig.subplots(1, len(devices), squeeze=False)[0]
    labels = sorted(set(curves["label"].to_list()) - {OPTIMUM})
    styles = {OPTIMUM: {"color": "black", "linewidth": 1.8}} | {
        label: {"color": f"C{i % 10}", "linestyle": "--", "marker": ".", "markersize": 4}
        for i, label in enumerate(labels)
    }
    for ax, device in zip(axes, devices, strict=True):
        rows = curves.filter(pl.col("device_id") == device).sort("budget_ms")
        for label, style in styles.items():
            run = rows.filter(pl.col("label") == label)
            ax.plot(run["budget_ms"].to_numpy(), run["accuracy"].fill_null(np.nan).to_numpy(),
                    **style)
            over = run.filter(pl.col("violation").fill_null(False))
            if over.height:
                ax.plot(over["budget_ms"].to_numpy(), over["accuracy"].to_numpy(), "x",
                        color=style["color"], markersize=6)
        ax.set_title(device, fontsize=10)
        ax.set_xlabel("latency budget (ms)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)", fontsize=9)
    handles = [Line2D([], [], **style) for style in styles.values()]
    handles.append(Line2D([], [], linestyle="none", marker="x", color="dimgray"))
    columns = min(4, len(handles))
    fig.legend(handles, [*styles, "pick over budget on the device"], loc="lower center",
               ncol=columns, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.03 + 0.065 * -(-len(handles) // columns), 1, 1))
    return figure_uri(fig)
