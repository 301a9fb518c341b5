"""Accel-NASBench (afzalxo/Accel-NASBench): 5,138 trained architectures, one JSON each.

``anb_dataset/anb_dataset_jsons.tar.gz`` holds ``anb_dataset_jsons/result_<N>.json``, read in
memory by `ingest.safe_tar` (sha256 first). Each holds ``architecture`` (block<b>_e/k/l/se),
``metrics`` (``val_top1`` / ``val_top5``: ImageNet validation accuracy, %, one seed),
``model_info`` (``macs`` / ``params``, millions) and ``platform_perf``: ``latency_<fpga>`` (ms)
for ZCU102 and VCK190 and ``throughput_<device>`` (images/s) for six devices, each a mean and a
std. Top-1 becomes metric ``test_accuracy`` (what `search` ranks by) and top-5
``top5_accuracy``, dataset ``imagenet``; FPGA latency goes to `latency`, throughput to
`throughput` as it is (the JSONs do not record its batch size). Nulls are failed measurements.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
from oneproxy.ingest.batch import Resolver, SourceBatch
from oneproxy.ingest.errors import CorruptFile
from oneproxy.ingest.registry import file, source
from oneproxy.ingest.safe_tar import read_members
from oneproxy.warehouse.devices import ACCEL_DEVICES
from oneproxy.warehouse.spaces import accel

SOURCE_ID = "accel_nasbench"
ARCHIVE = "anb_dataset/anb_dataset_jsons.tar.gz"
DATASET = "imagenet"
MEMBER = re.compile(r"anb_dataset_jsons/result_(\d+)\.json")
LATENCY = ("zcu102", "vck190")
METRICS = {"val_top1": "test_accuracy", "val_top5": "top5_accuracy"}


@dataclass(frozen=True)
class Results:
    """The parsed JSONs, ordered by result number; NaN where a value is null."""

    arch_id: np.ndarray
    keys: list[str]
    values: dict[str, np.ndarray]  # e.g. "val_top1", "macs", "latency_zcu102.mean"


def _number(value: object, where: str) -> float:
    if value is None:
        return np.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CorruptFile(f"{where}: {value!r} is not a number")
    return float(value)


def parse_results(members: dict[str, bytes], archive: str) -> Results:
    """Validate every result JSON of the archive (members by name)."""
    rows: dict[int, tuple[str, dict[str, float]]] = {}
    for name, data in members.items():
        match = MEMBER.fullmatch(name)
        if match is None:
            raise CorruptFile(f"{archive}: unexpected member {name!r}")
        where = f"{archive}:{name}"
        try:
            raw = json.loads(data)
            values = {m: _number(raw["metrics"][m], f"{where} metrics.{m}") for m in METRICS}
            values |= {k: _number(raw["model_info"][k], f"{where} model_info.{k}")
                       for k in ("macs", "params")}
            for perf, stats in raw["platform_perf"].items():
                kind = perf.split("_")[0]
                for stat in ("mean", "std"):
                    values[f"{perf}.{stat}"] = _number(stats[f"{kind}_{stat}"],
                                                       f"{where} {perf}.{stat}")
            key = accel.key_of(raw["architecture"])
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptFile(f"{where}: not JSON: {exc}") from None
        except (KeyError, TypeError, AttributeError) as exc:
            raise CorruptFile(f"{where}: missing or malformed field {exc}") from None
        except accel.BadArchKey as exc:
            raise CorruptFile(f"{where}: {exc}") from None
        rows[int(match.group(1))] = (key, values)
    if not rows:
        raise CorruptFile(f"{archive}: no result_<N>.json members")
    ids = sorted(rows)
    fields = sorted({k for _, v in rows.values() for k in v})
    missing = next(((i, f) for i in ids for f in fields if f not in rows[i][1]), None)
    if missing:
        raise CorruptFile(f"{archive}: result_{missing[0]}.json lacks {missing[1]}")
    return Results(np.asarray(ids, dtype=np.int64), [rows[i][0] for i in ids],
                   {f: np.array([rows[i][1][f] for i in ids]) for f in fields})


def load(resolve: Resolver) -> SourceBatch:
    """Accuracy, FPGA latency and throughput of every Accel-NASBench result."""
    batch = SourceBatch.for_source(source(SOURCE_ID))
    upstream = file(SOURCE_ID, ARCHIVE)
    results = parse_results(read_members(resolve(upstream), upstream.sha256), upstream.path)
    batch.add_file(upstream, "architectures, accuracy, latency, throughput")
    v, ids = results.values, results.arch_id
    batch.add_architectures(accel.arch_table(results.keys, ids, v["macs"], v["params"]))
    for upstream_metric, metric in METRICS.items():
        batch.add_accuracy(space_id=accel.SPACE_ID, dataset=DATASET, metric=metric, arch_id=ids,
                           values=v[upstream_metric])
    for name in LATENCY:
        device = ACCEL_DEVICES[name]
        batch.add_series(space_id=accel.SPACE_ID, dataset=DATASET, device=device, arch_id=ids,
                         latency_ms=v[f"latency_{name}.mean"], file=upstream.path)
        batch.add_latency_std(space_id=accel.SPACE_ID, dataset=DATASET, device=device,
                              arch_id=ids, std_ms=v[f"latency_{name}.std"])
    for name, device in ACCEL_DEVICES.items():
        batch.add_throughput(space_id=accel.SPACE_ID, dataset=DATASET, device=device,
                             arch_id=ids, images_per_s=v[f"throughput_{name}.mean"],
                             std=v[f"throughput_{name}.std"], batch_size=None)
    return batch
