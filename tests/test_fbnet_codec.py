"""FBNet codec: keys, ids, hand-computed costs, kernel configs, HW-NAS-Bench op keys, real files."""

import numpy as np
import polars as pl
import pytest
from oneproxy.ingest.registry import file
from oneproxy.ingest.safe_load import load_file
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.spaces import fbnet
from oneproxy.warehouse.spaces.fbnet import (
    KERNEL_FEATURES,
    OPS,
    BadArchKey,
    UnknownDataset,
    arch_ids,
    arch_table,
    check_matrix,
    counts,
    flops,
    format_key,
    kernel_features,
    keys,
    layer_configs,
    matrix,
    matrix_from_names,
    onehot,
    params,
    parse_key,
)
from oneproxy.warehouse.spaces.fbnet_ops import (
    OP_KEY_COLUMNS,
    POSITIONS,
    UnknownOpKey,
    format_op_key,
    layer_op_keys,
    parse_op_key,
)

SKIP, K3_E1, K3_E1_G2, K5_E6 = (OPS.index(op) for op in ("skip", "k3_e1", "k3_e1_g2", "k5_e6"))
ALL_SKIP = (SKIP,) * 22
ALL_K3_E1 = (K3_E1,) * 22
MIXED = (K5_E6, K3_E1_G2) + (SKIP,) * 20
# HELP's first FBNet architecture (metainfo.pt arch[0]) and its id, frozen: ids must never move.
HELP0 = (
    "k5_e6-skip-k3_e1_g2-skip-k5_e1-skip-skip-skip-k5_e6-k5_e1-k3_e1_g2-k5_e1-k5_e6-k3_e6-k3_e3-"
    "k5_e6-k3_e6-k3_e3-k5_e1-k3_e3-k5_e1-k5_e1_g2"
)
HELP0_OPS = (7, 8, 1, 8, 4, 8, 8, 8, 7, 4, 1, 4, 7, 3, 2, 7, 3, 2, 4, 2, 4, 5)
HELP0_ID = 5161448836201627632

# CIFAR-100 layers written out: (input H, C_in, C_out, stride); output H = input H / stride.
CIFAR_LAYERS = (
    (32, 16, 16, 1),
    (32, 16, 24, 1), (32, 24, 24, 1), (32, 24, 24, 1), (32, 24, 24, 1),
    (32, 24, 32, 2), (16, 32, 32, 1), (16, 32, 32, 1), (16, 32, 32, 1),
    (16, 32, 64, 2), (8, 64, 64, 1), (8, 64, 64, 1), (8, 64, 64, 1),
    (8, 64, 112, 1), (8, 112, 112, 1), (8, 112, 112, 1), (8, 112, 112, 1),
    (8, 112, 184, 2), (4, 184, 184, 1), (4, 184, 184, 1), (4, 184, 184, 1),
    (4, 184, 352, 1),
)
# Fixed parts at 32×32, MACs and params (conv weights, BN 2 per channel, FC weights + biases):
STEM_MACS = 32 * 32 * 9 * 3 * 16  # 442,368
STEM_PARAMS = 9 * 3 * 16 + 2 * 16  # 464
HEAD_MACS = 4 * 4 * 352 * 1504  # header conv1x1 at 4×4: 8,470,528
HEAD_PARAMS = 352 * 1504 + 2 * 1504  # 532,416
FC = 1504 * 100 + 100  # MACs (weights + one per bias) = params: 150,500
# The six skips that are conv1x1 projections (C_in ≠ C_out or stride 2), MACs at output H:
PROJ_MACS = (
    32 * 32 * 16 * 24  # layer 1: 393,216
    + 16 * 16 * 24 * 32  # layer 5: 196,608
    + 8 * 8 * 32 * 64  # layer 9: 131,072
    + 8 * 8 * 64 * 112  # layer 13: 458,752
    + 4 * 4 * 112 * 184  # layer 17: 329,728
    + 4 * 4 * 184 * 352  # layer 21: 1,036,288
)  # 2,545,664
PROJ_PARAMS = sum(ci * co + 2 * co for ci, co in
                  ((16, 24), (24, 32), (32, 64), (64, 112), (112, 184), (184, 352)))  # 97,280
ALL_SKIP_MACS = STEM_MACS + PROJ_MACS + HEAD_MACS + FC  # 11,609,060
ALL_SKIP_PARAMS = STEM_PARAMS + PROJ_PARAMS + HEAD_PARAMS + FC  # 780,660
# MIXED: layer 0 k5_e6 (16→16 at 32², mid 96); layer 1 k3_e1_g2 (16→24 at 32², mid 16, 1x1s in
# 2 groups) replaces the layer-1 projection skip.
L0_MACS = 32 * 32 * 16 * 96 + 32 * 32 * (25 * 96 + 96 * 16)  # 5,603,328
L0_PARAMS = 16 * 96 + 25 * 96 + 96 * 16 + 2 * (96 + 96 + 16)  # 5,888
L1_MACS = 32 * 32 * (16 * 16 // 2 + 9 * 16 + 16 * 24 // 2)  # 475,136
L1_PARAMS = 16 * 16 // 2 + 9 * 16 + 16 * 24 // 2 + 2 * (16 + 16 + 24)  # 576
MIXED_MACS = ALL_SKIP_MACS - 32 * 32 * 16 * 24 + L0_MACS + L1_MACS  # 17,294,308
MIXED_PARAMS = ALL_SKIP_PARAMS - (16 * 24 + 2 * 24) + L0_PARAMS + L1_PARAMS  # 786,692


def k3_e1_cost() -> tuple[int, int]:
    """All-k3_e1 by the ConvBlock formula over the written-out layers (mid = C_in)."""
    macs = params_ = 0
    for h, ci, co, s in CIFAR_LAYERS:
        ho = h // s
        macs += h * h * ci * ci + ho * ho * (9 * ci + ci * co)
        params_ += ci * ci + 9 * ci + ci * co + 2 * (2 * ci + co)
    return STEM_MACS + macs + HEAD_MACS + FC, STEM_PARAMS + params_ + HEAD_PARAMS + FC


def test_key_round_trip_and_stable_id():
    assert parse_key(HELP0) == HELP0_OPS
    assert format_key(HELP0_OPS) == HELP0
    assert arch_ids([HELP0]).tolist() == [HELP0_ID]
    m = matrix([HELP0, format_key(ALL_SKIP)])
    assert m.dtype == np.int8 and m.shape == (2, 22)
    assert keys(m) == [HELP0, "-".join(["skip"] * 22)]
    assert matrix_from_names([HELP0.split("-")]).tolist() == [list(HELP0_OPS)]
    assert matrix([]).shape == (0, 22)


def test_hand_computed_flops_and_params():
    m = np.array([ALL_SKIP, ALL_K3_E1, MIXED])
    k3_macs, k3_params = k3_e1_cost()
    assert ALL_SKIP_MACS == 11_609_060 and MIXED_MACS == 17_294_308
    np.testing.assert_allclose(flops(m, "cifar100"), [11.60906, k3_macs / 1e6, 17.294308])
    np.testing.assert_allclose(params(m, "cifar100"), [0.78066, k3_params / 1e6, 0.786692])
    # ImageNet all-skip: stem at 112², projections at 56, 28, 14, 14, 7, 7, header at 7².
    imagenet = (112 * 112 * 27 * 16 + 56 * 56 * 16 * 24 + 28 * 28 * 24 * 32 + 14 * 14 * 32 * 64
                + 14 * 14 * 64 * 112 + 7 * 7 * 112 * 184 + 7 * 7 * 184 * 352
                + 7 * 7 * 352 * 1984 + 1984 * 1000 + 1000)  # 49,420,136
    np.testing.assert_allclose(flops([ALL_SKIP], "imagenet"), [imagenet / 1e6])


def test_layer_configs_progression():
    lc = layer_configs(np.array([ALL_SKIP, MIXED]))
    assert lc.shape == (44, 16)
    assert lc.group_by("arch_row").len().sort("arch_row")["len"].to_list() == [22, 22]
    first = lc.filter(pl.col("arch_row") == 0)
    assert list(zip(*(first[c].to_list() for c in ("input_h", "cin", "cout", "stride")),
                    strict=True)) == list(CIFAR_LAYERS)
    assert first["output_h"].to_list() == [h // s for h, _, _, s in CIFAR_LAYERS]
    # Skips: kernel 1 / groups 1 where they project (layers 1, 5, 9, 13, 17, 21), else null.
    assert first.filter(pl.col("kernel") == 1)["layer"].to_list() == [1, 5, 9, 13, 17, 21]
    assert first["kernel"].null_count() == 16 and first["expansion"].null_count() == 22
    mixed = lc.filter(pl.col("arch_row") == 1).head(2)
    assert mixed.select("op", "kernel", "expansion", "groups", "macs", "params").rows() == [
        ("k5_e6", 5, 6, 1, L0_MACS, L0_PARAMS), ("k3_e1_g2", 3, 1, 2, L1_MACS, L1_PARAMS)]
    assert lc.group_by("arch_row").agg(pl.col("macs").sum()).sort("arch_row")["macs"].to_list() \
        == [PROJ_MACS, MIXED_MACS - STEM_MACS - HEAD_MACS - FC]
    imagenet = layer_configs([ALL_SKIP], "imagenet")
    assert imagenet["input_h"].unique(maintain_order=True).to_list() == [112, 56, 28, 14, 7]
    assert imagenet["stride"].to_list()[:2] == [1, 2]


def test_onehot_counts_and_kernel_features():
    m = np.array([ALL_SKIP, MIXED, HELP0_OPS])
    x = onehot(m)
    assert x.shape == (3, 199) and x.sum(axis=1).tolist() == [23, 23, 23] and (x[:, -1] == 1).all()
    assert x[1, :9].tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 0] and x[1, 9 + K3_E1_G2] == 1
    assert counts(m)[:2].tolist() == [[0] * 8 + [22], [0, 1, 0, 0, 0, 0, 0, 1, 20]]
    assert counts(m)[2].tolist() == [0, 2, 3, 2, 5, 1, 0, 4, 5]
    f = dict(zip(KERNEL_FEATURES, kernel_features(m)[1], strict=True))
    assert len(KERNEL_FEATURES) == 25 and f["flops_m"] == pytest.approx(MIXED_MACS / 1e6)
    assert (f["n_convs"], f["n_residual_adds"], f["n_stride2_blocks"]) == (2 + 6 + 5, 1, 0)
    assert (f["n_projections"], f["n_identities"], f["n_grouped"]) == (5, 15, 1)
    assert f["flops_m_k5_e6"] == pytest.approx(L0_MACS / 1e6)
    assert f["flops_m_skip"] == pytest.approx((PROJ_MACS - 32 * 32 * 16 * 24) / 1e6)
    assert f["flops_m_stage0"] == pytest.approx(L0_MACS / 1e6)
    # Stage FLOPs and op FLOPs both partition the 22 layers' FLOPs.
    features = kernel_features(m)
    per_op = features[:, KERNEL_FEATURES.index("flops_m_k3_e1"):][:, :9].sum(axis=1)
    per_stage = features[:, KERNEL_FEATURES.index("flops_m_stage0"):].sum(axis=1)
    np.testing.assert_allclose(per_op, per_stage)
    np.testing.assert_allclose(per_op + (STEM_MACS + HEAD_MACS + FC) / 1e6, features[:, 0])


def test_arch_table():
    table = arch_table(np.array([HELP0_OPS, ALL_SKIP]))
    assert table.column_names == ["space_id", "arch_id", "arch_key", "flops_m", "params_m"]
    assert table.to_pydict()["arch_id"][0] == HELP0_ID
    assert table.to_pydict()["flops_m"][1] == pytest.approx(11.60906)
    with pytest.raises(BadArchKey, match="k5_e6-skip-k3_e1_g2.*more than once"):
        arch_table(np.array([HELP0_OPS, ALL_SKIP, HELP0_OPS]))


@pytest.mark.parametrize(("key", "message"), [
    ("k3_e1-" * 21 + "k3_e1-skip", "expected 22 op names joined by '-', found 23"),
    ("k3_e1", "found 1"),
    ("", "found 1"),
    ("-".join(["skip"] * 21 + ["k7_e1"]), "unknown op 'k7_e1' at layer 21"),
    ("-".join(["k3_e1", "K3_E1"] + ["skip"] * 20), "unknown op 'K3_E1' at layer 1"),
    (42, "is a int, not a str"),
])
def test_bad_keys(key, message):
    with pytest.raises(BadArchKey, match=message):
        parse_key(key)
    with pytest.raises(BadArchKey, match=message):
        matrix([HELP0, key])


def test_bad_matrices_names_and_datasets():
    assert issubclass(BadArchKey, OneproxyError) and issubclass(BadArchKey, ValueError)
    with pytest.raises(BadArchKey, match="row 1 .* op indices must be in 0…8"):
        check_matrix([ALL_SKIP, (9,) * 22])
    with pytest.raises(BadArchKey, match=r"shape \(1, 21\)"):
        onehot([(0,) * 21])
    with pytest.raises(BadArchKey, match="dtype float"):
        flops(np.zeros((1, 22)), "cifar100")
    with pytest.raises(BadArchKey, match="one row"):
        format_key([ALL_SKIP, ALL_SKIP])
    with pytest.raises(BadArchKey, match="row 1 has 21 names"):
        matrix_from_names([HELP0.split("-"), ["skip"] * 21])
    with pytest.raises(BadArchKey, match="row 0: unknown op 'conv' at layer 3"):
        matrix_from_names([["skip"] * 3 + ["conv"] + ["skip"] * 18])
    with pytest.raises(UnknownDataset, match="'cifar10'.*cifar100, imagenet"):
        flops([ALL_SKIP], "cifar10")


def test_op_key_parse_and_format():
    block = parse_op_key("ConvBlock_H32_W32_Cin24_Cout32_exp6_kernel5_stride2_group1")
    assert tuple(block) == OP_KEY_COLUMNS
    assert block == {
        "op_type": "ConvBlock", "input_h": 32, "input_w": 32, "input_c": 24, "output_h": 16,
        "output_w": 16, "output_c": 32, "mid_c": 144, "expand_ratio": 6.0, "kernel": 5,
        "stride": 2, "groups": 1, "idskip": False, "se": False, "activation": "relu",
    }
    identity = parse_op_key("Skip_H8_W8_Cin64_Cout64_stride1")
    assert (identity["idskip"], identity["kernel"], identity["activation"]) == (True, None, None)
    projection = parse_op_key("Skip_H8_W8_Cin64_Cout112_stride1")
    assert (projection["idskip"], projection["kernel"], projection["groups"]) == (False, 1, 1)
    pool = parse_op_key("AvgP_H4_W4_Cin1504_Cout1504_kernel4_stride1")
    assert (pool["output_h"], pool["output_w"], pool["groups"]) == (1, 1, None)
    fc = parse_op_key("FC_Cin1504_Cout100")
    assert (fc["input_c"], fc["output_c"], fc["input_h"], fc["stride"]) == (1504, 100, None, None)
    for key in ("ConvNorm_H32_W32_Cin3_Cout16_kernel3_stride1_group1",
                "ConvBlock_H4_W4_Cin184_Cout184_exp1_kernel5_stride1_group2",
                "Skip_H32_W32_Cin24_Cout32_stride2", "AvgP_H7_W7_Cin1984_Cout1984_kernel7_stride1",
                "FC_Cin1984_Cout1000"):
        assert format_op_key(parse_op_key(key)) == key


@pytest.mark.parametrize("key", [
    "ConvBlock_H32_W32_Cin24_Cout32_kernel5_stride2_group1",  # no exp
    "ConvNorm_H32_W32_Cin3_Cout16_kernel3_stride1_group1_extra",
    "Conv_H32_W32_Cin3_Cout16_kernel3_stride1_group1",
    "Skip_H32_W32_Cin16_Cout16_stride0",
    "FC_Cin1504",
    "",
])
def test_unknown_op_keys(key):
    with pytest.raises(UnknownOpKey, match="op key"):
        parse_op_key(key)


def test_format_op_key_errors():
    with pytest.raises(UnknownOpKey, match="op type 'Pool'"):
        format_op_key({"op_type": "Pool"})
    with pytest.raises(UnknownOpKey, match="integer output_c, got None"):
        format_op_key({"op_type": "FC", "input_c": 10})
    with pytest.raises(UnknownOpKey, match="integer expand_ratio, got 1.5"):
        format_op_key({**parse_op_key("ConvBlock_H4_W4_Cin8_Cout8_exp1_kernel3_stride1_group1"),
                       "expand_ratio": 1.5})


def test_layer_op_keys_of_a_fixed_arch():
    frame = layer_op_keys([MIXED, ALL_SKIP])
    assert frame.columns == ["arch_row", "position", "op_key"] and frame.height == 52
    assert len(POSITIONS) == 26 and frame["position"].to_list()[:26] == list(range(26))
    assert frame.filter(pl.col("arch_row") == 0)["op_key"].to_list() == [
        "ConvNorm_H32_W32_Cin3_Cout16_kernel3_stride1_group1",
        "ConvBlock_H32_W32_Cin16_Cout16_exp6_kernel5_stride1_group1",
        "ConvBlock_H32_W32_Cin16_Cout24_exp1_kernel3_stride1_group2",
        *["Skip_H32_W32_Cin24_Cout24_stride1"] * 3,
        "Skip_H32_W32_Cin24_Cout32_stride2",
        *["Skip_H16_W16_Cin32_Cout32_stride1"] * 3,
        "Skip_H16_W16_Cin32_Cout64_stride2",
        *["Skip_H8_W8_Cin64_Cout64_stride1"] * 3,
        "Skip_H8_W8_Cin64_Cout112_stride1",
        *["Skip_H8_W8_Cin112_Cout112_stride1"] * 3,
        "Skip_H8_W8_Cin112_Cout184_stride2",
        *["Skip_H4_W4_Cin184_Cout184_stride1"] * 3,
        "Skip_H4_W4_Cin184_Cout352_stride1",
        "ConvNorm_H4_W4_Cin352_Cout1504_kernel1_stride1_group1",
        "AvgP_H4_W4_Cin1504_Cout1504_kernel4_stride1",
        "FC_Cin1504_Cout100",
    ]
    imagenet = layer_op_keys([ALL_SKIP], "imagenet")["op_key"].to_list()
    assert imagenet[0] == "ConvNorm_H224_W224_Cin3_Cout16_kernel3_stride2_group1"
    assert imagenet[2] == "Skip_H112_W112_Cin16_Cout24_stride2"
    assert imagenet[-3:] == ["ConvNorm_H7_W7_Cin352_Cout1984_kernel1_stride1_group1",
                             "AvgP_H7_W7_Cin1984_Cout1984_kernel7_stride1", "FC_Cin1984_Cout1000"]


def _macs_of_key(row: dict) -> int:
    """MACs of one lookup-table entry from its parsed fields alone."""
    t = row["op_type"]
    if t == "FC":
        return row["input_c"] * row["output_c"] + row["output_c"]
    if t == "AvgP" or row["idskip"] and t == "Skip":
        return 0
    out = row["output_h"] * row["output_w"]
    if t == "ConvBlock":
        mid, g = row["mid_c"], row["groups"]
        return (row["input_h"] * row["input_w"] * row["input_c"] * mid // g
                + out * (row["kernel"] ** 2 * mid + mid * row["output_c"] // g))
    return out * row["kernel"] ** 2 * row["input_c"] * row["output_c"] // row["groups"]


@pytest.fixture(scope="module")
def help_fbnet(resolve):
    meta = load_file(resolve(file("help", "data/fbnet/metainfo.pt")))
    arch = load_file(resolve(file("help", "data/fbnet/arch.pt")))
    return meta, arch


@pytest.mark.integration
def test_help_architectures_round_trip(help_fbnet):
    meta, arch = help_fbnet
    assert (meta["dataset"], meta["num_classes"], len(meta["arch"])) == ("cifar100", 100, 5000)
    m = matrix_from_names([a["arch_str"] for a in meta["arch"]])
    np.testing.assert_array_equal(m, [a["op_idx_list"] for a in meta["arch"]])
    np.testing.assert_array_equal(m, arch)
    arch_keys = keys(m)
    assert arch_keys[0] == HELP0 and len(set(arch_keys)) == 5000
    np.testing.assert_array_equal(matrix(arch_keys), m)
    table = arch_table(m)
    ids = table["arch_id"].to_numpy()
    assert ids[0] == HELP0_ID and np.unique(ids).size == 5000 and (ids >= 0).all()
    by_id = dict(zip(ids.tolist(), table["arch_key"].to_pylist(), strict=True))
    assert [by_id[i] for i in arch_ids(arch_keys).tolist()] == arch_keys  # key → id → key
    assert layer_configs(m).height == 5000 * 22
    assert (onehot(m).sum(axis=1) == 23).all() and (counts(m).sum(axis=1) == 22).all()


@pytest.mark.integration
def test_help_architectures_priced_by_op_keys_match_flops(help_fbnet):
    """Summing a table of per-key MACs (from parsed keys) over layer_op_keys equals `flops`."""
    m = np.asarray(help_fbnet[1])
    layers = layer_op_keys(m)
    distinct = layers["op_key"].unique().to_list()
    table = pl.DataFrame({"op_key": distinct,
                          "macs": [_macs_of_key(parse_op_key(k)) for k in distinct]})
    priced = (layers.join(table, on="op_key", how="left").group_by("arch_row")
              .agg(pl.col("macs").sum()).sort("arch_row"))
    assert priced.height == 5000
    np.testing.assert_array_equal(priced["macs"].to_numpy(), np.rint(flops(m, "cifar100") * 1e6))
    assert fbnet.DATASETS["cifar100"].classes == help_fbnet[0]["num_classes"]
