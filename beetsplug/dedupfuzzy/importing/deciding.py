"""Deciding what happens to a new copy and the library copies it matches.

Plain data in, a `Verdict` out: the policy comes from the settings (the
`import_action`, or `quiet_action` when nobody can be asked), an answer from
the prompt when one was given. `None` means undecided: the new copy is
imported, nothing moves, and the summary lists the pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..cli import prompts
from ..cli.report import describe
from ..display import shown
from ..matching.groups import Member
from ..matching.matcher import Match
from ..settings import MatchSettings
from ..store.fields import Row
from .verdicts import (
    KEEP_ALL,
    Tiebreak,
    Verdict,
    best_verdict,
    library_has_as_good,
)


@dataclass(frozen=True)
class Policy:
    """How the hook decides during one import."""

    action: str  # ask, best, keep or skip, as it applies to this import
    prompting: bool  # someone can be asked
    can_move_old: bool  # a quarantine is set: library copies can leave
    keep: str
    match: MatchSettings
    tiebreak: Tiebreak = None

    @classmethod
    def of(cls, settings, prompting: bool, can_move_old: bool, tiebreak) -> Policy:
        # `quiet_action` replaces `ask` only: best, keep and skip need nobody.
        action = settings.import_action
        if action == "ask" and not prompting:
            action = settings.quiet_action
        return cls(
            action, prompting, can_move_old, settings.keep, settings.match, tiebreak
        )

    def asks(self, matches: Sequence[Match], certain: Sequence[Match]) -> bool:
        """Whether these matches are put to the user; `certain` are the
        strong ones the new copy would be grouped with (the clique rule)."""
        if not matches or not self.prompting or self.action == "keep":
            return False
        return self.action == "ask" or not certain

    def automatic(self, row: Row, old: Sequence[Row]) -> Verdict | None:
        """The verdict without a question; `old` are the certain matches."""
        if not old or self.action == "ask":
            return None
        if self.action == "best":
            verdict = best_verdict(row, old, self.keep, self.tiebreak)
            if verdict.leaving and not self.can_move_old:
                return KEEP_ALL  # nowhere to move the library's copies to
            return verdict
        if self.action == "skip" and library_has_as_good(
            row, old, self.keep, self.tiebreak
        ):
            return Verdict(new_leaves=True)
        return KEEP_ALL

    def default_answer(self, row: Row, old: Sequence[Row], certain: bool) -> str:
        """The answer Enter gives: the better copy, or decide later.

        keep Old never touches a copy-mode source: the new copy is just not
        imported.
        """
        if not certain:
            return prompts.LATER
        if best_verdict(row, old, "best", self.tiebreak).new_leaves:
            return prompts.OLD
        return prompts.NEW if self.can_move_old else prompts.LATER


def verdict_of_answer(answer: str, matches: Sequence[Match]) -> Verdict | None:
    if answer == prompts.NEW:
        return Verdict(leaving=tuple(m.b for m in matches))
    if answer == prompts.OLD:
        return Verdict(new_leaves=True)
    if answer == prompts.BOTH:
        return KEEP_ALL
    return None


def ask(
    policy: Policy, row: Row, matches: Sequence[Match], rows: dict, certain: bool
) -> str:
    """Show the new copy and the library copies it matches; return the answer."""
    old = [rows[m.b] for m in matches]
    title = (
        "Duplicate of a library track, found by sound:"
        if certain
        else "Possible duplicate of a library track (uncertain), found by sound:"
    )
    old_lines = [
        f"{describe(_old_copy(r, m), False)}  {shown(r.path)}"
        for r, m in zip(old, matches, strict=True)
    ]
    new_line = f"{describe(Member(row, True, 1.0, 0.0), True)}  {shown(row.path)}"
    offered = [k for k in prompts.ALL if k != prompts.NEW or policy.can_move_old]
    return prompts.ask(
        title,
        old_lines,
        new_line,
        offered,
        policy.default_answer(row, old, certain),
    )


def _old_copy(old: Row, m: Match) -> Member:
    """A library copy as shown beside the new one (`m` has the new one as `a`).

    The old copy lasts `speed` times as long: it plays 1 / speed - 1 faster.
    """
    return Member(old, True, m.similarity, m.offset, round(1.0 / m.speed - 1.0, 4))
