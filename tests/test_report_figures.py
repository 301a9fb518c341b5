"""The report's search panels: every search has its line in every panel, and every marker drawn
(picks over budget, budgets without a pick) is named in the legend in its search's colour."""

import numpy as np
import polars as pl
from matplotlib.colors import to_hex
from oneproxy.analytics.report_figures import NO_PICK, OPTIMUM, OVER, budget_figure

BUDGETS = [1.0, 2.0, 3.0, 4.0]


def _curve(device: str, label: str, accuracy: list[float | None],
           violation: list[bool | None]) -> pl.DataFrame:
    return pl.DataFrame({"device_id": device, "label": label, "budget_ms": BUDGETS,
                         "accuracy": accuracy, "violation": violation},
                        schema_overrides={"accuracy": pl.Float64, "violation": pl.Boolean})


CURVES = pl.concat([
    _curve("a", OPTIMUM, [60.0, 65.0, 70.0, 72.0], [None] * 4),
    _curve("a", "AdaProxy p n=20", [61.0, 65.0, 69.0, 72.0], [True, False, False, False]),
    _curve("a", "via p", [None, None, 66.0, 70.0], [None, None, True, False]),
    _curve("b", OPTIMUM, [50.0, 55.0, 60.0, 62.0], [None] * 4),
    _curve("b", "AdaProxy p n=20", [50.0, 54.0, 60.0, 62.0], [False] * 4),
    _curve("b", "via p", [None] * 4, [None] * 4),  # nothing of p is that fast
])


def _markers(line) -> tuple[str, str]:
    return to_hex(line.get_color()), line.get_marker()


def test_every_search_is_drawn_in_every_panel_in_its_colour():
    fig = budget_figure(CURVES, ["a", "b"], "t")
    (legend,) = fig.legends
    colour = {t.get_text(): to_hex(h.get_color())
              for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}
    for ax in fig.axes:
        drawn = {to_hex(line.get_color()) for line in ax.get_lines()
                 if np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any()}
        assert {colour[OPTIMUM], colour["AdaProxy p n=20"], colour["via p"]} <= drawn
    (b,) = [ax for ax in fig.axes if ax.get_title() == "b"]
    assert [t.get_text() for t in b.texts] == ["via p:\nno pick at any budget"]


def test_every_marker_drawn_is_named_in_the_legend():
    fig = budget_figure(CURVES, ["a", "b"], "t")
    (legend,) = fig.legends
    named = {_markers(h): t.get_text()
             for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)
             if h.get_linestyle() == "None"}
    assert sorted(named.values()) == sorted([f"AdaProxy p n=20: {OVER}", f"via p: {OVER}",
                                             f"via p: {NO_PICK}"])
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_linestyle() == "None":
                assert _markers(line) in named, _markers(line)
    ticks = [line for ax in fig.axes for line in ax.get_lines() if line.get_marker() == "|"]
    assert sorted(len(line.get_xdata()) for line in ticks) == [2, 4]  # a: 1 and 2 ms; b: all
