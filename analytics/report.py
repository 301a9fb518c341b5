"""The static report: warehouse result tables in, one self-contained HTML page and a summary out.

`build_report` is pure: it takes the rows of the `sql/queries/report_*.sql` queries (each None
when its warehouse table does not exist yet) and a small info dict, and returns the HTML text
(figures embedded as PNG data URIs, no external resource) and a JSON-ready summary. A section
whose table is missing says which command produces it.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from oneproxy.analytics import report_figures as figures
from oneproxy.analytics.baselines import METHODS, OURS
from oneproxy.analytics.environments import environment_summary, findings
from oneproxy.analytics.heatmap import THRESHOLD
from oneproxy.analytics.intervals import CALIBRATED
from oneproxy.analytics.protocols import BUILTIN
from oneproxy.analytics.srcc import to_square

TOP_PAIRS = 5
LOSS_MARGIN = 0.01  # a baseline this much above ours at some n is a loss the report flags
CURVE_DEVICES = 4
WRAP_AT = 40  # text columns longer than this wrap
# Shown width of an SRCC heatmap: about 24 px per device (the page caps it at its own width)
HEATMAP_PX_BASE, HEATMAP_PX_PER_DEVICE = 360, 24
PAGE_PX = 1108  # the width of the page's content: main's max-width less its padding (_CSS)
HOW_TO = {
    "coverage": "oneproxy ingest --all",
    "monotonicity": "oneproxy srcc --space nb201",
    "environments": "oneproxy srcc --space mobile_nas",
    "adaptation": "oneproxy evaluate --protocol help-nb201",
    "search": "oneproxy search --space nb201 --dataset cifar10 --budget q5:q95:20 "
              "--proxy auto --samples 20",
    "verify_loop": "oneproxy evaluate --protocol help-nb201 --search --samples 20 --save",
}


@dataclass(frozen=True)
class ReportTables:
    """Rows the report reads; None where the warehouse has no such table yet.

    - spaces: `report_spaces.sql`; coverage: `report_coverage.sql` (one row per device series);
      sources: `report_sources.sql`
    - srcc: `report_srcc.sql` (device pairs); adaptation: `report_adaptation.sql`
    - search: `report_search.sql` (picks); search_summary: `search.oneproxy.summarize` of them
      per space, with a space_id column
    - verify_loop: `search.loop_eval.summarize_loop` of `report_verify_loop.sql` (the simulated
      loop per protocol × draw × n × target, and over all targets)
    """

    spaces: pa.Table | None = None
    coverage: pa.Table | None = None
    sources: pa.Table | None = None
    srcc: pa.Table | None = None
    adaptation: pa.Table | None = None
    search: pa.Table | None = None
    search_summary: pa.Table | None = None
    verify_loop: pa.Table | None = None


@dataclass(frozen=True)
class Section:
    """One part of the page: its anchor, heading, HTML body and its part of the summary."""

    id: str
    title: str
    body: str
    summary: Any


def build_report(tables: ReportTables, info: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The report page and its summary.

    `info` holds generated_at, warehouse, version, run (the run's id, started_at and stage
    fingerprints, or None) and tables (table name → fingerprint of the warehouse manifest).
    """
    platform = _platforms(tables.coverage)
    headline, found = headline_part(tables.srcc, tables.search, tables.search_summary)
    sections = [
        coverage_section(tables.spaces, tables.coverage, tables.sources),
        monotonicity_section(tables.srcc, platform),
        environments_section(tables.srcc),
        adaptation_section(tables.adaptation),
        search_section(tables.search, tables.search_summary),
        verify_loop_section(tables.verify_loop),
        build_section(info),
    ]
    summary = {"headline": found, **{s.id: s.summary for s in sections}}
    return _page(sections, info, headline), summary


def headline_part(srcc: pa.Table | None, search: pa.Table | None,
                  search_summary: pa.Table | None) -> tuple[str, list[dict[str, Any]] | None]:
    """The page's first screen: per space, the one proxy and why, what adapting it costs in
    accuracy and budget, and the budgets searched — in words, with the space's budget curves."""
    if _empty(search) or _empty(search_summary):
        return ("<p class=\"missing\">No one-proxy search results yet: <code>oneproxy run</code> "
                "finds the proxy and states here what it found.</p>", None)
    runs = pl.from_arrow(search_summary)
    picks = pl.from_arrow(search)
    pairs = pl.from_arrow(srcc) if not _empty(srcc) else None
    paragraphs, found = [], []
    for row in runs.filter(pl.col("method") == "adaproxy").sort("space_id", "dataset").to_dicts():
        space, proxy = row["space_id"], row["proxy"]
        mean = None
        if pairs is not None:
            mine = pairs.filter((pl.col("space_id") == space)
                                & ((pl.col("device_a") == proxy) | (pl.col("device_b") == proxy)))
            mean = mine["value"].mean() if mine.height else None
        budgets = picks.filter((pl.col("space_id") == space) & (pl.col("dataset") == row["dataset"])
                               & (pl.col("method") == "adaproxy"))
        per_device = budgets.group_by("device_id").len()["len"].max() or 0
        why = (f"its latency ranking agrees best with the other devices' (mean SRCC "
               f"{mean:.3f})" if mean is not None else "it is the best-ranked full-coverage device")
        over = 100 * (row["violation_share"] or 0)
        bound = runs.filter((pl.col("space_id") == space) & (pl.col("dataset") == row["dataset"])
                            & (pl.col("proxy") == proxy) & (pl.col("n_samples") == row["n_samples"])
                            & pl.col("method").str.starts_with(CALIBRATED))
        paragraphs.append(
            f"<p><b>{html.escape(space)} · {html.escape(row['dataset'])}</b>: one proxy, "
            f"<b>{html.escape(str(proxy))}</b>, serves {row['targets']} devices: {why}. Adapted "
            f"to each device with {row['n_samples']} of its measurements (AdaProxy), its picks "
            f"lose {_fmt(row['mean_regret_fitting'], '{:.2f}')} percentage points of accuracy "
            f"on average against the device's own optimum; <b>{over:.0f}% of the picks are over "
            f"budget</b> (by {_fmt(row['mean_violation_pct'], '{:.1f}')}% on average): the "
            "adapted predictor ranks architectures well but can place one just under a budget "
            f"that it exceeds on the device. {_calibrated_sentence(bound)}Budgets: "
            f"{per_device} per device, from each device's 5th to 95th latency percentile "
            f"({budgets['budget_ms'].min():.3g}–{budgets['budget_ms'].max():.3g} ms over all "
            "devices).</p>")
        found.append({"space_id": space, "dataset": row["dataset"], "proxy": proxy,
                      "mean_srcc": mean, "samples": row["n_samples"],
                      "mean_regret_pp": row["mean_regret_fitting"],
                      "over_budget_share": row["violation_share"],
                      "upper_bound": (bound.row(0, named=True)["method"].removeprefix(CALIBRATED)
                                      if bound.height else None),
                      "upper_bound_over_budget_share": (bound.row(0, named=True)
                                                        ["violation_share"] if bound.height
                                                        else None),
                      "budgets_per_device": per_device})
    if not paragraphs:
        return ("<p class=\"missing\">No adapted one-proxy search yet: <code>oneproxy run</code> "
                "runs it.</p>", None)
    first = found[0]
    group = picks.filter((pl.col("space_id") == first["space_id"])
                         & (pl.col("dataset") == first["dataset"]))
    return "\n".join(["<h2>What this batch found</h2>", *paragraphs,
                      _search_part(group, first["space_id"], first["dataset"])]), found


def _calibrated_sentence(bound: pl.DataFrame) -> str:
    """What picking by the intervals' upper ends did instead (empty without such a run)."""
    if bound.is_empty():
        return ""
    row = bound.row(0, named=True)
    level = row["method"].removeprefix(CALIBRATED)
    return (f"Picked by the upper end of the {level} interval instead (<code>search "
            f"--confidence {level}</code>), <b>{100 * (row['violation_share'] or 0):.0f}% are "
            f"over budget</b> and the picks lose {_fmt(row['mean_regret_fitting'], '{:.2f}')} "
            "points; measure a pick before you ship it (<code>oneproxy propose</code>). ")


# --- sections ---------------------------------------------------------------------------------


def coverage_section(spaces: pa.Table | None, coverage: pa.Table | None,
                     sources: pa.Table | None) -> Section:
    """Spaces × devices × architectures, every device series, and the pinned sources."""
    title = "Coverage"
    if _empty(spaces) or _empty(coverage):
        return Section("coverage", title, _missing("latency measurements", "coverage"), None)
    space_rows = pl.from_arrow(spaces)
    series = pl.from_arrow(coverage)
    body = [
        "<p>Search spaces, the devices that measured them and the architectures with at least "
        "one measured latency.</p>",
        _table(space_rows.select(
            pl.col("space_id").alias("space"),
            pl.struct("size", "log10_size").map_elements(_space_size, return_dtype=pl.String)
            .alias("space size"),
            "datasets", "devices", "architectures", pl.col("measurements").alias("latencies"),
            "failed", "description")),
        "<h3>Device series</h3>",
        f"<p>{series['device_id'].n_unique()} devices, {series.height} series. Measured "
        "architectures per space (latency dataset); failed measurements are nulls, counted "
        "apart.</p>",
        _table(_device_matrix(series)),
    ]
    source_summary = None
    if not _empty(sources):
        source_rows = pl.from_arrow(sources)
        body += ["<h3>Sources</h3>", _sources_table(source_rows)]
        source_summary = source_rows.select(
            "source_id", "repo", "commit", "license", "files", "latency_rows", "accuracy_rows"
        ).to_dicts()
    summary = {
        "spaces": _records(space_rows.drop("description")),
        "devices": series["device_id"].n_unique(),
        "series": series.height,
        "sources": source_summary,
    }
    return Section("coverage", title, "\n".join(body), summary)


def _device_matrix(series: pl.DataFrame) -> pl.DataFrame:
    """One row per device, one column per space (dataset): measured count and failed ones."""
    cell = pl.col("measured").map_elements(lambda n: f"{n:,}", return_dtype=pl.String) + pl.when(
        pl.col("failed") > 0).then(pl.format(" ({} failed)", pl.col("failed"))).otherwise(
        pl.lit(""))
    labelled = series.with_columns(
        column=pl.format("{} ({})", "space_id", "dataset"), cell=cell)
    columns = labelled["column"].unique(maintain_order=True).to_list()
    wide = labelled.pivot(on="column", index=["platform_class", "device_id", "display_name"],
                          values="cell", aggregate_function="first")
    return wide.sort("platform_class", "device_id").select(
        pl.col("device_id").alias("device"), pl.col("display_name").alias("name"),
        pl.col("platform_class").alias("platform"), *columns)


def _space_size(space: dict[str, Any]) -> str:
    """The size as written up to 9 digits, else as a power of ten (9.8 × 10²⁰)."""
    size, log10 = space["size"], space["log10_size"]
    if log10 is None or len(size) <= 9:
        return size
    exponent = math.floor(log10)
    power = str(exponent).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"{10 ** (log10 - exponent):.1f} × 10{power}"


def _repository(repo: str, commit: str | None) -> str:
    """A link to the pinned commit; users' own files (no commit) are named as they are."""
    if commit is None:
        return html.escape(repo)
    return (f'<a href="https://github.com/{html.escape(repo)}/tree/{html.escape(commit)}">'
            f'{html.escape(repo)}</a>')


def _sources_table(rows: pl.DataFrame) -> str:
    links = [_repository(r["repo"], r["commit"]) for r in rows.iter_rows(named=True)]
    shown = rows.select(
        pl.col("source_id").alias("source"), pl.Series("repository", links),
        pl.col("commit").str.slice(0, 12), "license", "files",
        (pl.col("bytes") / 1e6).alias("MB"), pl.col("latency_rows").alias("latency rows"),
        pl.col("accuracy_rows").alias("accuracy rows"),
        pl.col("ingested_at").str.slice(0, 16).str.replace("T", " ").alias("ingested at"))
    return _table(shown, raw={"repository"}, formats={"MB": "{:.1f}"})


def monotonicity_section(srcc: pa.Table | None, platform: dict[str, str]) -> Section:
    """Per space, dataset and method: the SRCC heatmap and the most / least monotone pairs."""
    title = "Latency monotonicity (SRCC)"
    if _empty(srcc):
        return Section("monotonicity", title, _missing("SRCC results", "monotonicity"), None)
    pairs = pl.from_arrow(srcc)
    body = [
        f"<p>Spearman (or Kendall) rank correlation of latency between every pair of devices, "
        f"on the architectures both measured. Pairs at or above {THRESHOLD} are outlined: a "
        "search on one device carries over to the other as it is.</p>"
    ]
    summary = []
    for (space, dataset, method), group in pairs.group_by(
            "space_id", "dataset", "method", maintain_order=True):
        html_part, part = _monotonicity_group(group, space, dataset, method, platform)
        body.append(html_part)
        summary.append(part)
    return Section("monotonicity", title, "\n".join(body), summary)


def _monotonicity_group(pairs: pl.DataFrame, space: str, dataset: str, method: str,
                        platform: dict[str, str]) -> tuple[str, dict[str, Any]]:
    devices = sorted(set(pairs["device_a"].to_list()) | set(pairs["device_b"].to_list()))
    valued = pairs.filter(pl.col("value").is_not_null())
    ranked = valued.sort(["value", "device_a", "device_b"], descending=[True, False, False])
    most = ranked.head(TOP_PAIRS)
    least = ranked.reverse().head(TOP_PAIRS)
    above = int((valued["value"] >= THRESHOLD).sum())
    median = valued["value"].median()
    heading = f"{space} · {dataset} · {method}"
    square, order = to_square(pairs, devices)
    shown = min(HEATMAP_PX_BASE + HEATMAP_PX_PER_DEVICE * len(order), PAGE_PX)
    image = figures.srcc_heatmap(square, order, platform,
                                 f"{space} {dataset}: latency {method} rank correlation", shown)
    stats = (f"{len(devices)} devices, {pairs.height:,} pairs, {valued.height:,} with a value; "
             f"{above:,} ({_share(above, valued.height)}) at or above {THRESHOLD}; median "
             f"{_fmt(median, '{:.3f}')}.")
    body = "\n".join([
        f"<h3>{html.escape(heading)}</h3>",
        f"<p>{html.escape(stats)}</p>",
        _figure(image, f"SRCC heatmap of {space} {dataset}",
                "Devices grouped by platform class, clustered within each class; grey = too few "
                "shared architectures.",
                width=shown),
        '<div class="side">'
        + _pairs_table(most, "Most monotone pairs") + _pairs_table(least, "Least monotone pairs")
        + "</div>" if valued.height else "<p>No pair has a value.</p>",
    ])
    summary = {
        "space_id": space, "dataset": dataset, "method": method, "devices": len(devices),
        "pairs": pairs.height, "pairs_with_value": valued.height,
        "share_at_least_threshold": above / valued.height if valued.height else None,
        "threshold": THRESHOLD, "median": median,
        "most_monotone": _records(most.select("device_a", "device_b", "value", "n_common")),
        "least_monotone": _records(least.select("device_a", "device_b", "value", "n_common")),
    }
    return body, summary


def environments_section(srcc: pa.Table | None) -> Section:
    """mobile-ml-benchmark: SRCC of environment pairs that differ in one attribute, per space."""
    title = "Mobile environments: what breaks monotonicity"
    pairs = None if _empty(srcc) else pl.from_arrow(srcc).filter(
        pl.col("space_id").str.starts_with("mobile_") & (pl.col("method") == "spearman"))
    if pairs is None or pairs.is_empty():
        return Section("environments", title,
                       _missing("SRCC of mobile environments", "environments"), None)
    body, summary = [], []
    for (space,), group in pairs.group_by("space_id", maintain_order=True):
        table = environment_summary(group)
        body += [f"<h3>{html.escape(space)}</h3>",
                 "<ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in findings(table))
                 + "</ul>",
                 _table(table, formats={c: "{:.3f}" for c in ("mean", "median", "min")}
                        | {"share_at_least_threshold": "{:.0%}"})]
        summary.append({"space_id": space, "kinds": _records(table)})
    return Section("environments", title, "\n".join(body), summary)


def _pairs_table(pairs: pl.DataFrame, caption: str) -> str:
    return _table(pairs.select(
        pl.col("device_a").alias("device A"), pl.col("device_b").alias("device B"),
        pl.col("value").alias("SRCC"), pl.col("n_common").alias("shared archs")),
        caption=caption, formats={"SRCC": "{:.3f}"})


def adaptation_section(adaptation: pa.Table | None) -> Section:
    """Per protocol: before / after SRCC per target and n, next to published numbers."""
    title = "Adaptation (AdaProxy)"
    if _empty(adaptation):
        return Section("adaptation", title, _missing("adaptation results", "adaptation"), None)
    rows = pl.from_arrow(adaptation)
    if "method" not in rows.columns:  # stored before the baselines existed
        rows = rows.with_columns(method=pl.lit(OURS))
    body = [
        "<p>A latency predictor built on a proxy device, adapted with <i>n</i> measurements on "
        "each target. <b>before</b>: SRCC of the proxy's raw latencies on the target; "
        "<b>after n</b>: SRCC of the adapted predictions (mean ± std over seeds), both on the "
        "protocol's evaluation set (the target's architectures outside the samples unless the "
        "protocol follows a paper's split). Beside ours, the baselines at the largest n: "
        "<b>flops</b> / <b>params</b> (ranking by cost alone), <b>raw_proxy</b> (the proxy whose "
        "raw latencies rank the samples best), <b>ridge</b> (a ridge on the operator encoding "
        "fitted on the samples alone). <b>we lose to</b> names every baseline and n where a "
        f"baseline is more than {LOSS_MARGIN} above ours.</p>"
    ]
    summary = []
    for (protocol, strategy), group in rows.group_by("protocol", "strategy", maintain_order=True):
        html_part, part = _protocol_part(group, protocol, strategy)
        body.append(html_part)
        summary.append(part)
    return Section("adaptation", title, "\n".join(body), summary)


def _protocol_part(every: pl.DataFrame, protocol: str,
                   strategy: str) -> tuple[str, dict[str, Any]]:
    rows = every.filter(pl.col("method") == OURS)
    ns = sorted(rows["n_samples"].unique().to_list())
    known = BUILTIN.get(protocol)
    published = rows.filter(pl.col("published_srcc").is_not_null())
    published_n = published["n_samples"].min() if published.height else None
    published_mean = known.published_mean if known else None
    source = known.published_source if known and known.published_source else "the protocol"
    per_target = rows.group_by("target", maintain_order=True).agg(
        before=pl.col("before_srcc_mean").mean(),
        proxy=pl.col("proxy").sort_by("n_samples").last(),
        share=pl.col("proxy_share").sort_by("n_samples").last(),
        published=pl.col("published_srcc").drop_nulls().first(),
        **{f"after{n}": pl.col("after_srcc_mean").filter(pl.col("n_samples") == n).first()
           for n in ns},
        **{f"std{n}": pl.col("after_srcc_std").filter(pl.col("n_samples") == n).first()
           for n in ns},
    )
    per_n = rows.group_by("n_samples").agg(
        before_srcc_mean_over_targets=pl.col("before_srcc_mean").mean(),
        after_srcc_mean_over_targets=pl.col("after_srcc_mean").mean(),
    ).sort("n_samples")
    after = dict(zip(per_n["n_samples"], per_n["after_srcc_mean_over_targets"], strict=True))
    compared = _baselines(every, per_target["target"].to_list(), ns[-1])
    per_target = per_target.join(compared, on="target", how="left", maintain_order="left")
    space = rows["space_id"][0]
    notes = [f"Space {space}, {rows['seeds'].max()} seeds per target and n. Proxy: the one "
             f"chosen most often at n={ns[-1]}, with its share of seeds."]
    if published_n is not None:
        notes.append(f"Published numbers: {source}. Ours at n={published_n}: mean "
                     f"{_fmt(after.get(published_n), '{:.3f}')} against "
                     f"{_fmt(published_mean, '{:.3f}')} published.")
    body = "\n".join([
        f"<h3>{html.escape(f'{protocol} · strategy {strategy}')}</h3>",
        *[f"<p>{html.escape(note)}</p>" for note in notes],
        _table(_protocol_table(per_target, ns, after, published_n, published_mean)
               .hstack(_baseline_columns(per_target, compared)), mean_last=True),
        _protocol_figure(per_target, ns, published_n, f"{protocol} ({space}): SRCC per target"),
    ])
    summary = {
        "protocol": protocol, "strategy": strategy, "space_id": space,
        "targets": per_target["target"].to_list(), "seeds": rows["seeds"].max(),
        "per_n": _records(per_n),
        "published_samples": published_n,
        "published": dict(zip(published["target"], published["published_srcc"], strict=True)),
        "published_mean": published_mean,
        "ours_at_published_samples": after.get(published_n),
        "published_source": source if published_n is not None else None,
        "baselines_at_n": ns[-1],
        "baselines": {m: dict(zip(per_target["target"], per_target[m], strict=True))
                      for m in compared.columns if m in METHODS},
        "losses": {t: lost for t, lost in zip(per_target["target"], per_target["we lose to"],
                                               strict=True) if lost},
    }
    return body, summary


def _baselines(every: pl.DataFrame, targets: list[str], top_n: int) -> pl.DataFrame:
    """Per target: each baseline's SRCC at `top_n`, and the baselines (at any n) more than
    `LOSS_MARGIN` above ours."""
    wide = every.pivot(on="method", index=["target", "n_samples"], values="after_srcc_mean")
    shown = [m for m in METHODS if m in wide.columns and m != OURS]
    lost = wide.with_columns(losses=pl.concat_list([
        pl.when(pl.col(m) > pl.col(OURS) + LOSS_MARGIN)
        .then(pl.format("{} (n={})", pl.lit(m), "n_samples")) for m in shown
    ] or [pl.lit(None, pl.String)]).list.drop_nulls())
    flagged = lost.group_by("target").agg(
        pl.col("losses").explode().drop_nulls().str.join(", ").alias("we lose to"))
    at_top = wide.filter(pl.col("n_samples") == top_n).select("target", *shown)
    frame = pl.DataFrame({"target": targets}).join(at_top, on="target", how="left",
                                                   maintain_order="left")
    return frame.join(flagged, on="target", how="left", maintain_order="left").with_columns(
        pl.col("we lose to").fill_null(""))


def _baseline_columns(per_target: pl.DataFrame, compared: pl.DataFrame) -> pl.DataFrame:
    """The baseline columns of the table (one more row: their mean over targets)."""
    top = [c for c in compared.columns if c in METHODS]
    shown = per_target.select(
        *[pl.col(m).map_elements(lambda v: _fmt(v, "{:.3f}"), return_dtype=pl.String)
          for m in top], pl.col("we lose to"))
    mean = {**{m: _fmt(per_target[m].mean(), "{:.3f}") for m in top}, "we lose to": ""}
    return pl.concat([shown, pl.DataFrame([mean], schema=shown.schema)])


def _protocol_table(per_target: pl.DataFrame, ns: list[int], after: dict[int, float],
                    published_n: int | None, published_mean: float | None) -> pl.DataFrame:
    """Targets and their mean: proxy, before, after per n (± std), published where known."""
    proxy_label, published_label = f"proxy at n={ns[-1]}", f"published (n={published_n})"
    srcc = {"return_dtype": pl.String, "function": lambda v: _fmt(v, "{:.3f}")}
    columns = [
        "target",
        pl.format("{} ({}%)", "proxy", (pl.col("share") * 100).round(0).cast(pl.Int64))
        .alias(proxy_label),
        pl.col("before").map_elements(**srcc),
        *[pl.struct(f"after{n}", f"std{n}").map_elements(
            lambda s, n=n: _pm(s[f"after{n}"], s[f"std{n}"]), return_dtype=pl.String)
          .alias(f"after n={n}") for n in ns],
    ]
    mean = {"target": "mean over targets", proxy_label: "",
            "before": _fmt(per_target["before"].mean(), "{:.3f}"),
            **{f"after n={n}": _fmt(after[n], "{:.3f}") for n in ns}}
    if published_n is not None:
        columns.append(pl.col("published").map_elements(**srcc).alias(published_label))
        mean[published_label] = _fmt(published_mean, "{:.3f}")
    shown = per_target.select(columns)
    return pl.concat([shown, pl.DataFrame([mean], schema=shown.schema)])


def _protocol_figure(per_target: pl.DataFrame, ns: list[int], published_n: int | None,
                     title: str) -> str:
    """The paper-style heatmap rows: before, after each n, published (targets as columns)."""
    settings = {"before (mean over n)": "before", **{f"after n={n}": f"after{n}" for n in ns}}
    if published_n is not None:
        settings[f"published n={published_n}"] = "published"
    grid = per_target.select(settings.values()).to_numpy().T.astype(np.float64)
    image = figures.srcc_rows(grid, list(settings), per_target["target"].to_list(), title)
    return _figure(image, title, "Paper-style heatmap row: rows are before, after each n and "
                   f"the published SRCC; cells at or above {THRESHOLD} are outlined.")


def search_section(search: pa.Table | None, search_summary: pa.Table | None) -> Section:
    """Per space and dataset: accuracy-versus-budget curves and the regret / violation table."""
    title = "Search: one proxy versus each device's optimum"
    if _empty(search):
        return Section("search", title, _missing("search results", "search"), None)
    picks = pl.from_arrow(search)
    runs = pl.from_arrow(search_summary) if not _empty(search_summary) else None
    body = [
        "<p>The most accurate architecture under each latency budget, searched with each "
        "device's own latencies (the optimum) and with a proxy's latencies or AdaProxy "
        "predictions. <b>regret</b>: optimum accuracy minus the pick's, in percentage points; "
        "<b>over budget</b>: the pick's true latency on the device exceeds the budget.</p>"
    ]
    for (space, dataset), group in picks.group_by("space_id", "dataset", maintain_order=True):
        body.append(_search_part(group, space, dataset))
    summary = None
    if runs is not None and runs.height:
        body += ["<h3>Regret and violations per search</h3>", _runs_table(runs)]
        summary = _records(runs)
    else:
        body.append(_missing("one-proxy search results", "search"))
    return Section("search", title, "\n".join(body), summary)


def _run_label(method: pl.Expr, proxy: pl.Expr, n: pl.Expr) -> pl.Expr:
    return (pl.when(method == "exhaustive").then(pl.lit(figures.OPTIMUM))
            .when(method == "proxy").then(pl.format("via {}", proxy))
            .when(method == "adaproxy").then(pl.format("AdaProxy {} n={}", proxy, n))
            .otherwise(pl.format("AdaProxy {} n={}, upper bound {}", proxy, n,
                                 method.str.strip_prefix(CALIBRATED))))


def _search_part(picks: pl.DataFrame, space: str, dataset: str) -> str:
    curves = picks.with_columns(
        label=_run_label(pl.col("method"), pl.col("proxy"), pl.col("n_samples")))
    devices = _curve_devices(curves)
    image = figures.budget_curves(curves, devices,
                                  f"{space} {dataset}: accuracy of the pick under each budget")
    caption = (f"{len(devices)} devices spread over the range of mean regret (highest first). "
               "Budgets are per device; the optimum searches the device's own latencies. "
               "Crosses mark a search's picks whose latency on the device exceeds the budget; "
               "ticks along the bottom mark budgets under which the search found no "
               "architecture (e.g. none is that fast on the proxy's own latencies).")
    if not (curves["label"] == figures.OPTIMUM).any():
        caption += " No optimum curve: run the same search without --proxy to add it."
    return "\n".join([
        f"<h3>{html.escape(f'{space} · {dataset}')}</h3>",
        _figure(image, f"accuracy versus budget on {space} {dataset}", caption),
    ])


def _curve_devices(curves: pl.DataFrame) -> list[str]:
    """Up to CURVE_DEVICES devices spread from the highest to the lowest mean regret."""
    judged = curves.filter((pl.col("label") != figures.OPTIMUM) & pl.col("regret").is_not_null())
    if judged.is_empty():
        return curves["device_id"].unique(maintain_order=True).head(CURVE_DEVICES).to_list()
    ranked = (judged.group_by("device_id").agg(pl.col("regret").mean())
              .sort(["regret", "device_id"], descending=[True, False], nulls_last=True))
    index = np.unique(np.linspace(0, ranked.height - 1, min(CURVE_DEVICES, ranked.height))
                      .round().astype(int))
    return ranked["device_id"].gather(index).to_list()


def _runs_table(runs: pl.DataFrame) -> str:
    shown = runs.sort("space_id", "dataset", "method", "proxy").select(
        pl.col("space_id").alias("space"), "dataset",
        _run_label(pl.col("method"), pl.col("proxy"), pl.col("n_samples")).alias("search"),
        pl.col("targets").alias("devices"), "picks", "judged",
        (pl.col("violation_share") * 100).alias("over budget %"),
        pl.col("mean_violation_pct").alias("mean overshoot %"),
        pl.col("mean_regret_fitting").alias("regret mean pp"),
        pl.col("median_regret_fitting").alias("regret median pp"),
        pl.col("max_regret_fitting").alias("regret max pp"),
        pl.col("no_pick").alias("no pick"))
    return _table(shown, caption="Regret over the judged picks that fit the budget; overshoot "
                  "over the picks beyond it.",
                  formats={c: "{:.2f}" for c in shown.columns if c.endswith(("%", "pp"))})


def verify_loop_section(loop: pa.Table | None) -> Section:
    """Per protocol and n: the simulated verify loop's figures per target and draw."""
    title = "Verify loop: picks you can ship"
    if _empty(loop):
        return Section("verify_loop", title, _missing("verify-loop results", "verify_loop"), None)
    rows = pl.from_arrow(loop)
    body = [
        "<p>The loop a practitioner runs on a new device, simulated on devices whose every "
        "latency is known: measure n architectures (<b>random</b>: drawn per seed as the "
        "protocol draws them; <b>planned</b>: <code>oneproxy plan</code>, one run per target), "
        "adapt, pick per budget (verified, or likely: upper bound within the budget), measure "
        "what <code>oneproxy propose</code> lists, and again. <b>first over</b>: share of the "
        "first round's picks whose true latency exceeds the budget; <b>coverage</b>: share of "
        "unmeasured architectures inside their first-round interval. The loop ships measured "
        "picks only, so <b>final over</b> counts shipped picks over budget (none: here a "
        "measurement is the truth); <b>none</b>: budgets without a measured pick; "
        "<b>pending</b>: budgets whose best pick was still unmeasured when the rounds ran out "
        "(they ship their best measured pick instead). Regret against the target's true "
        "optimum, in pp of accuracy, over the shipped picks.</p>"
    ]
    for (protocol, n), group in rows.group_by("protocol", "n_samples", maintain_order=True):
        body.append(f"<h3>{html.escape(f'{protocol} · n = {n}')}</h3>")
        body.append(_loop_table(group))
    return Section("verify_loop", title, "\n".join(body), _records(rows))


def _loop_table(rows: pl.DataFrame) -> str:
    shares = {"first_over_share": "first over %", "first_coverage": "coverage %",
              "final_over_share": "final over %", "final_none_share": "none %",
              "pending_share": "pending %"}
    shown = rows.select(
        "draw", "target", "runs",
        *[(pl.col(c) * 100).alias(label) for c, label in shares.items()],
        pl.col("mean_regret_pp").alias("regret mean pp"),
        pl.col("max_regret_pp").alias("regret max pp"),
        pl.col("extra_per_budget").alias("extra / budget"))
    formats = {c: "{:.1f}" for c in shares.values()} | {
        c: "{:.2f}" for c in ("regret mean pp", "regret max pp", "extra / budget")}
    return _table(shown, formats=formats)


def build_section(info: dict[str, Any]) -> Section:
    """When, where and from which table versions the report was built."""
    run = info.get("run")
    facts = {k: info.get(k) for k in ("generated_at", "version", "warehouse")}
    body = [_key_values(facts)]
    if run:
        stages = run.get("fingerprints") or {}
        body += ["<h3>Run</h3>",
                 _key_values({k: v for k, v in run.items() if k != "fingerprints"})]
        if stages:
            body.append(_table(pl.DataFrame({"stage": list(stages),
                                             "fingerprint": [str(v) for v in stages.values()]}),
                               caption="Input fingerprint of each stage of the run"))
    else:
        body.append("<p>Not built by <code>oneproxy run</code>: the table versions below "
                    "identify the inputs.</p>")
    tables = info.get("tables") or {}
    if tables:
        body += ["<h3>Warehouse tables</h3>",
                 _table(pl.DataFrame({"table": list(tables),
                                      "fingerprint": list(tables.values())}),
                        caption="sha256 of each table's current version (manifest.json)")]
    summary = {**facts, "run": run, "tables": tables}
    return Section("build", "Build", "\n".join(body), summary)


# --- HTML pieces ------------------------------------------------------------------------------


def _page(sections: list[Section], info: dict[str, Any], headline: str = "") -> str:
    nav = " ".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>\n{s.body}\n</section>'
        for s in sections
    ]
    subtitle = f"generated {info.get('generated_at', '')} from {info.get('warehouse', '')}"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>oneproxy report</title>",
        f"<style>{_CSS}</style></head>",
        "<body><main>",
        "<header><h1>oneproxy report</h1>",
        f'<p class="muted">{html.escape(subtitle)}</p>',
        f"<nav>{nav}</nav></header>",
        f'<div id="headline">{headline}</div>',
        *parts,
        "</main>",
        "</body></html>",
    ])


def _table(frame: pl.DataFrame, *, caption: str | None = None, raw: set[str] = frozenset(),
           formats: dict[str, str] | None = None,
           mean_last: bool = False) -> str:
    """An HTML table: numbers right-aligned and formatted, text escaped (except `raw` columns),
    columns of long text allowed to wrap."""
    formats = formats or {}
    classes = {name: _column_class(frame[name], name in raw) for name in frame.columns}
    head = "".join(f"<th{classes[c]}>{html.escape(c)}</th>" for c in frame.columns)
    body = []
    for i, row in enumerate(frame.iter_rows()):
        cells = []
        for name, value in zip(frame.columns, row, strict=True):
            text = value if name in raw else html.escape(_fmt(value, formats.get(name)))
            cells.append(f"<td{classes[name]}>{text}</td>")
        marker = ' class="total"' if mean_last and i == frame.height - 1 else ""
        body.append(f"<tr{marker}>{''.join(cells)}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if caption:
        table = f'<div><p class="caption">{html.escape(caption)}</p>{table}</div>'
    return table


def _column_class(column: pl.Series, raw: bool) -> str:
    if column.dtype.is_numeric():
        return ' class="num"'
    if not raw and column.dtype == pl.String and (column.str.len_chars().max() or 0) > WRAP_AT:
        return ' class="wrap"'
    return ""


def _key_values(values: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in values.items())
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _figure(uri: str, alt: str, caption: str, width: int | None = None) -> str:
    """A figure with its caption; `width` (px) caps how wide the image is shown."""
    style = f' style="width:{width}px"' if width else ""
    return (f'<figure><img src="{uri}" alt="{html.escape(alt)}"{style}>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _missing(what: str, section: str) -> str:
    return (f'<p class="missing">No {html.escape(what)} in the warehouse yet: run '
            f"<code>{html.escape(HOW_TO[section])}</code>, then <code>oneproxy report</code> "
            "again.</p>")


# --- values -----------------------------------------------------------------------------------


def _empty(table: pa.Table | None) -> bool:
    return table is None or table.num_rows == 0


def _platforms(coverage: pa.Table | None) -> dict[str, str]:
    if _empty(coverage):
        return {}
    rows = pl.from_arrow(coverage).unique("device_id")
    return dict(zip(rows["device_id"], rows["platform_class"], strict=True))


def _fmt(value: Any, spec: str | None = None) -> str:
    """Display text: "—" for null / NaN, thousands separators for integers."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if spec is not None:
        return spec.format(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def _pm(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "—"


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts for JSON, NaN as None."""
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
            for row in frame.to_dicts()]


_CSS = """
body{margin:0;background:#eef0f3;color:#1d2330;
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 36px 64px;background:#fff}
h1{font-size:26px;margin:0 0 2px}
h2{font-size:20px;margin:36px 0 10px;padding-bottom:4px;border-bottom:2px solid #d9dde3}
h3{font-size:15.5px;margin:22px 0 6px}
p{margin:6px 0 10px;max-width:900px}
.muted{color:#5b6472;margin:0 0 8px}
nav{position:sticky;top:0;background:#fff;padding:6px 0;border-bottom:1px solid #e3e6eb}
nav a{margin-right:18px;color:#1f5fbf;text-decoration:none;font-weight:600}
a{color:#1f5fbf}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0 14px;
  font-variant-numeric:tabular-nums}
.caption{font-weight:600;margin:10px 0 2px;color:#333}
th,td{padding:3px 8px;border-bottom:1px solid #e6e8ec;text-align:left;vertical-align:top;
  white-space:nowrap}
thead th{vertical-align:bottom;white-space:normal}
td.wrap{white-space:normal;min-width:16em}
thead th{background:#f1f3f6}
.num{text-align:right}
tbody tr:nth-child(even){background:#fafbfc}
tr.total td{font-weight:700;border-top:2px solid #c9ced6}
table.kv th{background:none;font-weight:600;color:#5b6472}
.side{display:flex;gap:36px;flex-wrap:wrap}
figure{margin:10px 0 18px}
figure img{max-width:100%;height:auto;display:block}
figcaption{font-size:12.5px;color:#5b6472;margin-top:4px}
.missing{background:#fff6e0;border-left:4px solid #e0a000;padding:8px 12px}
code{background:#f1f3f6;padding:1px 4px;border-radius:3px;font-size:12.5px}
"""
