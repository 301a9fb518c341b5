"""Export NAS-Bench-201 networks to ONNX and time them on this machine (no warehouse needed).

The output CSV has one row per architecture (`arch` is the canonical arch string, which
`oneproxy ingest table` maps to the official index) and is appended to row by row, so an
interrupted run resumes where it stopped. A sidecar `<csv>.json` records the machine.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, astuple, dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from oneproxy.measure.lock import machine_lock
from oneproxy.measure.machine import device_fields, machine_info
from oneproxy.measure.nb201_onnx import GraphCost, build_model, graph_cost
from oneproxy.measure.timing import Timing, TimingSettings, time_model
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.spaces import nb201

COLUMNS = ("arch", "latency_ms", "latency_iqr_ms", "latency_std_ms", "latency_min_ms", "repeats",
           "warmup", "threads", "batch", "dataset", "params_m", "flops_m")
SETTING_COLUMNS = ("threads", "batch", "dataset")
NOISY_SRCC = 0.95
NOISY_CHANGE = 0.05

Progress = Callable[[int, int, str], None]
"""progress(done, total, arch) after each architecture."""


class BadArchList(OneproxyError, ValueError):
    """An --archs list or file that does not name NAS-Bench-201 architectures."""


class CostMismatch(OneproxyError):
    """An exported graph whose parameters or FLOPs differ from the codec's."""


class BadMeasureFile(OneproxyError):
    """An existing output file that this run cannot append to."""


def _tokens(spec: str) -> list[tuple[str, str]]:
    """(where, token) of a comma-separated list or of a file with one architecture per line."""
    path = Path(spec)
    if "|" not in spec and path.is_file():
        lines = path.read_text().splitlines()
        return [(f"{path} line {n}", line.strip()) for n, line in enumerate(lines, start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    return [(f"item {n}", t.strip()) for n, t in enumerate(spec.split(","), start=1)]


def arch_keys(spec: str, index: Callable[[], Sequence[str]]) -> list[str]:
    """Canonical arch strings of --archs: arch strings or official indices (looked up in
    `index()`, called only when an index appears), comma-separated or one per line in a file."""
    keys: list[str] = []
    strings: Sequence[str] | None = None
    for where, token in _tokens(spec):
        if not token:
            raise BadArchList(f"--archs {where} is empty")
        if token.isdigit():
            strings = strings if strings is not None else index()
            if int(token) >= nb201.N_ARCHS:
                raise BadArchList(f"--archs {where}: index {token} is not in 0…{nb201.N_ARCHS - 1}")
            token = strings[int(token)]
        try:
            keys.append(nb201.format_arch(nb201.parse_arch(token)))
        except nb201.BadArchKey as exc:
            raise BadArchList(f"--archs {where}: {exc}") from None
    if not keys:
        raise BadArchList(f"--archs {spec!r} names no architecture")
    return list(dict.fromkeys(keys))


def sample_keys(n: int, seed: int) -> list[str]:
    """The first `n` of a seeded random order of the 15,625 architectures (a uniform sample).

    A larger `n` with the same seed extends a smaller one, so a resumed run can grow a sample.
    """
    if not 1 <= n <= nb201.N_ARCHS:
        raise BadArchList(f"--sample {n}: draw between 1 and {nb201.N_ARCHS} architectures")
    rows = np.random.default_rng(seed).permutation(nb201.N_ARCHS)[:n]
    return [nb201.format_arch(nb201.all_op_tuples()[r]) for r in rows]


def checked_model(key: str, dataset: str, batch: int, seed: int) -> tuple[bytes, GraphCost]:
    """The serialized model of one arch, after checking its graph's params / FLOPs."""
    ops = nb201.parse_arch(key)
    model = build_model(ops, dataset, batch=batch, seed=seed)
    cost = graph_cost(model)
    want = GraphCost(float(nb201.params(ops, dataset)[0]), float(nb201.flops(ops, dataset)[0]))
    if not np.allclose(cost, want, rtol=0, atol=1e-9):
        raise CostMismatch(f"{key} ({dataset}): graph has {cost.params_m} M params / "
                           f"{cost.flops_m} MFLOPs, the codec says {want.params_m} / "
                           f"{want.flops_m}")
    return model.SerializeToString(), cost


def model_file(key: str) -> str:
    """File name of an exported arch: its six op indices, e.g. ``nb201-334401.onnx``."""
    return "nb201-" + "".join(map(str, nb201.parse_arch(key))) + ".onnx"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Exported:
    """One exported model."""

    arch: str
    file: str
    params_m: float
    flops_m: float


def export_archs(keys: Sequence[str], out_dir: Path, *, dataset: str = "cifar10",
                 batch: int = 1, seed: int = 0,
                 progress: Progress | None = None) -> list[Exported]:
    """Write one checked ONNX model per architecture and a manifest ``archs.csv`` to `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    done: list[Exported] = []
    for i, key in enumerate(keys):
        data, cost = checked_model(key, dataset, batch, seed)
        name = model_file(key)
        _write_atomic(out_dir / name, data)
        done.append(Exported(key, name, cost.params_m, cost.flops_m))
        if progress:
            progress(i + 1, len(keys), key)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(Exported.__dataclass_fields__)
    writer.writerows(astuple(e) for e in done)
    _write_atomic(out_dir / "archs.csv", text.getvalue().encode())
    return done


@dataclass(frozen=True)
class NoiseCheck:
    """Second pass over `k` measured architectures: rank stability and relative change."""

    k: int
    srcc: float
    median_rel_change: float

    @property
    def noisy(self) -> bool:
        return self.srcc < NOISY_SRCC or self.median_rel_change > NOISY_CHANGE


@dataclass(frozen=True)
class MeasureReport:
    """What a `measure_archs` call did."""

    path: Path
    measured: int
    skipped: int
    total_rows: int
    seconds: float
    check: NoiseCheck | None


def _existing(path: Path, dataset: str, settings: TimingSettings) -> dict[str, float]:
    """Median latency of each arch already in `path`; refuses a file of other settings."""
    if not path.exists() or path.stat().st_size == 0:
        return {}
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise BadMeasureFile(f"{path}: header {reader.fieldnames} is not a `measure` file's "
                                 f"({','.join(COLUMNS)}); write to a new file")
        rows = list(reader)
    want = {"threads": str(settings.threads), "batch": str(settings.batch), "dataset": dataset}
    done: dict[str, float] = {}
    for line, row in enumerate(rows, start=2):
        for col in SETTING_COLUMNS:
            if row[col] != want[col]:
                raise BadMeasureFile(
                    f"{path} line {line}: {col}={row[col]} but this run uses {col}={want[col]}; "
                    "resume with the same settings or write to a new file")
        done[row["arch"]] = float(row["latency_ms"])
    return done


def _row(key: str, t: Timing, settings: TimingSettings, dataset: str,
         cost: GraphCost) -> list[object]:
    return [key, f"{t.median_ms:.6f}", f"{t.iqr_ms:.6f}", f"{t.std_ms:.6f}", f"{t.min_ms:.6f}",
            t.repeats, settings.warmup, settings.threads, settings.batch, dataset,
            f"{cost.params_m:.6f}", f"{cost.flops_m:.6f}"]


def _measure_one(key: str, dataset: str, settings: TimingSettings,
                 seed: int) -> tuple[Timing, GraphCost]:
    data, cost = checked_model(key, dataset, settings.batch, seed)
    return time_model(data, settings, seed=seed), cost


def noise_check(first: dict[str, float], again: dict[str, float]) -> NoiseCheck:
    """SRCC and median |relative change| between two passes over the same architectures."""
    keys = sorted(again)
    a = np.array([first[k] for k in keys])
    b = np.array([again[k] for k in keys])
    srcc = float(spearmanr(a, b)[0]) if len(keys) > 2 else float("nan")
    return NoiseCheck(len(keys), srcc, float(np.median(np.abs(b - a) / a)))


def sidecar_path(path: Path) -> Path:
    """``measured.csv`` → ``measured.csv.json``."""
    return path.with_name(path.name + ".json")


def measure_archs(keys: Sequence[str], out: Path, *, lock: Path, dataset: str = "cifar10",
                  settings: TimingSettings | None = None, seed: int = 0, check: int = 0,
                  progress: Progress | None = None) -> MeasureReport:
    """Time each architecture not yet in `out` with ONNX Runtime and append its row.

    Holds the machine lock `lock` throughout. With `check` > 0, re-times that many
    (seeded) architectures of the file at the end and reports the rank stability.
    """
    settings = settings or TimingSettings()
    nb201.flops([0] * nb201.N_EDGES, dataset)  # UnknownDataset before anything is timed
    start = time.perf_counter()
    with machine_lock(lock):
        done = _existing(out, dataset, settings)
        todo = [k for k in keys if k not in done]
        total = len(todo) + min(check, len(done) + len(todo))
        info = machine_info(settings, dataset)
        sidecar = {"device": device_fields(info), "machine": info}
        _write_atomic(sidecar_path(out), json.dumps(sidecar, indent=2).encode())
        out.parent.mkdir(parents=True, exist_ok=True)
        fresh = not out.exists() or out.stat().st_size == 0
        with out.open("a", newline="") as fh:
            writer = csv.writer(fh)
            if fresh:
                writer.writerow(COLUMNS)
            for i, key in enumerate(todo):
                timing, cost = _measure_one(key, dataset, settings, seed)
                writer.writerow(_row(key, timing, settings, dataset, cost))
                fh.flush()
                done[key] = timing.median_ms
                if progress:
                    progress(i + 1, total, key)
        result = None
        check = min(check, len(done))
        if check:
            names = list(done)
            pick = np.random.default_rng(seed).choice(len(names), check, replace=False)
            again: dict[str, float] = {}
            for j, row in enumerate(sorted(pick)):
                again[names[row]] = _measure_one(names[row], dataset, settings, seed)[0].median_ms
                if progress:
                    progress(len(todo) + j + 1, total, names[row])
            result = noise_check(done, again)
            sidecar["check"] = asdict(result)
            _write_atomic(sidecar_path(out), json.dumps(sidecar, indent=2).encode())
    return MeasureReport(out, len(todo), len(keys) - len(todo), len(done),
                         time.perf_counter() - start, result)
