"""The Once-for-All network of the Vitis AI FPGA lookup tables (sxtyzhangzk/once-for-all).

A ProxylessNAS-shaped OFA supernet (``OFAProxylessNASNets`` layout, relu6 everywhere, no SE)
with its own widths, read off the table keys: stem 3×3/2 conv 3 → 30; first block 30 → 20
(expand 1, kernel 3, no skip); five stages of 4 elastic layers

====== ======= ======
stage  width   stride
====== ======= ======
1      30      2
2      40      2
3      80      2
4      100     1
5      190     2
====== ======= ======

then one more elastic layer 190 → 320 (stride 1, depth fixed at 1), feature mix 1×1 320 → 1280
(with the global average pool) and a 1280 → 1000 classifier. ``ks`` ∈ {3, 5, 7} and ``e`` ∈
{4, 5, 6} for 21 layers, ``d`` ∈ {2, 3, 4} for the 5 four-layer stages, ``r`` ∈ {128, 144, …,
224} (the 7 table resolutions). Middle channels are cin·e, as the table generator builds them.
Op keys are in the ProxylessNAS dialect (``expand`` = ratio, no se / hs).

Key form, ids and the functions below: see `warehouse.spaces.ofa_net`.
"""

from oneproxy.warehouse.spaces.ofa_net import BadArchKey, ElasticNet, Stage
from oneproxy.warehouse.spaces.space import Space

__all__ = ["BadArchKey", "NET", "SPACE", "SPACE_ID"]

_RELU6 = "relu6"

NET = ElasticNet(
    space_id="ofa_fpga",
    stem=30,
    first_block=Stage(width=20, stride=1, layers=1, se=False, activation=_RELU6),
    stages=(
        Stage(30, 2, 4, False, _RELU6),
        Stage(40, 2, 4, False, _RELU6),
        Stage(80, 2, 4, False, _RELU6),
        Stage(100, 1, 4, False, _RELU6),
        Stage(190, 2, 4, False, _RELU6),
        Stage(320, 1, 1, False, _RELU6),
    ),
    final_expand=None,
    feature_mix=1280,
    kernels=(3, 5, 7),
    expand_ratios=(4, 5, 6),
    depths=(2, 3, 4),
    resolutions=tuple(range(128, 225, 16)),
    mid_divisor=1,
)
SPACE_ID = NET.space_id

# Operator lookup tables only: no whole-network latency, hence no user tables or encodings.
SPACE = Space(
    space_id=SPACE_ID,
    description="Once-for-All network of the Vitis AI FPGA lookup tables: stem 30, "
    "5 elastic stages, final 320 -> 1280",
    size=sum(9**d for d in NET.depths) ** 5 * 9 * len(NET.resolutions),
    encoding_notes="operator lookup tables only (op_latency); arch_key as ofa_mbv3 with "
    "21 kernel / expand values (the last 190 -> 320 layer is elastic too), ratios {4,5,6}",
)
