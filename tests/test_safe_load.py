"""The restricted loader: refuses code, reports corrupt files, rebuilds torch tensors, reads the
real upstream files."""

import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from oneproxy.ingest.errors import CorruptFile, UnsafePickle
from oneproxy.ingest.safe_load import load_bytes, load_file, load_pickle_bytes


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _torch_zip(data_pkl: bytes, storages: dict[str, bytes] | None = None, folder="archive"):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{folder}/data.pkl", data_pkl)
        archive.writestr(f"{folder}/version", b"3\n")
        for key, raw in (storages or {}).items():
            archive.writestr(f"{folder}/data/{key}", raw)
    return buffer.getvalue()


# Opcode-level pickle writers: torch is not installed, so its globals cannot be pickled normally.
def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _str(text: str) -> bytes:
    return b"X" + struct.pack("<I", len(text)) + text.encode()


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _tensor(key: str, numel: int, offset: int, size: tuple, stride: tuple, kind="Float") -> bytes:
    storage = _tuple(
        _str("storage"), _global("torch", f"{kind}Storage"), _str(key), _str("cpu"), _int(numel)
    )
    hooks = _global("collections", "OrderedDict") + b")R"
    args = _tuple(
        storage + b"Q",
        _int(offset),
        _tuple(*map(_int, size)),
        _tuple(*map(_int, stride)),
        b"\x89",
        hooks,
    )
    return _global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def _pickle_of(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


# --- refusing code -------------------------------------------------------------------------


def test_os_system_pickle_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    data = pickle.dumps(_Exploit(marker), protocol=2)
    with pytest.raises(UnsafePickle) as info:
        load_pickle_bytes(data, "evil.pickle")
    message = str(info.value)
    assert "evil.pickle" in message
    assert "posix.system" in message or "os.system" in message
    assert not marker.exists()


def test_os_system_inside_torch_zip_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(_torch_zip(pickle.dumps({"w": _Exploit(marker)}, protocol=2)))
    with pytest.raises(UnsafePickle, match=r"evil\.pt.*(posix|os)\.system"):
        load_file(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("builtins", "eval"),
        ("torch.storage", "_load_from_bytes"),
        ("torch._utils", "_rebuild_tensor_v2"),  # only admitted inside a torch archive
        ("numpy", "load"),
    ],
)
def test_other_globals_are_refused_in_raw_pickles(module, name):
    with pytest.raises(UnsafePickle, match=rf"x\.pkl: refused global {module}\.{name};"):
        load_pickle_bytes(_pickle_of(_global(module, name)), "x.pkl")


def test_load_from_bytes_is_refused_inside_torch_zip():
    data = _torch_zip(_pickle_of(_global("torch.storage", "_load_from_bytes")))
    with pytest.raises(UnsafePickle, match=r"torch\.storage\._load_from_bytes"):
        load_bytes(data, "m.pt")


def test_codecs_encode_only_rebuilds_latin1_bytes():
    assert load_pickle_bytes(pickle.dumps(b"\x00\xffab", protocol=2), "b.pkl") == b"\x00\xffab"
    rot13 = _global("_codecs", "encode") + _tuple(_str("abc"), _str("rot13")) + b"R"
    with pytest.raises(CorruptFile, match=r"r\.pkl: .*rot13"):
        load_pickle_bytes(_pickle_of(rot13), "r.pkl")


# --- what plain pickles are allowed to hold ------------------------------------------------


def test_plain_containers_numbers_and_numpy_round_trip():
    value = {
        "list": [1, 2.5, None, True],
        "set": {1, 2},
        "frozen": frozenset({"a"}),
        "complex": 1 + 2j,
        "bytes": b"",
        "bytearray": bytearray(b"xy"),
        "ordered": OrderedDict(b=1, a=2),
        (0, 0, 1): np.float64(0.25),
        "i32": np.int32(-7),
        "array": np.arange(6, dtype=np.float32).reshape(2, 3),
    }
    for protocol in (2, 4):
        loaded = load_pickle_bytes(pickle.dumps(value, protocol=protocol), "ok.pkl")
        assert loaded.keys() == value.keys()
        assert loaded[(0, 0, 1)] == np.float64(0.25) and type(loaded[(0, 0, 1)]) is np.float64
        assert type(loaded["i32"]) is np.int32 and loaded["i32"] == -7
        np.testing.assert_array_equal(loaded["array"], value["array"])
        assert loaded["array"].dtype == np.float32
        assert list(loaded["ordered"]) == ["b", "a"]
        assert loaded["set"] == {1, 2} and loaded["complex"] == 1 + 2j
        assert loaded["bytearray"] == bytearray(b"xy") and loaded["bytes"] == b""


# --- torch archives ------------------------------------------------------------------------


def test_torch_zip_tensor_with_offset_and_transposed_stride():
    storage = np.arange(10, dtype="<f4")
    # a 3x2 view starting at element 2, laid out column-major: the transpose of a 2x3 block
    body = _tensor("0", numel=10, offset=2, size=(3, 2), stride=(1, 3))
    data = _torch_zip(_pickle_of(body), {"0": storage.tobytes()}, folder="my_model")
    tensor = load_bytes(data, "t.pt")
    expected = np.array([[2, 5], [3, 6], [4, 7]], dtype=np.float32)
    assert tensor.dtype == np.float32 and tensor.shape == (3, 2)
    np.testing.assert_array_equal(tensor, expected)
    assert tensor.flags.owndata  # a copy, not a view into the archive's bytes


def test_torch_zip_tensors_sharing_one_storage_and_other_dtypes():
    floats = np.array([0.5, 1.5, 2.5, 3.5], dtype="<f8")
    longs = np.array([7, -8], dtype="<i8")
    body = b"}" + b"(" + _str("a") + _tensor("s", 4, 0, (4,), (1,), "Double")
    body += _str("b") + _tensor("s", 4, 3, (), (), "Double")
    body += _str("c") + _tensor("k", 2, 0, (2,), (1,), "Long") + b"u"
    loaded = load_bytes(
        _torch_zip(_pickle_of(body), {"s": floats.tobytes(), "k": longs.tobytes()}), "d"
    )
    np.testing.assert_array_equal(loaded["a"], floats)
    assert loaded["b"].shape == () and loaded["b"] == 3.5
    assert loaded["c"].dtype == np.int64 and loaded["c"].tolist() == [7, -8]


def test_torch_zip_of_plain_list_like_help_latency():
    data = _torch_zip(pickle.dumps([3.60585, 1.0, 2], protocol=2))
    assert load_bytes(data, "l.pt") == [3.60585, 1.0, 2]


# --- corrupt files -------------------------------------------------------------------------


def _corrupt_message(path: Path) -> str:
    with pytest.raises(CorruptFile) as info:
        load_file(path)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    return message


def test_truncated_pickle(tmp_path):
    path = tmp_path / "short.pickle"
    path.write_bytes(pickle.dumps({"a": [1.0] * 100}, protocol=4)[:-10])
    assert "not a readable pickle" in _corrupt_message(path)


def test_truncated_zip(tmp_path):
    path = tmp_path / "short.pt"
    full = _torch_zip(pickle.dumps(list(range(1000)), protocol=2))
    path.write_bytes(full[: len(full) // 2])
    assert "corrupt zip" in _corrupt_message(path)


@pytest.mark.parametrize("content", [b"arch,latency\n0,1.5\n", b"", b"\x00\x01\x02garbage"])
def test_not_a_pickle(tmp_path, content):
    path = tmp_path / "table.csv"
    path.write_bytes(content)
    _corrupt_message(path)


def test_zip_without_data_pkl(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    path = tmp_path / "other.zip"
    path.write_bytes(buffer.getvalue())
    assert "data.pkl" in _corrupt_message(path)


def test_missing_storage(tmp_path):
    path = tmp_path / "nostorage.pt"
    path.write_bytes(_torch_zip(_pickle_of(_tensor("7", 4, 0, (4,), (1,)))))
    assert "archive/data/7" in _corrupt_message(path)


@pytest.mark.parametrize(
    ("offset", "size", "stride"),
    [(8, (3,), (1,)), (0, (2, 3), (5, 2)), (0, (2,), (-1,)), (0, (2, 1), (1,))],
)
def test_tensor_view_outside_its_storage(tmp_path, offset, size, stride):
    path = tmp_path / "oob.pt"
    raw = np.zeros(9, dtype="<f4").tobytes()
    path.write_bytes(_torch_zip(_pickle_of(_tensor("0", 9, offset, size, stride)), {"0": raw}))
    _corrupt_message(path)


# --- the real upstream files ---------------------------------------------------------------




@pytest.mark.integration
def test_every_real_pickle_and_archive_loads(mirror):
    paths = [p for p in mirror.rglob("*") if p.suffix in (".pt", ".pickle", ".pkl")]
    assert len(paths) >= 90
    for path in paths:
        assert load_file(path) is not None


@pytest.mark.integration
def test_real_help_latency(mirror):
    values = load_file(mirror / "HayeonLee__HELP/data/nasbench201/latency/pixel3.pt")
    assert len(values) == 15625
    assert values[0] == pytest.approx(3.60585)


@pytest.mark.integration
def test_real_brp_nas_dict(mirror):
    table = load_file(mirror / "zheng-ningxin__brp-nas/examples/desktop-cpu-core-i7-7820x-fp32.pkl")
    assert len(table) == 15284
    value = table[(0, 0, 0, 2, 2, 4)]
    assert type(value) is np.float64 and value == 0.0015538465976715089


@pytest.mark.integration
def test_real_oneproxy_eagle_and_ofa(mirror):
    eagle = load_file(mirror / "Ren-Research__OneProxy/latency_data/eagle_gtx.pickle")
    assert len(eagle) == 1999 and type(eagle[0]) is np.float64
    assert eagle[0] == pytest.approx(6.126977205276489)
    ofa = load_file(mirror / "HayeonLee__HELP/data/ofa/ofa_archs.pt")
    assert ofa["dataset"] == "imagenet" and ofa["num_classes"] == 1000
    assert ofa["arch"][0]["r"] == 204 and type(ofa["arch"][0]["r"]) is np.int64


# --- forged states: data, not objects ------------------------------------------------------


class _Forge:
    """Pickles as whatever reduce tuple it is given (the attacker's opcodes, numpy's globals)."""

    def __init__(self, reduce: tuple):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


_RECONSTRUCT = np.empty(0).__reduce__()[0]
_SCALAR = np.float64(0).__reduce__()[0]
_OBJECT_FIELD = np.dtype([("a", "O")])
# ndarray((1,), dtype('O'), b'AAAAAAAA'): an object array whose element pointer is 0x4141...
FORGED_NDARRAY = (b"\x80\x03" + _global("numpy", "ndarray") + b"K\x01\x85"
                  + _global("numpy", "dtype") + _str("O") + b"\x85R"
                  + b"C\x08AAAAAAAA" + b"\x87R.")
# dtype('f8') whose BUILD state names an object field
FORGED_DTYPE_STATE = (b"\x80\x02" + _global("numpy", "dtype") + _str("f8") + b"\x89\x88\x87R"
                      + b"(K\x03" + _str("|") + b"N" + _str("a") + b"\x85}" + _str("a")
                      + _global("numpy", "dtype") + _str("O") + b"\x89\x88\x87R"
                      + b"K\x00\x86sK\x08K\x01K\x00tb.")


@pytest.mark.parametrize("data", [
    FORGED_NDARRAY,
    FORGED_DTYPE_STATE,
    pickle.dumps(_Forge((_RECONSTRUCT, (np.ndarray, (0,), b"b"),
                         (1, (1,), _OBJECT_FIELD, False, b"AAAAAAAA"))), protocol=2),
    pickle.dumps(_Forge((_RECONSTRUCT, (np.ndarray, (0,), b"b"),
                         (1, (1,), np.dtype("O"), False, b"AAAAAAAA"))), protocol=4),
    pickle.dumps(_Forge((_SCALAR, (_OBJECT_FIELD, b"AAAAAAAA"))), protocol=2),
    pickle.dumps(_Forge((_SCALAR, (np.dtype("O"), b"AAAAAAAA"))), protocol=4),
    pickle.dumps(_Forge((np.ndarray, ((1,), np.dtype("f8"), b"AAAAAAAA"))), protocol=2),
    pickle.dumps(np.array(["text"])),  # strings are not numbers either
], ids=["ndarray-object", "dtype-state-object-field", "reconstruct-object-field",
        "reconstruct-object", "scalar-object-field", "scalar-object", "ndarray-call", "unicode"])
def test_forged_numpy_states_are_refused_in_one_line(data):
    assert len(FORGED_NDARRAY) < 64
    with pytest.raises((UnsafePickle, CorruptFile)) as info:
        load_pickle_bytes(data, "forged.pkl")
    assert "forged.pkl" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("shape", "raw"), [((1000,), b"A" * 8), ((2, 2), b"A" * 8),
                                            ((-1,), b"A" * 8)])
def test_array_state_must_match_its_bytes(shape, raw):
    forged = _Forge((_RECONSTRUCT, (np.ndarray, (0,), b"b"),
                     (1, shape, np.dtype("f8"), False, raw)))
    with pytest.raises(UnsafePickle, match="shape|bytes"):
        load_pickle_bytes(pickle.dumps(forged, protocol=2), "s.pkl")


def test_big_endian_and_fortran_arrays_keep_their_values():
    value = {"be": np.arange(4, dtype=">i4"), "f": np.asfortranarray(np.arange(6.0).reshape(2, 3))}
    loaded = load_pickle_bytes(pickle.dumps(value, protocol=2), "ok.pkl")
    assert loaded["be"].tolist() == [0, 1, 2, 3] and loaded["be"].dtype == np.dtype(">i4")
    assert loaded["f"].tolist() == [[0, 1, 2], [3, 4, 5]] and loaded["f"].flags.writeable


def test_stride_zero_view_bigger_than_its_storage_is_refused():
    body = _tensor("0", 1, 0, (50_000, 50_000), (0, 0))
    data = _torch_zip(_pickle_of(body), {"0": np.zeros(1, dtype="<f4").tobytes()})
    with pytest.raises(UnsafePickle, match="more than its storage"):
        load_bytes(data, "bomb.pt")


def test_zip_bomb_is_refused_before_inflating():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", pickle.dumps([1.0], protocol=2))
        archive.writestr("archive/data/0", b"\0" * (300 << 20))
    with pytest.raises(CorruptFile, match="beyond the loader's caps"):
        load_bytes(buffer.getvalue(), "bomb.pt")


def test_a_build_on_a_storage_type_does_not_leak_into_the_next_load():
    storage = _global("torch", "FloatStorage") + b"}" + _str("dtype") + _str("i4") + b"sb0"
    with pytest.raises((UnsafePickle, CorruptFile)):
        load_bytes(_torch_zip(_pickle_of(storage + b"N")), "first.pt")
    floats = np.array([1.5, 2.5], dtype="<f4")
    body = _tensor("0", 2, 0, (2,), (1,))
    again = load_bytes(_torch_zip(_pickle_of(body), {"0": floats.tobytes()}), "second.pt")
    assert again.dtype == np.float32 and again.tolist() == [1.5, 2.5]
