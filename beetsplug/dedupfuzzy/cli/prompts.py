"""The one question the plugin asks, in `beet dedupfuzzy` and in `beet import`.

Both prompts show an "old" copy (already in the library, or the one added
first) and a "new" one, and offer the same answers, each with one meaning:

- keep New: the old copy leaves (to the quarantine);
- keep Old: the new copy is not kept (at import: not imported; a copy-mode
  import never touches its source);
- keep Both: both stay, and the pair is never offered again;
- decide Later: nothing changes now; the pair comes up again next time.

Questions are asked only when someone can answer them: stdin is a terminal,
beets is not quiet, and the question can be shown on a terminal (stdout, or
stderr when stdout is redirected, so a listing piped into a file or `tail`
never swallows a prompt).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stdout

from beets import config, ui, util

NEW, OLD, BOTH, LATER = "n", "o", "b", "l"
LABELS = {NEW: "keep New", OLD: "keep Old", BOTH: "keep Both", LATER: "decide Later"}
ALL = (NEW, OLD, BOTH, LATER)


def _isatty(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except ValueError:  # a closed stream
        return False


def can_prompt() -> bool:
    """Whether a question can be asked and seen now."""
    if not _isatty(sys.stdin) or config["import"]["quiet"].get(bool):
        return False
    return _isatty(sys.stdout) or _isatty(sys.stderr)


@contextmanager
def on_terminal() -> Iterator[None]:
    """Send what is printed to a terminal: stdout, else stderr."""
    if _isatty(sys.stdout) or not _isatty(sys.stderr):
        yield
        return
    with redirect_stdout(sys.stderr):
        yield


def size_of(path: bytes) -> str:
    try:
        return f"{os.path.getsize(util.syspath(path)) / 1e6:.1f} MB"
    except OSError:
        return "missing"


def ask(
    title: str,
    old: Sequence[str],
    new: str,
    offered: Sequence[str] = ALL,
    default: str = LATER,
) -> str:
    """Show the copies and return one of NEW, OLD, BOTH, LATER.

    `old` and `new` are one line each about a copy; `offered` limits the
    answers (keep New needs somewhere to move the old copies to).
    """
    with on_terminal():
        ui.print_("")
        ui.print_(title)
        for line in old:
            ui.print_(f"  old  {line}")
        ui.print_(f"  new  {new}")
        options = [LABELS[k] for k in ALL if k in offered]
        return ui.input_options(options, default=default)
