"""What happens to a new copy and the library copies of its recording.

Pure functions: given the new copy, the copies it is grouped with and a
policy, they say which copies leave.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .. import quality
from ..matching.matcher import Match
from ..settings import MatchSettings
from ..store import fields


@dataclass(frozen=True)
class Verdict:
    """What happens to a new copy and the library copies it duplicates."""

    new_leaves: bool = False
    leaving: tuple[int, ...] = ()

    @property
    def keeps_all(self) -> bool:
        return not self.new_leaves and not self.leaving


KEEP_ALL = Verdict()

Tiebreak = Callable[[fields.Row], tuple] | None


def ranked_copies(
    new: fields.Row, old: Sequence[fields.Row], tiebreak: Tiebreak = None
) -> list[fields.Row]:
    """All copies best first; between equals, the one already there wins."""
    old_ids = {r.id for r in old}

    def key(r: fields.Row) -> tuple:
        extra = tiebreak(r) if tiebreak else ()
        return (*extra, r.id in old_ids)

    return quality.rank([new, *old], key)


def best_verdict(
    new: fields.Row,
    old: Sequence[fields.Row],
    policy: str,
    tiebreak: Tiebreak = None,
) -> Verdict:
    """`best`: the library keeps the better copy (both kinds with best-of-each).

    Only pairs involving the new copy are acted on: when the new copy stays,
    the old copies the policy does not keep leave; when it does not, the old
    copies are left as they are.
    """
    kept = quality.keepers(ranked_copies(new, old, tiebreak), policy)
    if new.id not in kept:
        return Verdict(new_leaves=True)
    return Verdict(leaving=tuple(r.id for r in old if r.id not in kept))


def library_has_as_good(
    new: fields.Row,
    old: Sequence[fields.Row],
    policy: str,
    tiebreak: Tiebreak = None,
) -> bool:
    """`skip`: whether the library already holds a copy at least as good."""
    return best_verdict(new, old, policy, tiebreak).new_leaves


def strong(matches: Iterable[Match], settings: MatchSettings) -> list[Match]:
    return [m for m in matches if m.similarity >= settings.auto_threshold]
