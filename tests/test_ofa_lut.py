"""OFA operator lookup tables: op-key parsing, the YAML loader, and pricing an architecture."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import yaml
from oneproxy.analytics.predictors.lookup import price
from oneproxy.ingest import ofa_lut
from oneproxy.ingest.errors import CorruptFile
from oneproxy.ingest.registry import file
from oneproxy.ingest.safe_load import load_file
from oneproxy.warehouse.schemas import OP_LATENCY
from oneproxy.warehouse.spaces import ofa_fpga, ofa_mbv3
from oneproxy.warehouse.spaces.ofa_ops import (
    OP_SCHEMA,
    BadOpKey,
    format_op_key,
    op_keys,
    parse_op_key,
    parse_op_keys,
)

NOTE10_MBCONV = (
    "expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:0"
)
FPGA_MBCONV = "expanded_conv-input:14x14x100-output:7x7x190-expand:5-kernel:7-stride:2-idskip:0"
NOTE10_RESOLUTIONS = list(range(160, 225, 4))
FPGA_RESOLUTIONS = [128, 144, 160, 176, 192, 208, 224]


# ---- op keys ---------------------------------------------------------------------------------

def test_note10_mbconv_key_expand_is_mid_channels():
    assert parse_op_key(NOTE10_MBCONV) == {
        "op_type": "expanded_conv", "input_h": 112, "input_w": 112, "input_c": 24,
        "output_h": 56, "output_w": 56, "output_c": 32, "mid_c": 144, "expand_ratio": 6.0,
        "kernel": 3, "stride": 2, "groups": None, "idskip": False, "se": False,
        "activation": "relu",
    }
    hs = parse_op_key("expanded_conv-input:7x7x192-output:7x7x192-expand:576-kernel:5-stride:1-"
                      "idskip:1-se:1-hs:1")
    assert (hs["expand_ratio"], hs["se"], hs["activation"], hs["idskip"]) == (3.0, True,
                                                                              "h_swish", True)


def test_fpga_mbconv_key_expand_is_the_ratio():
    op = parse_op_key(FPGA_MBCONV)
    assert (op["expand_ratio"], op["mid_c"], op["kernel"], op["stride"]) == (5.0, 500, 7, 2)
    assert op["se"] is None and op["activation"] is None and op["idskip"] is False


def test_head_keys():
    assert parse_op_key("Logits-input:7x7x1280-output:1000") == {
        **dict.fromkeys(OP_SCHEMA), "op_type": "Logits", "input_h": 7,
        "input_w": 7, "input_c": 1280, "output_c": 1000,
    }
    pool = parse_op_key("AvgPool2D-input:7x7x1152-output:1x1x1152")
    assert (pool["output_h"], pool["output_c"], pool["kernel"]) == (1, 1152, None)


@pytest.mark.parametrize("key", [
    NOTE10_MBCONV, FPGA_MBCONV, "Conv-input:224x224x3-output:112x112x24",
    "Conv_2-input:1x1x1152-output:1x1x1536", "Logits-input:1x1x1536-output:1000",
])
def test_format_inverts_parse(key):
    assert format_op_key(parse_op_key(key)) == key


@pytest.mark.parametrize(("key", "says"), [
    ("Pool-input:7x7x3-output:1x1x3", "unknown op type 'Pool'"),
    ("Conv-input:224x224-output:112x112x24", "is not of the form"),
    ("Conv-input:224x224x3-output:1000", "must be a shape HxWxC"),
    ("Logits-input:1x1x1536-output:1x1x1000", "must be a class count"),
    (NOTE10_MBCONV.removesuffix("-hs:0"), "found expand-kernel-stride-idskip-se"),
    ("Conv_1-input:7x7x192-output:7x7x1152-kernel:1", "takes no fields"),
    (FPGA_MBCONV.replace("idskip:0", "idskip:2"), "idskip must be 0 or 1"),
    ("Conv-input:224x224x3-output:112x112x024", "not in canonical form"),
])
def test_bad_keys_are_named(key, says):
    with pytest.raises(BadOpKey, match="op key") as info:
        parse_op_keys([NOTE10_MBCONV, key])
    assert key in str(info.value) and says in str(info.value)


# ---- parse_table -----------------------------------------------------------------------------

GOOD = f"""
Conv-input:160x160x3-output:80x80x24:
  count: 500
  mean: 0.5
  std: 0.01
{NOTE10_MBCONV}:
  count: 54
  mean: 4.75
  std: 0.25
"""


def _parse(text, resolution=160):
    return ofa_lut.parse_table(text, file="t/160_lookup_table.yaml", device_id="note10",
                               space_id="ofa_mbv3", resolution=resolution)


def test_parse_table_rows():
    table = _parse(GOOD)
    assert table.schema == OP_LATENCY
    rows = table.to_pylist()
    assert [(r["op_type"], r["mean"], r["std"], r["count"], r["metric"]) for r in rows] == [
        ("Conv", 0.5, 0.01, 500, "latency_ms"), ("expanded_conv", 4.75, 0.25, 54, "latency_ms"),
    ]
    assert {(r["device_id"], r["space_id"], r["resolution"]) for r in rows} == {
        ("note10", "ofa_mbv3", 160)}
    assert rows[1]["mid_c"] == 144 and rows[1]["source_id"] is None


@pytest.mark.parametrize(("text", "says"), [
    ("- 1\n- 2\n", "expected a mapping of op key"),
    ("", "expected a mapping of op key"),
    ("a: [\n", "not valid YAML"),
    (GOOD.replace("Conv-input", "Pool-input"), "op key 'Pool-input:160x160x3-output:80x80x24'"),
    (GOOD.replace("mean: 4.75", "mean: fast"), f"op key '{NOTE10_MBCONV}': mean is 'fast'"),
    (GOOD.replace("mean: 4.75", "mean: -4.75"), f"op key '{NOTE10_MBCONV}': mean is -4.75"),
    (GOOD.replace("mean: 4.75", "mean: .nan"), "mean is nan"),
    (GOOD.replace("  mean: 4.75\n", ""), f"op key '{NOTE10_MBCONV}': expected a mapping with"),
    (GOOD.replace("count: 54", "count: 5.4"), "count is 5.4, expected an integer"),
    (GOOD.replace("160x160x3", "164x164x3"), "does not match the table's resolution 160"),
    (GOOD + "Conv-input:160x160x3-output:80x80x24: {mean: 1.0}\n",
     "op key 'Conv-input:160x160x3-output:80x80x24' is listed twice (line 10)"),
    ("a: !!python/object/apply:os.system [echo]\n", "not valid YAML"),
])
def test_bad_tables_name_file_and_key(text, says):
    with pytest.raises(CorruptFile) as info:
        _parse(text)
    message = str(info.value)
    assert message.startswith("t/160_lookup_table.yaml: ") and says in message


@pytest.mark.parametrize("base", [yaml.SafeLoader, yaml.CSafeLoader])
def test_both_loaders_agree_and_refuse_a_repeated_key(base):
    loader = ofa_lut.unique_key_loader(base)
    table = ofa_lut.parse_table(GOOD, file="t.yaml", device_id="note10", space_id="ofa_mbv3",
                                resolution=160, loader=loader)
    assert table.equals(_parse(GOOD))
    repeated = GOOD + "Conv-input:160x160x3-output:80x80x24: {mean: 1.0}\n"
    with pytest.raises(CorruptFile, match=r"listed twice \(line 10\)"):
        ofa_lut.parse_table(repeated, file="t.yaml", device_id="note10", space_id="ofa_mbv3",
                            resolution=160, loader=loader)



# ---- the real tables -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def help_ofa_keys(resolve):
    archs = load_file(resolve(file("help", "data/ofa/ofa_archs.pt")))["arch"]
    return ofa_mbv3.NET.keys_from_archs(archs)


@pytest.fixture(scope="module")
def note10(resolve):
    return ofa_lut.load_note10(resolve)


@pytest.fixture(scope="module")
def fpga(resolve):
    return ofa_lut.load_fpga(resolve)


@pytest.mark.integration
def test_note10_tables(note10):
    ops = pl.from_arrow(note10.op_latency_table())
    assert ops.height == 17 * 96 == 1632
    assert ops["resolution"].unique().sort().to_list() == NOTE10_RESOLUTIONS
    assert ops.group_by("resolution").len()["len"].unique().to_list() == [96]
    assert set(ops["device_id"]) == {"note10"} and set(ops["space_id"]) == {"ofa_mbv3"}
    assert set(ops["source_id"]) == {"ofa_note10"} and len(note10.files) == 17
    assert ops.filter(pl.col("op_type") == "expanded_conv")["expand_ratio"].unique().sort()\
        .to_list() == [1.0, 3.0, 4.0, 6.0]
    assert ops["mean"].min() > 0 and ops["count"].min() > 0


@pytest.mark.integration
def test_fpga_tables(fpga):
    ops = pl.from_arrow(fpga.op_latency_table())
    assert ops.height == 7 * 103 == 721
    assert ops["resolution"].unique().sort().to_list() == FPGA_RESOLUTIONS
    assert set(ops["device_id"]) == {"zynq_dpu"} and set(ops["space_id"]) == {"ofa_fpga"}
    mb = ops.filter(pl.col("op_type") == "expanded_conv")
    assert mb["expand_ratio"].unique().sort().to_list() == [1.0, 4.0, 5.0, 6.0]
    assert mb["se"].null_count() == mb.height


@pytest.mark.integration
def test_every_real_key_parses_and_formats_back(note10, fpga):
    for batch in (note10, fpga):
        ops = pl.from_arrow(batch.op_latency_table())
        assert (op_keys(ops) == ops["op_key"]).all()
        assert [format_op_key(row) for row in ops.head(100).iter_rows(named=True)] == ops[
            "op_key"].head(100).to_list()


def _uniform_archs(net, resolution):
    """Nine deepest architectures, one per (kernel, expand) choice on every layer."""
    choices = [(k, e) for k in net.kernels for e in net.expand_ratios]
    return [net.canonical([k] * net.n_layers, [e] * net.n_layers,
                          [max(net.depths)] * len(net.elastic_stages), resolution)
            for k, e in choices]


@pytest.mark.integration
@pytest.mark.parametrize(("space", "batch_name"), [(ofa_mbv3, "note10"), (ofa_fpga, "fpga")])
def test_the_network_uses_exactly_the_table_keys(space, batch_name, request):
    """Every op of every table prices some layer, and every layer has a key, at each resolution.

    This pins the network descriptions (widths, strides, SE, activations, head) to the tables.
    """
    ops = pl.from_arrow(request.getfixturevalue(batch_name).op_latency_table())
    for (resolution,), table in ops.group_by("resolution"):
        keys = space.NET.layer_op_keys(_uniform_archs(space.NET, resolution))
        assert set(keys["op_key"]) == set(table["op_key"]), resolution


def _means(mirror, source_id, path):
    upstream = file(source_id, path)
    return yaml.safe_load((mirror / upstream.mirror_relpath).read_text())


@pytest.mark.integration
def test_hand_summed_note10_architecture(mirror, note10):
    """HELP's OFA arch 0: r=204, d=2,2,2,2,3; its 17 ops listed by hand, means summed."""
    key = ofa_mbv3.NET.keys_from_archs([{
        "ks": [7, 5, 5, 5, 7, 7, 5, 7, 5, 7, 3, 7, 5, 3, 7, 3, 5, 3, 5, 3],
        "e": [6, 4, 4, 6, 6, 3, 4, 3, 3, 6, 3, 3, 3, 6, 3, 4, 6, 4, 3, 6],
        "d": [2, 2, 2, 2, 3], "r": 204,
    }])
    mb = "expanded_conv-input:{}-output:{}-expand:{}-kernel:{}-stride:{}-idskip:{}-se:{}-hs:{}"
    by_hand = [
        "Conv-input:204x204x3-output:102x102x24",
        mb.format("102x102x24", "102x102x24", 24, 3, 1, 1, 0, 0),  # first block
        mb.format("102x102x24", "51x51x32", 144, 7, 2, 0, 0, 0),  # stage 1: 24·6
        mb.format("51x51x32", "51x51x32", 128, 5, 1, 1, 0, 0),  # 32·4
        mb.format("51x51x32", "26x26x48", 192, 7, 2, 0, 1, 0),  # stage 2: 32·6, SE
        mb.format("26x26x48", "26x26x48", 144, 7, 1, 1, 1, 0),  # 48·3
        mb.format("26x26x48", "13x13x96", 144, 5, 2, 0, 0, 1),  # stage 3: 48·3, h-swish
        mb.format("13x13x96", "13x13x96", 576, 7, 1, 1, 0, 1),  # 96·6
        mb.format("13x13x96", "13x13x136", 288, 5, 1, 0, 1, 1),  # stage 4: 96·3, stride 1
        mb.format("13x13x136", "13x13x136", 816, 3, 1, 1, 1, 1),  # 136·6
        mb.format("13x13x136", "7x7x192", 816, 5, 2, 0, 1, 1),  # stage 5: 136·6
        mb.format("7x7x192", "7x7x192", 768, 3, 1, 1, 1, 1),  # 192·4
        mb.format("7x7x192", "7x7x192", 576, 5, 1, 1, 1, 1),  # 192·3 (d = 3)
        "Conv_1-input:7x7x192-output:7x7x1152",
        "AvgPool2D-input:7x7x1152-output:1x1x1152",
        "Conv_2-input:1x1x1152-output:1x1x1536",
        "Logits-input:1x1x1536-output:1000",
    ]
    layers = ofa_mbv3.NET.layer_op_keys(key)
    assert layers["op_key"].to_list() == by_hand
    assert layers["position"].to_list() == list(range(17))
    assert set(layers["resolution"]) == {204}
    yaml_means = _means(mirror, "ofa_note10",
                        "tutorial/checkpoints/latency_table@note10/204_lookup_table.yaml")
    expected = math.fsum(yaml_means[k]["mean"] for k in by_hand)
    table = pl.from_arrow(note10.op_latency_table()).filter(pl.col("resolution") == 204)
    assert price(layers, table)[0] == pytest.approx(expected, rel=1e-13)
    joined = layers.join(table.select("op_key", "mean"), on="op_key")
    assert math.fsum(joined["mean"]) == expected


@pytest.mark.integration
def test_hand_summed_fpga_architecture(mirror, fpga):
    """The smallest ofa_fpga network at 128: every stage 2 layers, kernel 3, expand 4."""
    key = ofa_fpga.NET.canonical([3] * 21, [4] * 21, [2] * 5, 128)
    mb = "expanded_conv-input:{}-output:{}-expand:{}-kernel:3-stride:{}-idskip:{}"
    by_hand = [
        "Conv-input:128x128x3-output:64x64x30",
        mb.format("64x64x30", "64x64x20", 1, 1, 0),  # first block, no skip (30 → 20)
        mb.format("64x64x20", "32x32x30", 4, 2, 0), mb.format("32x32x30", "32x32x30", 4, 1, 1),
        mb.format("32x32x30", "16x16x40", 4, 2, 0), mb.format("16x16x40", "16x16x40", 4, 1, 1),
        mb.format("16x16x40", "8x8x80", 4, 2, 0), mb.format("8x8x80", "8x8x80", 4, 1, 1),
        mb.format("8x8x80", "8x8x100", 4, 1, 0), mb.format("8x8x100", "8x8x100", 4, 1, 1),
        mb.format("8x8x100", "4x4x190", 4, 2, 0), mb.format("4x4x190", "4x4x190", 4, 1, 1),
        mb.format("4x4x190", "4x4x320", 4, 1, 0),  # the single 190 → 320 layer
        "Conv_1-input:4x4x320-output:4x4x1280",
        "Logits-input:4x4x1280-output:1000",
    ]
    layers = ofa_fpga.NET.layer_op_keys([key])
    assert layers["op_key"].to_list() == by_hand
    yaml_means = _means(mirror, "ofa_zcu", "vai_deploy/lut-examples/128_lookup_table.yaml")
    table = pl.from_arrow(fpga.op_latency_table()).filter(pl.col("resolution") == 128)
    assert price(layers, table)[0] == pytest.approx(
        math.fsum(yaml_means[k]["mean"] for k in by_hand), rel=1e-13)


@pytest.mark.integration
def test_help_archs_priced_on_note10(help_ofa_keys, note10):
    """Every HELP arch at a Note10 resolution (160…224) has all its keys in that table."""
    keys = np.asarray(help_ofa_keys)
    r = ofa_mbv3.NET.parse_keys(help_ofa_keys).r
    covered = r >= 160
    assert sorted(set(r[~covered].tolist())) == [128, 132, 136, 140, 144, 148, 152, 156]
    assert (covered.sum(), (~covered).sum()) == (3446, 1554)
    layers = ofa_mbv3.NET.layer_op_keys(keys[covered].tolist())
    ops = pl.from_arrow(note10.op_latency_table()).select("resolution", "op_key", "mean")
    priced = layers.join(ops, on=["resolution", "op_key"], how="left")
    assert priced["mean"].null_count() == 0
    total = priced.group_by("arch_row").agg(pl.col("mean").sum())
    assert total.height == covered.sum()
    assert 10 < total["mean"].min() < total["mean"].max() < 100
