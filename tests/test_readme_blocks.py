"""bench/readme_blocks.py: console blocks are found, re-run in order and compared with timings,
timestamps and the run folder allowed to differ (`python -m bench.readme_blocks --check` runs
the README's own blocks on the real data)."""

from pathlib import Path

from bench.readme_blocks import Block, blocks, normalized, relative, run_block

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
    text = (Path(__file__).parents[1] / "README.md").read_text()
    commands = [c for b in blocks(text) for c in b.commands]
    assert len(commands) >= 15 and all("oneproxy " in c for c in commands)
