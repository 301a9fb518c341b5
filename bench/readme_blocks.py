"""Keep the README's console examples true: run every `$ command` of its ```console blocks, in
order, in a fresh folder (fresh warehouse, the README's example files), and rewrite each block
with what the commands print (stdout and stderr, as a 100-column terminal shows them).

    ONEPROXY_MIRROR=../shared/datasets python -m bench.readme_blocks           # rewrite README.md
    ONEPROXY_MIRROR=../shared/datasets python -m bench.readme_blocks --check   # exit 1 if stale

Timings, timestamps, run ids and the run folder's path may differ between a block and a new
run. A block right after a line `<!-- slow -->` (an HTML comment GitHub does not show) is
skipped by `--quick`, the tests' cheap check: its commands must not change the warehouse, so
that the later blocks print the same either way. A console block without `$` lines is left as
it is. Re-run it after any change to a command's output or to the README's examples.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
SLOW = "<!-- slow -->"
BLOCK = re.compile(rf"({re.escape(SLOW)}\n)?```console\n(.*?)```\n", re.S)
COLUMNS = 100
# The files the tour's commands read, as the README describes them.
FILES = {
    "my_phone.csv": "arch_id,latency_ms\n0,3.61\n1,4.02\n2,5.24\n",
    "bad.csv": "arch_id,latency_ms\n0,3.61\n99999,4.02\n2,-1\n",
}
VOLATILE = (
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?"), "<time>"),
    (re.compile(r"\b\d{8}T\d{6}(?:\.\d+)?Z?(?:-\d+)?\b"), "<run>"),
    (re.compile(r"\bin \d+(?:\.\d+)?\s?s\b"), "in <t>s"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?s elapsed\b"), "<t>s elapsed"),
    # a volatile value may widen a table column: compare cells, not their padding
    (re.compile(r"([━─═]){2,}"), r"\1"),
    (re.compile(r" {2,}"), " "),
)


@dataclass(frozen=True)
class Block:
    """One console block: where it is in the README, its text and its `$` commands."""

    start: int
    end: int
    text: str
    slow: bool = False

    @property
    def commands(self) -> list[str]:
        return [line[2:] for line in self.text.splitlines() if line.startswith("$ ")]


def blocks(readme: str) -> list[Block]:
    """The ```console blocks of the README, in order (`slow` when the line before says so)."""
    return [Block(m.start(2), m.end(2), m.group(2), m.group(1) is not None)
            for m in BLOCK.finditer(readme)]


def relative(text: str, folder: Path) -> str:
    """The text with the run folder's path left out, as if run in the README's folder."""
    return text.replace(f"{folder}/", "").replace(str(folder), ".")


def normalized(text: str) -> str:
    """The text with timings, timestamps, run ids and table padding made equal, trailing blanks
    stripped."""
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
    env = {k: v for k, v in os.environ.items()
           if k not in ("ONEPROXY_WAREHOUSE", "ONEPROXY_SCHEDULER")}
    env["COLUMNS"] = str(COLUMNS)
    env["ONEPROXY_MIRROR"] = str(mirror.resolve())
    env["ONEPROXY_CACHE"] = str(root / "cache")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return work, env


@dataclass(frozen=True)
class Refreshed:
    """The README with its stale blocks rewritten, each stale block with what it prints now,
    and the seconds each block that ran took."""

    text: str
    stale: list[tuple[Block, str]]
    seconds: list[tuple[Block, float]]


def refreshed(readme: str, mirror: Path, quick: bool = False,
              on_block: Callable[[Block, float], None] | None = None) -> Refreshed:
    """The README with every console block re-run in one fresh folder, in order, and the stale
    ones rewritten (with `quick`, slow blocks are not run)."""
    with tempfile.TemporaryDirectory(prefix="oneproxy-readme-") as tmp:
        folder, env = tour_folder(Path(tmp), mirror)
        parts, stale, seconds, at = [], [], [], 0
        for block in blocks(readme):
            if not block.commands or (quick and block.slow):
                continue
            began = time.monotonic()
            new = run_block(block, folder, env)
            seconds.append((block, time.monotonic() - began))
            if on_block is not None:
                on_block(block, seconds[-1][1])
            if normalized(block.text) != normalized(new):  # a true block keeps its timings
                stale.append((block, new))
                parts += [readme[at:block.start], new]
                at = block.end
        parts.append(readme[at:])
    return Refreshed("".join(parts), stale, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="Rewrite nothing; exit 1 listing the blocks that are stale.")
    parser.add_argument("--quick", action="store_true",
                        help="Skip the blocks marked <!-- slow --> (implies --check).")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args()
    mirror = os.environ.get("ONEPROXY_MIRROR")
    if not mirror:
        print("set ONEPROXY_MIRROR to the folder of pinned public files", file=sys.stderr)
        return 1
    readme = args.readme.read_text()

    def report(block: Block, seconds: float) -> None:
        line = readme.count("\n", 0, block.start) + 1
        print(f"line {line}: {len(block.commands)} commands in {seconds:.1f}s", file=sys.stderr)

    began = time.monotonic()
    result = refreshed(readme, Path(mirror), args.quick, report)
    took = f"in {time.monotonic() - began:.0f}s"
    if args.check or args.quick:
        for block, new in result.stale:
            print(f"stale block:\n{block.text}--- now prints:\n{new}", file=sys.stderr)
        print(f"{len(result.stale)} of {len(result.seconds)} console blocks stale {took}",
              file=sys.stderr)
        return 1 if result.stale else 0
    args.readme.write_text(result.text)
    print(f"{args.readme}: {len(result.stale)} of {len(result.seconds)} console blocks "
          f"rewritten {took}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
