"""bench/readme_blocks.py: console blocks are found, re-run in order and compared with timings,
timestamps, run ids and the run folder allowed to differ; the README's own blocks are checked
on the real data (all but the slow ones: `python -m bench.readme_blocks --check` runs those)."""

import time
from pathlib import Path

import pytest

from bench.readme_blocks import SLOW, Block, blocks, normalized, refreshed, relative, run_block

ROOT_README = Path(__file__).parents[1] / "README.md"

README = """intro
```console
$ echo ingested into x in 2.3s
ingested into x in 9.9s
```
text
```console
$ printf 'a\\nb\\n' | head -1
a
$ echo at 2026-11-29T01:30:44+00:00 >&2
at 2026-12-01T10:00:00+00:00
```
"""


def test_console_blocks_and_their_commands_are_found():
    found = blocks(README)
    assert [b.commands for b in found] == [
        ["echo ingested into x in 2.3s"],
        ["printf 'a\\nb\\n' | head -1", "echo at 2026-11-29T01:30:44+00:00 >&2"]]
    assert README[found[0].start:found[0].end].startswith("$ echo ingested")


def test_timings_timestamps_and_the_folder_may_differ(tmp_path):
    assert normalized("in 2.3s: 5 rows") == normalized("in 12s: 5 rows")
    assert normalized("2026-11-29T01:30:44+00:00") == normalized("2027-01-01T00:00:00+00:00")
    assert normalized("5 rows") != normalized("6 rows")
    assert relative(f"wrote {tmp_path}/a.png", tmp_path) == "wrote a.png"


def test_a_block_is_rerun_with_stderr_and_matches_only_when_the_output_does(tmp_path):
    first, second = blocks(README)
    env = {"PATH": "/usr/bin:/bin"}
    assert normalized(run_block(first, tmp_path, env)) == normalized(first.text)
    assert normalized(run_block(second, tmp_path, env)) == normalized(second.text)
    stale = Block(0, 0, "$ echo 5 rows\n6 rows\n")
    assert normalized(run_block(stale, tmp_path, env)) != normalized(stale.text)


def test_the_readme_has_console_blocks_of_oneproxy_commands():
    text = ROOT_README.read_text()
    commands = [c for b in blocks(text) for c in b.commands]
    assert len(commands) >= 15 and all("oneproxy " in c for c in commands)
    quick = [c for b in blocks(text) if not b.slow for c in b.commands]
    assert len(quick) >= 10 and quick[0].endswith("oneproxy ingest --all")


def test_run_ids_and_table_padding_may_differ():
    assert normalized("run 20261201T132909.721Z-23752: done") == normalized(
        "run 20270101T000000.000Z-1: done")
    assert normalized("│ a      │ in 9.9s  │\n┡━━━━━━━━╇━━━━━━━━━━┩") == normalized(
        "│ a      │ in 10.1s  │\n┡━━━━━━━━╇━━━━━━━━━━━┩")
    assert normalized("│ a │ 0.97 │") != normalized("│ a │ 0.98 │")


FAKE = f"""a block that is right
```console
$ echo ingested 3 rows in 2.0s
ingested 3 rows in 9.9s
```
one left stale on purpose
```console
$ echo 867,765 latency rows
658,149 latency rows
```
a slow one, stale too
{SLOW}
```console
$ sleep 0.2; echo 12 pairs
11 pairs
```
and one without commands
```console
oneproxy verify
```
"""


def test_a_stale_block_is_reported_and_rewritten_and_quick_skips_slow_ones(tmp_path):
    seen = []
    result = refreshed(FAKE, tmp_path, on_block=lambda b, s: seen.append(b.commands))
    assert [block.commands for block, _ in result.stale] == [
        ["echo 867,765 latency rows"], ["sleep 0.2; echo 12 pairs"]]
    assert [new for _, new in result.stale] == [
        "$ echo 867,765 latency rows\n867,765 latency rows\n",
        "$ sleep 0.2; echo 12 pairs\n12 pairs\n"]
    # only the stale blocks are rewritten: the first keeps its timing
    assert result.text == FAKE.replace("658,149", "867,765").replace("11 pairs", "12 pairs")
    assert len(seen) == 3 and f"{SLOW}\n```console\n$ sleep" in result.text
    quick = refreshed(FAKE, tmp_path, quick=True)
    assert [block.commands for block, _ in quick.stale] == [["echo 867,765 latency rows"]]
    assert "11 pairs" in quick.text and "oneproxy verify" in quick.text


@pytest.mark.integration
def test_the_readme_blocks_print_what_the_commands_print(mirror):
    """Every console block but the slow ones, re-run in order in one fresh folder (fresh
    warehouse); on failure, re-run `python -m bench.readme_blocks` and review the diff."""
    began = time.monotonic()
    result = refreshed(ROOT_README.read_text(), mirror, quick=True)
    stale = "\n".join(f"{block.text}--- now prints:\n{new}" for block, new in result.stale)
    assert not result.stale, f"stale README blocks (python -m bench.readme_blocks):\n{stale}"
    assert len(result.seconds) >= 5 and time.monotonic() - began < 600
