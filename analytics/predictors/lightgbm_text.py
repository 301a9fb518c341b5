"""Structural check of a LightGBM text model before LightGBM parses it.

LightGBM trusts its model files: a truncated file, child indices out of range, a cycle between
nodes, a lying `tree_sizes` or an absurd `num_class` crash, hang or corrupt the process. The
check admits what `oneproxy train` writes: single-output regression trees over numeric
features, every node reached exactly once from the root.
"""

from __future__ import annotations

import re

MAX_LEAVES = 1 << 17
MAX_TREES = 1 << 20
_END = "end of trees"
_TREE_START = re.compile(r"^Tree=", re.MULTILINE)


class BadModelText(ValueError):
    """The text is not a LightGBM model of the shape this project writes."""


def _fields(block: str) -> dict[str, str]:
    out = {}
    for line in block.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _ints(fields: dict[str, str], key: str, n: int) -> list[int]:
    values = _numbers(fields, key, n)
    try:
        return [int(v) for v in values]
    except ValueError:
        raise BadModelText(f"{key} holds a value that is not an integer") from None


def _numbers(fields: dict[str, str], key: str, n: int) -> list[str]:
    if key not in fields:
        raise BadModelText(f"a tree lacks {key}")
    values = fields[key].split()
    if len(values) != n:
        raise BadModelText(f"{key} has {len(values)} values, the tree needs {n}")
    for v in values:
        try:
            float(v)
        except ValueError:
            raise BadModelText(f"{key} holds {v[:20]!r}, not a number") from None
    return values


def _check_tree(block: str, index: int, max_feature: int) -> None:
    fields = _fields(block)
    if fields.get("Tree") != str(index):
        raise BadModelText(f"tree {index} is labelled {fields.get('Tree', '?')[:20]!r}")
    (leaves,) = _ints(fields, "num_leaves", 1)
    if not 1 <= leaves <= MAX_LEAVES:
        raise BadModelText(f"tree {index} has {leaves} leaves")
    if fields.get("num_cat", "0") != "0" or fields.get("is_linear", "0") != "0":
        raise BadModelText(f"tree {index} has categorical or linear splits")
    _numbers(fields, "leaf_value", leaves)
    for key in ("leaf_weight", "leaf_count"):
        if key in fields:
            _numbers(fields, key, leaves)
    if leaves == 1:
        return
    nodes = leaves - 1
    features = _ints(fields, "split_feature", nodes)
    if any(not 0 <= f <= max_feature for f in features):
        raise BadModelText(f"tree {index} splits on a feature outside 0..{max_feature}")
    _numbers(fields, "threshold", nodes)
    if any(d < 0 or d > 15 or d & 1 for d in _ints(fields, "decision_type", nodes)):
        raise BadModelText(f"tree {index} has a categorical or unknown decision type")
    for key in ("split_gain", "internal_value", "internal_weight", "internal_count"):
        if key in fields:
            _numbers(fields, key, nodes)
    left, right = _ints(fields, "left_child", nodes), _ints(fields, "right_child", nodes)
    seen_nodes, seen_leaves, stack = {0}, set(), [0]
    while stack:
        node = stack.pop()
        for child in (left[node], right[node]):
            if child >= 0:
                if child >= nodes or child in seen_nodes:
                    raise BadModelText(f"tree {index}: node {node} points at node {child} "
                                       "(out of range, or reached twice: a cycle)")
                seen_nodes.add(child)
                stack.append(child)
            else:
                leaf = ~child
                if leaf >= leaves or leaf in seen_leaves:
                    raise BadModelText(f"tree {index}: node {node} points at leaf {leaf} "
                                       "(out of range, or reached twice)")
                seen_leaves.add(leaf)
    if len(seen_nodes) != nodes or len(seen_leaves) != leaves:
        raise BadModelText(f"tree {index}: some nodes or leaves are not reachable from the root")


def check_model_text(text: str) -> None:
    """Raise BadModelText unless `text` is a well-formed single-output LightGBM text model."""
    if not text.startswith("tree\n"):
        raise BadModelText("it does not start with 'tree'")
    end = text.find("\n" + _END)
    if end < 0:
        raise BadModelText(f"no '{_END}' line: the file is truncated")
    starts = [m.start() for m in _TREE_START.finditer(text, 0, end + 1)]
    header = _fields(text[: starts[0] if starts else end])
    for key, want in (("num_class", "1"), ("num_tree_per_iteration", "1")):
        if header.get(key) != want:
            raise BadModelText(f"{key} is {header.get(key, 'missing')[:20]!r}, not {want}")
    try:
        max_feature = int(header["max_feature_idx"])
        sizes = [int(v) for v in header.get("tree_sizes", "").split()]
    except (KeyError, ValueError):
        raise BadModelText("max_feature_idx or tree_sizes is missing or not an integer") from None
    if not starts or len(starts) > MAX_TREES or not 0 <= max_feature < 1 << 20:
        raise BadModelText(f"{len(starts)} trees over {max_feature + 1} features")
    bounds = [*starts, end + 1]
    actual = [b - a for a, b in zip(bounds, bounds[1:], strict=False)]
    if sizes != actual:
        raise BadModelText("tree_sizes does not match the trees in the file")
    for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        _check_tree(text[a:b], i, max_feature)
