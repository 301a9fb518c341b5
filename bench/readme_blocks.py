"""Keep the README's console examples true: run every `$ command` of its ```console blocks, in
order, in a fresh folder (fresh warehouse, the README's example files), and rewrite each block
with what the commands print (stdout and stderr, as a terminal shows them).

    ONEPROXY_MIRROR=../shared/datasets python -m bench.readme_blocks           # rewrite README.md
    ONEPROXY_MIRROR=../shared/datasets python -m bench.readme_blocks --check   # exit 1 if stale

Timings, timestamps and the run folder's path may differ between a block and a new run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```console\n(.*?)```\n", re.S)
# The files the tour's commands read, as the README describes them.
FILES = {
    "my_phone.csv": "arch_id,latency_ms\n0,3.61\n1,4.02\n2,5.24\n",
    "bad.csv": "arch_id,latency_ms\n0,3.61\n99999,4.02\n2,-1\n",
}
VOLATILE = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:\+00:00|Z)?"), "<time>"),
    (re.compile(r"\bin \d+(?:\.\d+)?\s?s\b"), "in <t>s"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?s elapsed\b"), "<t>s elapsed"),
)


@dataclass(frozen=True)
class Block:
    """One console block: where it is in the README, and its `$` commands."""

    start: int
    end: int
    text: str

    @property
    def commands(self) -> list[str]:
        return [line[2:] for line in self.text.splitlines() if line.startswith("$ ")]


def blocks(readme: str) -> list[Block]:
    """The ```console blocks of the README, in order."""
    return [Block(m.start(1), m.end(1), m.group(1)) for m in BLOCK.finditer(readme)]


def relative(text: str, folder: Path) -> str:
    """The text with the run folder's path left out, as if run in the README's folder."""
    return text.replace(f"{folder}/", "").replace(str(folder), ".")


def normalized(text: str) -> str:
    """The text with timings and timestamps made equal, trailing blanks stripped."""
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def run_block(block: Block, folder: Path, env: dict[str, str]) -> str:
    """The block as a new run prints it: each command, then its output."""
    lines = []
    for command in block.commands:
        done = subprocess.run(["bash", "-c", command], cwd=folder, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        lines += [f"$ {command}", *relative(done.stdout, folder).rstrip().splitlines()]
    return "\n".join(lines) + "\n"


def tour_folder(root: Path, mirror: Path) -> tuple[Path, dict[str, str]]:
    """A fresh folder for the tour: example files, and `../shared/datasets` reaching the mirror."""
    work = root / "work"
    work.mkdir(parents=True)
    (root / "shared").mkdir()
    (root / "shared" / "datasets").symlink_to(mirror.resolve())
    for name, text in FILES.items():
        (work / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k not in ("ONEPROXY_WAREHOUSE", "COLUMNS")}
    env["ONEPROXY_MIRROR"] = str(mirror.resolve())
    env["ONEPROXY_CACHE"] = str(root / "cache")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return work, env


def refreshed(readme: str, mirror: Path) -> tuple[str, list[tuple[str, str]]]:
    """The README with every console block re-run, and the (old, new) blocks that differ."""
    with tempfile.TemporaryDirectory(prefix="oneproxy-readme-") as tmp:
        folder, env = tour_folder(Path(tmp), mirror)
        parts, stale, at = [], [], 0
        for block in blocks(readme):
            new = run_block(block, folder, env)
            if normalized(block.text) != normalized(new):
                stale.append((block.text, new))
            parts += [readme[at:block.start], new]
            at = block.end
        parts.append(readme[at:])
    return "".join(parts), stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="Rewrite nothing; exit 1 listing the blocks that are stale.")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args()
    mirror = os.environ.get("ONEPROXY_MIRROR")
    if not mirror:
        print("set ONEPROXY_MIRROR to the folder of pinned public files", file=sys.stderr)
        return 1
    text, stale = refreshed(args.readme.read_text(), Path(mirror))
    if args.check:
        for old, new in stale:
            print(f"stale block:\n{old}--- now prints:\n{new}", file=sys.stderr)
        return 1 if stale else 0
    args.readme.write_text(text)
    print(f"{args.readme}: {len(stale)} of {len(blocks(text))} console blocks rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
