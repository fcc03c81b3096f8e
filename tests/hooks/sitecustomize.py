"""Test hook: stop a real `beet` run inside a move so the test can kill it.

Loaded only by tests that put this folder on PYTHONPATH and set
DEDUPFUZZY_TEST_PAUSE to "link" (before the file is linked to its new name)
or "unlink" (linked at both ends, the old name not yet removed). The run
prints "PAUSED <path>" on stderr and waits on stdin, where the test kills it.
"""

from __future__ import annotations

import os
import sys

_POINT = os.environ.get("DEDUPFUZZY_TEST_PAUSE", "")


def _pause(path: bytes) -> None:
    print(f"PAUSED {os.fsdecode(path)}", file=sys.stderr, flush=True)
    sys.stdin.readline()


if _POINT:
    from beetsplug.dedupfuzzy.safety import safemove

    if _POINT == "link":
        _move_exact = safemove.move_exact

        def move_exact(src: bytes, dst: bytes) -> None:
            _pause(src)
            _move_exact(src, dst)

        safemove.move_exact = move_exact
    else:
        _unlink_source = safemove._unlink_source

        def unlink_source(src: bytes, dst: bytes) -> None:
            _pause(src)
            _unlink_source(src, dst)

        safemove._unlink_source = unlink_source
