"""What a new user trips on (issue 16), on the synthetic warehouse through the CLI: saving is
opt-in, output paths are checked before any work, one --space check, devices remove, ingest
table edge cases, thin targets, and the one-line errors with "did you mean"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner
from oneproxy.ingest.user_table import exact_repeats
from oneproxy.warehouse.names import did_you_mean
from oneproxy.warehouse.store import Warehouse
from synthetic import PARTIAL, PARTIAL_ARCHS

from oneproxy.api.search import drop_targets, thin_targets
from oneproxy.cli import main as CLI
from oneproxy.options import output_format


def cli(wh: Warehouse | Path, *args: str):
    root = wh.root if isinstance(wh, Warehouse) else wh
    return CliRunner().invoke(CLI, [*args, "--warehouse", str(root)])


@pytest.fixture
def tables(snapshot):
    """The warehouse's files but its catalog (a read builds that cache; it holds no rows)."""
    return lambda root: {k: v for k, v in snapshot(root).items() if k != "catalog.duckdb"}


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def test_did_you_mean_finds_a_close_name_only():
    assert did_you_mean("pixle3", ["pixel3", "raspi4"]) == "; did you mean 'pixel3'?"
    assert did_you_mean("zzz", ["pixel3", "raspi4"]) == ""


def test_format_follows_the_output_extension_unless_given():
    assert output_format(None, None) == "table"
    assert output_format(None, Path("a.CSV")) == "csv"
    assert output_format(None, Path("a.parquet")) == "parquet"
    assert output_format(None, Path("a.txt")) == "table"
    assert output_format("json", Path("a.json")) == "json"


def test_interactive_commands_store_nothing_unless_asked(synth, tables):
    before = tables(synth.root)
    for args in (["srcc", "--devices", "phone_a,phone_b"],
                 ["search", "--dataset", "cifar10", "--devices", "phone_a", "--budget", "5ms"]):
        result = cli(synth, *args)
        assert result.exit_code == 0, result.output
    assert tables(synth.root) == before
    assert cli(synth, "srcc", "--devices", "phone_a,phone_b", "--save").exit_code == 0
    assert synth.read("srcc").num_rows == 1
    for command in ("srcc", "search", "evaluate", "lut-eval"):
        text = CliRunner().invoke(CLI, [command, "--help"]).output
        assert "--save / --no-save" in text and "do not store" in " ".join(text.split())


@pytest.mark.parametrize("args", [
    ["sql", "SELECT 1 AS x", "-o", "{missing}/x.csv"],
    ["devices", "-o", "{missing}/d.csv"],
    ["srcc", "--heatmap", "{missing}/h.png"],
    ["search", "--dataset", "cifar10", "--budget", "5ms", "--pareto", "{missing}/p.png"],
    ["train", "--device", "phone_a", "--model", "{missing}/m.json"],
    ["lut-eval", "--device", "note10", "--save-model", "{missing}/m.txt"],
    ["report", "--out", "{missing}/site"],
])
def test_an_output_path_into_a_missing_folder_is_one_line_before_any_work(synth, tmp_path,
                                                                          tables, args):
    missing = tmp_path / "nope"
    before = tables(synth.root)
    result = cli(synth, *[a.replace("{missing}", str(missing)) for a in args])
    one_line_error(result, f"folder {missing} does not exist")
    assert tables(synth.root) == before


def test_output_extension_sets_the_format_and_a_clash_is_an_error(synth, tmp_path):
    out = tmp_path / "d.csv"
    assert cli(synth, "devices", "-o", str(out)).exit_code == 0
    assert out.read_text().startswith("device_id,")
    parquet = tmp_path / "d.parquet"
    assert cli(synth, "devices", "-o", str(parquet)).exit_code == 0
    assert pl.read_parquet(parquet).height == 5
    clash = cli(synth, "devices", "-o", str(out), "--format", "json")
    assert clash.exit_code == 2 and "--format json but -o" in clash.output


def test_space_is_checked_the_same_way_everywhere(synth, tmp_path):
    csv = tmp_path / "m.csv"
    csv.write_text("arch_id,latency_ms\n0,1.0\n")
    for args in (["srcc", "--space", "nb21"], ["devices", "--space", "nb21"],
                 ["search", "--space", "nb21", "--dataset", "cifar10", "--budget", "5ms"],
                 ["ingest", "table", str(csv), "--space", "nb21", "--device", "d"],
                 ["run", "--spaces", "nb21"]):
        one_line_error(cli(synth, *args), "unknown space 'nb21': known spaces are",
                       "did you mean 'nb201'?")


def test_run_refuses_an_unknown_protocol(synth):
    one_line_error(cli(synth, "run", "--protocols", "nosuch"), "unknown protocol 'nosuch'",
                   "help-nb201")


def test_misspelled_devices_get_a_suggestion(synth):
    for args in (["srcc", "--devices", "phone_a,phone_bb"],
                 ["search", "--dataset", "cifar10", "--devices", "phone_bb", "--budget", "5ms"],
                 ["adapt", "--device", "phone_bb", "--samples", "5"],
                 ["predict", "--device", "phone_bb"],
                 ["devices", "remove", "phone_bb"]):
        one_line_error(cli(synth, *args), "'phone_bb'", "did you mean 'phone_b'?")


def test_srcc_needs_two_devices_and_lists_the_datasets(synth):
    one_line_error(cli(synth, "srcc", "--devices", "phone_a"), "give at least two")
    one_line_error(cli(synth, "srcc", "--dataset", "cifar100"),
                   "no latency for dataset 'cifar100': it has cifar10")


def test_commands_on_a_missing_warehouse_say_there_is_none(tmp_path):
    for args in (["runs"], ["lut-eval", "--device", "note10"]):
        one_line_error(cli(tmp_path / "none", *args), "no warehouse at")
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("args", [
    ["search", "--dataset", "cifar10", "--budget", "5ms", "--proxy", "auto"],
    ["adapt", "--device", "phone_b", "--proxy", "auto"],
    ["train", "--device", "phone_a"],
])
def test_samples_below_three_are_refused_by_every_command(synth, args):
    result = cli(synth, *args, "--samples", "2")
    assert result.exit_code == 2 and "x>=3" in result.output


def test_thin_targets_are_left_out_by_one_rule(synth):
    result = cli(synth, "search", "--dataset", "cifar10", "--devices", "phone_b,phone_c",
                 "--budget", "q50", "--proxy", "auto", "--samples", str(PARTIAL_ARCHS // 2 + 1),
                 "--format", "json")
    assert result.exit_code == 0, result.output
    assert {r["device_id"] for r in json.loads(result.stdout)} == {"phone_b"}
    assert f"not searched (fewer than {PARTIAL_ARCHS + 2} measured" in result.stderr
    assert result.stderr.rstrip().count(PARTIAL[0]) >= 1
    only = cli(synth, "search", "--dataset", "cifar10", "--devices", "phone_c", "--budget",
               "q50", "--proxy", "auto", "--samples", "600")
    one_line_error(only, "every target measured fewer than 1200", "phone_c")


def test_thin_targets_is_a_pure_rule_on_the_matrix():
    from oneproxy.api.search import SearchData

    true = np.full((3, 10), np.nan)
    true[0], true[1, :6], true[2, :5] = 1.0, 2.0, 3.0
    data = SearchData(targets=["a", "b", "c"], latency_datasets=["x"] * 3, true=true, proxy=None,
                      candidates={}, arch_ids=np.arange(10), arch_keys=[str(i) for i in range(10)],
                      accuracy=np.zeros(10), partial=np.array([False, True, True]))
    assert thin_targets(data, 3) == ["c"]
    assert thin_targets(data, 3, proxy="c") == []
    kept = drop_targets(data, ["a", "c"])
    assert kept.targets == ["b"] and kept.partial.tolist() == [True]
    assert np.array_equal(kept.true, true[[1]], equal_nan=True)


def test_train_model_option_and_the_deprecated_o(synth, tmp_path):
    new = cli(synth, "train", "--device", "phone_a", "--model", str(tmp_path / "a.json"))
    assert new.exit_code == 0 and (tmp_path / "a.json").is_file() and "deprecated" not in new.output
    old = cli(synth, "train", "--device", "phone_a", "-o", str(tmp_path / "b.json"))
    assert old.exit_code == 0 and (tmp_path / "b.json").is_file()
    assert "`train -o FILE` is deprecated" in old.stderr and "--model FILE" in old.stderr


def test_adapt_device_option_and_the_deprecated_target(synth):
    args = ["--proxy", "phone_a", "--samples", "10", "--format", "csv", "--no-save"]
    new = cli(synth, "adapt", "--device", "phone_b", *args)
    assert new.exit_code == 0 and "deprecated" not in new.output
    old = cli(synth, "adapt", "--target", "phone_b", *args)
    assert old.exit_code == 0 and old.stdout == new.stdout  # stdout parses as before
    assert "`adapt --target D` is deprecated" in old.stderr and "--device D" in old.stderr
    both = cli(synth, "adapt", "--device", "phone_b", "--target", "phone_a", *args)
    assert both.exit_code == 2 and "not both" in both.output
    assert cli(synth, "adapt", *args).exit_code == 2


def _with_derived_rows(synth: Warehouse) -> None:
    """Predictions, SRCC pairs and search results of phone_b, stored as the CLI stores them."""
    for args in (["srcc", "--save"],
                 ["adapt", "--device", "phone_b", "--proxy", "phone_a", "--samples", "10"],
                 ["search", "--dataset", "cifar10", "--budget", "q50", "--save"]):
        assert cli(synth, *args).exit_code == 0


def test_devices_remove_takes_the_series_and_what_was_derived(synth):
    _with_derived_rows(synth)
    result = cli(synth, "devices", "remove", "phone_b")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("removed phone_b: 15,625 latency") and "device removed" in \
        result.stdout and result.stdout.count("\n") == 1
    for table, columns in (("latency", ["device_id"]), ("devices", ["device_id"]),
                           ("predictions", ["device_id"]), ("srcc", ["device_a", "device_b"]),
                           ("search_result", ["device_id"])):
        frame = pl.from_arrow(synth.read(table))
        assert frame.height > 0 or table == "predictions", table  # only phone_b was predicted
        assert all("phone_b" not in frame[c].to_list() for c in columns), table
    assert pl.from_arrow(synth.read("srcc")).height == 6  # the pairs of the other 4 devices
    assert synth.read("predictions").num_rows == 0


def test_devices_remove_of_an_unknown_device_or_space_changes_nothing(synth, tables):
    before = tables(synth.root)
    one_line_error(cli(synth, "devices", "remove", "nosuch"), "unknown device 'nosuch'",
                   "nothing was removed")
    one_line_error(cli(synth, "devices", "remove", "phone_a", "--space", "fbnet"),
                   "no series in space 'fbnet'")
    assert tables(synth.root) == before


def _user_warehouse(synth: Warehouse, tmp_path: Path) -> tuple[Warehouse, Path]:
    """The synthetic warehouse with one user table imported (no mirror: ONEPROXY_MIRROR unset)."""
    csv = tmp_path / "my_phone.csv"
    csv.write_text("arch_id,latency_ms\n0,3.1\n1,4.2\n2,5.0\n")
    result = cli(synth, "ingest", "table", str(csv), "--space", "nb201", "--device", "my_phone",
                 "--platform", "mobile_cpu")
    assert result.exit_code == 0, result.output
    return synth, csv


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No mirror and an empty cache: a download would be attempted (and fail) if one were needed."""
    monkeypatch.delenv("ONEPROXY_MIRROR", raising=False)
    monkeypatch.setenv("ONEPROXY_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("oneproxy.ingest.fetch.fetch", _no_fetch)


def _no_fetch(*args, **kwargs):
    raise AssertionError("ingest table read an upstream file")


def test_ingest_table_needs_no_upstream_file_when_the_warehouse_has_the_archs(synth, tmp_path,
                                                                                offline):
    wh, _ = _user_warehouse(synth, tmp_path)
    latency = pl.from_arrow(wh.read("latency")).filter(pl.col("device_id") == "my_phone")
    assert latency.sort("arch_id")["latency_ms"].to_list() == [3.1, 4.2, 5.0]


def test_reimport_keeps_the_platform_and_warns_of_stale_predictions(synth, tmp_path, offline):
    wh, csv = _user_warehouse(synth, tmp_path)
    stored = pl.from_arrow(wh.read("latency")).filter(pl.col("device_id") == "my_phone")
    predictions = stored.select(
        pl.lit("nb201").alias("space_id"), "device_id", "arch_id",
        pl.col("latency_ms").alias("predicted_ms"), pl.lit("p").alias("proxy"),
        pl.lit("linear").alias("strategy"), pl.lit("onehot").alias("encoding"),
        pl.lit(3).cast(pl.Int64).alias("n_samples"), pl.lit(0).cast(pl.Int64).alias("seed"),
        pl.lit("2026-01-01").alias("created"))
    wh.commit({"predictions": predictions.to_arrow()})
    csv.write_text("arch_id,latency_ms\n0,3.3\n1,4.2\n2,5.0\n")
    result = cli(wh, "ingest", "table", str(csv), "--space", "nb201", "--device", "my_phone")
    assert result.exit_code == 0, result.output
    devices = pl.from_arrow(wh.read("devices")).filter(pl.col("device_id") == "my_phone")
    assert devices["platform_class"].to_list() == ["mobile_cpu"]
    assert "the 3 stored predictions of my_phone on nb201 were made before" in result.stderr


def test_ingest_table_input_cases(synth, tmp_path, offline, tables):
    floats = tmp_path / "floats.csv"
    floats.write_text("arch_id,latency_ms\n0.0,3.1\n1.0,4.2\n1.0,4.2\n")
    result = cli(synth, "ingest", "table", str(floats), "--space", "nb201", "--device", "p")
    assert result.exit_code == 0, result.output
    assert "line 4 repeats line 3 exactly" in result.stderr
    assert exact_repeats(floats) == [(4, 3)]
    before = tables(synth.root)
    semi = tmp_path / "semi.csv"
    semi.write_text("arch_id;latency_ms\n0;3.1\n")
    one_line_error(cli(synth, "ingest", "table", str(semi), "--space", "nb201", "--device", "p"),
                   "split by ';'", "delimiter")
    one_line_error(cli(synth, "ingest", "table", str(floats), "--space", "nb201", "--device", "p",
                       "--dataset", "nosuch"),
                   "unknown dataset 'nosuch' for space nb201: use one of cifar10, cifar100")
    assert tables(synth.root) == before


def test_a_parquet_file_with_float_ids_is_accepted(synth, tmp_path, offline):
    path = tmp_path / "m.parquet"
    pa.parquet.write_table(pa.table({"arch_id": [0.0, 7.0], "latency_ms": [1.0, 2.0]}), path)
    result = cli(synth, "ingest", "table", str(path), "--space", "nb201", "--device", "q")
    assert result.exit_code == 0, result.output
    rows = pl.from_arrow(synth.read("latency")).filter(pl.col("device_id") == "q")
    assert sorted(rows["arch_id"].to_list()) == [0, 7]


def test_wide_tables_never_cut_or_fold_identifiers(synth, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    result = cli(synth, "sql", "SELECT arch_key, arch_id FROM architectures WHERE arch_id = 7")
    assert result.exit_code == 0, result.output
    (key,) = pl.from_arrow(synth.read("architectures")).filter(pl.col("arch_id") == 7)["arch_key"]
    assert "…" not in result.stdout
    cells = [line.split("│")[1].strip() for line in result.stdout.splitlines()
             if line.startswith("│")]
    assert cells == [key, "7"]  # the key in a panel of its own, whole on one line


def test_run_summary_names_the_report_file(tmp_path):
    from oneproxy.batch import RunOutcome, StageOutcome

    ran = StageOutcome("srcc nb201", "run", 1.0, "", "f")
    skipped = StageOutcome("srcc nb201", "skipped", 0.0, "", "f")
    for stage in (ran, skipped):
        line = RunOutcome("r1", (stage,), 1.0, tmp_path / "site").summary()
        assert line.endswith(f"report: {tmp_path / 'site' / 'report.html'}")


def test_make_test_sets_up_chromium_and_runs_both_tiers():
    root = Path(__file__).parents[1]
    make = root.joinpath("Makefile").read_text()
    assert '-m "not integration"' in make and "-m integration" in make
    assert ".ci/chromium" in make and "make test" in root.joinpath(".ci/run").read_text()


@pytest.mark.parametrize("n", [5, 12, 27, 41, 49])  # up to the 49 devices of the warehouse
def test_heatmap_labels_are_at_least_8px_at_the_shown_width(n):
    from oneproxy.analytics.heatmap import MIN_LABEL_PX, figure_inches, label_points
    from oneproxy.analytics.report import HEATMAP_PX_BASE, HEATMAP_PX_PER_DEVICE, PAGE_PX

    shown = min(HEATMAP_PX_BASE + HEATMAP_PX_PER_DEVICE * n, PAGE_PX)
    image_px = figure_inches(n)[0] * 100
    assert label_points(n, shown) * 100 / 72 * shown / image_px >= MIN_LABEL_PX - 1e-9


def test_report_opens_with_what_the_batch_found(synth, tmp_path):
    for args in (["srcc", "--save"],
                 ["search", "--dataset", "cifar10", "--budget", "q5:q95:5", "--save"],
                 ["search", "--dataset", "cifar10", "--budget", "q5:q95:5", "--proxy", "phone_a",
                  "--samples", "20", "--save"],
                 ["search", "--dataset", "cifar10", "--budget", "q5:q95:5", "--proxy", "phone_a",
                  "--samples", "20", "--confidence", "0.9", "--save"]):
        assert cli(synth, *args).exit_code == 0
    out = tmp_path / "site"
    assert cli(synth, "report", "--out", str(out)).exit_code == 0
    page = (out / "report.html").read_text()
    first = page[:page.index('<section id="coverage">')]
    assert "What this batch found" in first and "<b>phone_a</b>" in first
    assert "over budget" in first and "Budgets: 5 per device" in first and "<img" in first
    (found,) = json.loads((out / "summary.json").read_text())["headline"]
    pairs = pl.from_arrow(synth.read("srcc")).filter(
        (pl.col("device_a") == "phone_a") | (pl.col("device_b") == "phone_a"))
    assert found["proxy"] == "phone_a" and found["samples"] == 20
    assert found["mean_srcc"] == pytest.approx(pairs["value"].mean())
    assert found["budgets_per_device"] == 5
    bound = pl.from_arrow(synth.read("search_result")).filter(pl.col("method") == "adaproxy@0.9")
    share = bound["violation"].cast(pl.Float64).mean()
    assert found["upper_bound"] == "0.9"
    assert found["upper_bound_over_budget_share"] == pytest.approx(share)
    assert (f"upper end of the 0.9 interval instead (<code>search --confidence 0.9</code>), "
            f"<b>{100 * share:.0f}% are over budget</b>") in first
    assert 'class="scroll"' not in page
