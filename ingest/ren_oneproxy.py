"""OneProxy (Ren-Research/OneProxy): 18 NAS-Bench-201 series over 1,999 architectures.

Rows align with `encode.pickle`, the 31-dim operator one-hot of each architecture, decoded here to
official NAS-Bench-201 indices. Several series are copies of HW-NAS-Bench and Eagle series that
arrive elsewhere too; the pipeline stores each series once and checks that copies agree.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import numpy as np
from oneproxy.ingest.batch import Resolver, SourceBatch
from oneproxy.ingest.errors import CorruptFile
from oneproxy.ingest.nb201_index import load_index
from oneproxy.ingest.registry import file, files, source
from oneproxy.ingest.safe_load import load_file
from oneproxy.warehouse.devices import known_device
from oneproxy.warehouse.spaces import nb201

SOURCE_ID = "oneproxy"
ENCODING = "encode.pickle"
SERIES = "latency_data/*.pickle"

FILE_DEVICES = {
    "rice_pixel3": "pixel3", "rice_raspi4": "raspi4", "rice_eyeriss": "eyeriss",
    "rice_fpga": "fpga", "rice_edgegpu": "edgegpu", "rice_edgetpu": "edgetpu",
    "eagle_i7": "eagle_i7", "eagle_gtx": "eagle_gtx1080ti",
    "eagle_jetson": "eagle_jetson_nano_fp32",
    "eagle_jetson_16": "eagle_jetson_nano_fp16", "eagle_tpu": "eagle_edgetpu",
    "eagle_cpu_855": "eagle_sd855_cpu", "eagle_gpu_855": "eagle_sd855_gpu",
    "eagle_dsp_855": "eagle_sd855_dsp",
    "true_a76": "nnmeter_cortexa76", "true_630": "nnmeter_adreno630",
    "true_640": "nnmeter_adreno640", "true_vpu": "nnmeter_myriadvpu",
}


def _arch_ids(resolve: Resolver, batch: SourceBatch) -> np.ndarray:
    upstream = file(SOURCE_ID, ENCODING)
    path = resolve(upstream)
    rows = load_file(path)
    try:
        encoding = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise CorruptFile(f"{path}: expected a list of 31-dim one-hot lists") from None
    ops = nb201.decode_onehot(encoding)
    batch.add_file(upstream, "architecture encoding")
    index = load_index(resolve)
    index.record(batch)
    return index.index_of_ops(ops)


def load(resolve: Resolver) -> SourceBatch:
    """The 18 OneProxy series as one batch (dataset cifar10; already in ms, Eagle's too)."""
    batch = SourceBatch.for_source(source(SOURCE_ID))
    arch_ids = _arch_ids(resolve, batch)
    for upstream in files(SOURCE_ID, SERIES):
        stem = PurePosixPath(upstream.path).stem
        if stem not in FILE_DEVICES:
            raise CorruptFile(f"{upstream.path}: OneProxy series '{stem}' has no device mapping")
        path = resolve(upstream)
        values = load_file(path)
        if not isinstance(values, list) or len(values) != len(arch_ids):
            raise CorruptFile(f"{path}: expected {len(arch_ids)} latencies aligned with {ENCODING}")
        batch.add_file(upstream, "latency")
        batch.add_series(space_id="nb201", dataset="cifar10",
                         device=known_device(FILE_DEVICES[stem]), arch_id=arch_ids,
                         latency_ms=np.asarray(values, dtype=np.float64),
                         file=upstream.path)
    return batch
