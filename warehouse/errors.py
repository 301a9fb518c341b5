"""Domain errors shared by every layer; the CLI turns them into one-line messages."""


class OneproxyError(Exception):
    """A user-facing error: its message says what was wrong, where, and how to fix it."""


class UnknownDevice(OneproxyError):
    """A device id that the warehouse does not hold."""


class UnknownSpace(OneproxyError):
    """A search space id that the project does not know."""


class WarehouseEmpty(OneproxyError):
    """A table was asked for before any ingest wrote it."""


class QueryRefused(OneproxyError):
    """A SQL statement that is not a read-only query."""


class WarehouseLocked(OneproxyError):
    """Another writer held the warehouse's write lock for longer than this one would wait."""


class WarehouseConflict(OneproxyError):
    """A table changed under a writer between its read and its commit."""


class WarehouseDamaged(OneproxyError):
    """A file of the warehouse does not hold what the manifest recorded."""


class DiskFull(OneproxyError):
    """A write ran out of space; the previous files are intact."""


class WriteFailed(OneproxyError):
    """A file could not be written; the previous one is intact."""
