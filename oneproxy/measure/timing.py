"""Time one ONNX model with ONNX Runtime on the CPU: warm-up runs, then timed runs."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from oneproxy.warehouse.errors import OneproxyError


class BadTimingSettings(OneproxyError, ValueError):
    """Threads, warm-up, repeats or batch outside what the harness accepts."""


@dataclass(frozen=True)
class TimingSettings:
    """How each model is run: ORT intra-op threads, warm-up and timed runs, input batch."""

    threads: int = 1
    warmup: int = 10
    repeat: int = 50
    batch: int = 1

    def __post_init__(self) -> None:
        for name, low in (("threads", 1), ("warmup", 0), ("repeat", 3), ("batch", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise BadTimingSettings(f"{name} must be an integer ≥ {low}, got {value!r}")


@dataclass(frozen=True)
class Timing:
    """Latency statistics of the timed runs, in milliseconds."""

    median_ms: float
    iqr_ms: float
    std_ms: float
    min_ms: float
    repeats: int


def summarize(samples_ms: np.ndarray) -> Timing:
    """Median, inter-quartile range, standard deviation and minimum of timed runs.

    On a shared machine other processes only ever add time, so the minimum is the figure
    least disturbed by them; the median is the typical run.
    """
    q1, median, q3 = np.percentile(samples_ms, [25, 50, 75])
    return Timing(float(median), float(q3 - q1), float(np.std(samples_ms, ddof=1)),
                  float(samples_ms.min()), int(samples_ms.size))


def session(model: bytes, threads: int) -> ort.InferenceSession:
    """A CPU session with `threads` intra-op threads, sequential execution, full optimisation."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def time_model(model: bytes, settings: TimingSettings, *, seed: int = 0) -> Timing:
    """Run a serialized model `warmup` times, then time `repeat` runs on a seeded random input."""
    sess = session(model, settings.threads)
    (inp,) = sess.get_inputs()
    shape = [settings.batch, *inp.shape[1:]]
    feed = {inp.name: np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}
    for _ in range(settings.warmup):
        sess.run(None, feed)
    samples = np.empty(settings.repeat)
    for i in range(settings.repeat):
        start = time.perf_counter_ns()
        sess.run(None, feed)
        samples[i] = (time.perf_counter_ns() - start) / 1e6
    return summarize(samples)
