"""`oneproxy export`: NAS-Bench-201 architectures as ONNX models, checked against the codec."""

from __future__ import annotations

from pathlib import Path

import click

from oneproxy.measure_options import arch_options, chosen_archs


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
