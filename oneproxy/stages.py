"""The stages of `oneproxy run`: each names its inputs' fingerprint and how to compute its results.

ingest → srcc <space> → evaluate <protocol> → search <space> → report. A stage's fingerprint
covers what it reads (source sha256s or the warehouse rows of its space), its parameters and the
code version, so new measurements of one space re-run only that space's stages and the report.
A stage returns its result tables instead of committing them: the runner commits them together
with the stage's ledger row.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from oneproxy.api.names import REPORT_HTML, SEARCH_TABLE, SRCC_TABLE
from oneproxy.ingest.fetch import default_cache_dir
from oneproxy.ingest.registry import source, sources
from oneproxy.warehouse.atomic import atomic_write_bytes
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.fingerprint import digest
from oneproxy.warehouse.store import Warehouse, table_fingerprint

if TYPE_CHECKING:
    from oneproxy.analytics.protocols import Protocol
    from oneproxy.api.search import SearchData
    from oneproxy.scale.engine import Engine

# A warm run checks every stage's fingerprint and runs none: the code a stage runs (ingest,
# SRCC, evaluation, search, report) is imported by the stage's `run`, so that the checks load
# only what they read.

CODE_PACKAGES = ("oneproxy", "oneproxy.analytics", "oneproxy.ingest", "oneproxy.search",
                 "oneproxy.warehouse", "oneproxy.sql")
SRCC_METHOD, SRCC_MIN_COMMON = "spearman", 30
SEARCH_BUDGETS, SEARCH_SAMPLES, SEARCH_SEED = "q5:q95:20", 20, 0
SEARCH_CONFIDENCE = 0.9  # the AdaProxy picks are also made on the upper ends at this level
CODE_VERSION_MEMO, CODE_VERSIONS_KEPT = "code_versions.json", 8
MIN_SEARCH_MEASURED = 2 * SEARCH_SAMPLES  # a target needs samples to draw and the rest to judge
ACCURACY_METRIC = "test_accuracy"
STAGE_KINDS = ("ingest", "srcc", "evaluate", "search", "report")

Step = Callable[[str, int, int], None]
"""Progress inside a stage: label, steps done, steps in all."""


class NotApplicable(OneproxyError):
    """A stage this warehouse cannot feed (a space or device it does not hold): it is skipped."""


@dataclass(frozen=True)
class StageResult:
    """What a stage computed: a one-line message and the tables to publish with its ledger row."""

    message: str
    tables: dict[str, pa.Table] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """One unit of the batch; it is skipped when its fingerprint equals its last recorded one
    and `outputs_missing` says nothing it wrote outside the warehouse is gone."""

    name: str
    fingerprint: Callable[[], str]
    run: Callable[[Step], StageResult]
    outputs_missing: Callable[[], bool] = lambda: False


@dataclass(frozen=True)
class RunSettings:
    """The parameters of a batch run."""

    protocols: tuple[Protocol, ...] = ()  # with their seed counts already set
    spaces: tuple[str, ...] | None = None  # None: every space with latency rows
    out: Path | None = None  # report folder; None: <warehouse>/report
    mirror: Path | None = None
    cache: Path | None = None
    only: tuple[str, ...] | None = None  # stage names ("srcc nb201") or kinds ("srcc")
    engine: Engine | None = field(default=None, compare=False)  # where tasks run; not an input

    def selects(self, stage: str) -> bool:
        """Whether `only` (if given) names this stage or its kind."""
        return self.only is None or stage in self.only or stage.split()[0] in self.only


@cache
def code_version() -> str:
    """sha256 over the project's code: each module's syntax tree without docstrings, and the SQL.

    Comments, docstrings and formatting do not change it, so editing prose re-runs no stage. The
    trees are parsed once per exact content of the files (memo in the user cache folder).
    """
    files = [(name, path.read_bytes()) for name, path in code_files()]
    exact = hashlib.sha256(f"python {sys.version_info[:2]}".encode())
    for name, data in files:
        exact.update(name.encode() + b"\0" + data + b"\0")
    memo = default_cache_dir() / CODE_VERSION_MEMO
    known = _read_json(memo)
    if exact.hexdigest() in known:
        return known[exact.hexdigest()]
    h = hashlib.sha256()
    for name, data in files:
        text = data.decode("utf-8")
        h.update(name.encode() + b"\0")
        h.update((_code_of(text) if name.endswith(".py") else text).encode() + b"\0")
    version = h.hexdigest()[:16]
    _write_json(memo, {**dict(list(known.items())[-(CODE_VERSIONS_KEPT - 1):]),
                       exact.hexdigest(): version})
    return version


def _read_json(path: Path) -> dict[str, str]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_json(path: Path, value: dict[str, str]) -> None:
    """Write `value` to `path` atomically; a cache that cannot be written is left alone."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(value).encode())
    except (OSError, OneproxyError):
        pass


def code_files() -> list[tuple[str, Path]]:
    """(name relative to its room, path) of every .py and .sql file of the installed project."""
    out = []
    for room in CODE_PACKAGES:
        spec = importlib.util.find_spec(room)
        assert spec is not None and spec.submodule_search_locations, room
        root = Path(next(iter(spec.submodule_search_locations)))
        suffix = "*.sql" if room == "oneproxy.sql" else "*.py"
        out += [(f"{room}/{p.relative_to(root).as_posix()}", p) for p in root.rglob(suffix)]
    return sorted(out)


def _code_of(text: str) -> str:
    """A module's syntax tree with docstrings removed, as text."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                and isinstance(first.value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


class Inputs:
    """Warehouse tables as stages read them for fingerprints; each version is read once."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        self._frames: dict[tuple[str, str], pl.DataFrame] = {}

    def frame(self, name: str) -> pl.DataFrame | None:
        version = self.wh.manifest().get(name)
        if version is None:
            return None
        if (name, version) not in self._frames:
            self._frames[(name, version)] = pl.from_arrow(self.wh.read(name))
        return self._frames[(name, version)]

    def space_rows(self, name: str, space: str) -> pl.DataFrame | None:
        frame = self.frame(name)
        return None if frame is None else frame.filter(pl.col("space_id") == space)

    def rows_fingerprint(self, name: str, space: str, columns: list[str] | None = None) -> str:
        """Fingerprint of the rows of `space` in table `name` ("absent" without the table)."""
        version = self.wh.manifest().get(name)
        if version is None:
            return "absent"

        def rows() -> pa.Table:
            frame = self.space_rows(name, space)
            return (frame.select(columns) if columns else frame).to_arrow()

        return table_fingerprint(rows, version=self.wh.table_dir(name, version),
                                 part=json.dumps([space, columns]))

    def spaces(self) -> list[str]:
        """Spaces with latency rows: the table's space_id partitions, as the manifest lists them
        (after checking the warehouse's files, as a query would), so that a warm run opens no
        DuckDB catalog; the query answers when the manifest does not list files."""
        if not self.wh.has("latency"):
            return []
        self.wh.check()
        found = self.wh.partition_values("latency")
        if found is not None:
            return found
        from oneproxy.warehouse.catalog import query

        rows = query(self.wh, "SELECT DISTINCT space_id FROM latency ORDER BY space_id")
        return rows.column("space_id").to_pylist()

    def values(self, name: str, space: str, column: str, **equal: str) -> list[str]:
        """Sorted distinct values of `column` among the space's rows with these column values."""
        rows = self.space_rows(name, space)
        if rows is None:
            return []
        for key, value in equal.items():
            rows = rows.filter(pl.col(key) == value)
        return sorted(rows[column].unique().to_list())


def ingest_stage(wh: Warehouse, settings: RunSettings) -> Stage:
    """Every pinned source: its registry sha256s are its inputs (the registry lists the sources
    `oneproxy.ingest.pipeline.LOADERS` loads, without importing every loader)."""
    ids = sorted(s.source_id for s in sources())

    def fingerprint() -> str:
        pinned = {i: sorted((f.path, f.sha256) for f in source(i).files) for i in ids}
        return digest("ingest", code_version(), pinned)

    def run(step: Step) -> StageResult:
        from oneproxy.api.ingest import ingest

        result = ingest(wh, ids, mirror=settings.mirror, cache=settings.cache, on_progress=step)
        written = ", ".join(result.changed_tables) or "none (content unchanged)"
        return StageResult(f"{len(ids)} sources, {result.latency_rows:,} latency rows, "
                           f"{result.devices} devices; tables written: {written}")

    return Stage("ingest", fingerprint, run)


def srcc_stage(wh: Warehouse, inputs: Inputs, space: str, engine: Engine | None = None) -> Stage:
    """All-pairs Spearman SRCC of the space's devices, per latency dataset."""
    params = {"method": SRCC_METHOD, "min_common": SRCC_MIN_COMMON}

    def fingerprint() -> str:
        return digest("srcc", space, params, code_version(),
                      inputs.rows_fingerprint("latency", space))

    def run(step: Step) -> StageResult:
        from oneproxy.api.srcc import srcc, srcc_update

        datasets = inputs.values("latency", space, "dataset")
        if not datasets:
            raise NotApplicable(f"space {space} has no latency in the warehouse")
        results = []
        for i, dataset in enumerate(datasets):
            step(f"srcc {space} {dataset}", i, len(datasets))
            results.append(srcc(wh, space, dataset=dataset, method=SRCC_METHOD,
                                min_common=SRCC_MIN_COMMON, engine=engine))
        values = pl.concat([r.pairs for r in results])["value"].drop_nulls()
        median = f"{values.median():.3f}" if values.len() else "n/a"
        pairs = sum(r.pairs.height for r in results)
        return StageResult(
            f"{pairs:,} device pairs on {', '.join(datasets)}, median SRCC {median}",
            {SRCC_TABLE: srcc_update(wh, results, datetime.now(UTC).isoformat(timespec="seconds"))},
        )

    return Stage(f"srcc {space}", fingerprint, run)


def evaluate_stage(wh: Warehouse, inputs: Inputs, protocol: Protocol,
                   engine: Engine | None = None) -> Stage:
    """An AdaProxy evaluation protocol over its space's latency and architectures."""
    space = protocol.space

    def fingerprint() -> str:
        return digest("evaluate", dataclasses.asdict(protocol), code_version(),
                      *(inputs.rows_fingerprint(t, space)
                        for t in ("latency", "architectures", "reference_archs")))

    def run(step: Step) -> StageResult:
        from oneproxy.api.errors import NoLatency
        from oneproxy.api.evaluate import (
            evaluation_tables,
            load_protocol_data,
            run_evaluation,
            stored_models,
        )
        from oneproxy.warehouse.errors import UnknownDevice

        try:
            data = load_protocol_data(wh, protocol)
        except (NoLatency, UnknownDevice) as exc:
            raise NotApplicable(str(exc)) from None
        result = run_evaluation(protocol, data, step, engine, stored_models(wh, protocol))
        top = pl.from_arrow(result.overall).row(-1, named=True)
        return StageResult(
            f"{len(protocol.targets)} targets × n={','.join(map(str, protocol.samples))} × "
            f"{protocol.seeds} seeds; mean SRCC at n={top['n_samples']}: "
            f"{top['before_srcc_mean']:.3f} before, {top['after_srcc_mean']:.3f} after adaptation",
            evaluation_tables(wh, result),
        )

    return Stage(f"evaluate {protocol.name}", fingerprint, run)


def proxy_of(srcc_rows: pl.DataFrame, data: SearchData) -> tuple[str, float]:
    """`search.proxy_choice.one_proxy` among the targets that measured every architecture."""
    import numpy as np

    from oneproxy.search.proxy_choice import NoProxy, one_proxy

    full = [d for d, row in zip(data.targets, data.true, strict=True) if np.isfinite(row).all()]
    try:
        return one_proxy(srcc_rows, full)
    except NoProxy:
        raise NotApplicable(f"no device with SRCC rows measured all {data.arch_ids.size:,} "
                            "architectures with accuracies: there is no proxy to search with") \
            from None


def searchable(data: SearchData, proxy: str) -> tuple[SearchData, list[str]]:
    """The search data with `proxy` moved from the targets to the proxy's place, and without
    the targets too thinly measured to draw AdaProxy samples from (returned by name)."""
    from oneproxy.api.search import drop_targets, thin_targets

    thin = thin_targets(data, SEARCH_SAMPLES, proxy)
    kept = drop_targets(dataclasses.replace(data, proxy=data.true[data.targets.index(proxy)]),
                        [proxy, *thin])
    return kept, thin


def search_stage(wh: Warehouse, inputs: Inputs, space: str, engine: Engine | None = None) -> Stage:
    """Per accuracy dataset: each device's optimum, and the picks of the one proxy raw and
    adapted with a few target samples (AdaProxy; on its predictions, and on the upper ends of
    their intervals), at budgets spanning each device's range."""
    params = {"budgets": SEARCH_BUDGETS, "samples": SEARCH_SAMPLES, "seed": SEARCH_SEED,
              "confidence": SEARCH_CONFIDENCE}

    def fingerprint() -> str:
        return digest("search", space, params, code_version(),
                      *(inputs.rows_fingerprint(t, space)
                        for t in ("latency", "accuracy", "architectures")),
                      inputs.rows_fingerprint(SRCC_TABLE, space,
                                              ["method", "device_a", "device_b", "value"]))

    def run(step: Step) -> StageResult:
        from oneproxy.api.search import load_search_data, run_search
        from oneproxy.search.budgets import parse_budget_spec
        from oneproxy.search.oneproxy import calibrated_method, summarize
        from oneproxy.warehouse.tables import updated

        datasets = inputs.values("accuracy", space, "dataset", metric=ACCURACY_METRIC)
        if not datasets:
            raise NotApplicable(f"space {space} has no test accuracies to search with")
        srcc = inputs.space_rows(SRCC_TABLE, space)
        srcc = None if srcc is None else srcc.filter(pl.col("method") == SRCC_METHOD)
        if srcc is None or srcc.is_empty():
            raise NotApplicable(f"space {space} has no {SRCC_METHOD} SRCC rows to choose a proxy")
        parts: list[pa.Table] = []
        thin: set[str] = set()
        budgets = parse_budget_spec(SEARCH_BUDGETS)
        for i, dataset in enumerate(datasets):
            step(f"search {space} {dataset}", i, len(datasets))
            data = load_search_data(wh, space, dataset, None, None)
            proxy, mean_srcc = proxy_of(srcc, data)
            via, too_few = searchable(data, proxy)
            thin.update(too_few)
            parts += [run_search(data, space, dataset, budgets, None, None, SEARCH_SEED,
                                 engine=engine)[0],
                      run_search(via, space, dataset, budgets, proxy, None, SEARCH_SEED,
                                 engine=engine)[0],
                      run_search(via, space, dataset, budgets, proxy, SEARCH_SAMPLES,
                                 SEARCH_SEED, engine=engine)[0],
                      run_search(via, space, dataset, budgets, proxy, SEARCH_SAMPLES,
                                 SEARCH_SEED, engine=engine, confidence=SEARCH_CONFIDENCE)[0]]
        new = pa.concat_tables(parts)
        runs = pl.from_arrow(summarize(new))
        adapted = runs.filter(pl.col("method") == "adaproxy")
        calibrated = runs.filter(pl.col("method") == calibrated_method(SEARCH_CONFIDENCE))
        return StageResult(
            f"one proxy {proxy} (mean SRCC {mean_srcc:.3f}); {', '.join(datasets)} × "
            f"{SEARCH_BUDGETS} budgets; AdaProxy n={SEARCH_SAMPLES}: mean regret "
            f"{adapted['mean_regret_fitting'].mean():.2f} pp, "
            f"{adapted['violation_share'].mean():.1%} of picks over budget; by the "
            f"{SEARCH_CONFIDENCE:g} upper bound: {calibrated['mean_regret_fitting'].mean():.2f}"
            f" pp, {calibrated['violation_share'].mean():.1%} over"
            + (f"; not searched (fewer than {MIN_SEARCH_MEASURED} measured architectures): "
               f"{', '.join(sorted(thin))}" if thin else ""),
            {SEARCH_TABLE: updated(wh, SEARCH_TABLE, new)},
        )

    return Stage(f"search {space}", fingerprint, run)


def report_stage(wh: Warehouse, out: Path, run_info: Callable[[], dict[str, Any]]) -> Stage:
    """The HTML report and its summary, from every result table."""

    def fingerprint() -> str:
        tables = {name: fp for name, fp in wh.manifest().items() if name != "runs"}
        where = out.relative_to(wh.root) if out.is_relative_to(wh.root) else out.absolute()
        return digest("report", str(where), code_version(), tables)

    def run(step: Step) -> StageResult:
        from oneproxy.api.report import write_report

        step("report", 0, 1)
        page, _ = write_report(wh, out, run_info())
        return StageResult(f"written to {page}")

    return Stage("report", fingerprint, run,
                 outputs_missing=lambda: not (out / REPORT_HTML).is_file())


def report_dir(wh: Warehouse, settings: RunSettings) -> Path:
    """Where the report goes: --out, else `report/` inside the warehouse folder."""
    return settings.out if settings.out is not None else wh.root / "report"


def downstream_stages(wh: Warehouse, settings: RunSettings, inputs: Inputs,
                      run_info: Callable[[], dict[str, Any]]) -> list[Stage]:
    """The stages after ingest that `settings` selects, for the spaces the warehouse now holds
    (or those asked for)."""
    spaces = list(settings.spaces) if settings.spaces is not None else inputs.spaces()
    protocols = [p for p in settings.protocols if p.space in spaces or settings.spaces is None]
    stages = [
        *(srcc_stage(wh, inputs, s, settings.engine) for s in spaces),
        *(evaluate_stage(wh, inputs, p, settings.engine) for p in protocols),
        *(search_stage(wh, inputs, s, settings.engine) for s in spaces),
        report_stage(wh, report_dir(wh, settings), run_info),
    ]
    return [s for s in stages if settings.selects(s.name)]
