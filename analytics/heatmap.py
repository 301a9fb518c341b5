"""SRCC heatmap: devices grouped by platform class, clustered within each, 0.9 threshold marked."""

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from oneproxy.analytics.srcc import InvalidSrccInput
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

THRESHOLD = 0.9
MAX_ANNOTATED = 60  # beyond this many devices cell values are unreadable: colour only
UNKNOWN_PLATFORM = "unknown"
_DPI = 100


def order_devices(
    square: np.ndarray, devices: list[str], platform: dict[str, str]
) -> tuple[list[int], list[str]]:
    """Device positions ordered by platform class, then by clustering on 1 − SRCC within a class.

    Returns the permutation of `devices` and the platform class of each position. Devices
    missing from `platform` form a final class "unknown"; a null SRCC counts as distance 1
    (no monotone relation known).
    """
    classes = [platform.get(device, UNKNOWN_PLATFORM) for device in devices]
    names = sorted(set(classes) - {UNKNOWN_PLATFORM}) + (
        [UNKNOWN_PLATFORM] if UNKNOWN_PLATFORM in classes else []
    )
    order: list[int] = []
    for name in names:
        members = np.array([i for i, c in enumerate(classes) if c == name])
        order.extend(members[_cluster_order(square[np.ix_(members, members)])].tolist())
    return order, [classes[i] for i in order]


def _cluster_order(block: np.ndarray) -> np.ndarray:
    if block.shape[0] < 3:
        return np.arange(block.shape[0])
    distance = np.nan_to_num(1.0 - (block + block.T) / 2, nan=1.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average", optimal_ordering=True)
    return leaves_list(tree)


def draw_heatmap(
    square: np.ndarray, devices: list[str], platform: dict[str, str], path: Path, title: str,
    shown_px: float | None = None,
) -> Path:
    """Write an annotated SRCC heatmap PNG to `path` (Agg, no pyplot state) and return it.

    `shown_px`: the width the image will be displayed at; labels are then sized to stay at
    least `MIN_LABEL_PX` pixels there (capped so that they still fit a cell).
    """
    n = len(devices)
    if n == 0 or square.shape != (n, n):
        raise InvalidSrccInput(
            f"heatmap needs a square matrix with one row per device; got shape {square.shape} "
            f"for {n} device(s)"
        )
    order, classes = order_devices(square, devices, platform)
    values = square[np.ix_(order, order)]
    labels = [devices[i] for i in order]
    fig = Figure(figsize=figure_inches(n), dpi=_DPI)
    ax = fig.add_subplot()
    font = label_points(n, shown_px)

    finite = values[np.isfinite(values)]
    low = min(float(finite.min()) if finite.size else 0.0, THRESHOLD - 0.05)
    cmap = colormaps["RdBu_r"].with_extremes(bad="lightgrey")
    norm = TwoSlopeNorm(vmin=low, vcenter=THRESHOLD, vmax=1.0)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, interpolation="nearest")
    if n <= MAX_ANNOTATED:
        annotate(ax, values, cmap(norm(values)), font)
    _separate_classes(ax, classes, font)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels, fontsize=font)
    ax.set_title(title, fontsize=max(font * 1.4, 9), pad=font * 9)
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.ax.axhline(THRESHOLD, color="black", linewidth=1.5)
    bar.set_label(f"SRCC (centre and outline at {THRESHOLD})", fontsize=max(font, 8))
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=_DPI)
    return path


MIN_LABEL_PX = 8.0


def figure_inches(n: int) -> tuple[float, float]:
    """Width and height of the heatmap figure of n devices."""
    side = n * cell_inches(n) + 3.5
    return side + 1.2, side


def label_points(n: int, shown_px: float | None = None) -> float:
    """Font size of labels and cell values; with `shown_px` (the displayed width), at least
    MIN_LABEL_PX displayed pixels, as far as a cell leaves room."""
    cell = cell_inches(n)
    font = max(3.5, min(10.0, cell * 72 * 0.3))
    if shown_px is None:
        return font
    scale = shown_px / (figure_inches(n)[0] * _DPI)  # displayed px per image px
    return min(max(font, MIN_LABEL_PX * 72 / (_DPI * scale)), cell * 72 * 0.45)


def cell_inches(n: int) -> float:
    """Side of one heatmap cell: 0.6 in up to 20 devices, shrinking as 1/sqrt(n), at least 0.25."""
    return float(np.clip(0.6 * np.sqrt(20 / max(n, 1)), 0.25, 0.6))


def annotate(ax: Axes, values: np.ndarray, colours: np.ndarray, font: float) -> None:
    luminance = colours[..., :3] @ np.array([0.299, 0.587, 0.114])
    for (row, col), value in np.ndenumerate(values):
        if not np.isfinite(value):
            continue
        ink = "white" if luminance[row, col] < 0.5 else "black"
        ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=font * 0.85, color=ink)
        if value >= THRESHOLD:
            ax.add_patch(
                Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="black", lw=0.8)
            )


def _separate_classes(ax: Axes, classes: list[str], font: float) -> None:
    bounds = [i for i in range(1, len(classes)) if classes[i] != classes[i - 1]]
    for bound in bounds:
        ax.axhline(bound - 0.5, color="black", linewidth=2.0)
        ax.axvline(bound - 0.5, color="black", linewidth=2.0)
    for start in [0, *bounds]:
        ax.text(
            start - 0.3,
            -0.7,
            classes[start],
            ha="left",
            va="bottom",
            rotation=30,
            rotation_mode="anchor",
            fontsize=font,
            fontweight="bold",
        )
