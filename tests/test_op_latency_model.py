"""OpLatencyModel and the lookup-table hold-out: features, a known function, save/load, bad input,
the real Note10 / FPGA tables and `oneproxy lut-eval`."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from oneproxy.analytics.op_holdout import BadHoldout, every_other, holdout_eval, sample_archs
from oneproxy.analytics.predictors import InvalidPredictorInput, NotFittedError
from oneproxy.analytics.predictors.kernel import KernelLatencyPredictor
from oneproxy.analytics.predictors.op_latency_model import (
    OP_FEATURES,
    OpLatencyModel,
    op_features,
    op_flops,
    with_op_columns,
)
from oneproxy.ingest import ofa_lut
from oneproxy.warehouse.spaces import ofa_fpga, ofa_mbv3
from oneproxy.warehouse.spaces.ofa_ops import OP_SCHEMA, op_keys, parse_op_keys

from oneproxy.cli import main as CLI

NOTE10_MBCONV = (
    "expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:0"
)
SE_MBCONV = (
    "expanded_conv-input:7x7x192-output:7x7x192-expand:576-kernel:5-stride:1-idskip:1-se:1-hs:1"
)


# ---- features --------------------------------------------------------------------------------

def test_op_features_of_hand_made_ops():
    ops = parse_op_keys([NOTE10_MBCONV, SE_MBCONV, "Conv-input:224x224x3-output:112x112x24",
                         "Logits-input:7x7x1280-output:1000", "AvgPool2D-input:7x7x1152-output:"
                         "1x1x1152"])
    X = op_features(ops)
    assert X.shape == (5, len(OP_FEATURES)) == (5, 20)
    first = dict(zip(OP_FEATURES, X[0], strict=True))
    assert first == {
        "is_Conv": 0, "is_expanded_conv": 1, "is_Conv_1": 0, "is_AvgPool2D": 0, "is_Conv_2": 0,
        "is_Logits": 0, "input_h": 112, "input_w": 112, "input_c": 24, "output_h": 56,
        "output_w": 56, "output_c": 32, "mid_c": 144, "expand_ratio": 6, "kernel": 3,
        "stride": 2, "idskip": 0, "se": 0, "h_swish": 0,
        # expand 112²·24·144 + depthwise 56²·144·3² + project 56²·144·32
        "mflops": (112**2 * 24 * 144 + 56**2 * 144 * 9 + 56**2 * 144 * 32) / 1e6,
    }
    se = dict(zip(OP_FEATURES, X[1], strict=True))
    assert (se["idskip"], se["se"], se["h_swish"], se["expand_ratio"]) == (1, 1, 1, 3)
    # expand, depthwise 5×5, SE pair 576 → 144 → 576, project
    assert se["mflops"] == pytest.approx(
        (49 * 192 * 576 + 49 * 576 * 25 + 2 * 576 * 144 + 49 * 576 * 192) / 1e6, rel=1e-15)
    np.testing.assert_allclose(X[2:, -1], [112**2 * 9 * 3 * 24 / 1e6,  # 3×3 stem
                                           (49 * 1280 + 1280 * 1000) / 1e6,  # pool + classifier
                                           49 * 1152 / 1e6], rtol=1e-15)
    logits = dict(zip(OP_FEATURES, X[3], strict=True))
    assert (logits["is_Logits"], logits["output_h"], logits["kernel"]) == (1, 0, 0)


@pytest.mark.parametrize(("net", "pool_op"), [(ofa_mbv3.NET, "AvgPool2D"),
                                              (ofa_fpga.NET, "Logits")])
def test_op_flops_sum_to_the_network_flops(net, pool_op):
    """Op FLOPs summed over a network = `ElasticNet.flops`, once pooling's adds are taken out."""
    keys = sample_archs(net, 192, 20, seed=1)
    ops = with_op_columns(net.layer_op_keys(keys))
    pool = np.where(ops["op_type"] == pool_op,
                    (ops["input_h"] * ops["input_w"] * ops["input_c"]).to_numpy() / 1e6, 0.0)
    summed = np.bincount(ops["arch_row"].to_numpy(), weights=op_flops(ops) - pool)
    np.testing.assert_allclose(summed, net.flops(keys), rtol=1e-12)


# ---- a known smooth function -----------------------------------------------------------------

def _mbconv_table(sides: list[int]) -> pl.DataFrame:
    """MBConv ops over a grid; ms = 0.02 + MFLOPs · (0.01 + 0.002·kernel) · (1 + 0.1·se)."""
    rows = [dict(op_type="expanded_conv", input_h=s, input_w=s, input_c=c, output_h=s // st,
                 output_w=s // st, output_c=c, mid_c=c * e, expand_ratio=float(e), kernel=k,
                 stride=st, idskip=st == 1, se=se, activation="relu")
            for s in sides for c in (16, 32, 64) for e in (3, 6) for k in (3, 5, 7)
            for st in (1, 2) for se in (False, True)]
    ops = pl.DataFrame(rows, schema=OP_SCHEMA, orient="row")
    ops = ops.with_columns(op_key=op_keys(ops), resolution=pl.lit(0, pl.Int32))
    mflops = op_flops(ops)
    ms = 0.02 + mflops * (0.01 + 0.002 * ops["kernel"].to_numpy()) * np.where(ops["se"], 1.1, 1)
    return ops.with_columns(mean=pl.Series(ms))


@pytest.fixture(scope="module")
def toy():
    train = _mbconv_table([8, 16, 24, 32, 40, 48, 56])
    test = _mbconv_table([12, 20, 28, 36, 44, 52])
    model = OpLatencyModel(KernelLatencyPredictor(n_estimators=200))
    return train, test, model.fit(train, train["mean"], space="toy", device="toy_device")


def test_recovers_held_out_shapes_of_a_known_function(toy):
    train, test, model = toy
    predicted = model.predict(test)
    ratio = predicted / test["mean"].to_numpy()
    assert predicted.shape == (test.height,) == (432,)
    assert np.mean(np.abs(ratio - 1) <= 0.10) >= 0.95
    assert np.median(np.abs(ratio - 1)) < 0.03
    assert (model.training_rows_, model.space_, model.device_) == (504, "toy", "toy_device")
    assert model.resolutions_ == [0]


def test_per_mflop_interpolates_better_than_plain_latency(toy):
    train, test, _ = toy
    kernel = KernelLatencyPredictor(n_estimators=200)
    errors = [np.median(np.abs(OpLatencyModel(kernel, per_mflop=flag)
                               .fit(train, train["mean"]).predict(test) / test["mean"] - 1))
              for flag in (True, False)]
    assert errors[0] < errors[1]


def test_predict_archs_sums_the_ops(toy):
    _, test, model = toy
    layers = test.select("op_key").head(10).with_columns(
        arch_row=pl.Series([0, 0, 0, 2, 2, 2, 2, 3, 3, 3]))
    per_op = model.predict(test.head(10))
    sums = model.predict_archs(layers)
    np.testing.assert_allclose(sums, [per_op[:3].sum(), 0.0, per_op[3:7].sum(),
                                      per_op[7:].sum()], rtol=1e-12)
    assert model.predict_archs(layers, n_archs=6).shape == (6,)


def test_save_load_round_trip(toy, tmp_path):
    _, test, model = toy
    path = tmp_path / "ops.lgb.txt"
    model.save(path)
    meta = json.loads((tmp_path / "ops.lgb.txt.json").read_text())
    assert (meta["space"], meta["device"], meta["training_rows"]) == ("toy", "toy_device", 504)
    assert meta["details"]["kind"] == "op_latency_model"
    assert meta["details"]["features"] == list(OP_FEATURES)
    assert meta["details"]["per_mflop"] is True and meta["details"]["resolutions"] == [0]
    assert set(meta["details"]["versions"]) == {"oneproxy", "lightgbm", "numpy", "polars"}
    assert path.read_text().startswith("tree\n")
    loaded = OpLatencyModel.load(path)
    np.testing.assert_array_equal(loaded.predict(test), model.predict(test))
    assert loaded.predictor_.get_params() == model.predictor_.get_params()
    assert loaded.per_mflop is model.per_mflop is True
    assert (loaded.training_rows_, loaded.resolutions_) == (504, [0])


def test_load_refuses_a_plain_kernel_predictor(tmp_path, toy):
    train, _, _ = toy
    path = tmp_path / "kernel.txt"
    KernelLatencyPredictor(n_estimators=5).fit(op_features(train), train["mean"]).save(path)
    with pytest.raises(InvalidPredictorInput, match="details: field 'kind' must be 'op_latency"):
        OpLatencyModel.load(path)


# ---- bad input -------------------------------------------------------------------------------

def test_bad_op_tables_are_named(toy):
    train, _, model = toy
    with pytest.raises(InvalidPredictorInput, match="ops has no rows"):
        model.predict(train.head(0))
    with pytest.raises(InvalidPredictorInput, match="lacks the column.*kernel, stride"):
        model.predict(train.drop("kernel", "stride"))
    pool = train.head(1).with_columns(op_type=pl.lit("MaxPool"))
    with pytest.raises(InvalidPredictorInput, match="unknown op type 'MaxPool' .*expanded_conv-"):
        model.predict(pool)
    with pytest.raises(InvalidPredictorInput, match="expanded_conv op has a null kernel"):
        model.predict(train.head(2).with_columns(kernel=pl.lit(None, pl.Int32)))
    with pytest.raises(InvalidPredictorInput, match="must be a polars DataFrame"):
        op_features(train.to_dicts())
    with pytest.raises(InvalidPredictorInput, match=r"y\[0\] = 0 ms: latencies must be > 0"):
        OpLatencyModel().fit(train.head(3), [0.0, 1.0, 1.0])
    with pytest.raises(InvalidPredictorInput, match="latency_ms must be a 1-D array of 3"):
        OpLatencyModel().fit(train.head(3), [1.0, 1.0])
    with pytest.raises(InvalidPredictorInput, match="per_mflop must be True or False"):
        OpLatencyModel(per_mflop=1).fit(train.head(3), [1.0, 1.0, 1.0])
    with pytest.raises(InvalidPredictorInput, match="n_estimators must be an integer"):
        OpLatencyModel(KernelLatencyPredictor(n_estimators=0)).fit(train.head(3), [1.0, 1.0, 1.0])


def test_unfitted_model_raises(toy, tmp_path):
    _, test, _ = toy
    with pytest.raises(NotFittedError, match="OpLatencyModel.predict called before fit"):
        OpLatencyModel().predict(test)
    with pytest.raises(NotFittedError, match="OpLatencyModel.save called before fit"):
        OpLatencyModel().save(tmp_path / "m.txt")


def test_bad_holdouts_are_named(toy):
    train, _, _ = toy
    table = pl.concat([train.with_columns(resolution=pl.lit(r, pl.Int32)) for r in (160, 164)])
    table = table.with_columns(device_id=pl.lit("toy"), space_id=pl.lit("ofa_mbv3"),
                               metric=pl.lit("latency_ms"))
    with pytest.raises(BadHoldout, match="got \\[170\\]"):
        holdout_eval(table, [170], ofa_mbv3.NET)
    with pytest.raises(BadHoldout, match="every resolution is held out"):
        holdout_eval(table, [160, 164], ofa_mbv3.NET)
    with pytest.raises(BadHoldout, match="is of space ofa_mbv3, not ofa_fpga"):
        holdout_eval(table, [164], ofa_fpga.NET)
    mixed = pl.concat([table, table.with_columns(device_id=pl.lit("other"))])
    with pytest.raises(BadHoldout, match="mixes 2 device / space series"):
        holdout_eval(mixed, [164], ofa_mbv3.NET)
    with pytest.raises(BadHoldout, match="metric 'energy_mj'"):
        holdout_eval(table.with_columns(metric=pl.lit("energy_mj")), [164], ofa_mbv3.NET)
    with pytest.raises(BadHoldout, match="no rows"):
        holdout_eval(table.head(0), [164], ofa_mbv3.NET)


def test_every_other_and_sampled_archs():
    assert every_other(range(160, 225, 4)) == list(range(164, 221, 8))
    assert every_other(range(128, 225, 16)) == [144, 176, 208]
    keys = sample_archs(ofa_fpga.NET, 176, 50, seed=3)
    assert keys == sample_archs(ofa_fpga.NET, 176, 50, seed=3) != sample_archs(
        ofa_fpga.NET, 176, 50, seed=4)
    assert set(ofa_fpga.NET.parse_keys(keys).r) == {176} and len(set(keys)) == 50


# ---- the real lookup tables ------------------------------------------------------------------

@pytest.fixture(scope="module")
def note10(resolve):
    return pl.from_arrow(ofa_lut.load_note10(resolve).op_latency_table())


@pytest.fixture(scope="module")
def fpga(resolve):
    return pl.from_arrow(ofa_lut.load_fpga(resolve).op_latency_table())


@pytest.fixture(scope="module")
def note10_holdout(note10):
    return holdout_eval(note10, every_other(note10["resolution"].unique()), ofa_mbv3.NET,
                        archs=300)


@pytest.mark.integration
def test_note10_held_out_resolutions(note10_holdout):
    """Measured: every op and every architecture within ±10%, op MAPE 0.2–0.6% (unseen keys
    0.4–1.0%), architecture MAPE ≤ 0.6%, SRCC ≥ 0.9999."""
    res = note10_holdout
    assert res["resolution"].to_list() == list(range(164, 221, 8))
    assert set(res["train_resolutions"]) == {",".join(map(str, range(160, 225, 8)))}
    assert (res["n_train_ops"] == 9 * 96).all() and (res["n_ops"] == 96).all()
    assert res["op_within10"].min() >= 0.98
    assert res["op_mape_pct"].max() < 1.0
    assert (res["n_unseen_ops"] == 29).all()  # keys no trained table lists
    assert res["unseen_within10"].min() >= 0.95 and res["unseen_mape_pct"].max() < 1.5
    assert res["arch_within10"].min() == 1.0
    assert res["arch_mape_pct"].max() < 1.0
    assert res["arch_srcc"].min() > 0.999
    assert (res["n_archs"] == 300).all()


@pytest.mark.integration
def test_fpga_held_out_resolutions(fpga):
    """Measured: op within ±10% 0.99–1.0 (MAPE 1.4–2.7%), every architecture within ±10%."""
    res = holdout_eval(fpga, [144, 176, 208], ofa_fpga.NET, archs=200)
    assert res["n_train_ops"].to_list() == [4 * 103] * 3
    assert res["op_within10"].min() >= 0.95
    assert res["op_mape_pct"].max() < 4.0
    assert res["n_unseen_ops"].to_list() == [83] * 3 and res["unseen_within10"].min() >= 0.95
    assert res["arch_within10"].min() >= 0.99
    assert res["arch_srcc"].min() > 0.995


@pytest.mark.integration
def test_given_arch_keys_equal_the_sampled_ones(fpga):
    """Keys given explicitly are priced at their own resolution; others are left out."""
    keys = sample_archs(ofa_fpga.NET, 176, 40, seed=7 + 176)
    given = holdout_eval(fpga, [176], ofa_fpga.NET, archs=[*keys, *sample_archs(
        ofa_fpga.NET, 160, 5, seed=0)], seed=7)
    sampled = holdout_eval(fpga, [176], ofa_fpga.NET, archs=40, seed=7)
    assert given.drop("n_archs").equals(sampled.drop("n_archs"))
    assert given["n_archs"].to_list() == [40]


# ---- the command -----------------------------------------------------------------------------

def _invoke(wh, *args):
    return CliRunner().invoke(CLI, ["lut-eval", "--warehouse", str(wh.root), *args])


@pytest.mark.integration
def test_lut_eval_command_stores_rows_and_saves_a_model(warehouse, tmp_path, fpga):
    model_path = tmp_path / "zynq.lgb.txt"
    out = _invoke(warehouse, "--device", "zynq_dpu", "--archs", "50", "--format", "json",
                  "--save-model", str(model_path), "--save")
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert [r["resolution"] for r in rows] == [144, 176, 208]
    assert {r["mode"] for r in rows} == {"holdout"} and {r["n_archs"] for r in rows} == {50}
    assert min(r["arch_within10"] for r in rows) >= 0.99
    stored = pl.from_arrow(warehouse.read("lut_eval"))
    assert stored.height == 3 and stored["computed_at"].null_count() == 0
    again = _invoke(warehouse, "--device", "zynq_dpu", "--holdout", "160", "--archs", "20",
                    "--format", "json", "--save")
    assert again.exit_code == 0, again.output
    assert pl.from_arrow(warehouse.read("lut_eval")).height == 4
    model = OpLatencyModel.load(model_path)
    assert (model.device_, model.space_, model.training_rows_) == ("zynq_dpu", "ofa_fpga", 721)
    assert model.resolutions_ == [128, 144, 160, 176, 192, 208, 224]
    assert np.median(np.abs(model.predict(fpga) / fpga["mean"] - 1)) < 0.02


@pytest.mark.integration
def test_lut_eval_command_errors(warehouse):
    unknown = _invoke(warehouse, "--device", "pixel3")
    assert unknown.exit_code == 1
    assert "device 'pixel3' has no operator lookup table: devices with one: note10, zynq_dpu" \
        in unknown.output
    both = _invoke(warehouse, "--device", "note10", "--loo", "--holdout", "164")
    assert both.exit_code == 2 and "drop --holdout" in both.output
    bad = _invoke(warehouse, "--device", "note10", "--holdout", "150", "--no-save")
    assert bad.exit_code == 1 and "got [150]" in bad.output
    helped = CliRunner().invoke(CLI, ["lut-eval", "--help"])
    assert helped.exit_code == 0 and "oneproxy lut-eval --device note10" in helped.output
