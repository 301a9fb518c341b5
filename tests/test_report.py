"""`oneproxy report`: the pure page builder on small tables, the CLI on a real warehouse, and the
page as headless Chromium renders it (sections, images that load, no empty table)."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner
from oneproxy.analytics.report import HOW_TO, ReportTables, adaptation_section, build_report
from oneproxy.warehouse.store import Warehouse

from oneproxy.api.report import search_summary, write_report
from oneproxy.cli import main as CLI

pytestmark = pytest.mark.integration

SECTIONS = {
    "coverage": "Coverage",
    "monotonicity": "Latency monotonicity (SRCC)",
    "environments": "Mobile environments: what breaks monotonicity",
    "adaptation": "Adaptation (AdaProxy)",
    "search": "Search: one proxy versus each device's optimum",
    "verify_loop": "Verify loop: picks you can ship",
    "build": "Build",
}
INFO = {"generated_at": "2026-01-01T00:00:00+00:00", "version": "0.1.0", "warehouse": "/wh",
        "run": None, "tables": {"latency": "abc123", "srcc": "def456"}}
EVIL = "<b>evil</b>"


class Page(HTMLParser):
    """Section ids with their h2 text, image sources, and the body-row count of each table."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.images: list[str] = []
        self.table_rows: list[int] = []
        self._section: str | None = None
        self._in_h2 = self._in_tbody = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._section = attrs["id"]
            self.sections[self._section] = ""
        elif tag == "h2":
            self._in_h2 = True
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table":
            self.table_rows.append(0)
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody:
            self.table_rows[-1] += 1

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        elif tag == "tbody":
            self._in_tbody = False

    def handle_data(self, data):
        if self._in_h2 and self._section:
            self.sections[self._section] += data


def small_tables() -> ReportTables:
    devices = ["pixel3", "fpga", EVIL]
    coverage = pa.table({
        "space_id": ["nb201"] * 3, "dataset": ["cifar10"] * 3, "device_id": devices,
        "display_name": ["Pixel 3", "FPGA", "Evil & Co"], "platform_class": ["mobile_cpu",
                                                                             "fpga", "asic"],
        "measured": [100, 100, 90], "failed": [0, 0, 10], "sources": ["help"] * 3,
    })
    spaces = pa.table({
        "space_id": ["fbnet", "nb201"], "description": ["FBNet", "NAS-Bench-201"],
        "size": [str(9**22), "15625"], "log10_size": [22 * np.log10(9), np.log10(15625)],
        "datasets": [None, "cifar10"], "devices": [0, 3], "architectures": [0, 100],
        "measurements": [0, 290], "failed": [0, 10],
    })
    srcc = pa.table({
        "space_id": ["nb201"] * 3, "dataset": ["cifar10"] * 3, "method": ["spearman"] * 3,
        "device_a": ["fpga", "fpga", EVIL], "device_b": ["pixel3", EVIL, "pixel3"],
        "n_common": [100, 90, 90], "value": [0.95, 0.5, None],
        "reason": [None, None, "fewer than 30 shared architectures"],
    })
    adaptation = pa.table({
        "protocol": ["help-nb201"] * 4, "space_id": ["nb201"] * 4, "strategy": ["auto"] * 4,
        "target": ["fpga", "fpga", EVIL, EVIL], "n_samples": [10, 20, 10, 20],
        "seeds": [3] * 4, "proxy": ["pixel3"] * 4, "proxy_share": [1.0, 1.0, 2 / 3, 1.0],
        "before_srcc_mean": [0.5, 0.6, 0.4, 0.3], "after_srcc_mean": [0.8, 0.9, 0.6, 0.7],
        "after_srcc_std": [0.01, 0.02, 0.03, 0.04], "published_srcc": [None, 0.95, None, 0.85],
    })
    picks = pa.table({
        "space_id": ["nb201"] * 6, "dataset": ["cifar10"] * 6, "device_id": [EVIL] * 6,
        "budget_ms": [1.0, 2.0, 3.0] * 2, "arch_id": [1, 2, 3, 1, 3, 3],
        "accuracy": [90.0, 92.0, 93.0, 90.0, 93.0, 93.0],
        "latency_ms": [1.0, 2.0, 3.0, 1.0, 3.0, 3.0],
        "method": ["exhaustive"] * 3 + ["proxy"] * 3,
        "proxy": [None] * 3 + ["pixel3"] * 3, "chosen_proxy": [None] * 3 + ["pixel3"] * 3,
        "n_samples": [None] * 3 + [0] * 3, "regret": [None] * 3 + [0.0, -1.0, 0.0],
        "violation": [None] * 3 + [False, True, False],
        "violation_ms": [None] * 3 + [0.0, 1.0, 0.0],
        "violation_pct": [None] * 3 + [0.0, 50.0, 0.0],
    })
    return ReportTables(spaces=spaces, coverage=coverage, srcc=srcc, adaptation=adaptation,
                        search=picks, search_summary=search_summary(picks))


@pytest.fixture(scope="module")
def small_report() -> tuple[str, dict]:
    return build_report(small_tables(), INFO)


def test_text_from_the_tables_is_escaped(small_report):
    page, _ = small_report
    assert EVIL not in page
    assert "&lt;b&gt;evil&lt;/b&gt;" in page
    assert "Evil &amp; Co" in page


def test_every_section_renders_its_tables_and_figures(small_report):
    page = Page(small_report[0])
    assert page.sections == SECTIONS
    assert len(page.images) == 3  # SRCC heatmap, adaptation row, search curves
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.table_rows and min(page.table_rows) > 0


def test_summary_holds_the_input_numbers(small_report):
    _, summary = small_report
    assert summary["coverage"]["devices"] == 3
    assert [s["architectures"] for s in summary["coverage"]["spaces"]] == [0, 100]
    mono = summary["monotonicity"][0]
    assert (mono["devices"], mono["pairs"], mono["pairs_with_value"]) == (3, 3, 2)
    assert mono["share_at_least_threshold"] == 0.5
    assert mono["median"] == pytest.approx(0.725)
    assert [(p["device_a"], p["device_b"], p["value"]) for p in mono["most_monotone"]] == [
        ("fpga", "pixel3", 0.95), ("fpga", EVIL, 0.5)]
    assert mono["least_monotone"][0]["value"] == 0.5
    (protocol,) = summary["adaptation"]
    assert [(r["n_samples"], r["after_srcc_mean_over_targets"]) for r in protocol["per_n"]] == [
        (10, pytest.approx(0.7)), (20, pytest.approx(0.8))]
    assert protocol["per_n"][1]["before_srcc_mean_over_targets"] == pytest.approx(0.45)
    assert protocol["published_samples"] == 20
    assert protocol["published"] == {"fpga": 0.95, EVIL: 0.85}
    assert protocol["published_mean"] == 0.932  # HELP's published mean for help-nb201
    assert protocol["ours_at_published_samples"] == pytest.approx(0.8)
    (run,) = summary["search"]
    assert (run["method"], run["proxy"], run["picks"], run["judged"]) == ("proxy", "pixel3", 3, 3)
    assert run["violation_share"] == pytest.approx(1 / 3)
    assert run["mean_regret_fitting"] == 0.0
    assert summary["build"]["tables"] == INFO["tables"]
    json.dumps(summary, allow_nan=False)


def test_huge_space_sizes_are_shown_as_powers_of_ten(small_report):
    page = small_report[0]
    assert "9.8 × 10²⁰" in page and ">15625<" in page


def test_published_numbers_sit_next_to_ours(small_report):
    page = small_report[0]
    assert "published (n=20)" in page
    assert "0.932" in page and "0.950" in page and "0.850" in page


def test_missing_tables_name_the_command_that_makes_them():
    page, summary = build_report(ReportTables(), INFO)
    parsed = Page(page)
    assert parsed.sections == SECTIONS
    assert parsed.images == []
    for command in HOW_TO.values():
        assert command in page
    assert {k: v for k, v in summary.items() if k != "build"} == {
        "headline": None, "coverage": None, "monotonicity": None, "environments": None,
        "adaptation": None, "search": None, "verify_loop": None}
    assert "Not built by <code>oneproxy run</code>" in page


def test_run_info_is_shown_with_its_stage_fingerprints():
    run = {"run_id": "run-7", "started_at": "2026-01-01T00:00:00+00:00",
           "fingerprints": {"ingest": "f00d", "srcc": "beef"}}
    page, summary = build_report(ReportTables(), {**INFO, "run": run})
    assert summary["build"]["run"] == run
    for text in ("run-7", "f00d", "beef", "abc123"):
        assert text in page


# --- the CLI and the browser on the real data ---------------------------------------------------

MINI_PROTOCOL = {
    "space": "nb201", "proxies": ["gold_6226"], "targets": ["fpga", "raspi4"],
    "samples": [10, 20], "seeds": 2, "proxy_mode": "fixed", "strategy": "linear",
    "published": {"fpga": 0.985}, "published_samples": 20,
}
SEARCH = ["--dataset", "cifar10", "--devices", "pixel3,fpga,raspi4,eyeriss",
          "--budget", "q10:q90:5", "--format", "csv"]


def invoke(*args: str):
    result = CliRunner().invoke(CLI, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def results_wh(ingested, tmp_path_factory) -> Warehouse:
    """A copy of the ingested warehouse with srcc, a small protocol and two searches stored."""
    folder = tmp_path_factory.mktemp("report")
    wh = Warehouse(shutil.copytree(ingested.root, folder / "wh"))
    protocol = folder / "mini.json"
    protocol.write_text(json.dumps(MINI_PROTOCOL))
    where = ["--warehouse", str(wh.root)]
    invoke("srcc", "--space", "nb201", "--format", "csv", "--save", *where)
    invoke("evaluate", "--protocol", str(protocol), "--format", "csv", "--save", *where)
    invoke("search", *SEARCH, "--save", *where)
    invoke("search", *SEARCH, "--proxy", "gold_6226", "--save", *where)
    return wh


@pytest.fixture(scope="module")
def report_dir(results_wh, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = invoke("report", "--warehouse", str(results_wh.root), "--out", str(out))
    assert result.stdout.strip() == str(out / "report.html")
    return out


def test_cli_writes_the_page_and_a_summary_of_the_warehouse(report_dir, results_wh):
    summary = json.loads((report_dir / "summary.json").read_text())
    latency = pl.from_arrow(results_wh.read("latency"))
    nb201 = latency.filter(pl.col("space_id") == "nb201")
    assert summary["coverage"]["devices"] == latency["device_id"].n_unique()
    spaces = {s["space_id"]: s for s in summary["coverage"]["spaces"]}
    assert spaces["nb201"]["architectures"] == 15625
    assert spaces["nb201"]["devices"] == nb201["device_id"].n_unique()
    assert spaces["nb201"]["measurements"] == nb201["latency_ms"].count()
    assert {"help", "nb201_acc", "oneproxy"} <= {
        s["source_id"] for s in summary["coverage"]["sources"]}
    (mono,) = summary["monotonicity"]
    devices = nb201["device_id"].n_unique()
    assert (mono["space_id"], mono["devices"]) == ("nb201", devices)
    assert mono["pairs"] == devices * (devices - 1) // 2
    stored = results_wh.read("adaptation").to_pylist()
    (protocol,) = summary["adaptation"]
    assert protocol["protocol"] == "mini"
    for row in protocol["per_n"]:
        after = [r["after_srcc_mean"] for r in stored
                 if r["n_samples"] == row["n_samples"] and r["method"] == "adaproxy"]
        assert row["after_srcc_mean_over_targets"] == pytest.approx(np.mean(after))
    assert protocol["published_samples"] == 20 and protocol["published_mean"] is None
    assert set(protocol["baselines"]) == {"flops", "params", "raw_proxy", "ridge"}
    (run,) = summary["search"]
    assert (run["proxy"], run["targets"], run["picks"]) == ("gold_6226", 4, 20)
    assert summary["build"]["tables"] == results_wh.manifest()
    assert summary["build"]["run"] is None


def test_ingest_only_warehouse_says_what_to_run_in_the_default_folder(ingested, tmp_path):
    wh = Warehouse(shutil.copytree(ingested.root, tmp_path / "wh"))
    result = invoke("report", "--warehouse", str(wh.root))
    html_path = wh.root / "report" / "report.html"
    assert result.stdout.strip() == str(html_path)
    summary = json.loads((wh.root / "report" / "summary.json").read_text())
    assert summary["coverage"]["devices"] > 0
    assert summary["monotonicity"] is None and summary["search"] is None
    page = html_path.read_text()
    assert HOW_TO["monotonicity"] in page and HOW_TO["adaptation"] in page

    run = {"run_id": "run-1", "started_at": "2026-01-01T00:00:00+00:00",
           "fingerprints": {"ingest": "f00d"}}
    paths = write_report(wh, tmp_path / "out", run)
    assert paths == (tmp_path / "out" / "report.html", tmp_path / "out" / "summary.json")
    assert json.loads(paths[1].read_text())["build"]["run"] == run
    assert "run-1" in paths[0].read_text()


def test_a_missing_warehouse_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(CLI, ["report", "--warehouse", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "no warehouse at" in result.output and "oneproxy ingest --all" in result.output


# Added to a copy of the page: counts images, broken images and tables without body rows into
# <body data-…> once loaded, so that a headless browser's DOM dump tells whether it rendered.
CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var tables = Array.prototype.slice.call(document.querySelectorAll("table"));
  var data = document.body.dataset;
  data.images = images.length;
  data.brokenImages = images.filter(function (i) {
    return !i.complete || i.naturalWidth === 0; }).length;
  data.tables = tables.length;
  data.emptyTables = tables.filter(function (t) {
    return !t.querySelector("tbody tr"); }).length;
  data.checked = "true";
});
"""


def chromium(page: Path, profile: Path, *args: str) -> str:
    """Run headless Chromium on the page (offline, fresh profile) and return its stdout."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("chromium is not installed: the report test renders the page in headless "
                    "Chromium (apt-get install chromium; CI installs it)")
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
               *args, page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_chromium_renders_every_section_with_its_images(report_dir, tmp_path):
    page = tmp_path / "checked.html"
    page.write_text((report_dir / "report.html").read_text().replace(
        "</body>", f"<script>{CHECK_SCRIPT}</script></body>"))
    dom = chromium(page, tmp_path / "profile", "--dump-dom")
    body = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', re.search(r"<body[^>]*>", dom)[0]))
    rendered = Page(dom)
    assert body == {"images": "3", "broken-images": "0", "tables": str(len(rendered.table_rows)),
                    "empty-tables": "0", "checked": "true"}
    assert rendered.sections == SECTIONS

    shot = tmp_path / "shot.png"
    chromium(page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000")
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 0.05  # not a blank page


def test_pinned_sources_link_their_commit_and_users_files_do_not():
    sources = pa.table({
        "source_id": ["help", "table:my_phone:nb201:cifar10"], "repo": ["HayeonLee/HELP", "user"],
        "commit": ["45f70eb92d0d735970a33b608d1544ad3c52f285", None],
        "license": ["MIT", "user data"], "files": [72, 1], "bytes": [7_700_000, 120],
        "latency_rows": [616_875, 20], "accuracy_rows": [0, 0],
        "ingested_at": ["2026-11-29T03:09:41+00:00"] * 2,
    })
    tables = small_tables()
    page, summary = build_report(ReportTables(spaces=tables.spaces, coverage=tables.coverage,
                                              sources=sources), INFO)
    assert ('<a href="https://github.com/HayeonLee/HELP/tree/'
            '45f70eb92d0d735970a33b608d1544ad3c52f285">HayeonLee/HELP</a>') in page
    assert page.count("https://github.com/") == 1
    assert [s["commit"] for s in summary["coverage"]["sources"]] == [
        "45f70eb92d0d735970a33b608d1544ad3c52f285", None]


def test_environments_section_compares_framework_and_phone_pairs():
    devices = ("mmb_tflite_pixel4_1large_float", "mmb_torch_pixel4_1large_float",
               "mmb_tflite_s10_1large_float")
    srcc = pa.table({
        "space_id": ["mobile_nas"] * 3, "dataset": ["e2e"] * 3, "method": ["spearman"] * 3,
        "device_a": [devices[0], devices[0], devices[1]],
        "device_b": [devices[1], devices[2], devices[2]],
        "n_common": [1000] * 3, "value": [0.55, 0.97, 0.5], "reason": [None] * 3})
    page, summary = build_report(ReportTables(srcc=srcc), INFO)
    kinds = {k["differs"]: k["median"] for k in summary["environments"][0]["kinds"]}
    assert kinds == {"framework": 0.55, "phone": 0.97}
    assert "less monotone than switching the phone on one framework (median 0.550 vs 0.970)" in page

def test_adaptation_shows_the_baselines_and_flags_where_we_lose():
    n = [10, 20]
    rows = {
        "protocol": ["help-nb201-paper"] * 8, "space_id": ["nb201"] * 8,
        "strategy": ["auto"] * 8, "target": ["fpga"] * 4 + ["pixel2"] * 4,
        "method": ["adaproxy", "adaproxy", "flops", "flops"] * 2, "n_samples": n * 4,
        "seeds": [5] * 8, "proxy": ["pixel3", "pixel3", None, None] * 2,
        "proxy_share": [1.0, 1.0, None, None] * 2,
        "before_srcc_mean": [0.5, 0.5, None, None] * 2,
        "after_srcc_mean": [0.90, 0.95, 0.89, 0.89, 0.70, 0.78, 0.77, 0.77],
        "after_srcc_std": [0.01] * 8, "published_srcc": [None, 0.985, None, None,
                                                         None, 0.802, None, None],
    }
    section = adaptation_section(pa.table(rows))
    (part,) = section.summary
    assert part["baselines_at_n"] == 20
    assert part["baselines"] == {"flops": {"fpga": 0.89, "pixel2": 0.77}}
    assert part["losses"] == {"pixel2": "flops (n=10)"}  # 0.77 > 0.70 + 0.01; at n=20 a tie
    assert "we lose to" in section.body and "flops (n=10)" in section.body
