"""Where the tasks of a job run: in this process, or on a Dask cluster (`engine_from`)."""

from oneproxy.scale.engine import (
    DASK_MISSING,
    DaskEngine,
    Engine,
    InProcess,
    ScaleUnavailable,
    engine_from,
)

__all__ = ["DASK_MISSING", "DaskEngine", "Engine", "InProcess", "ScaleUnavailable",
           "engine_from"]
