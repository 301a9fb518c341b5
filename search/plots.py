"""Accuracy-versus-latency Pareto fronts as step lines (matplotlib Agg, no pyplot state)."""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from oneproxy.search.oneproxy import BadSearchInput

_DPI = 100


def draw_pareto(path: Path, fronts: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> Path:
    """Write one step line per labelled front (latency ms, accuracy %) to a PNG and return it.

    A front is drawn in ascending latency; accuracy holds from one point until the next
    (the best accuracy reachable under a budget). Labels ending in "(true)" are solid lines,
    others dashed, so that a target's true front and a proxy-derived one can share a colour.
    """
    if not fronts:
        raise BadSearchInput("draw_pareto needs at least one front")
    fig = Figure(figsize=(8, 5.5), dpi=_DPI)
    ax = fig.add_subplot()
    colours: dict[str, str] = {}
    for label, (latency, accuracy) in fronts.items():
        lat = np.asarray(latency, dtype=np.float64)
        acc = np.asarray(accuracy, dtype=np.float64)
        if lat.shape != acc.shape or lat.ndim != 1:
            raise BadSearchInput(
                f"front {label!r}: latency and accuracy must be 1-D of one length, "
                f"got {lat.shape} and {acc.shape}"
            )
        order = np.argsort(lat, kind="stable")
        device = label.split(" ")[0]
        line = ax.step(
            lat[order], acc[order], where="post", label=label, marker=".", markersize=3,
            linestyle="-" if label.endswith("(true)") else "--", color=colours.get(device),
        )[0]
        colours.setdefault(device, line.get_color())
    ax.set_xlabel("latency on the device (ms)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=max(1, len(fronts) // 12))
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=_DPI)
    return path
