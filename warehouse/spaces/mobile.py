"""mobile-ml-benchmark model sets: synthetic NAS CNNs, real CNNs and transformers, by model name.

The benchmark (qed-usc/mobile-ml-benchmark, EdgeSys 2024) measures fixed lists of models, not a
parameterised space: an architecture is a model, its arch key is the upstream model name
(``NAS0`` … ``NAS999``, ``densenet121``, ``cvt-13``) and its arch id the 63-bit blake2b of that
key (`warehouse.spaces.hashed_ids`). FLOPs and model size are the benchmark's own figures, one
per framework (TFLite and PyTorch Mobile count them on their own exported models, within a few
tenths of a percent of each other); ``flops`` and ``size_bytes`` are TFLite's where the model was
exported to TFLite, PyTorch Mobile's otherwise. The encodings read those two columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from oneproxy.warehouse.spaces.hashed_ids import hashed_arch_ids
from oneproxy.warehouse.spaces.space import Space

DATASET = "e2e"  # end-to-end inference on each model's own input, as the benchmark ran it
ATTRIBUTES = ("flops", "size_bytes")
FRAMEWORKS = ("tflite", "torch")


def _space(space_id: str, description: str, size: int) -> Space:
    return Space(
        space_id=space_id, description=description, size=size,
        encoding_notes="arch_key = upstream model name; arch_id = 63-bit blake2b of arch_key; "
        "encodings from the benchmark's FLOPs and model size (no operator structure)",
        default_dataset=DATASET, arch_ids=hashed_arch_ids, attribute_columns=ATTRIBUTES,
    )


NAS = _space("mobile_nas", "mobile-ml-benchmark synthetic NAS CNNs (NAS0-NAS999)", 1000)
CNN = _space("mobile_cnn", "mobile-ml-benchmark real CNNs (densenet121, mobilenetv2_w1, ...)", 102)
TRANSFORMER = _space("mobile_transformer",
                     "mobile-ml-benchmark transformers (cvt-13, beit-base-patch16-224, ...)", 69)
SPACES = (NAS, CNN, TRANSFORMER)
MODEL_SETS = {"nas": NAS, "cnn": CNN, "transformer": TRANSFORMER}  # upstream file infix


def arch_table(space_id: str, names: Sequence[str], flops: dict[str, np.ndarray],
               size_bytes: dict[str, np.ndarray]) -> pa.Table:
    """`architectures` rows: per framework FLOPs / size (NaN where not exported), and the pair
    the encodings read (TFLite's, else PyTorch Mobile's)."""
    n = len(names)
    nan = np.full(n, np.nan)
    per = {f"flops_{fw}": flops.get(fw, nan) for fw in FRAMEWORKS}
    per |= {f"size_bytes_{fw}": size_bytes.get(fw, nan) for fw in FRAMEWORKS}
    columns = {
        "space_id": pa.array([space_id] * n, pa.string()),
        "arch_id": pa.array(hashed_arch_ids(names)),
        "arch_key": pa.array(list(names), pa.string()),
        "flops": np.where(np.isnan(per["flops_tflite"]), per["flops_torch"], per["flops_tflite"]),
        "size_bytes": np.where(np.isnan(per["size_bytes_tflite"]), per["size_bytes_torch"],
                               per["size_bytes_tflite"]),
        **per,
    }
    return pa.table({k: v if isinstance(v, pa.Array) else pa.array(v, mask=np.isnan(v))
                     for k, v in columns.items()})
