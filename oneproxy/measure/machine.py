"""What the measurements ran on: CPU model, cores, threads, ONNX Runtime version, batch."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort

from oneproxy.measure.timing import TimingSettings

CPUINFO = Path("/proc/cpuinfo")


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else what `platform` reports)."""
    if CPUINFO.exists():
        for line in CPUINFO.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def physical_cores() -> int | None:
    """Distinct (package, core) pairs in /proc/cpuinfo; None where it cannot be read."""
    if not CPUINFO.exists():
        return None
    cores, package = set(), "0"
    for line in CPUINFO.read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            package = value.strip()
        elif key.strip() == "core id":
            cores.add((package, value.strip()))
    return len(cores) or None


def machine_info(settings: TimingSettings, dataset: str) -> dict[str, Any]:
    """Device metadata of a measurement run, as the sidecar JSON stores it."""
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": physical_cores(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "provider": "CPUExecutionProvider",
        "threads": settings.threads,
        "warmup": settings.warmup,
        "repeat": settings.repeat,
        "batch": settings.batch,
        "dataset": dataset,
        "precision": "fp32",
    }


def device_fields(info: dict[str, Any]) -> dict[str, Any]:
    """The `devices` row fields a sidecar carries into `ingest table`."""
    cores = f"{info['logical_cores']} logical"
    if info.get("physical_cores"):
        cores += f" / {info['physical_cores']} physical"
    return {
        "platform": "desktop_cpu",
        "display_name": f"{info['cpu_model']}, ONNX Runtime, {info['threads']} thread(s)",
        "hardware": f"{info['cpu_model']} ({cores} cores)",
        "framework": f"ONNX Runtime {info['onnxruntime']} (CPU, {info['threads']} intra-op "
                     f"thread(s))",
        "precision": info["precision"],
        "batch_size": info["batch"],
        "notes": f"oneproxy measure: threads={info['threads']}, warmup={info['warmup']}, "
                 f"repeat={info['repeat']}, batch={info['batch']}, dataset={info['dataset']}, "
                 f"{info['os']}, python {info['python']}, onnx {info['onnx']}",
    }
