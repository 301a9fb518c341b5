"""Errors raised while fetching and loading upstream files."""

from oneproxy.warehouse.errors import OneproxyError


class FetchError(OneproxyError):
    """A file could not be obtained from the mirror, the cache or its URL."""


class ChecksumMismatch(FetchError):
    """A file's bytes do not hash to the pinned sha256."""


class UnsafePickle(OneproxyError):
    """A pickle asked for a global that the restricted loader does not admit."""


class CorruptFile(OneproxyError):
    """A file is truncated, not of the expected format, or its content is not as documented."""


class InconsistentCopies(OneproxyError):
    """Two files carry the same device series with different values."""


class UnsafeArchive(OneproxyError):
    """An archive member that could escape, link, or exhaust memory: refused, nothing read."""
