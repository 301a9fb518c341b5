"""Stored feature matrices: read back bit for bit, rebuilt when stale, damaged or malformed."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
from oneproxy.warehouse.spaces import nb201

from oneproxy.api import features

KEYS = [nb201.format_arch(row) for row in nb201.all_op_tuples()[::397]]  # 40 architectures


def _slot(wh):
    (meta,) = (wh.root / "models" / "features" / "nb201").rglob("meta.json")
    return meta.parent


@pytest.fixture
def stored(synth):
    first = features.features_of(synth, "nb201", KEYS)
    return synth, first


def _no_encoding(monkeypatch):
    def encode(*args, **kwargs):
        raise AssertionError("the stored matrices were encoded again")

    monkeypatch.setattr(features, "space_features", encode)


def _same(a, b):
    assert a.arch_keys == b.arch_keys and dict(a.columns) == dict(b.columns)
    assert list(a.matrices) == list(b.matrices)
    for name in a.matrices:  # dtype and memory order too: both change how products round
        x, y = a.matrix(name), b.matrix(name)
        assert x.dtype == y.dtype and x.strides == y.strides and x.tobytes() == y.tobytes()


def test_matrices_are_read_back_bit_for_bit_and_read_only(stored, monkeypatch):
    wh, first = stored
    _no_encoding(monkeypatch)
    again = features.features_of(wh, "nb201", KEYS)
    _same(again, first)
    assert not first.matrix("counts").flags.c_contiguous  # a column selection: F-ordered
    with pytest.raises(ValueError, match="read-only"):
        again.matrix("onehot")[0, 0] = 2.0


def test_another_dataset_or_key_set_has_its_own_slot(stored):
    wh, first = stored
    other = features.features_of(wh, "nb201", KEYS, dataset="ImageNet16-120")
    fewer = features.features_of(wh, "nb201", KEYS[:10])
    assert len(list((wh.root / "models" / "features" / "nb201").iterdir())) == 3
    assert not np.array_equal(other.matrix("kernel"), first.matrix("kernel"))  # FLOPs differ
    np.testing.assert_array_equal(fewer.matrix("kernel"), first.matrix("kernel")[:10])


def test_new_encoding_code_rebuilds_in_the_same_slot(stored, monkeypatch):
    wh, first = stored
    before = json.loads((_slot(wh) / "meta.json").read_text())["key"]
    monkeypatch.setattr(features, "source_key", lambda modules: "other code")
    _same(features.features_of(wh, "nb201", KEYS), first)
    assert json.loads((_slot(wh) / "meta.json").read_text())["key"] != before
    _no_encoding(monkeypatch)
    features.features_of(wh, "nb201", KEYS)  # the rebuilt one is read back


def test_damaged_data_is_rebuilt(stored):
    wh, first = stored
    data = _slot(wh) / features.DATA
    data.write_bytes(data.read_bytes()[:-8] + b"\x00" * 8)
    _same(features.features_of(wh, "nb201", KEYS), first)
    assert json.loads((_slot(wh) / "meta.json").read_text())["sha256"] == hashlib.sha256(
        data.read_bytes()).hexdigest()


@pytest.mark.parametrize("edit", [
    lambda m: m["matrices"][0].__setitem__(1, "|O"),  # objects: never read from bytes
    lambda m: m["matrices"][0][2].__setitem__(0, 39),  # not one row per key
    lambda m: m["matrices"][0].__setitem__(3, "X"),  # no memory order
    lambda m: m["columns"].pop("kernel"),  # a matrix without its column names
])
def test_a_consistent_but_malformed_layout_is_rebuilt(stored, edit):
    wh, first = stored
    path = _slot(wh) / "meta.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))
    assert features._read_features(_slot(wh), meta["key"], "nb201", tuple(KEYS)) is None
    _same(features.features_of(wh, "nb201", KEYS), first)


def test_only_the_slots_used_last_are_kept(synth):
    root = synth.root / "models" / "features" / "nb201"
    subsets = [KEYS[i:] for i in range(features.MAX_SLOTS + 1)]
    slots = []
    for i, keys in enumerate(subsets[:-1]):
        features.features_of(synth, "nb201", keys)
        (new,) = set(root.iterdir()) - set(slots)
        os.utime(new / "meta.json", ns=(i * 10**9, i * 10**9))  # used in this order
        slots.append(new)
    features.features_of(synth, "nb201", subsets[0])  # read back: now the one used last
    features.features_of(synth, "nb201", subsets[-1])  # one slot too many
    assert slots[1] not in set(root.iterdir())  # the one used longest ago
    assert len(list(root.iterdir())) == features.MAX_SLOTS and slots[0].is_dir()
