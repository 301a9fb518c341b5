"""`oneproxy train` and `predict --model` on the real warehouse: files, values, errors."""

import json
import pickle

import numpy as np
import pytest
from click.testing import CliRunner
from oneproxy.analytics.evaluate import draw_samples
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.analytics.predictors.files import arch_ids_fingerprint, load_predictor, predict_archs
from oneproxy.analytics.predictors.linear import LinearLatencyPredictor
from oneproxy.warehouse.catalog import query

from oneproxy.api.latency import load_space
from oneproxy.cli import main as CLI

pytestmark = pytest.mark.integration


def invoke(wh, *args: str):
    return CliRunner().invoke(CLI, [*args, "--warehouse", str(wh.root)])


def ok(result):
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def pixel3_model(ingested, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "m.json"
    out = ok(invoke(ingested, "train", "--space", "nb201", "--device", "pixel3", "--model",
                    str(path), "--format", "json"))
    return path, json.loads(out.stdout)[0], out.stderr


@pytest.fixture(scope="module")
def fbnet_model(ingested, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "eyeriss.lgb.txt"
    out = ok(invoke(ingested, "train", "--space", "fbnet", "--device", "eyeriss", "--kind",
                    "kernel", "--samples", "1000", "--seed", "2", "--model", str(path),
                    "--format", "json"))
    return path, json.loads(out.stdout)[0]


def test_train_nb201_pixel3_then_predict_matches_the_in_process_predictor(ingested,
                                                                         pixel3_model):
    path, summary, stderr = pixel3_model
    assert (summary["kind"], summary["encoding"], summary["dataset"]) == (
        "linear", "onehot", "cifar10")
    assert (summary["features"], summary["measured"], summary["training_rows"]) == (
        31, 15625, 15625)
    assert summary["held_out"] == 0 and summary["held_out_srcc"] is None
    assert summary["fit_srcc"] == pytest.approx(0.94255, abs=5e-5)
    assert summary["fit_rmse_ms"] == pytest.approx(2.0354, abs=5e-4)
    assert summary["training_fingerprint"] == arch_ids_fingerprint(np.arange(15625))
    assert f"wrote {path}: linear predictor of pixel3 on nb201" in stderr

    data = load_space(ingested, "nb201", "cifar10", ["pixel3"])
    X = space_features("nb201", data.arch_keys).matrix("onehot")
    expected = LinearLatencyPredictor().fit(X, data.latency[0]).predict(X[:2])

    out = ok(invoke(ingested, "predict", "--model", str(path), "--archs", "0,1",
                    "--format", "json"))
    rows = json.loads(out.stdout)
    assert [r["arch_id"] for r in rows] == [0, 1]
    assert [r["predicted_ms"] for r in rows] == expected.tolist()
    assert rows[0]["measured_ms"] == pytest.approx(3.60585, abs=1e-5)
    assert "2 architectures predicted by the linear predictor of pixel3" in out.stderr


def test_predict_with_a_model_defaults_to_the_whole_space_and_compares_another_device(
        ingested, pixel3_model):
    path = pixel3_model[0]
    out = ok(invoke(ingested, "predict", "--model", str(path), "--format", "csv"))
    assert len(out.stdout.splitlines()) == 1 + 15625
    assert out.stdout.splitlines()[0] == "arch_id,arch_key,predicted_ms,measured_ms"
    assert "against the 15,625 measured on pixel3: SRCC 0.9426" in out.stderr
    other = ok(invoke(ingested, "predict", "--model", str(path), "--device", "raspi4",
                      "--archs", "0", "--format", "json"))
    assert json.loads(other.stdout)[0]["measured_ms"] == pytest.approx(10.48198, abs=1e-5)


def test_train_on_samples_scores_the_held_out_rest(ingested, tmp_path):
    out = ok(invoke(ingested, "train", "--device", "raspi4", "--samples", "1000", "--seed", "1",
                    "--model", str(tmp_path / "r.json"), "--format", "json"))
    summary = json.loads(out.stdout)[0]
    assert (summary["training_rows"], summary["held_out"], summary["seed"]) == (1000, 14625, 1)
    assert summary["held_out_srcc"] > 0.93 and 0 < summary["held_out_within10"] < 1
    drawn = draw_samples(np.arange(15625), 1000, 1)  # raspi4 measured every architecture
    assert summary["training_fingerprint"] == arch_ids_fingerprint(drawn)
    _, meta = load_predictor(tmp_path / "r.json")
    assert meta.training_fingerprint == summary["training_fingerprint"]


def test_fbnet_kernel_model_round_trip(ingested, fbnet_model):
    path, summary = fbnet_model
    assert (summary["kind"], summary["encoding"], summary["features"]) == ("kernel", "kernel", 25)
    assert (summary["training_rows"], summary["held_out"]) == (1000, 4000)
    assert summary["held_out_srcc"] > 0.98
    assert path.read_text().startswith("tree\n")
    assert json.loads(path.with_name(path.name + ".json").read_text())["device"] == "eyeriss"
    archs = query(ingested, "SELECT a.arch_id, a.arch_key, l.latency_ms FROM architectures a "
                  "JOIN latency l USING (space_id, arch_id) WHERE a.space_id = 'fbnet' AND "
                  "l.device_id = 'eyeriss' ORDER BY a.arch_id LIMIT 2").to_pylist()
    out = ok(invoke(ingested, "predict", "--model", str(path), "--archs",
                    ",".join(str(a["arch_id"]) for a in archs), "--format", "json"))
    rows = json.loads(out.stdout)
    predictor, meta = load_predictor(path)
    expected = predict_archs(predictor, meta, [a["arch_key"] for a in archs])
    assert [r["predicted_ms"] for r in rows] == expected.tolist()
    assert [r["measured_ms"] for r in rows] == [a["latency_ms"] for a in archs]


@pytest.fixture
def bad_files(pixel3_model, fbnet_model, tmp_path):
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps({"coef": [1.0]}, protocol=4))
    truncated = tmp_path / "cut.lgb.txt"
    model = fbnet_model[0]
    truncated.write_bytes(model.read_bytes()[:1000])
    truncated.with_name("cut.lgb.txt.json").write_bytes(
        model.with_name(model.name + ".json").read_bytes())
    return {"PICKLE": str(pickled), "CUT": str(truncated), "MODEL": str(pixel3_model[0]),
            "NONE": str(tmp_path / "none.json")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "--model", "NONE"], "predictor file NONE does not exist"),
        (["predict", "--model", "PICKLE"], "PICKLE looks like a Python pickle"),
        (["predict", "--model", "CUT"], "CUT is not the model"),
        (["predict", "--model", "MODEL", "--device", "nosuch"], "unknown measured device 'nosuch'"),
        (["predict", "--model", "MODEL", "--archs", "99999"], "arch id 99999 is not"),
        (["train", "--device", "nosuch", "--model", "NONE"], "unknown training device 'nosuch'"),
        (["train", "--space", "ofa_fpga", "--device", "zynq_dpu", "--model", "NONE"],
         "space ofa_fpga has no whole-network latency"),
        (["train", "--device", "edgetpu", "--samples", "5000", "--model", "NONE"],
         "5000 samples asked of a target that measured 1740"),
    ],
)
def test_errors_are_one_line_with_exit_1(ingested, bad_files, args, message):
    args = [bad_files.get(a, a) for a in args]
    for name, value in bad_files.items():
        message = message.replace(name, value)
    result = invoke(ingested, *args)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and message in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


@pytest.mark.parametrize("args", [
    ["train", "--device", "pixel3"],
    ["train", "--device", "pixel3", "--kind", "kernel", "--alpha", "1", "--model", "x.txt"],
    ["train", "--device", "pixel3", "--encoding", "fbnet", "--model", "x.json"],
    ["train", "--device", "pixel3", "--kind", "kernel", "--model", "x.json"],
    ["predict"],
    ["predict", "--model", "MODEL", "--space", "fbnet"],
])
def test_usage_errors_exit_2(ingested, bad_files, args):
    result = invoke(ingested, *[bad_files.get(a, a) for a in args])
    assert result.exit_code == 2, result.output


def test_train_and_predict_help_have_examples():
    train_help = ok(CliRunner().invoke(CLI, ["train", "--help"])).stdout
    assert "Examples:" in train_help
    assert "oneproxy train --device pixel3 --model pixel3.json" in train_help
    predict_help = ok(CliRunner().invoke(CLI, ["predict", "--help"])).stdout
    assert "oneproxy predict --model pixel3.json --archs 0,1,2" in predict_help
