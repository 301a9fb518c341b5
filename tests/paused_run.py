"""Run the oneproxy CLI with one pause: the first commit that publishes table ARGV[1] sleeps
first (after printing a line on stderr), so that a test can kill the process at that point.

Usage: python tests/paused_run.py TABLE COMMAND [ARGS]...
"""

import sys
import time

from oneproxy.warehouse.store import Warehouse

from oneproxy.cli import main

TABLE = sys.argv.pop(1)
_commit = Warehouse.commit


def _paused_commit(self, tables):
    if TABLE in tables:
        print(f"paused before committing {TABLE}", file=sys.stderr, flush=True)
        time.sleep(3600)
    return _commit(self, tables)


Warehouse.commit = _paused_commit
sys.exit(main())
