"""SpaceFeatures: shapes, hand-checked values on four NB201 cells, order, read-only, bad input."""

import numpy as np
import pytest
from oneproxy.analytics.predictors import InvalidPredictorInput
from oneproxy.analytics.predictors.encodings import KERNEL_COLUMNS, ONEHOT_COLUMNS, space_features
from oneproxy.warehouse.errors import UnknownSpace
from oneproxy.warehouse.spaces import nb201

ALL_CONV3 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
# node 2 has no input, so node 3 (fed only by node 2) is cut off: the cell outputs zeros
DISCONNECTED = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
MIXED = "|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|"
# nodes 1 and 2 lead nowhere: both convolutions are dead, only the skip 3←0 runs
DEAD_CONVS = "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|none~2|"
KEYS = (ALL_CONV3, DISCONNECTED, MIXED, DEAD_CONVS)

BASE_FLOPS = 7.78305  # stem, reduction blocks and classifier (CIFAR-10, millions)
CONV3_FLOPS = 35.38944  # one 3×3 edge in all 15 cells
CONV1_FLOPS = 3.93216


def kernel_row(features, i: int) -> dict[str, float]:
    return dict(zip(KERNEL_COLUMNS, features.matrix("kernel")[i].tolist(), strict=True))


def test_shapes_and_column_names():
    f = space_features("nb201", KEYS)
    assert f.space == "nb201"
    assert f.arch_keys == KEYS
    assert f.n_archs == 4
    assert f.matrix("onehot").shape == (4, 31)
    assert f.matrix("live_onehot").shape == (4, 31)
    assert f.matrix("kernel").shape == (4, 30)
    assert f.columns["kernel"] == KERNEL_COLUMNS
    assert f.columns["onehot"][:6] == (
        "e0_none", "e0_skip_connect", "e0_nor_conv_1x1", "e0_nor_conv_3x3", "e0_avg_pool_3x3",
        "e1_none",
    )
    assert len(ONEHOT_COLUMNS) == 31


def test_all_conv3_cell():
    f = space_features("nb201", KEYS)
    row = kernel_row(f, 0)
    assert row["n_nor_conv_3x3"] == row["n_live_nor_conv_3x3"] == row["n_live_ops"] == 6
    assert row["n_none"] == row["n_dead_ops"] == row["disconnected"] == 0
    assert row["n_live_sums"] == 3  # node 2 adds 2 inputs, node 3 adds 3
    assert row["live_depth"] == row["live_conv_depth"] == 3
    assert row["flops_m"] == row["live_flops_m"] == pytest.approx(220.11969)  # NB201's own value
    assert row["params_m"] == pytest.approx(1.531546)
    np.testing.assert_array_equal(f.matrix("onehot")[0], f.matrix("live_onehot")[0])


def test_disconnected_cell_has_no_live_ops():
    f = space_features("nb201", KEYS)
    row = kernel_row(f, 1)
    assert row["disconnected"] == 1
    assert row["n_live_ops"] == row["n_live_sums"] == row["live_depth"] == 0
    assert row["n_none"] == 4
    assert row["n_dead_ops"] == 2
    assert (row["n_skip_connect"], row["n_nor_conv_3x3"]) == (1, 1)
    assert row["flops_m"] == pytest.approx(BASE_FLOPS + CONV3_FLOPS)
    assert row["live_flops_m"] == pytest.approx(BASE_FLOPS)
    live = f.matrix("live_onehot")[1]
    np.testing.assert_array_equal(live[:-1].reshape(6, 5)[:, 0], np.ones(6))  # all `none`
    assert live.sum() == 7
    assert [row[f"op_e{e}"] for e in range(6)] == [3, 0, 0, 0, 0, 1]
    assert [row[f"live_op_e{e}"] for e in range(6)] == [0] * 6


def test_mixed_and_dead_conv_cells():
    f = space_features("nb201", KEYS)
    mixed = kernel_row(f, 2)
    assert [mixed[f"n_live_{op}"] for op in nb201.OPS[1:]] == [1, 1, 1, 1]
    assert (mixed["n_live_ops"], mixed["n_dead_ops"], mixed["n_live_sums"]) == (4, 0, 1)
    assert (mixed["live_depth"], mixed["live_conv_depth"]) == (3, 1)
    dead = kernel_row(f, 3)
    assert (dead["n_live_ops"], dead["n_dead_ops"], dead["disconnected"]) == (1, 2, 0)
    assert dead["n_live_skip_connect"] == 1
    assert (dead["live_depth"], dead["live_conv_depth"]) == (1, 0)
    assert mixed["flops_m"] == dead["flops_m"] == pytest.approx(
        BASE_FLOPS + CONV3_FLOPS + CONV1_FLOPS
    )
    assert dead["live_flops_m"] == pytest.approx(BASE_FLOPS)
    ops = nb201.ops_matrix(KEYS)
    np.testing.assert_array_equal(f.matrix("onehot"), nb201.onehot(ops))
    np.testing.assert_array_equal(f.matrix("live_onehot"), nb201.live_onehot(ops))


def test_whole_space_counts():
    keys = [nb201.format_arch(row) for row in nb201.all_op_tuples()]
    kernel = space_features("nb201", keys).matrix("kernel")
    col = {name: kernel[:, i] for i, name in enumerate(KERNEL_COLUMNS)}
    assert int(col["disconnected"].sum()) == 341  # the cells Eagle dropped
    assert (col["n_live_ops"][col["disconnected"] == 1] == 0).all()
    np.testing.assert_array_equal(sum(col[f"n_{op}"] for op in nb201.OPS), np.full(len(keys), 6))
    np.testing.assert_array_equal(
        col["n_live_ops"], sum(col[f"n_live_{op}"] for op in nb201.OPS[1:])
    )
    assert col["live_depth"].max() == 3
    assert (col["live_flops_m"] <= col["flops_m"]).all()


def test_rows_follow_the_given_order_and_are_read_only():
    forward = space_features("nb201", KEYS)
    backward = space_features("nb201", KEYS[::-1])
    for name in ("onehot", "live_onehot", "kernel"):
        np.testing.assert_array_equal(backward.matrix(name), forward.matrix(name)[::-1])
        with pytest.raises(ValueError, match="read-only"):
            forward.matrix(name)[0, 0] = 5.0


def test_costs_follow_the_dataset():
    f = space_features("nb201", [ALL_CONV3], dataset="ImageNet16-120")
    assert kernel_row(f, 0)["flops_m"] == pytest.approx(
        float(nb201.flops(nb201.ops_matrix([ALL_CONV3]), "ImageNet16-120")[0])
    )


def test_bad_input_is_named():
    with pytest.raises(UnknownSpace,
                       match="unknown space 'nb999': known spaces are .*fbnet, .*nb201"):
        space_features("nb999", KEYS)
    with pytest.raises(nb201.BadArchKey, match="unknown op 'conv_5x5'"):
        space_features("nb201", ["|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
    with pytest.raises(InvalidPredictorInput, match="arch_keys is empty"):
        space_features("nb201", [])
    with pytest.raises(nb201.UnknownDataset, match="'svhn'"):
        space_features("nb201", KEYS, dataset="svhn")
    with pytest.raises(InvalidPredictorInput,
                       match="no encoding 'onehot2'; use one of counts, kernel"):
        space_features("nb201", KEYS).matrix("onehot2")


def test_kernel_counts_match_their_definitions_on_the_whole_space():
    ops = nb201.all_op_tuples()
    live = nb201.live_mask(ops)
    f = space_features("nb201", [nb201.format_arch(row) for row in ops])
    kernel = f.matrix("kernel")
    col = {name: kernel[:, i] for i, name in enumerate(KERNEL_COLUMNS)}
    counts = np.stack([np.bincount(row, minlength=nb201.N_OPS) for row in ops])
    live_counts = np.stack([np.bincount(row[on], minlength=nb201.N_OPS)
                            for row, on in zip(ops, live, strict=True)])
    for k, op in enumerate(nb201.OPS):
        np.testing.assert_array_equal(col[f"n_{op}"], counts[:, k])
        if k:
            np.testing.assert_array_equal(col[f"n_live_{op}"], live_counts[:, k])
    np.testing.assert_array_equal(col["n_dead_ops"], ((ops != nb201.NONE) & ~live).sum(axis=1))
    np.testing.assert_array_equal(f.matrix("onehot")[:, :-1],
                                  np.eye(nb201.N_OPS)[ops].reshape(len(ops), -1))
    assert kernel.dtype == np.float64 and kernel.flags.c_contiguous
