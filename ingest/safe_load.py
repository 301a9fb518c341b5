"""Restricted loading of upstream pickles and PyTorch zip archives; nothing in them is executed.

Only builtin containers and numbers, `collections.OrderedDict`, NumPy arrays / scalars of numeric
dtypes and (inside a torch archive) the tensor-rebuild calls are admitted. NumPy never sees a
pickled state: arrays, dtypes and scalars are rebuilt here from checked raw bytes. Tensors come
back as NumPy arrays: torch is not needed.
"""

import io
import math
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


# Element types a pickled array or scalar may have: booleans and numbers, nothing else (object,
# structured, string or datetime types are refused before NumPy sees them).
NUMERIC_KINDS = frozenset("biufc")
MAX_ARRAY_BYTES = 1 << 30  # one array (or tensor view) of a pickle: 1 GiB
MAX_ZIP_ENTRY_BYTES = 2 << 30  # declared size of one member of a torch archive
MAX_ZIP_TOTAL_BYTES = 4 << 30
MAX_ZIP_RATIO = 200  # declared size / compressed size of a compressed member
MAX_NDIM = 32


class _Refused(ValueError):
    """A pickled value the loader does not admit (it becomes an `UnsafePickle`)."""


def _numeric_dtype(code: Any) -> np.dtype:
    """The dtype a pickle names by its type code, if it is a plain boolean or number."""
    if not isinstance(code, str) or len(code) > 4:
        raise _Refused(f"dtype code {code!r} is not a short type code")
    try:
        dtype = np.dtype(code)
    except TypeError:
        raise _Refused(f"dtype code {code!r} is not a NumPy type code") from None
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _Refused(f"dtype {code!r} is not numeric; only numbers and booleans are loaded")
    return dtype


class _PendingDtype:
    """Stands in for `numpy.dtype(code, ...)` until its state (the byte order) is set."""

    __slots__ = ("dtype",)

    def __init__(self, code: Any, align: Any = False, copy: Any = True) -> None:
        self.dtype = _numeric_dtype(code)

    def __setstate__(self, state: Any) -> None:
        # (version, byteorder, subdescr, names, fields, elsize, alignment, flags[, metadata])
        if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] == 3):
            raise _Refused(f"dtype state {str(state)[:80]} is not a plain dtype's")
        if any(v is not None for v in state[2:5]) or state[5:7] != (-1, -1):
            raise _Refused("dtype state describes a structured or sized type; refused")
        order = state[1]
        if order not in ("<", ">", "|", "="):
            raise _Refused(f"dtype byte order {order!r}")
        self.dtype = self.dtype.newbyteorder(order) if order in "<>" else self.dtype


def _resolved_dtype(value: Any) -> np.dtype:
    if not isinstance(value, _PendingDtype):
        raise _Refused(f"expected a numpy dtype, got {type(value).__name__}")
    return value.dtype


class _NdarrayClass:
    """Stands in for `numpy.ndarray`: only `_reconstruct` accepts it; it builds nothing."""

    __slots__ = ()

    def __setstate__(self, state: Any) -> None:
        raise _Refused("numpy.ndarray itself cannot be given a state")


class _PendingArray:
    """Stands in for `_reconstruct(ndarray, ...)`: its checked state becomes a fresh array."""

    __slots__ = ("array",)

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if self.array is not None:
            raise _Refused("array state given twice")
        if isinstance(state, tuple) and len(state) == 5:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise _Refused("array state is not (shape, dtype, fortran, bytes)")
        shape, dtype, fortran, raw = state
        dtype = _resolved_dtype(dtype)
        if not (isinstance(shape, tuple) and len(shape) <= MAX_NDIM
                and all(type(n) is int and n >= 0 for n in shape)):
            raise _Refused(f"array shape {str(shape)[:80]} is not a tuple of sizes")
        if type(fortran) is not bool or not isinstance(raw, bytes | bytearray):
            raise _Refused("array state holds objects, not raw bytes of numbers")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > MAX_ARRAY_BYTES or nbytes != len(raw):
            raise _Refused(f"array of shape {shape} and dtype {dtype} needs {nbytes} bytes, "
                             f"the pickle holds {len(raw)}")
        flat = np.frombuffer(bytes(raw), dtype=dtype)
        self.array = flat.reshape(shape, order="F" if fortran else "C").copy(order="K")


class _Loads:
    """What one load created: placeholders to replace by arrays once the pickle is read."""

    def __init__(self) -> None:
        self.pending = 0

    def reconstruct(self, cls: Any, shape: Any, typecode: Any) -> _PendingArray:
        if not isinstance(cls, _NdarrayClass):
            raise _Refused(f"_reconstruct of {type(cls).__name__}, not numpy.ndarray")
        self.pending += 1
        return _PendingArray()

    def dtype(self, *args: Any) -> _PendingDtype:
        self.pending += 1
        return _PendingDtype(*args)


def _scalar(dtype: Any, data: Any = None) -> Any:
    """`numpy.core.multiarray.scalar` for numeric dtypes: the value its raw bytes hold."""
    dtype = _resolved_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise _Refused(f"scalar of dtype {dtype} from {type(data).__name__} data")
    return np.frombuffer(data, dtype=dtype)[0]


def _finish(value: Any) -> Any:
    """`value` with every placeholder replaced by the array or dtype it stands for."""
    done: dict[int, Any] = {}

    def walk(v: Any) -> Any:
        key = id(v)
        if key in done:
            return done[key]
        if isinstance(v, _PendingArray):
            if v.array is None:
                raise _Refused("array without a state")
            out: Any = v.array
        elif isinstance(v, _PendingDtype):
            out = v.dtype
        elif isinstance(v, list):
            done[key] = v
            v[:] = [walk(x) for x in v]
            return v
        elif isinstance(v, dict):
            done[key] = v
            items = [(walk(k), walk(x)) for k, x in v.items()]
            v.clear()
            v.update(items)
            return v
        elif isinstance(v, tuple):
            out = tuple(walk(x) for x in v)
        elif isinstance(v, set | frozenset):
            out = type(v)(walk(x) for x in v)
        else:
            return v
        done[key] = out
        return out

    return walk(value)


_ADMITTED: dict[tuple[str, str], Any] = {
    **{
        (module, cls.__name__): cls
        for module in ("builtins", "__builtin__")
        for cls in (set, frozenset, complex, bytes, bytearray)
    },
    ("collections", "OrderedDict"): OrderedDict,
    ("_codecs", "encode"): _latin1_encode,
    **{(f"numpy.{core}.multiarray", "scalar"): _scalar for core in ("core", "_core")},
}


@dataclass(frozen=True, slots=True)
class _StorageType:
    """Stands in for a `torch.<Name>Storage` class: only its element type matters here."""

    dtype: np.dtype

    def __setstate__(self, state: Any) -> None:
        raise _Refused("a torch storage type cannot be given a state")


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
    """The array torch would build as a view of `storage`, copied out of it.

    A view may not hold more elements than its storage (no stride-0 blow-ups) nor reach past it.
    """
    if not (isinstance(storage, np.ndarray) and storage.ndim == 1 and storage.flags.c_contiguous):
        raise _Refused(f"tensor rebuilt from a {type(storage).__name__}, not a storage")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) <= MAX_NDIM):
        raise _Refused("tensor size and stride must be tuples")
    dims = (storage_offset, *size, *stride)
    if len(size) != len(stride) or not all(type(v) is int and v >= 0 for v in dims):
        raise ValueError(f"bad tensor view: offset {storage_offset}, size {size}, stride {stride}")
    if 0 in size:
        return np.empty(size, dtype=storage.dtype)
    numel = math.prod(size)
    if numel > storage.size or numel * storage.itemsize > MAX_ARRAY_BYTES:
        raise _Refused(f"tensor view of size {size} holds {numel} elements, more than its "
                       f"storage of {storage.size}")
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
}


class _RestrictedUnpickler(pickle.Unpickler):
    admitted = _ADMITTED

    def __init__(self, data: bytes, origin: str):
        super().__init__(io.BytesIO(data))
        self.origin = origin
        self.loads = _Loads()

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("numpy", "ndarray"):
            return _NdarrayClass()
        if (module, name) == ("numpy", "dtype"):
            return self.loads.dtype
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return self.loads.reconstruct
        try:
            return self.admitted[module, name]
        except KeyError:
            raise UnsafePickle(
                f"{self.origin}: refused global {module[:60]}.{name[:60]}; the safe loader admits "
                "only containers, numbers, NumPy arrays/scalars and torch tensors, so this file "
                "is not the documented upstream format (check its source and sha256)"
            ) from None

    def load(self) -> Any:
        value = super().load()
        return _finish(value) if self.loads.pending else value


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

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _STORAGE_TYPES:
            return _StorageType(np.dtype(_STORAGE_TYPES[name]))  # fresh: no state across loads
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> np.ndarray:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ValueError(f"unknown persistent id {str(pid)[:80]}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise ValueError(f"persistent id {str(pid)[:80]} names no storage type")
        if not (isinstance(key, str) and type(numel) is int and numel >= 0):
            raise ValueError(f"persistent id {str(pid)[:80]}: bad storage key or size")
        if key not in self.storages:
            entry = f"{self.folder}/data/{key}"
            if entry not in self.archive.namelist():
                raise ValueError(f"storage {key!r} is missing (no {entry} in the archive)")
            dtype = storage_type.dtype.newbyteorder(self.byteorder)
            self.storages[key] = np.frombuffer(self.archive.read(entry), dtype=dtype, count=numel)
        return self.storages[key]


def _check_archive(archive: zipfile.ZipFile, origin: str) -> None:
    """Refuse members whose declared sizes or compression ratios are out of bounds."""
    total = 0
    for info in archive.infolist():
        total += info.file_size
        inflated = (info.compress_type != zipfile.ZIP_STORED
                    and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1) + (1 << 20))
        if info.file_size > MAX_ZIP_ENTRY_BYTES or total > MAX_ZIP_TOTAL_BYTES or inflated:
            raise CorruptFile(
                f"{origin}: archive member {info.filename[:80]!r} declares {info.file_size:,} "
                f"bytes from {info.compress_size:,} compressed, beyond the loader's caps; "
                "this is not a torch archive the project reads"
            )


def _corrupt(origin: str, what: str, exc: BaseException) -> CorruptFile:
    detail = " ".join(str(exc).split())[:200] or "no detail"
    return CorruptFile(
        f"{origin}: {what} ({type(exc).__name__}: {detail}); "
        "re-fetch the file and check it against its pinned sha256"
    )


def _run(unpickler: _RestrictedUnpickler, origin: str) -> Any:
    try:
        return unpickler.load()
    except OneproxyError:
        raise
    except _Refused as exc:
        raise UnsafePickle(
            f"{origin}: refused {' '.join(str(exc).split())[:200]}; the safe loader admits only "
            "numeric data, so this file is not the documented upstream format (check its source "
            "and sha256)"
        ) from None
    except (Exception, RecursionError, MemoryError) as exc:
        raise _corrupt(
            origin, "not a readable pickle (truncated, corrupt, not a pickle or refused state)",
            exc,
        ) from None


def load_pickle_bytes(data: bytes, origin: str) -> Any:
    """Unpickle `data` (read from `origin`, named in errors) with the restricted unpickler."""
    return _run(_RestrictedUnpickler(data, origin), origin)


def load_torch_bytes(data: bytes, origin: str) -> Any:
    """Load a PyTorch zip archive held in `data`; tensors become NumPy arrays."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        _check_archive(archive, origin)
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
