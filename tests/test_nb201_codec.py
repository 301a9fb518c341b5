"""NAS-Bench-201 codec: round trips, liveness, hand-computed costs, bad input, real files."""

import io
import pickle
import re
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.spaces import nb201
from oneproxy.warehouse.spaces.nb201 import (
    BadArchKey,
    UnknownDataset,
    all_op_tuples,
    arch_table,
    decode_onehot,
    disconnected,
    flops,
    format_arch,
    live_flops,
    live_mask,
    live_onehot,
    onehot,
    ops_code,
    ops_matrix,
    params,
    parse_arch,
)

# NAS-Bench-201 index 0; the API reports flops 15.64737 and params 0.129306 for it on cifar10.
ARCH0 = (
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
)
ALL_3X3 = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    "+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
# The conv on 1←0 is dead (node 1 feeds nothing), 2←1 and 3←2 hang off an unfed node 1.
DEAD_EDGES = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
UNFED = "|none~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
# Convs everywhere except the edges into node 3 from 0 and 1, and 3←2 is `none`: disconnected.
CUT = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|"

# Hand computation of the macro-architecture at 32×32 (cifar), MACs and parameters:
STEM_MACS = 32 * 32 * 9 * 3 * 16  # 442,368
RED1_MACS = 16 * 16 * (9 * 16 * 32 + 9 * 32 * 32 + 16 * 32)  # 3,670,016
RED2_MACS = 8 * 8 * (9 * 32 * 64 + 9 * 64 * 64 + 32 * 64)  # 3,670,016
HEAD10_MACS = 64 * 10 + 10  # classifier weights + bias
BASE10_MACS = STEM_MACS + RED1_MACS + RED2_MACS + HEAD10_MACS  # 7,783,050
STEM_PARAMS = 9 * 3 * 16 + 2 * 16  # 464
RED1_PARAMS = 9 * 16 * 32 + 9 * 32 * 32 + 16 * 32 + 2 * 32 + 2 * 32  # 14,464
RED2_PARAMS = 9 * 32 * 64 + 9 * 64 * 64 + 32 * 64 + 2 * 64 + 2 * 64  # 57,600
HEAD10_PARAMS = 2 * 64 + 64 * 10 + 10  # last BN + classifier: 778
BASE10_PARAMS = STEM_PARAMS + RED1_PARAMS + RED2_PARAMS + HEAD10_PARAMS  # 73,306
# One cell edge, summed over the 5 cells of each stage (32², 16², 8² at C = 16, 32, 64):
CONV3_MACS = 5 * (32 * 32 * 9 * 16 * 16 + 16 * 16 * 9 * 32 * 32 + 8 * 8 * 9 * 64 * 64)
CONV1_MACS = 5 * (32 * 32 * 16 * 16 + 16 * 16 * 32 * 32 + 8 * 8 * 64 * 64)
CONV3_PARAMS = 5 * ((9 * 16 * 16 + 32) + (9 * 32 * 32 + 64) + (9 * 64 * 64 + 128))
CONV1_PARAMS = 5 * ((16 * 16 + 32) + (32 * 32 + 64) + (64 * 64 + 128))


def test_hand_computation_of_costs_on_cifar10():
    assert BASE10_MACS == 7_783_050 and BASE10_PARAMS == 73_306
    expected = {
        ALL_NONE: (BASE10_MACS, BASE10_PARAMS),  # 7.78305 MFLOPs, 0.073306 M
        ARCH0: (BASE10_MACS + 2 * CONV1_MACS, BASE10_PARAMS + 2 * CONV1_PARAMS),
        ALL_3X3: (BASE10_MACS + 6 * CONV3_MACS, BASE10_PARAMS + 6 * CONV3_PARAMS),
    }
    ops = ops_matrix(expected)
    want_flops = np.array([f for f, _ in expected.values()]) / 1e6
    want_params = np.array([p for _, p in expected.values()]) / 1e6
    np.testing.assert_array_equal(flops(ops, "cifar10"), want_flops)
    np.testing.assert_array_equal(params(ops, "cifar10"), want_params)
    # The NAS-Bench-201 API's numbers for index 0, and the paper's ~220 MFLOPs / ~1.53 M.
    np.testing.assert_allclose(want_flops, [7.78305, 15.64737, 220.11969], rtol=0, atol=1e-9)
    np.testing.assert_allclose(want_params, [0.073306, 0.129306, 1.531546], rtol=0, atol=1e-12)


def test_costs_on_cifar100_and_imagenet16():
    ops = ops_matrix([ALL_NONE, ALL_3X3])
    head100 = (64 * 100 + 100) - HEAD10_MACS
    np.testing.assert_allclose(
        flops(ops, "cifar100"),
        np.array([BASE10_MACS + head100, BASE10_MACS + head100 + 6 * CONV3_MACS]) / 1e6,
        rtol=0,
        atol=1e-12,
    )
    np.testing.assert_allclose(params(ops, "cifar100"), [0.079156, 1.537396], rtol=0, atol=1e-12)
    # 16×16 input: every spatial term is a quarter of cifar's.
    in16 = (BASE10_MACS - HEAD10_MACS) // 4 + 64 * 120 + 120
    np.testing.assert_allclose(
        flops(ops, "ImageNet16-120"),
        np.array([in16, in16 + 6 * CONV3_MACS // 4]) / 1e6,
        rtol=0,
        atol=1e-12,
    )
    np.testing.assert_allclose(flops(ops, "ImageNet16-120"), [1.9534, 55.03756], atol=1e-9)
    np.testing.assert_allclose(params(ops, "ImageNet16-120"), [0.080456, 1.538696], atol=1e-12)


def test_pool_skip_none_cost_nothing_and_costs_are_ordered():
    ops = all_op_tuples()
    for dataset in nb201.DATASETS:
        f, p = flops(ops, dataset), params(ops, dataset)
        assert np.unique(f[np.isin(ops, (0, 1, 4)).all(axis=1)]).size == 1
        assert f.argmax() == p.argmax() == ops_code([3] * 6)[0]
        assert np.unique(f).size == 28  # counts of 1x1 and 3x3 convs: (a, b) with a + b <= 6


def test_live_flops_count_only_live_ops():
    ops = ops_matrix([ARCH0, DEAD_EDGES, CUT, ALL_3X3])
    np.testing.assert_array_equal(
        live_flops(ops, "cifar10") * 1e6,
        [BASE10_MACS + 2 * CONV1_MACS, BASE10_MACS, BASE10_MACS, BASE10_MACS + 6 * CONV3_MACS],
    )
    assert (live_flops(all_op_tuples(), "cifar10") <= flops(all_op_tuples(), "cifar10")).all()


def test_unknown_dataset_names_the_choices():
    with pytest.raises(UnknownDataset, match=r"'cifar-10'.*cifar10, cifar100, ImageNet16-120"):
        flops([0] * 6, "cifar-10")


def test_all_op_tuples_is_lexicographic_and_ops_code_is_its_row():
    table = all_op_tuples()
    assert table.shape == (15_625, 6) and table.dtype == np.int8
    assert tuple(table[0]) == (0,) * 6 and tuple(table[1]) == (0, 0, 0, 0, 0, 1)
    assert tuple(table[-1]) == (4,) * 6
    np.testing.assert_array_equal(ops_code(table), np.arange(15_625))
    assert ops_code((1, 0, 0, 0, 0, 0))[0] == 5**5


def test_string_round_trip_for_every_architecture():
    table = all_op_tuples()
    strings = [format_arch(row) for row in table]
    assert len(set(strings)) == 15_625
    assert all(parse_arch(s) == tuple(row) for s, row in zip(strings, table, strict=True))
    np.testing.assert_array_equal(ops_matrix(strings), table)
    assert parse_arch(ARCH0) == (4, 2, 1, 2, 1, 1)
    assert format_arch((4, 2, 1, 2, 1, 1)) == ARCH0
    assert ops_matrix([]).shape == (0, 6)


def test_onehot_round_trip_and_layout():
    table = all_op_tuples()
    x = onehot(table)
    assert x.shape == (15_625, 31) and (x.sum(axis=1) == 7).all() and (x[:, 30] == 1).all()
    np.testing.assert_array_equal(decode_onehot(x), table)
    np.testing.assert_array_equal(
        onehot(parse_arch(ARCH0))[0],
        # avg_pool, conv 1x1, skip, conv 1x1, skip, skip, bias
        [0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
        + [0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1],
    )


def test_disconnected_count_is_341():
    mask = disconnected(all_op_tuples())
    assert mask.sum() == 341
    assert not live_mask(all_op_tuples())[mask].any()
    np.testing.assert_array_equal(disconnected(ops_matrix([ALL_NONE, CUT, ARCH0])), [1, 1, 0])


def test_live_mask_by_hand():
    np.testing.assert_array_equal(
        live_mask(ops_matrix([ARCH0, DEAD_EDGES, UNFED, CUT, ALL_NONE])),
        [
            [1, 1, 1, 1, 1, 1],
            [0, 0, 0, 1, 0, 0],
            [0, 0, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0],
        ],
    )
    counts = np.bincount(live_mask(all_op_tuples()).sum(axis=1), minlength=7)
    assert counts[6] == 4**6 and counts.sum() == 15_625


def test_live_onehot_encodes_dead_ops_as_none():
    ops = ops_matrix([DEAD_EDGES, UNFED, ARCH0])
    np.testing.assert_array_equal(
        decode_onehot(live_onehot(ops)), [[0, 0, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0], ops[2]]
    )
    connected = ~disconnected(all_op_tuples())
    live = decode_onehot(live_onehot(all_op_tuples()))
    assert np.unique(ops_code(live[connected])).size < connected.sum()


@pytest.mark.parametrize(
    ("bad", "what"),
    [
        ("|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_3x3'"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 must have 2 incoming edges"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|", "node 3 must have 3 incoming edges"),
        ("|none~0|+|none~0|none~1|", "expected 3 node groups"),
        ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "must come from node ~1, not ~2"),
        ("|none~0|+|none~0|none~x|+|none~0|none~1|none~2|", "not ~x"),
        ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", "'none' is not of the form op~k"),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "must be '|…|'"),
        ("", "expected 3 node groups"),
        (ALL_NONE + " ", "must be '|…|'"),
    ],
)
def test_malformed_strings_name_the_string(bad, what):
    for parse in (parse_arch, lambda s: ops_matrix([ARCH0, s])):
        with pytest.raises(BadArchKey, match=re.escape(repr(bad))) as info:
            parse(bad)
        assert what in str(info.value)
        assert isinstance(info.value, OneproxyError) and isinstance(info.value, ValueError)


def test_non_string_key_is_refused():
    with pytest.raises(BadArchKey, match="arch string None is a NoneType, not a str"):
        ops_matrix([ARCH0, None])


@pytest.mark.parametrize(
    ("ops", "what"),
    [
        ([[0, 0, 0, 0, 0, 5]], "row 0 = [0, 0, 0, 0, 0, 5]"),
        ([[0] * 6, [0, -1, 0, 0, 0, 0]], "row 1"),
        ([[0] * 5], "shape (1, 5)"),
        ([[0.0] * 6], "dtype float64"),
    ],
)
def test_bad_op_matrices(ops, what):
    with pytest.raises(BadArchKey, match=re.escape(what)):
        onehot(ops)


def test_format_arch_takes_one_row():
    with pytest.raises(BadArchKey, match="one row"):
        format_arch(all_op_tuples()[:2])


def _row(edges, bias=1.0):
    return [v for e in edges for v in np.eye(5)[e]] + [bias]


@pytest.mark.parametrize(
    ("row", "what"),
    [
        (_row([0] * 6, bias=0.0), "trailing bias entry must be 1"),
        ([1, 1, 0, 0, 0] + _row([0] * 5), "exactly one 1"),
        ([0] * 5 + _row([0] * 5), "exactly one 1"),
        ([0.5, 0.5, 0, 0, 0] + _row([0] * 5), "entries must be 0 or 1"),
    ],
)
def test_bad_onehot_names_the_row(row, what):
    with pytest.raises(BadArchKey, match=r"one-hot row 1 = .*\(1 bad rows\)") as info:
        decode_onehot([_row([3] * 6), row])
    assert what in str(info.value)


def test_bad_onehot_width():
    with pytest.raises(BadArchKey, match=r"shape \(1, 30\)"):
        decode_onehot([_row([0] * 6)[:-1]])


def test_arch_table_columns_and_values():
    table = arch_table([ARCH0, CUT, ALL_3X3], np.array([0, 7, 15_624]))
    assert table.schema.field("arch_id").type == pa.int64()
    assert table.schema.field("e0").type == pa.int8()
    assert table.column_names == [
        "space_id", "arch_id", "arch_key", "e0", "e1", "e2", "e3", "e4", "e5",
        "disconnected", "n_live_ops",
        "flops_m_cifar10", "params_m_cifar10", "flops_m_cifar100", "params_m_cifar100",
        "flops_m_imagenet16_120", "params_m_imagenet16_120",
    ]
    rows = table.to_pylist()
    assert rows[0]["space_id"] == "nb201" and rows[0]["arch_key"] == ARCH0
    assert [r["e0"] for r in rows] == [4, 3, 3] and [r["arch_id"] for r in rows] == [0, 7, 15_624]
    assert [r["disconnected"] for r in rows] == [False, True, False]
    assert [r["n_live_ops"] for r in rows] == [6, 0, 6]
    assert [r["flops_m_cifar10"] for r in rows] == [
        (BASE10_MACS + 2 * CONV1_MACS) / 1e6,
        (BASE10_MACS + 3 * CONV3_MACS) / 1e6,
        (BASE10_MACS + 6 * CONV3_MACS) / 1e6,
    ]
    assert rows[2]["params_m_imagenet16_120"] == pytest.approx(1.538696, abs=1e-12)


@pytest.mark.parametrize(
    ("strings", "ids", "what"),
    [
        ([ARCH0, CUT], [0], "2 arch strings but indices of shape (1,)"),
        ([ARCH0, CUT], [3, 3], "arch id 3 occurs more than once"),
        ([ARCH0, ARCH0], [3, 4], f"arch string {ARCH0!r} occurs more than once"),
        ([ARCH0], [15_625], "integers in 0…15624"),
        ([ARCH0], [-1], "integers in 0…15624"),
        (["|none~0|"], [1], "'|none~0|'"),
    ],
)
def test_arch_table_bad_input(strings, ids, what):
    with pytest.raises(BadArchKey, match=re.escape(what)):
        arch_table(strings, np.array(ids))


# ---- integration on the real public files -------------------------------------------------




def _mirror_file(mirror: Path, rel: str) -> Path:
    path = mirror / rel
    if not path.is_file():
        pytest.fail(f"{path} is missing from ONEPROXY_MIRROR={mirror}")
    return path


class _BuiltinsOnly(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


@pytest.fixture
def nats_strings(mirror) -> list[str]:
    path = _mirror_file(mirror, "v-tao__nats-bench-landscape/nats_bench.csv")
    return pl.read_csv(path, columns=["ArchitectureString"])["ArchitectureString"].to_list()


@pytest.mark.integration
def test_nats_bench_strings_are_the_whole_space(nats_strings):
    ops = ops_matrix(nats_strings)
    np.testing.assert_array_equal(np.sort(ops_code(ops)), np.arange(15_625))
    table = arch_table(nats_strings, np.arange(len(nats_strings)))
    assert table.num_rows == 15_625
    assert pl.from_arrow(table)["disconnected"].sum() == 341
    assert table.column("arch_key").to_pylist()[0] == ARCH0
    assert table.column("flops_m_cifar10")[0].as_py() == pytest.approx(15.64737, abs=1e-9)


@pytest.mark.integration
def test_oneproxy_encoding_decodes_to_nats_bench_architectures(mirror, nats_strings):
    path = _mirror_file(mirror, "Ren-Research__OneProxy/encode.pickle")
    rows = _BuiltinsOnly(io.BytesIO(path.read_bytes())).load()
    assert len(rows) == 1_999 and {len(r) for r in rows} == {31}
    ops = decode_onehot(rows)
    np.testing.assert_array_equal(onehot(ops), rows)
    keys = {format_arch(row) for row in ops}
    assert keys <= set(nats_strings)
    assert ops[0].tolist() == [0, 3, 0, 3, 4, 3]
