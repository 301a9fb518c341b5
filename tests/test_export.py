"""`oneproxy export`: NAS-Bench-201 ONNX graphs, valid for every op, costs equal to the codec's."""

from __future__ import annotations

import sys

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from oneproxy.warehouse.catalog import query
from oneproxy.warehouse.spaces import nb201

from oneproxy.api.measure import BadArchList, arch_keys, export_archs, model_file, sample_keys
from oneproxy.cli import main
from oneproxy.measure.nb201_onnx import INPUT, build_model, graph_cost
from oneproxy.measure.timing import session

DISCONNECTED = (3, 3, 3, 0, 0, 0)  # node 3 has only `none` inputs
DEAD_OPS = (3, 0, 0, 0, 0, 3)  # convs whose node feeds nothing / is fed nothing


def run_once(model: onnx.ModelProto, dataset: str, seed: int = 0) -> np.ndarray:
    onnx.checker.check_model(model, full_check=True)
    res = nb201.DATASETS[dataset][1]
    x = np.random.default_rng(seed).standard_normal((1, 3, res, res)).astype(np.float32)
    (out,) = session(model.SerializeToString(), 1).run(None, {INPUT: x})
    return out


@pytest.mark.parametrize("op", nb201.OPS)
def test_every_op_exports_a_valid_graph_that_runs(op):
    model = build_model([nb201.OPS.index(op)] * nb201.N_EDGES, "cifar100")
    out = run_once(model, "cifar100")
    assert out.shape == (1, 100)
    assert np.isfinite(out).all()
    kinds = {n.op_type for n in model.graph.node}
    expected = {"none": "Mul", "nor_conv_1x1": "Conv", "nor_conv_3x3": "Conv",
                "avg_pool_3x3": "AveragePool", "skip_connect": "Sum"}[op]
    assert expected in kinds


def test_disconnected_and_dead_op_cells_are_valid_graphs():
    assert nb201.disconnected(DISCONNECTED)[0]
    assert not nb201.live_mask(DEAD_OPS).any()
    for ops in (DISCONNECTED, DEAD_OPS):
        model = build_model(ops, "cifar10")
        out = run_once(model, "cifar10")
        # the last stage's cells output zeros: the logits no longer depend on the input
        assert out.shape == (1, 10)
        assert np.isfinite(out).all()
        assert np.array_equal(out, run_once(model, "cifar10", seed=1))
    connected = build_model((3, 0, 0, 0, 3, 0), "cifar10")
    assert not np.array_equal(run_once(connected, "cifar10"), run_once(connected, "cifar10", 1))


def test_imagenet16_input_is_16_by_16_and_batch_is_the_first_dim():
    model = build_model([3] * 6, "ImageNet16-120", batch=4)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [4, 3, 16, 16]


@pytest.mark.parametrize("dataset", list(nb201.DATASETS))
def test_graph_params_and_flops_equal_the_codec(dataset):
    ops = nb201.all_op_tuples()[np.random.default_rng(7).choice(nb201.N_ARCHS, 12, replace=False)]
    ops = np.vstack([ops, [[4] * 6], [[1] * 6]])
    got = np.array([graph_cost(build_model(row, dataset)) for row in ops])
    assert got[:, 0] == pytest.approx(nb201.params(ops, dataset), abs=1e-12)
    assert got[:, 1] == pytest.approx(nb201.flops(ops, dataset), abs=1e-12)


def test_weights_are_seeded():
    a, b, c = (build_model([3] * 6, seed=s) for s in (1, 1, 2))
    assert a.SerializeToString() == b.SerializeToString() != c.SerializeToString()


def test_arch_list_takes_strings_indices_and_files(tmp_path):
    key = nb201.format_arch((3, 3, 0, 1, 2, 4))
    strings = [f"index {i}" for i in range(nb201.N_ARCHS)]
    strings[5] = nb201.format_arch((0,) * 6)
    asked = []
    assert arch_keys(f"{key},5,{key}", lambda: asked.append(1) or strings) == [key, strings[5]]
    assert asked == [1]
    listing = tmp_path / "archs.txt"
    listing.write_text(f"# picked\n{key}\n\n")
    assert arch_keys(str(listing), lambda: pytest.fail("no index needed")) == [key]
    with pytest.raises(BadArchList, match="item 2: index 15625"):
        arch_keys(f"{key},15625", lambda: strings)
    with pytest.raises(BadArchList, match=r"archs.txt line 2: .*unknown op 'conv'"):
        listing.write_text(f"{key}\n|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|\n")
        arch_keys(str(listing), lambda: strings)


def test_sample_is_seeded_and_distinct():
    a = sample_keys(50, 3)
    assert a == sample_keys(50, 3) != sample_keys(50, 4)
    assert len(set(a)) == 50
    assert sample_keys(80, 3)[:50] == a


def test_export_cli_writes_models_and_manifest(tmp_path):
    keys = [nb201.format_arch(o) for o in ((3,) * 6, DISCONNECTED)]
    result = CliRunner().invoke(main, ["export", "--archs", ",".join(keys), "--dataset",
                                       "ImageNet16-120", "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert "exported 2 nb201 models (ImageNet16-120" in result.output
    for key in keys:
        model = onnx.load(tmp_path / "m" / model_file(key))
        assert graph_cost(model).flops_m == pytest.approx(nb201.flops(
            nb201.parse_arch(key), "ImageNet16-120")[0])
    manifest = (tmp_path / "m" / "archs.csv").read_text().splitlines()
    assert manifest[0] == "arch,file,params_m,flops_m"
    assert manifest[1].startswith(f"{keys[0]},nb201-333333.onnx,1.538696,")


def test_export_cli_bad_arch_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["export", "--archs", "|none~0|+|x~0|", "--out",
                                       str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: --archs item 1:")
    assert "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["export", "measure"])
def test_missing_runtime_says_how_to_install(monkeypatch, tmp_path, command):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    out = ["--out", str(tmp_path)] if command == "export" else ["-o", str(tmp_path / "m.csv")]
    result = CliRunner().invoke(main, [command, "--sample", "2", *out])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: onnxruntime is not installed; export and measure need it: "
        "pip install 'oneproxy[measure]'"]


@pytest.mark.integration
def test_costs_equal_the_warehouse_for_help_reference_and_sampled_archs(ingested, tmp_path):
    rows = query(ingested, """
        SELECT a.* FROM architectures a
        WHERE a.space_id = 'nb201' AND (a.arch_id IN (SELECT arch_id FROM reference_archs
              WHERE space_id = 'nb201') OR a.arch_id % 1301 = 0)
        ORDER BY a.arch_id""").to_pylist()
    reference = query(ingested, "SELECT count(*) AS n FROM reference_archs "
                      "WHERE space_id = 'nb201'").to_pylist()[0]["n"]
    assert reference == 10
    assert len(rows) >= 20
    for dataset in nb201.DATASETS:
        done = export_archs([r["arch_key"] for r in rows], tmp_path / dataset, dataset=dataset)
        for row, exported in zip(rows, done, strict=True):
            assert exported.params_m == pytest.approx(row[nb201.cost_column("params", dataset)],
                                                      abs=1e-12)
            assert exported.flops_m == pytest.approx(row[nb201.cost_column("flops", dataset)],
                                                     abs=1e-12)


@pytest.mark.integration
def test_export_cli_takes_official_indices(mirror, tmp_path):
    result = CliRunner().invoke(main, ["export", "--archs", "0,15624", "--out", str(tmp_path),
                                       "--mirror", str(mirror), "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert len(list(tmp_path.glob("nb201-*.onnx"))) == 2
