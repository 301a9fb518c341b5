"""Search-space codecs, one module per space, and the `spaces` table describing them."""

import pyarrow as pa

from warehouse.schemas import SPACES
from warehouse.spaces import nb201

SPACE_ROWS = {
    nb201.SPACE_ID: {
        "space_id": nb201.SPACE_ID,
        "description": "NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 ops per edge",
        "size": str(nb201.N_ARCHS),
        "log10_size": 4.193820026016112,
        "encoding_notes": "arch_id = official NAS-Bench-201 index; operator one-hot of 6 edges in "
        "arch-string order x (none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3) + 1",
    },
}


def spaces_table(space_ids: set[str]) -> pa.Table:
    """The `spaces` table rows of these spaces."""
    return pa.Table.from_pylist([SPACE_ROWS[s] for s in sorted(space_ids)], schema=SPACES)
