"""Once-for-All MobileNetV3 space (``ofa_mbv3_d234_e346_k357_w1.2``), the space of HELP's OFA data.

The supernet at width 1.2, as OFA's ``OFAMobileNetV3`` builds it (channels made divisible by 8):
stem 3×3/2 conv 3 → 24 (h_swish); first block 24 → 24 (expand 1, kernel 3, relu, identity
skip); five stages of 4 elastic layers

====== ======= ====== ==== =========
stage  width   stride SE   activation
====== ======= ====== ==== =========
1      32      2      no   relu
2      48      2      yes  relu
3      96      2      no   h_swish
4      136     1      yes  h_swish
5      192     2      yes  h_swish
====== ======= ====== ==== =========

then final expand 1×1 192 → 1152, global average pool, feature mix 1×1 1152 → 1536 and a
1536 → 1000 classifier. ``ks`` ∈ {3, 5, 7} and ``e`` ∈ {3, 4, 6} for 20 layers, ``d`` ∈ {2, 3,
4} for 5 stages, ``r`` ∈ {128, 132, …, 224} (HELP's 25 resolutions; the Note10 lookup tables
cover 160…224). Middle channels are make_divisible(round(cin·e), 8).

Key form, ids and the functions below: see `warehouse.spaces.ofa_net` (`NET` is the codec of
this network). HELP uses the same supernet (``ofa_mbv3_d234_e346_k357_w1.2``), so its
FLOPs are those of `NET.flops`.
"""

from oneproxy.warehouse.spaces.ofa_net import BadArchKey, ElasticNet, Stage
from oneproxy.warehouse.spaces.space import Space

__all__ = ["BadArchKey", "NET", "SPACE", "SPACE_ID"]

NET = ElasticNet(
    space_id="ofa_mbv3",
    stem=24,
    first_block=Stage(width=24, stride=1, layers=1, se=False, activation="relu"),
    stages=(
        Stage(32, 2, 4, False, "relu"),
        Stage(48, 2, 4, True, "relu"),
        Stage(96, 2, 4, False, "h_swish"),
        Stage(136, 1, 4, True, "h_swish"),
        Stage(192, 2, 4, True, "h_swish"),
    ),
    final_expand=1152,
    feature_mix=1536,
    kernels=(3, 5, 7),
    expand_ratios=(3, 4, 6),
    depths=(2, 3, 4),
    resolutions=tuple(range(128, 225, 4)),
    mid_divisor=8,
)
SPACE_ID = NET.space_id

SPACE = Space(
    space_id=SPACE_ID,
    description="Once-for-All MobileNetV3: 5 stages of 2-4 elastic MBConv layers, "
    "kernel {3,5,7}, expand {3,4,6}, input resolution",
    size=sum(9**d for d in NET.depths) ** len(NET.stages) * len(NET.resolutions),
    encoding_notes="arch_key lists resolution, depths and the kernel / expand of active "
    "layers only; arch_id = 63-bit blake2b of arch_key",
    default_dataset="imagenet",
    canonical_key=NET.canonical_key,
    arch_ids=NET.arch_ids,
    arch_table=NET.arch_table,
)
