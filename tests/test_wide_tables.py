"""Wide tables in a 100-120 column terminal: columns are split into panels that fit, each
repeating the columns that identify a row, and no identifier is ever cut or folded."""

import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.warehouse.spaces import nb201

from oneproxy.cli import main as CLI
from oneproxy.runs import Ledger
from oneproxy.shown import layout

WIDTHS = (100, 120)
# The columns `lut-eval` prints, one row per held-out resolution.
LUT_COLUMNS = ("device_id", "space_id", "mode", "resolution", "train_resolutions", "n_train_ops",
               "n_ops", "op_rmse_ms", "op_mape_pct", "op_within10", "op_srcc", "n_unseen_ops",
               "unseen_mape_pct", "unseen_within10", "n_archs", "arch_rmse_ms", "arch_mape_pct",
               "arch_within10", "arch_srcc", "seed")


def cli(env_width: int, *args: str):
    result = CliRunner().invoke(CLI, list(args), env={"COLUMNS": str(env_width)})
    assert result.exit_code == 0, result.output
    return result


def widest_line(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_a_table_that_fits_is_one_panel_at_its_natural_widths():
    panels = layout(["device", "value"], [("pixel3", "0.97"), ("raspi4", "0.9")], 100)
    assert [(p.columns, p.widths) for p in panels] == [([0, 1], [6, 5])]
    assert panels[0].width == 6 + 5 + 2 * 3 + 1


def test_a_wide_table_is_split_into_panels_that_repeat_the_row_key():
    header = ["device", "budget", *(f"metric_{i:02d}" for i in range(12))]
    rows = [(d, b, *("0.123456",) * 12) for d in ("pixel3", "raspi4") for b in ("5", "10")]
    panels = layout(header, rows, 100)
    assert len(panels) == 2 and all(p.width <= 100 for p in panels)
    # device alone repeats across rows, device + budget tell them apart
    assert all(p.columns[:2] == [0, 1] for p in panels)
    assert sorted({c for p in panels for c in p.columns}) == list(range(len(header)))
    assert all(w == 9 for p in panels for w in p.widths[2:])  # whole, never narrowed


def test_long_text_wraps_at_spaces_and_a_long_identifier_gets_a_panel_of_its_own():
    prose = "a description of many words " * 4
    panels = layout(["id", "description"], [("x", prose)], 40)
    assert len(panels) == 1 and panels[0].width <= 40 and panels[0].widths[1] >= len("description")
    key = "k" * 95
    panels = layout(["arch_id", "arch_key", "latency_ms"], [("0", key, "1.5")], 100)
    assert [p.columns for p in panels] == [[1], [0, 2]] and panels[0].widths == [95]


@pytest.mark.parametrize("width", WIDTHS)
def test_lut_eval_cells_are_whole_at_terminal_width(width, monkeypatch):
    rows = pl.DataFrame([{c: v for c, v in zip(LUT_COLUMNS, values, strict=True)} for values in (
        ("zynq_dpu", "ofa_fpga", "holdout", r, "128,160,192,224", 412, 103, 0.0736607, 2.65816,
         0.990291, 0.997046, 83, 2.84341, 0.987952, 1000, 0.357462, 0.666739, 1.0, 0.998032, 0)
        for r in (144, 176, 208))])
    monkeypatch.setattr("oneproxy.api.lut.lut_eval", lambda *args: rows)
    out = cli(width, "lut-eval", "--device", "zynq_dpu").stdout
    assert widest_line(out) <= width and "…" not in out
    assert all(f" {c} " in out for c in LUT_COLUMNS)
    assert out.count("128,160,192,224") == 3 and out.count("0.0736607") == 3
    # every panel repeats the columns that tell the held-out resolutions apart
    panels = out.count("lut-eval zynq_dpu (")
    assert panels >= 2 and out.count(" resolution ") == panels and out.count(" 176 ") == panels


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_shows_the_whole_run_id_that_runs_run_takes(width, synth):
    ledger = Ledger(synth)
    ledger.open()
    ledger.record("srcc nb201", "run", ledger.started_at, "f" * 64, "12 pairs of 5 devices")
    ledger.close("done", "run 1 stage: 1 run, 0 skipped; the report is in a folder far away")
    out = cli(width, "runs", "--warehouse", str(synth.root)).stdout
    assert widest_line(out) <= width and ledger.run_id in out
    stages = cli(width, "runs", "--run", ledger.run_id, "--warehouse", str(synth.root)).stdout
    assert widest_line(stages) <= width and "f" * 64 in stages and "srcc nb201" in stages


@pytest.mark.parametrize("width", WIDTHS)
def test_predict_shows_the_whole_architecture_key(width, synth):
    out = cli(width, "predict", "--device", "phone_a", "--archs", "0,1,2", "--warehouse",
              str(synth.root)).stdout
    keys = [nb201.format_arch(ops) for ops in nb201.all_op_tuples()[:3]]
    assert widest_line(out) <= width and all(key in out for key in keys)
