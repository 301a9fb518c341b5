"""Restricted loading of upstream pickles and PyTorch zip archives; nothing in them is executed.

Only builtin containers and numbers, `collections.OrderedDict`, NumPy arrays / scalars and (inside
a torch archive) the tensor-rebuild calls are admitted. Tensors come back as NumPy arrays: torch is
not needed.
"""

import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided
from oneproxy.ingest.errors import CorruptFile, UnsafePickle
from oneproxy.warehouse.errors import OneproxyError

_ZIP_MAGIC = b"PK\x03\x04"


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it to rebuild bytes; other codecs are refused."""
    if encoding not in ("latin1", "latin-1"):
        raise ValueError(f"_codecs.encode with codec {encoding!r} (pickles only use 'latin1')")
    return text.encode("latin1")


_NUMPY_SCALAR = np.float64(0).__reduce__()[0]
_NUMPY_RECONSTRUCT = np.empty(0).__reduce__()[0]

_ADMITTED: dict[tuple[str, str], Any] = {
    **{
        (module, cls.__name__): cls
        for module in ("builtins", "__builtin__")
        for cls in (set, frozenset, complex, bytes, bytearray)
    },
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): _latin1_encode,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    **{
        (f"numpy.{core}.multiarray", name): func
        for core in ("core", "_core")
        for name, func in (("scalar", _NUMPY_SCALAR), ("_reconstruct", _NUMPY_RECONSTRUCT))
    },
}


@dataclass(frozen=True)
class _StorageType:
    """Stands in for a `torch.<Name>Storage` class: only its element type matters here."""

    dtype: np.dtype


_STORAGE_TYPES = {
    "FloatStorage": "f4",
    "DoubleStorage": "f8",
    "HalfStorage": "f2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ByteStorage": "u1",
    "BoolStorage": "b1",
}


def _rebuild_tensor_v2(
    storage: np.ndarray, storage_offset: int, size: tuple, stride: tuple, *_: Any
) -> np.ndarray:
    """The array torch would build as a view of `storage`, copied out of it."""
    if not (isinstance(storage, np.ndarray) and storage.ndim == 1 and storage.flags.c_contiguous):
        raise ValueError(f"tensor rebuilt from a {type(storage).__name__}, not a storage")
    dims = (storage_offset, *size, *stride)
    if len(size) != len(stride) or not all(type(v) is int and v >= 0 for v in dims):
        raise ValueError(f"bad tensor view: offset {storage_offset}, size {size}, stride {stride}")
    if 0 in size:
        return np.empty(size, dtype=storage.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= storage.size:
        raise ValueError(
            f"tensor view (offset {storage_offset}, size {size}, stride {stride}) "
            f"reaches past its storage of {storage.size} elements"
        )
    byte_strides = tuple(s * storage.itemsize for s in stride)
    return as_strided(storage[storage_offset:], shape=size, strides=byte_strides).copy()


def _rebuild_tensor(
    storage: np.ndarray, storage_offset: int, size: tuple, stride: tuple
) -> np.ndarray:
    """Version-1 form of `_rebuild_tensor_v2`."""
    return _rebuild_tensor_v2(storage, storage_offset, size, stride)


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    """A `torch.nn.Parameter` is its data."""
    return data


_TORCH_ADMITTED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(np.dtype(code)) for name, code in _STORAGE_TYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    admitted = _ADMITTED

    def __init__(self, data: bytes, origin: str):
        super().__init__(io.BytesIO(data))
        self.origin = origin

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.admitted[module, name]
        except KeyError:
            raise UnsafePickle(
                f"{self.origin}: refused global {module}.{name}; the safe loader admits only "
                "containers, numbers, NumPy arrays/scalars and torch tensors, so this file is "
                "not the documented upstream format (check its source and sha256)"
            ) from None


class _TorchUnpickler(_RestrictedUnpickler):
    admitted = {**_ADMITTED, **_TORCH_ADMITTED}

    def __init__(self, archive: zipfile.ZipFile, folder: str, origin: str):
        super().__init__(archive.read(f"{folder}/data.pkl"), origin)
        self.archive = archive
        self.folder = folder
        self.storages: dict[str, np.ndarray] = {}
        byteorder = f"{folder}/byteorder"
        big = byteorder in archive.namelist() and archive.read(byteorder).strip() == b"big"
        self.byteorder = ">" if big else "<"

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ValueError(f"unknown persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise ValueError(f"persistent id {pid!r} names no storage type")
        if key not in self.storages:
            entry = f"{self.folder}/data/{key}"
            if entry not in self.archive.namelist():
                raise ValueError(f"storage {key!r} is missing (no {entry} in the archive)")
            dtype = storage_type.dtype.newbyteorder(self.byteorder)
            self.storages[key] = np.frombuffer(self.archive.read(entry), dtype=dtype, count=numel)
        return self.storages[key]


def _corrupt(origin: str, what: str, exc: Exception) -> CorruptFile:
    detail = " ".join(str(exc).split()) or "no detail"
    return CorruptFile(
        f"{origin}: {what} ({type(exc).__name__}: {detail}); "
        "re-fetch the file and check it against its pinned sha256"
    )


def _run(unpickler: _RestrictedUnpickler, origin: str) -> Any:
    try:
        return unpickler.load()
    except OneproxyError:
        raise
    except Exception as exc:
        raise _corrupt(
            origin, "not a readable pickle (truncated, corrupt or not a pickle)", exc
        ) from None


def load_pickle_bytes(data: bytes, origin: str) -> Any:
    """Unpickle `data` (read from `origin`, named in errors) with the restricted unpickler."""
    return _run(_RestrictedUnpickler(data, origin), origin)


def load_torch_bytes(data: bytes, origin: str) -> Any:
    """Load a PyTorch zip archive held in `data`; tensors become NumPy arrays."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") and n.count("/") == 1), None)
        if pkl is None:
            raise CorruptFile(
                f"{origin}: zip archive holds no <folder>/data.pkl, so it is not a torch "
                "archive; check that the right file was fetched"
            )
        unpickler = _TorchUnpickler(archive, pkl.split("/")[0], origin)
    except OneproxyError:
        raise
    except Exception as exc:
        raise _corrupt(origin, "truncated or corrupt zip archive", exc) from None
    return _run(unpickler, origin)


def load_bytes(data: bytes, origin: str) -> Any:
    """Load a torch zip archive or a raw pickle, told apart by the zip magic number."""
    if data.startswith(_ZIP_MAGIC):
        return load_torch_bytes(data, origin)
    return load_pickle_bytes(data, origin)


def load_file(path: Path) -> Any:
    """Load the pickle or torch archive at `path` without executing anything in it."""
    return load_bytes(Path(path).read_bytes(), str(path))
