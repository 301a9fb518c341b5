"""Benchmark: parsing the OFA lookup tables with libyaml (`yaml.CSafeLoader`) against the
pure-Python `yaml.SafeLoader`, both with the duplicate-key refusal; checks the tables are equal.

Reads every `*_lookup_table.yaml` of the two OFA sources under the mirror folder.

    ONEPROXY_MIRROR=../shared/datasets python -m bench.ofa_yaml
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import yaml
from oneproxy.ingest.ofa_lut import NOTE10, ZCU, parse_table, unique_key_loader

from bench.common import best_time

SOURCE_FOLDERS = {NOTE10: "mit-han-lab__once-for-all", ZCU: "sxtyzhangzk__once-for-all"}


def tables(mirror: Path) -> list[tuple[object, Path, str]]:
    found = [(src, path, path.read_text(encoding="utf-8"))
             for src, folder in SOURCE_FOLDERS.items()
             for path in sorted((mirror / folder).glob(src.pattern))]
    if not found:
        raise click.ClickException(f"no OFA lookup tables under {mirror}; set ONEPROXY_MIRROR")
    return found


def parse_all(found, loader) -> list:
    return [parse_table(text, file=path.name, device_id=src.device_id, space_id=src.space_id,
                        resolution=int(path.name.split("_")[0]), loader=loader)
            for src, path, text in found]


@click.command()
@click.option("--mirror", type=click.Path(file_okay=False, path_type=Path),
              default=lambda: os.environ.get("ONEPROXY_MIRROR", "../shared/datasets"))
def main(mirror: Path) -> None:
    """Time both YAML loaders on the OFA lookup tables."""
    if not getattr(yaml, "__with_libyaml__", False):
        raise click.ClickException("PyYAML was built without libyaml: CSafeLoader is absent")
    found = tables(Path(mirror))
    t_py, slow = best_time(lambda: parse_all(found, unique_key_loader(yaml.SafeLoader)), 3)
    t_c, fast = best_time(lambda: parse_all(found, unique_key_loader(yaml.CSafeLoader)), 3)
    same = all(a.equals(b) for a, b in zip(slow, fast, strict=True))
    rows = sum(t.num_rows for t in fast)
    click.echo(f"{len(found)} OFA lookup tables, {rows:,} op rows; identical tables: {same}")
    click.echo(f"  yaml.SafeLoader (pure Python)  {t_py:7.3f} s")
    click.echo(f"  yaml.CSafeLoader (libyaml)     {t_c:7.3f} s   ratio {t_py / t_c:5.1f}x")


if __name__ == "__main__":
    main()
