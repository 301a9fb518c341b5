"""Domain errors of the API; the CLI turns each into one line and exit code 1."""

from oneproxy.warehouse.errors import OneproxyError


class NoLatency(OneproxyError):
    """A space, dataset or device without latency rows in the warehouse."""


class UnknownArchitecture(OneproxyError):
    """An arch id or arch key that the space does not have."""


class UnknownSearchDataset(OneproxyError):
    """A dataset without accuracies for the searched space."""


class UnknownDataset(OneproxyError):
    """A dataset setting that the space does not have."""
