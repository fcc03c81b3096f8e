"""The recording model an import holds in memory, indexed by item.

An import adds items one at a time, and each must be grouped with what it
touches (`cliques.affected`, `cliques.regroup`). Derived afresh from the
whole model for every item, the recording -> items map and the strong ties
cost a pass over a million items and their matches: a second per item. Here
they are kept up to date as the model changes, so grouping one item costs
its neighbourhood.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import count

from .matcher import Match

Key = frozenset[int]


class HeldModel:
    """Item -> recording, and the remembered matches, with the items of each
    recording and the matches of each item at hand."""

    def __init__(self, recordings: dict[int, int], matches: dict[Key, Match]) -> None:
        self.recordings = recordings
        self.matches = matches
        self.members: dict[int, set[int]] = {}
        for item_id, rec in recordings.items():
            self.members.setdefault(rec, set()).add(item_id)
        self._of: dict[int, set[Key]] = {}
        # Matches in the order they were first remembered: grouping sees
        # them in the order the whole model would list them. Numbers come
        # from a counter, never reused: a forgotten match's number must not
        # go to a later one.
        self._order: dict[Key, int] = {}
        self._next = count()
        for key in matches:
            self._index(key)
        self.top = max(recordings.values(), default=0)

    def _index(self, key: Key) -> None:
        if key not in self._order:
            self._order[key] = next(self._next)
        for item_id in key:
            self._of.setdefault(item_id, set()).add(key)

    def matches_of(self, item_id: int) -> list[Match]:
        return [self.matches[key] for key in self._of.get(item_id, ())]

    def among(self, items: set[int], more: Iterable[Match] = ()) -> list[Match]:
        """The matches between these items, then `more`, in the order the
        whole model with `more` added would list them."""
        found = {
            key: self.matches[key]
            for item_id in items
            for key in self._of.get(item_id, ())
            if key <= items
        }
        extra: list[Match] = []
        for m in more:
            key = frozenset((m.a, m.b))
            if key in self.matches:
                found[key] = m
            else:
                extra.append(m)
        ordered = sorted(found, key=self._order.__getitem__)
        return [found[key] for key in ordered] + extra

    def set_recordings(self, fresh: dict[int, int]) -> None:
        for item_id, rec in fresh.items():
            self._leave(item_id)
            self.recordings[item_id] = rec
            self.members.setdefault(rec, set()).add(item_id)
            self.top = max(self.top, rec)

    def remember(self, matches: Iterable[Match]) -> None:
        for m in matches:
            key = frozenset((m.a, m.b))
            self.matches[key] = m
            self._index(key)

    def forget_match(self, key: Key) -> None:
        if self.matches.pop(key, None) is None:
            return
        self._order.pop(key, None)
        for item_id in key:
            held = self._of.get(item_id)
            if held is not None:
                held.discard(key)

    def forget_item(self, item_id: int) -> None:
        """The item's recording and matches (it left, or its id is reused)."""
        self._leave(item_id)
        self.recordings.pop(item_id, None)
        for key in list(self._of.get(item_id, ())):
            self.forget_match(key)
        self._of.pop(item_id, None)

    def _leave(self, item_id: int) -> None:
        old = self.recordings.get(item_id)
        if old is not None:
            held = self.members.get(old)
            if held is not None:
                held.discard(item_id)
                if not held:
                    del self.members[old]
