"""On-device measurement: NAS-Bench-201 networks as ONNX graphs, timed with ONNX Runtime."""

import importlib

from oneproxy.warehouse.errors import OneproxyError

INSTALL_HINT = "pip install 'oneproxy[measure]'"


class MissingMeasureDeps(OneproxyError):
    """onnx or onnxruntime is not installed."""


def require_runtime() -> None:
    """Raise MissingMeasureDeps (one line with the install command) unless onnx and ORT import."""
    for name in ("onnx", "onnxruntime"):
        try:
            importlib.import_module(name)
        except ImportError:
            raise MissingMeasureDeps(
                f"{name} is not installed; export and measure need it: {INSTALL_HINT}"
            ) from None
