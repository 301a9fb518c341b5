"""The CLI freezes the heap at exit (no last full garbage collection), registered only once."""

from __future__ import annotations

import gc

from click.testing import CliRunner

from oneproxy import cli


def test_the_exit_freeze_is_registered_once_per_process(monkeypatch, tmp_path):
    registered: list = []
    monkeypatch.setattr(cli.atexit, "register", registered.append)
    monkeypatch.setattr(cli.atexit, "unregister",
                        lambda f: registered.__setitem__(slice(None),
                                                         [g for g in registered if g is not f]))
    for _ in range(2):
        CliRunner().invoke(cli.main, ["devices", "--warehouse", str(tmp_path / "none")])
    assert registered == [gc.freeze]
