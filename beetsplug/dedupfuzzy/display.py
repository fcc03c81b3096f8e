"""Paths for people, one line each: control characters escaped as JSON does.

A file name may hold a newline, a tab or any other control character. Every
line-oriented output of the plugin (the listing, moves, undo, recovery, the
mirror) shows paths through `shown`, so one copy is always one line and a
script reading line by line can rely on it. The escapes are JSON's
(`\\n`, `\\t`, `\\u001b`, and `\\\\` for a backslash), so a name reads the
same in `--json` and on a line; printable characters, emoji included, are
kept as they are.
"""

from __future__ import annotations

import re

from beets import util

_SHORT = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_UNSAFE = re.compile("[\\\\\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT.get(char) or f"\\u{ord(char):04x}"


def one_line(text: str) -> str:
    """`text` with backslashes and control characters escaped, as in JSON."""
    return _UNSAFE.sub(_escape, text)


def shown(path: bytes | str | None) -> str:
    """A path as people read it (beets' `displayable_path`), on one line."""
    return one_line(util.displayable_path(path or b""))
