"""Paths relative to a view's folder: the folders above one, its parent,
its depth."""

from __future__ import annotations

import os
from collections.abc import Iterator


def folders_above(rel: str) -> Iterator[str]:
    """The folders above a relative path, nearest first (the root excluded)."""
    cut = rel.rfind(os.sep)
    while cut > 0:
        rel = rel[:cut]
        yield rel
        cut = rel.rfind(os.sep)


def parent_of(rel: str) -> str:
    cut = rel.rfind(os.sep)
    return rel[:cut] if cut > 0 else ""


def depth_of(rel: str) -> int:
    return rel.count(os.sep)
