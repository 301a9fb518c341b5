"""Options of `oneproxy export` and `oneproxy measure`: which architectures, dataset, seed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from oneproxy.api.ingest import resolver
from oneproxy.measure import require_runtime
from oneproxy.options import fetch_options
from oneproxy.warehouse.spaces import nb201


def arch_options(fn: Callable) -> Callable:
    """`--space nb201`, `--archs LIST|FILE` or `--sample N --seed S`, `--dataset`."""
    fn = click.option("--dataset", type=click.Choice(list(nb201.DATASETS)), default="cifar10",
                      show_default=True, help="Classifier and input size (16×16 for "
                      "ImageNet16-120, else 32×32).")(fn)
    fn = click.option("--seed", type=int, default=0, show_default=True,
                      help="Seed of the weights, the input and --sample.")(fn)
    fn = click.option("--sample", type=int, default=None,
                      help="Instead of --archs: N architectures drawn uniformly (seeded).")(fn)
    fn = click.option("--archs", default=None, help="Comma-separated official indices or arch "
                      "strings, or a file with one per line.")(fn)
    fn = fetch_options(fn)
    return click.option("--space", type=click.Choice([nb201.SPACE_ID]), default=nb201.SPACE_ID,
                        show_default=True, help="Search space.")(fn)


def chosen_archs(archs: str | None, sample: int | None, seed: int, mirror: Path | None,
                 cache: Path | None) -> list[str]:
    """The canonical arch strings of --archs or --sample (exactly one of them)."""
    require_runtime()
    from oneproxy.api.measure import arch_keys, sample_keys
    from oneproxy.ingest.nb201_index import load_index

    if (archs is None) == (sample is None):
        raise click.UsageError("give --archs LIST|FILE or --sample N (one of them)")
    if sample is not None:
        return sample_keys(sample, seed)
    return arch_keys(archs, lambda: load_index(resolver(mirror, cache)).strings)
