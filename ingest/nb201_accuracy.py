"""NAS-Bench-201 test accuracies after 200 epochs (v-tao/nats-bench-landscape `nats_bench.csv`)."""

from __future__ import annotations

import numpy as np
import polars as pl
from oneproxy.ingest.batch import Resolver, SourceBatch
from oneproxy.ingest.errors import CorruptFile
from oneproxy.ingest.nb201_index import load_index
from oneproxy.ingest.registry import file, source

SOURCE_ID = "nb201_acc"
CSV = "nats_bench.csv"
COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}
ARCH_COLUMN = "ArchitectureString"


def load(resolve: Resolver) -> SourceBatch:
    """Test accuracy (%) of all 15,625 architectures on the three datasets; row order = index."""
    batch = SourceBatch.for_source(source(SOURCE_ID))
    upstream = file(SOURCE_ID, CSV)
    path = resolve(upstream)
    try:
        frame = pl.read_csv(path, columns=[ARCH_COLUMN, *COLUMNS.values()])
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise CorruptFile(f"{path}: not the expected CSV ({str(exc).splitlines()[0]})") from None
    index = load_index(resolve)
    index.record(batch)
    batch.add_file(upstream, "accuracy")
    strings = frame[ARCH_COLUMN].to_list()
    if strings != index.strings:
        row = next((i for i, (a, b) in enumerate(zip(strings, index.strings, strict=False))
                    if a != b), min(len(strings), len(index.strings)))
        raise CorruptFile(
            f"{path}: row {row + 2} is not NAS-Bench-201 index {row} "
            f"({len(strings)} rows; expected {len(index.strings)} in index order)"
        )
    arch_id = np.arange(len(strings))
    for dataset, column in COLUMNS.items():
        batch.add_accuracy(space_id="nb201", dataset=dataset, metric="test_accuracy",
                           arch_id=arch_id, values=frame[column].to_numpy())
    return batch
