"""Asking a human about uncertain pairs, as the music-manager script did."""

from __future__ import annotations

import os
import sys

from beets import config, ui, util

from ..display import shown
from ..matching.groups import ResolvedGroup
from .report import describe

FIRST, SECOND, BOTH, SKIP = "first", "second", "both", "skip"


def can_prompt() -> bool:
    """Never prompt when stdin is not a terminal or beets runs quiet."""
    if not sys.stdin.isatty():
        return False
    return not config["import"]["quiet"].get(bool)


def _size(path: bytes) -> str:
    try:
        return f"{os.path.getsize(util.syspath(path)) / 1e6:.1f} MB"
    except OSError:
        return "missing"


def ask(group: ResolvedGroup) -> str:
    """Show both copies side by side and return the answer."""
    first, second = group.members[0], group.members[1]
    ui.print_(
        f"\nUncertain match: similarity {second.similarity:.2f}, "
        f"offset {second.offset:+.2f}s"
    )
    for n, m in ((1, first), (2, second)):
        ui.print_(
            f"  {n}: {describe(m, True)}  {_size(m.row.path)}  {shown(m.row.path)}"
        )
    choice = ui.input_options(("keep First", "keep Second", "keep Both", "sKip"))
    return {"f": FIRST, "s": SECOND, "b": BOTH, "k": SKIP}[choice]
