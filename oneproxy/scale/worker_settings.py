"""The CLI's process settings in the worker processes of a local cluster that oneproxy starts.

Worker processes are new interpreters: they inherit the environment but not what the parent did
to itself (threadpoolctl limits once numpy is loaded, glibc's malloc thresholds). A worker plugin
applies the parent's `oneproxy.threads` and `oneproxy.allocator` settings as each worker starts,
a restarted one too. Workers of a scheduler the user runs are left as they are.
"""

from __future__ import annotations

from typing import Any

import distributed

from oneproxy.allocator import keep_freed_memory, malloc_setting
from oneproxy.threads import apply_thread_setting, thread_setting


class ProcessSettings(distributed.WorkerPlugin):
    """BLAS threads and the allocator setting, applied in a worker process when it starts."""

    idempotent = True
    name = "oneproxy-process-settings"

    def __init__(self, threads: int, malloc: str) -> None:
        self.threads = threads
        self.malloc = malloc

    def setup(self, worker: Any) -> None:
        apply_thread_setting(self.threads)
        keep_freed_memory(self.malloc)


def parent_settings() -> ProcessSettings:
    """The plugin carrying this process's settings ($ONEPROXY_THREADS, $ONEPROXY_MALLOC)."""
    return ProcessSettings(thread_setting(), malloc_setting())
