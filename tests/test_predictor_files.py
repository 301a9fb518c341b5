"""Predictor files: identical predictions after a round trip, and a clear error for a bad file."""

import hashlib
import json
import os
import pickle
from dataclasses import replace
from pathlib import Path

import lightgbm
import numpy as np
import pytest
from oneproxy.analytics.predictors import InvalidPredictorInput
from oneproxy.analytics.predictors.encodings import space_features
from oneproxy.analytics.predictors.files import (
    PredictorFileError,
    arch_ids_fingerprint,
    describe,
    load_predictor,
    predict_archs,
    save_predictor,
)
from oneproxy.analytics.predictors.kernel import KernelLatencyPredictor
from oneproxy.analytics.predictors.linear import LinearLatencyPredictor
from oneproxy.warehouse.errors import OneproxyError
from oneproxy.warehouse.spaces import nb201

ARCH_IDS = np.random.default_rng(0).choice(nb201.N_ARCHS, 600, replace=False)
KEYS = [nb201.format_arch(ops) for ops in nb201.all_op_tuples()[ARCH_IDS]]
FEATURES = space_features("nb201", KEYS)


def latency() -> np.ndarray:
    """A positive latency (ms) that both kinds of predictor can learn."""
    return 2.0 + FEATURES.matrix("kernel")[:, -3] + FEATURES.matrix("kernel")[:, 14]


def trained(kind: str, encoding: str):
    X, y = FEATURES.matrix(encoding), latency()
    model = (LinearLatencyPredictor(alpha=0.5) if kind == "linear"
             else KernelLatencyPredictor(n_estimators=40))
    model.fit(X[:500], y[:500], space="nb201", device="toy", encoding=encoding)
    meta = describe(model, dataset="cifar10", arch_ids=ARCH_IDS[:500],
                    columns=FEATURES.columns[encoding])
    return model, meta


@pytest.fixture(scope="module")
def linear_file(tmp_path_factory):
    model, meta = trained("linear", "onehot")
    path = tmp_path_factory.mktemp("linear") / "m.json"
    assert save_predictor(path, model, meta) == [path]
    return path, model, meta


@pytest.fixture(scope="module")
def kernel_file(tmp_path_factory):
    model, meta = trained("kernel", "kernel")
    path = tmp_path_factory.mktemp("kernel") / "m.lgb.txt"
    assert save_predictor(path, model, meta) == [path, path.with_name("m.lgb.txt.json")]
    return path, model, meta


@pytest.mark.parametrize("which", ["linear_file", "kernel_file"])
def test_round_trip_predicts_identically_and_keeps_the_metadata(which, request):
    path, model, meta = request.getfixturevalue(which)
    loaded, loaded_meta = load_predictor(path)
    assert type(loaded) is type(model)
    X = FEATURES.matrix(meta.encoding)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(predict_archs(loaded, loaded_meta, KEYS), model.predict(X))
    assert loaded_meta == meta
    assert (meta.space, meta.device, meta.dataset, meta.training_rows) == (
        "nb201", "toy", "cifar10", 500)
    assert meta.versions == {"numpy": np.__version__, "lightgbm": lightgbm.__version__,
                             "oneproxy": meta.versions["oneproxy"]}
    assert meta.training_fingerprint == arch_ids_fingerprint(ARCH_IDS[:500])


def test_the_files_are_json_and_lightgbm_text(linear_file, kernel_file):
    doc = json.loads(linear_file[0].read_text())
    assert doc["kind"] == "linear_latency_predictor" and len(doc["coef"]) == 31
    assert doc["details"]["kind"] == "oneproxy_training_record"
    assert doc["details"]["columns"][:2] == ["e0_none", "e0_skip_connect"]
    assert kernel_file[0].read_text().startswith("tree\n")
    sidecar = json.loads(kernel_file[0].with_name("m.lgb.txt.json").read_text())
    assert sidecar["details"]["columns"] == list(FEATURES.columns["kernel"])
    assert kernel_file[1].details_ == {}  # the caller's predictor is left as it was


def test_fingerprint_is_the_sha256_of_the_sorted_distinct_ids():
    expected = hashlib.sha256(np.array([1, 5, 7], dtype="<i8").tobytes()).hexdigest()
    assert arch_ids_fingerprint([7, 1, 5, 1]) == expected
    assert arch_ids_fingerprint([1, 5]) != expected


def rewrite(path: Path, tmp_path: Path, change) -> Path:
    """A copy of a linear file whose document went through `change`."""
    doc = json.loads(path.read_text())
    change(doc)
    out = tmp_path / "changed.json"
    out.write_text(json.dumps(doc))
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(kind="random_forest"),
         "field 'kind' must be 'linear_latency_predictor', got 'random_forest'"),
        (lambda d: d.update(kind="kernel_latency_predictor"),
         "is the JSON document of a kernel predictor: pass its model file"),
        (lambda d: d.update(format_version=7), "field 'format_version' must be 1"),
        (lambda d: d.update(n_features_in=30), "coef must be a 1-D array of 30 values"),
        (lambda d: d["details"].update(columns=d["details"]["columns"][:-1]),
         "field 'columns' must list the predictor's 31 feature names, got 30"),
        (lambda d: d["details"].update(kind="op_latency_model"),
         "details: field 'kind' must be 'oneproxy_training_record'"),
        (lambda d: d.pop("details"), "there is no training record"),
        (lambda d: d["details"].pop("dataset"), "details lacks the field 'dataset'"),
        (lambda d: d.update(space=None), "the linear predictor has no space"),
    ],
)
def test_a_foreign_or_edited_linear_file_is_refused_naming_it(linear_file, tmp_path, change,
                                                               message):
    path = rewrite(linear_file[0], tmp_path, change)
    with pytest.raises(PredictorFileError, match=message) as info:
        load_predictor(path)
    assert str(path) in str(info.value)


def test_corrupted_and_truncated_files_are_refused(linear_file, kernel_file, tmp_path):
    text = linear_file[0].read_text()
    cut = tmp_path / "cut.json"
    cut.write_text(text[: len(text) // 2])
    with pytest.raises(PredictorFileError, match=f"{cut} is neither a JSON predictor document"):
        load_predictor(cut)
    binary = tmp_path / "noise.json"
    binary.write_bytes(bytes(range(1, 256)))
    with pytest.raises(PredictorFileError, match="neither a JSON predictor document"):
        load_predictor(binary)
    model, sidecar = kernel_file[0], kernel_file[0].with_name("m.lgb.txt.json")
    for fraction in (0.05, 0.5, 0.999):  # LightGBM itself aborts the process on some of these
        short = tmp_path / f"short{fraction}.txt"
        short.write_bytes(model.read_bytes()[: int(model.stat().st_size * fraction)])
        short.with_name(short.name + ".json").write_bytes(sidecar.read_bytes())
        with pytest.raises(PredictorFileError, match=f"{short} is not the model .* sha256"):
            load_predictor(short)


def test_missing_files_and_the_sidecar_passed_as_model(kernel_file, tmp_path):
    with pytest.raises(PredictorFileError, match="predictor file .*none.json does not exist"):
        load_predictor(tmp_path / "none.json")
    lone = tmp_path / "lone.txt"
    lone.write_bytes(kernel_file[0].read_bytes())
    with pytest.raises(PredictorFileError, match="lone.txt.json does not exist"):
        load_predictor(lone)
    sidecar = kernel_file[0].with_name("m.lgb.txt.json")
    with pytest.raises(PredictorFileError, match=f"pass its model file {kernel_file[0]}$"):
        load_predictor(sidecar)


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize(("protocol", "message"), [
    (5, "looks like a Python pickle, which oneproxy never loads"),
    (0, "neither a JSON predictor document nor a LightGBM text model"),
])
def test_a_pickle_is_refused_and_not_run(tmp_path, protocol, message):
    marker = tmp_path / "ran"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_Exploit(marker), protocol=protocol))
    with pytest.raises(PredictorFileError, match=message):
        load_predictor(path)
    assert not marker.exists()
    assert issubclass(PredictorFileError, OneproxyError)


def test_changed_encoding_columns_are_refused_at_prediction(linear_file):
    _, model, meta = linear_file
    renamed = replace(meta, columns=("edge0_none", *meta.columns[1:]))
    with pytest.raises(PredictorFileError,
                       match=r"m.json was trained on 31 'onehot' columns of nb201, but this "
                       r"version of oneproxy encodes 31 \(first difference at column 0\)"):
        predict_archs(model, renamed, KEYS[:3], where="m.json")


def test_save_refuses_metadata_that_does_not_describe_the_predictor(tmp_path):
    model, meta = trained("linear", "onehot")
    other = replace(meta, device="pixel3")
    with pytest.raises(InvalidPredictorInput, match="meta.device says 'pixel3' but the "
                       "predictor was fitted with 'toy'"):
        save_predictor(tmp_path / "m.json", model, other)
    bare = LinearLatencyPredictor().fit(np.eye(3), np.ones(3))
    with pytest.raises(InvalidPredictorInput, match="the linear predictor has no space"):
        describe(bare, dataset="cifar10", arch_ids=[0, 1, 2], columns=["a", "b", "c"])
    with pytest.raises(InvalidPredictorInput, match="the kernel predictor is not fitted"):
        describe(KernelLatencyPredictor(), dataset="cifar10", arch_ids=[0], columns=["a"])
    assert not (tmp_path / "m.json").exists()
