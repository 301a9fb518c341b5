"""Search-space codecs, one module per space, and the `spaces` table describing them."""

import math

import pyarrow as pa
from oneproxy.warehouse.schemas import SPACES
from oneproxy.warehouse.spaces import nb201

SPACE_ROWS = {
    nb201.SPACE_ID: {
        "space_id": nb201.SPACE_ID,
        "description": "NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 ops per edge",
        "size": str(nb201.N_ARCHS),
        "log10_size": 4.193820026016112,
        "encoding_notes": "arch_id = official NAS-Bench-201 index; operator one-hot of 6 edges in "
        "arch-string order x (none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3) + 1",
    },
    "fbnet": {
        "space_id": "fbnet",
        "description": "FBNet v1 macro network (HW-NAS-Bench): 22 searchable layers, 9 ops each",
        "size": str(9**22),
        "log10_size": 22 * math.log10(9),
        "encoding_notes": "arch_key = the 22 op names joined by '-'; arch_id = 63-bit blake2b of "
        "arch_key (warehouse.spaces.hashed_ids); operator one-hot 22 x 9 + 1",
    },
    "ofa_mbv3": {
        "space_id": "ofa_mbv3",
        "description": "Once-for-All MobileNetV3: 5 stages of 2-4 elastic MBConv layers, "
        "kernel {3,5,7}, expand {3,4,6}, input resolution",
        "size": str((9**2 + 9**3 + 9**4) ** 5 * 25),
        "log10_size": 5 * math.log10(9**2 + 9**3 + 9**4) + math.log10(25),
        "encoding_notes": "arch_key lists resolution, depths and the kernel / expand of active "
        "layers only; arch_id = 63-bit blake2b of arch_key",
    },
    "ofa_fpga": {
        "space_id": "ofa_fpga",
        "description": "Once-for-All network of the Vitis AI FPGA lookup tables: stem 30, "
        "5 elastic stages, final 320 -> 1280",
        "size": str((9**2 + 9**3 + 9**4) ** 5 * 9 * 7),
        "log10_size": 5 * math.log10(9**2 + 9**3 + 9**4) + math.log10(9 * 7),
        "encoding_notes": "operator lookup tables only (op_latency); arch_key as ofa_mbv3 with "
        "21 kernel / expand values (the last 190 -> 320 layer is elastic too), ratios {4,5,6}",
    },
}


def spaces_table(space_ids: set[str]) -> pa.Table:
    """The `spaces` table rows of these spaces."""
    return pa.Table.from_pylist([SPACE_ROWS[s] for s in sorted(space_ids)], schema=SPACES)
