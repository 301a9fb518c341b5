"""The official NAS-Bench-201 network of one cell as an ONNX graph, with seeded random weights.

Stem Conv3×3 (3→16) + BN; three stages of 5 cells with C = 16 / 32 / 64 and a residual
reduction block before stages 2 and 3 (ReLU-Conv3×3/2-BN, ReLU-Conv3×3-BN, shortcut
AvgPool2×2 + Conv1×1); BN-ReLU, global average pool, linear classifier. Cell edges:
ReLU-Conv-BN for the convolutions, AvgPool3×3 (padding not counted), identity, zero (×0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

from oneproxy.warehouse.spaces import nb201

CHANNELS = (16, 32, 64)  # per stage, as the official network
CELLS_PER_STAGE = 5
OPSET = 17
IR_VERSION = 8  # what every ONNX Runtime since 1.10 reads
INPUT = "input"
OUTPUT = "logits"


class _Builder:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self, seed: int) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def init(self, stem: str, array: np.ndarray) -> str:
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, **attrs: object) -> str:
        out = self.name(stem)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1) -> str:
        fan_in = c_in * k * k
        w = self.rng.normal(0.0, np.sqrt(2.0 / fan_in), (c_out, c_in, k, k))
        pad = (k - 1) // 2
        return self.node("Conv", [x, self.init("w", w)], "conv", kernel_shape=[k, k],
                         strides=[stride, stride], pads=[pad] * 4)

    def bn(self, x: str, c: int) -> str:
        scale = self.init("bn_scale", 1.0 + 0.1 * self.rng.standard_normal(c))
        bias = self.init("bn_bias", 0.1 * self.rng.standard_normal(c))
        mean = self.init("bn_mean", np.zeros(c))
        var = self.init("bn_var", np.ones(c))
        return self.node("BatchNormalization", [x, scale, bias, mean, var], "bn", epsilon=1e-5)

    def relu_conv_bn(self, x: str, c_in: int, c_out: int, k: int, stride: int = 1) -> str:
        return self.bn(self.conv(self.node("Relu", [x], "relu"), c_in, c_out, k, stride), c_out)

    def edge(self, op: int, x: str, c: int, zero: str) -> str:
        name = nb201.OPS[op]
        if name == "none":
            return self.node("Mul", [x, zero], "zero")
        if name == "skip_connect":
            return x
        if name == "avg_pool_3x3":
            return self.node("AveragePool", [x], "avgpool", kernel_shape=[3, 3],
                             strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)
        return self.relu_conv_bn(x, c, c, 1 if name == "nor_conv_1x1" else 3)

    def cell(self, x: str, ops: Sequence[int], c: int, zero: str) -> str:
        nodes = [x]
        for to in (1, 2, 3):
            terms = [self.edge(int(op), nodes[src], c, zero)
                     for op, (t, src) in zip(ops, nb201.EDGES, strict=True) if t == to]
            nodes.append(terms[0] if len(terms) == 1 else self.node("Sum", terms, "sum"))
        return nodes[3]

    def reduction(self, x: str, c_in: int, c_out: int) -> str:
        main = self.relu_conv_bn(self.relu_conv_bn(x, c_in, c_out, 3, 2), c_out, c_out, 3)
        pooled = self.node("AveragePool", [x], "avgpool", kernel_shape=[2, 2], strides=[2, 2])
        return self.node("Add", [main, self.conv(pooled, c_in, c_out, 1)], "add")


def build_model(ops: Sequence[int] | np.ndarray, dataset: str = "cifar10", *, batch: int = 1,
                seed: int = 0) -> onnx.ModelProto:
    """The ONNX model of one architecture (6 op indices) for a dataset, input batch×3×R×R."""
    row = nb201.check_ops(ops)
    if row.shape[0] != 1:
        raise nb201.BadArchKey(f"build_model takes one architecture, got {row.shape[0]}")
    if dataset not in nb201.DATASETS:
        raise nb201.UnknownDataset(
            f"dataset {dataset!r} has no NAS-Bench-201 network; use one of "
            f"{', '.join(nb201.DATASETS)}"
        )
    classes, res = nb201.DATASETS[dataset]
    b = _Builder(seed)
    zero = b.init("zero", np.zeros((), dtype=np.float32)) if (row == nb201.NONE).any() else ""
    x = b.bn(b.conv(INPUT, 3, CHANNELS[0], 3), CHANNELS[0])
    for stage, c in enumerate(CHANNELS):
        if stage:
            x = b.reduction(x, c // 2, c)
        for _ in range(CELLS_PER_STAGE):
            x = b.cell(x, row[0], c, zero)
    c_last = CHANNELS[-1]
    x = b.node("Relu", [b.bn(x, c_last)], "relu")
    x = b.node("Flatten", [b.node("GlobalAveragePool", [x], "gap")], "flatten")
    w = b.init("fc_w", b.rng.normal(0.0, np.sqrt(1.0 / c_last), (classes, c_last)))
    bias = b.init("fc_b", np.zeros(classes))
    b.nodes.append(helper.make_node("Gemm", [x, w, bias], [OUTPUT], name=OUTPUT, transB=1))
    graph = helper.make_graph(
        b.nodes, f"nb201_{nb201.format_arch(row[0])}",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [batch, 3, res, res])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [batch, classes])],
        initializer=b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="oneproxy", ir_version=IR_VERSION)
    model.doc_string = f"NAS-Bench-201 {nb201.format_arch(row[0])} ({dataset}), seed {seed}"
    return model


class GraphCost(NamedTuple):
    """Counted from the graph: millions of parameters and of FLOPs (NAS-Bench-201 rules)."""

    params_m: float
    flops_m: float


_PARAM_INPUTS = {"Conv": (1, 2), "BatchNormalization": (1, 2), "Gemm": (1, 2)}


def graph_cost(model: onnx.ModelProto) -> GraphCost:
    """Parameters and FLOPs read off the graph, counted as `nb201.params` / `nb201.flops` do.

    Parameters: Conv weights and biases, BN scale and shift (not the running statistics),
    Gemm weight and bias. FLOPs: Conv multiply-accumulates (H_out·W_out·k²·C_in/groups·C_out)
    per sample, Gemm C_in·C_out plus one per bias; every other node counts zero.
    """
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    graph = inferred.graph
    sizes = {t.name: int(np.prod(t.dims)) for t in graph.initializer}
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*graph.value_info, *graph.input, *graph.output]}
    dims = {t.name: list(t.dims) for t in graph.initializer}
    params = macs = 0
    for node in graph.node:
        for i in _PARAM_INPUTS.get(node.op_type, ()):
            if i < len(node.input) and node.input[i] in sizes:
                params += sizes[node.input[i]]
        if node.op_type == "Conv":
            out = shapes[node.output[0]]
            c_out, c_in_per_group, kh, kw = dims[node.input[1]]
            macs += out[2] * out[3] * kh * kw * c_in_per_group * c_out
        elif node.op_type == "Gemm":
            c_out, c_in = dims[node.input[1]]
            macs += c_in * c_out + (c_out if len(node.input) > 2 else 0)
    return GraphCost(params / 1e6, macs / 1e6)
