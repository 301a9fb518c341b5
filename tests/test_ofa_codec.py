"""OFA codecs (ofa_mbv3, ofa_fpga): canonical keys, ids, active layers, FLOPs, encodings."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from oneproxy.ingest.registry import file
from oneproxy.ingest.safe_load import load_file
from oneproxy.warehouse.spaces import ofa_fpga, ofa_mbv3
from oneproxy.warehouse.spaces.ofa_net import BadArchKey, make_divisible

ARCH0 = {  # HELP's first OFA architecture
    "ks": [7, 5, 5, 5, 7, 7, 5, 7, 5, 7, 3, 7, 5, 3, 7, 3, 5, 3, 5, 3],
    "e": [6, 4, 4, 6, 6, 3, 4, 3, 3, 6, 3, 3, 3, 6, 3, 4, 6, 4, 3, 6],
    "d": [2, 2, 2, 2, 3],
    "r": np.int64(204),
}
ARCH0_KEY = ("r204-d2,2,2,2,3-ks7,5,0,0,7,7,0,0,5,7,0,0,5,3,0,0,5,3,5,0"
             "-e6,4,0,0,6,3,0,0,3,6,0,0,3,6,0,0,6,4,3,0")
ARCH0_ID = 4133952193794437082


@pytest.fixture(scope="module")
def help_archs(resolve):
    data = load_file(resolve(file("help", "data/ofa/ofa_archs.pt")))
    assert data["dataset"] == "imagenet" and len(data["arch"]) == 5000
    return data["arch"]


@pytest.fixture(scope="module")
def help_keys(help_archs):
    return ofa_mbv3.NET.keys_from_archs(help_archs)


def test_canonical_key_zeroes_inactive_layers():
    assert ofa_mbv3.NET.keys_from_archs([ARCH0]) == [ARCH0_KEY]
    assert ofa_mbv3.NET.canonical(ARCH0["ks"], ARCH0["e"], ARCH0["d"], 204) == ARCH0_KEY
    assert ofa_mbv3.NET.parse_key(ARCH0_KEY) == {
        "ks": [7, 5, 0, 0, 7, 7, 0, 0, 5, 7, 0, 0, 5, 3, 0, 0, 5, 3, 5, 0],
        "e": [6, 4, 0, 0, 6, 3, 0, 0, 3, 6, 0, 0, 3, 6, 0, 0, 6, 4, 3, 0],
        "d": [2, 2, 2, 2, 3], "r": 204,
    }


def test_equal_networks_share_one_key():
    other = {**ARCH0, "ks": list(ARCH0["ks"]), "e": list(ARCH0["e"])}
    for inactive in (2, 3, 6, 7, 10, 11, 14, 15, 19):
        other["ks"][inactive] = 3 if ARCH0["ks"][inactive] != 3 else 7
        other["e"][inactive] = 0
    assert ofa_mbv3.NET.keys_from_archs([ARCH0, other]) == [ARCH0_KEY, ARCH0_KEY]
    changed = {**other, "ks": [3, *other["ks"][1:]]}  # an active layer: a different network
    assert ofa_mbv3.NET.keys_from_archs([changed]) != [ARCH0_KEY]


@pytest.mark.integration
def test_help_archs_round_trip(help_keys):
    assert help_keys[0] == ARCH0_KEY
    assert len(set(help_keys)) == 5000  # no two HELP archs are the same network
    archs = ofa_mbv3.NET.parse_keys(help_keys)
    assert ofa_mbv3.NET.format_keys(archs) == help_keys
    net = ofa_mbv3.NET
    assert [net.canonical(**net.parse_key(k)) for k in help_keys[:50]] == help_keys[:50]
    ids = ofa_mbv3.NET.arch_ids(help_keys)
    assert ids.dtype == np.int64 and ids[0] == ARCH0_ID and np.unique(ids).size == 5000
    assert (ofa_mbv3.NET.arch_ids(help_keys[::-1]) == ids[::-1]).all()


@pytest.mark.integration
def test_help_resolutions(help_keys):
    r = ofa_mbv3.NET.parse_keys(help_keys).r
    assert sorted(set(r.tolist())) == list(range(128, 225, 4))


@pytest.mark.parametrize(("key", "says"), [
    ("r204-d2,2,2,2-ks3-e3", "lists (d, ks, e) of lengths (4, 1, 1)"),
    (ARCH0_KEY.replace("ks7,5,0,0", "ks7,5,5,0"), "is not canonical"),
    (ARCH0_KEY.replace("r204", "r0204"), "is not canonical"),
    (ARCH0_KEY.replace("r204", "r130"), "r value 130"),
    (ARCH0_KEY.replace("d2,2,2,2,3", "d1,2,2,2,3"), "d value 1"),
    (ARCH0_KEY.replace("ks7,5", "ks4,5"), "ks value 4 at position 0"),
    (ARCH0_KEY.replace("-e6,4", "-e5,4"), "e value 5 at position 0"),
    (ARCH0_KEY.replace("-ks", "-k"), "is not of the form"),
    ("r204-d2,,2", "is not of the form"),
])
def test_bad_keys(key, says):
    with pytest.raises(BadArchKey, match="ofa_mbv3") as info:
        ofa_mbv3.NET.parse_keys([ARCH0_KEY, key])
    assert says in str(info.value)


def test_bad_arch_dicts():
    with pytest.raises(BadArchKey, match="row 1 is not a dict with ks, e, d and r"):
        ofa_mbv3.NET.keys_from_archs([ARCH0, {"ks": ARCH0["ks"]}])
    with pytest.raises(BadArchKey, match=r"ks has shape \(1, 19\), expected \(1, 20\)"):
        ofa_mbv3.NET.keys_from_archs([{**ARCH0, "ks": ARCH0["ks"][:19]}])
    with pytest.raises(BadArchKey, match="inactive ks value 9"):
        ofa_mbv3.NET.keys_from_archs([{**ARCH0, "ks": [*ARCH0["ks"][:19], 9]}])
    with pytest.raises(BadArchKey, match="ks, e, d, r are not rectangular"):
        ofa_mbv3.NET.keys_from_archs([ARCH0, {**ARCH0, "e": ARCH0["e"][:3]}])


def test_active_layers_of_arch0():
    layers = ofa_mbv3.NET.active_layers([ARCH0_KEY])
    assert layers.height == 1 + 11  # the first block, then 2 + 2 + 2 + 2 + 3 layers
    assert layers["block"].to_list() == [0, 1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 19]
    assert layers["stage"].to_list() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5]
    assert layers["input_h"].to_list() == [102, 102, 51, 51, 26, 26, 13, 13, 13, 13, 7, 7]
    assert layers["mid_c"].to_list() == [24, 144, 128, 192, 144, 144, 576, 288, 816, 816, 768,
                                         576]
    assert layers["kernel"].to_list() == [3, 7, 5, 7, 7, 5, 7, 5, 3, 5, 3, 5]
    assert layers["se"].to_list() == [False] * 3 + [True] * 2 + [False] * 2 + [True] * 5
    assert layers["activation"].to_list() == ["relu"] * 5 + ["h_swish"] * 7
    assert layers["idskip"].to_list() == [True] + [False, True] * 5 + [True]


def test_make_divisible_as_ofa():
    assert make_divisible(np.array([19, 28, 36, 102, 134, 24]), 8).tolist() == [
        24, 32, 40, 104, 136, 24]
    assert make_divisible(np.array([950]), 1).tolist() == [950]


def test_flops_of_the_smallest_mbv3_network_by_hand():
    """r=160, depth 2, kernel 3, expand 3 everywhere; OFA MACs, sides 80 → 40 → 20 → 10 → 10 → 5."""
    key = ofa_mbv3.NET.canonical([3] * 20, [3] * 20, [2] * 5, 160)
    by_hand = (
        80 * 80 * 9 * 3 * 24  # stem 3×3/2, 3 → 24
        + 80 * 80 * 9 * 24 + 80 * 80 * 24 * 24  # first block: depthwise, project (expand 1)
        # stage 1 (32): expand 1×1 at the input side, depthwise k² at the output, project
        + 80 * 80 * 24 * 72 + 40 * 40 * 9 * 72 + 40 * 40 * 72 * 32
        + 40 * 40 * 32 * 96 + 40 * 40 * 9 * 96 + 40 * 40 * 96 * 32
        # stage 2 (48, SE: mid → make_divisible(mid // 4, 8) → mid at 1×1)
        + 40 * 40 * 32 * 96 + 20 * 20 * 9 * 96 + 2 * 96 * 24 + 20 * 20 * 96 * 48
        + 20 * 20 * 48 * 144 + 20 * 20 * 9 * 144 + 2 * 144 * 40 + 20 * 20 * 144 * 48
        # stage 3 (96)
        + 20 * 20 * 48 * 144 + 10 * 10 * 9 * 144 + 10 * 10 * 144 * 96
        + 10 * 10 * 96 * 288 + 10 * 10 * 9 * 288 + 10 * 10 * 288 * 96
        # stage 4 (136, stride 1, SE)
        + 10 * 10 * 96 * 288 + 10 * 10 * 9 * 288 + 2 * 288 * 72 + 10 * 10 * 288 * 136
        + 10 * 10 * 136 * 408 + 10 * 10 * 9 * 408 + 2 * 408 * 104 + 10 * 10 * 408 * 136
        # stage 5 (192, SE)
        + 10 * 10 * 136 * 408 + 5 * 5 * 9 * 408 + 2 * 408 * 104 + 5 * 5 * 408 * 192
        + 5 * 5 * 192 * 576 + 5 * 5 * 9 * 576 + 2 * 576 * 144 + 5 * 5 * 576 * 192
        # head: final expand 192 → 1152 at 5×5, feature mix 1152 → 1536 at 1×1, classifier
        + 5 * 5 * 192 * 1152 + 1152 * 1536 + 1536 * 1000
    )
    assert by_hand == 100_320_888
    assert ofa_mbv3.NET.flops([key])[0] == by_hand / 1e6


def test_flops_of_the_smallest_fpga_network_by_hand():
    """r=128, depth 2, kernel 3, expand 4 everywhere; mid = cin·4; sides 64 → 32 → 16 → 8 → 4."""
    key = ofa_fpga.NET.canonical([3] * 21, [4] * 21, [2] * 5, 128)
    by_hand = (
        64 * 64 * 9 * 3 * 30  # stem
        + 64 * 64 * 9 * 30 + 64 * 64 * 30 * 20  # first block 30 → 20, expand 1
        + 64 * 64 * 20 * 80 + 32 * 32 * 9 * 80 + 32 * 32 * 80 * 30  # stage 1 (30)
        + 32 * 32 * 30 * 120 + 32 * 32 * 9 * 120 + 32 * 32 * 120 * 30
        + 32 * 32 * 30 * 120 + 16 * 16 * 9 * 120 + 16 * 16 * 120 * 40  # stage 2 (40)
        + 16 * 16 * 40 * 160 + 16 * 16 * 9 * 160 + 16 * 16 * 160 * 40
        + 16 * 16 * 40 * 160 + 8 * 8 * 9 * 160 + 8 * 8 * 160 * 80  # stage 3 (80)
        + 8 * 8 * 80 * 320 + 8 * 8 * 9 * 320 + 8 * 8 * 320 * 80
        + 8 * 8 * 80 * 320 + 8 * 8 * 9 * 320 + 8 * 8 * 320 * 100  # stage 4 (100, stride 1)
        + 8 * 8 * 100 * 400 + 8 * 8 * 9 * 400 + 8 * 8 * 400 * 100
        + 8 * 8 * 100 * 400 + 4 * 4 * 9 * 400 + 4 * 4 * 400 * 190  # stage 5 (190)
        + 4 * 4 * 190 * 760 + 4 * 4 * 9 * 760 + 4 * 4 * 760 * 190
        + 4 * 4 * 190 * 760 + 4 * 4 * 9 * 760 + 4 * 4 * 760 * 320  # the 190 → 320 layer
        + 4 * 4 * 320 * 1280 + 1280 * 1000  # feature mix at 4×4, classifier
    )
    assert ofa_fpga.NET.flops([key])[0] == by_hand / 1e6


@pytest.mark.integration
def test_help_flops_range(help_keys):
    flops = ofa_mbv3.NET.flops(help_keys)
    assert flops.shape == (5000,) and flops[0] == pytest.approx(305.047776)
    biggest = ofa_mbv3.NET.canonical([7] * 20, [6] * 20, [4] * 5, 224)
    smallest = ofa_mbv3.NET.canonical([3] * 20, [3] * 20, [2] * 5, 128)
    assert flops.min() == pytest.approx(91.882752)
    assert ofa_mbv3.NET.flops([smallest])[0] < flops.min()
    assert flops.max() < ofa_mbv3.NET.flops([biggest])[0]


def test_onehot_is_helps_encoding_then_depths():
    x = ofa_mbv3.NET.onehot([ARCH0_KEY])
    assert x.shape == (1, ofa_mbv3.NET.onehot_dim) == (1, 160)
    row = x[0]
    assert row.sum() == 11 + 11 + 1 + 5
    assert row[0:3].tolist() == [0, 0, 1]  # layer 0 kernel 7
    assert row[6:12].tolist() == [0] * 6  # layers 2, 3 inactive
    assert row[60:63].tolist() == [0, 0, 1]  # layer 0 expand 6
    assert np.flatnonzero(row[120:145]).tolist() == [(204 - 128) // 4]
    assert row[145:].reshape(5, 3).argmax(axis=1).tolist() == [0, 0, 0, 0, 1]  # d 2,2,2,2,3


def test_kernel_features_and_arch_table():
    keys = [ARCH0_KEY, ofa_mbv3.NET.canonical([3] * 20, [3] * 20, [2] * 5, 160)]
    x = ofa_mbv3.NET.kernel_features(keys)
    features = dict(zip(ofa_mbv3.NET.kernel_columns, x[0], strict=True))
    assert features == {
        "resolution": 204, "d1": 2, "d2": 2, "d3": 2, "d4": 2, "d5": 3, "n_layers": 11,
        "n_k3": 2, "n_k5": 5, "n_k7": 4, "n_e3": 4, "n_e4": 2, "n_e6": 5,
        "sum_mid_c": 144 + 128 + 192 + 144 + 144 + 576 + 288 + 816 + 816 + 768 + 576,
        "flops_m": pytest.approx(305.047776),
    }
    table = ofa_mbv3.NET.arch_table(keys)
    assert table.column("arch_id").to_pylist()[0] == ARCH0_ID
    assert table.column("flops_m").to_pylist()[1] == pytest.approx(100.320888)
    assert table.schema.field("resolution").type == pa.int32()
    with pytest.raises(BadArchKey, match="repeats"):
        ofa_mbv3.NET.arch_table([ARCH0_KEY, ARCH0_KEY])


def test_fpga_codec():
    net = ofa_fpga.NET
    assert (net.n_layers, len(net.elastic_stages), ofa_fpga.NET.onehot_dim) == (21, 5, 148)
    rng = np.random.default_rng(0)
    archs = [{"ks": rng.choice(net.kernels, 21), "e": rng.choice(net.expand_ratios, 21),
              "d": rng.choice(net.depths, 5), "r": rng.choice(net.resolutions)}
             for _ in range(200)]
    keys = ofa_fpga.NET.keys_from_archs(archs)
    assert ofa_fpga.NET.format_keys(ofa_fpga.NET.parse_keys(keys)) == keys
    assert all(k.split("-ks")[1].split("-e")[0].split(",")[-1] != "0" for k in keys)
    with pytest.raises(BadArchKey, match="e value 3"):
        ofa_fpga.NET.canonical([3] * 21, [3] * 21, [2] * 5, 128)
    with pytest.raises(BadArchKey, match="r value 132"):
        ofa_fpga.NET.canonical([3] * 21, [4] * 21, [2] * 5, 132)
    layers = ofa_fpga.NET.active_layers(keys[:1])
    assert set(layers["activation"]) == {"relu6"} and not layers["se"].any()


def test_empty_inputs():
    assert ofa_mbv3.NET.keys_from_archs([]) == []
    assert ofa_mbv3.NET.flops([]).shape == (0,) and ofa_mbv3.NET.onehot([]).shape == (0, 160)
    assert ofa_mbv3.NET.layer_op_keys([]).height == 0 and ofa_mbv3.NET.arch_table([]).num_rows == 0
