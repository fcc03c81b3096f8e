"""Turn verified matches into the groups a user sees: keeper first.

This is where matching meets the library: each group's members are ranked
by quality, the keep policy decides which copies stay, and every other copy
carries its similarity and offset relative to the keeper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import quality
from ..store.fields import Row
from .cliques import DUPLICATE, Group
from .matcher import Match


@dataclass(frozen=True)
class Member:
    """One copy inside a resolved group."""

    row: Row
    keep: bool
    similarity: float
    offset: float
    speed: float = 0.0  # playback speed relative to the keeper, -0.008: 0.8 % slow


@dataclass(frozen=True)
class ResolvedGroup:
    """A group with its members ranked best first and the keep decision made."""

    status: str
    members: tuple[Member, ...]

    @property
    def keeper(self) -> Member:
        return self.members[0]

    @property
    def leaving(self) -> list[Member]:
        return [m for m in self.members if not m.keep]


def _relative(match: Match | None, keeper_id: int) -> tuple[float, float, float]:
    """Similarity, offset and speed difference of a copy, seen from the keeper."""
    if match is None:
        return 1.0, 0.0, 0.0
    if match.a == keeper_id:
        # b lasts `speed` times as long as the keeper: it plays that much slower.
        return match.similarity, match.offset, round(1.0 / match.speed - 1.0, 4)
    offset = -match.offset / match.speed + 0.0
    return match.similarity, round(offset, 2) + 0.0, round(match.speed - 1.0, 4)


def resolve(
    groups: Sequence[Group],
    rows: dict[int, Row],
    policy: str,
    tiebreak: Callable[[Row], tuple] | None = None,
) -> list[ResolvedGroup]:
    """Rank each group's copies and mark which stay.

    Uncertain pairs are ranked too, but nothing in them is marked to leave:
    they are only acted on after a human answer.
    """
    resolved = []
    for g in groups:
        ranked = quality.rank([rows[i] for i in g.ids], tiebreak)
        kept = (
            quality.keepers(ranked, policy)
            if g.status == DUPLICATE
            else {r.id for r in ranked}
        )
        head = ranked[0].id
        members = []
        for r in ranked:
            sim, off, speed = (
                (1.0, 0.0, 0.0)
                if r.id == head
                else _relative(g.match_between(head, r.id), head)
            )
            members.append(Member(r, r.id in kept, sim, off, speed))
        resolved.append(ResolvedGroup(g.status, tuple(members)))
    resolved.sort(key=lambda g: (g.status != DUPLICATE, g.keeper.row.path))
    return resolved
