"""`oneproxy export`: NAS-Bench-201 architectures as ONNX models, checked against the codec."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from oneproxy.ingest_cmd import resolver
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


@click.command()
@arch_options
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the .onnx files and their manifest archs.csv.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Batch dimension of the input.")
def export(space: str, archs: str | None, sample: int | None, seed: int, dataset: str,
           out_dir: Path, batch: int, mirror: Path | None, cache: Path | None) -> None:
    """Write one ONNX model per NAS-Bench-201 architecture (seeded random weights).

    Each graph is the official network of its cell; its parameter count and FLOPs are read
    off the graph and must equal the codec's (the warehouse `architectures` values).
    Needs `pip install 'oneproxy[measure]'`.

    \b
    Examples:
      oneproxy export --archs 0,1,2 --out models/
      oneproxy export --sample 20 --seed 1 --dataset ImageNet16-120 --out models/
    """
    from oneproxy.api.measure import export_archs
    from oneproxy.progress import progress_bar

    keys = chosen_archs(archs, sample, seed, mirror, cache)
    with progress_bar() as bar:
        task = bar.add_task("export", total=len(keys))
        done = export_archs(keys, out_dir, dataset=dataset, batch=batch, seed=seed,
                            progress=lambda i, n, key: bar.update(task, completed=i))
    click.echo(f"exported {len(done)} {space} models ({dataset}, batch {batch}) to {out_dir}; "
               f"params and FLOPs of every graph equal the codec's; manifest {out_dir}/archs.csv")
