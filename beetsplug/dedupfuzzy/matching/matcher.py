"""Verify candidate pairs on their raw frames and gather matches into groups.

Everything here works on plain data: tracks with a length, a sketch and a
way to get their frames. The guards that keep different edits apart live
here: lengths must agree (fpcalc reads only the first two minutes, where a
radio edit equals the album version), the overlap must be long enough, and
silent fingerprints have empty sketches so they are never candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..settings import MatchSettings
from .blockindex import Sketch, candidate_pairs
from .neighbours import profile_pairs
from .similarity import MIN_FRAMES, Alignment, align, seconds_to_frames

DUPLICATE = "duplicate"
UNCERTAIN = "uncertain"


@dataclass
class Track:
    """What matching needs to know about one library item."""

    id: int
    path: bytes
    length: float
    format: str = ""
    bitrate: int = 0
    bitdepth: int = 0
    samplerate: int = 0
    sketch: Sketch | None = None


@dataclass(frozen=True)
class Match:
    """Two tracks that sound alike: b's similarity and offset relative to a."""

    a: int
    b: int
    similarity: float
    offset: float

    def other(self, track_id: int) -> int:
        return self.b if track_id == self.a else self.a


@dataclass
class Group:
    """Copies of one recording (or, uncertain, a pair a human must judge)."""

    status: str
    ids: list[int]
    matches: dict[frozenset[int], Match] = field(default_factory=dict)

    def match_between(self, x: int, y: int) -> Match | None:
        return self.matches.get(frozenset((x, y)))


FramesOf = Callable[[int], np.ndarray | None]


class Verifier:
    """Checks pairs of tracks on their frames, remembering every answer."""

    def __init__(
        self,
        tracks: dict[int, Track],
        frames_of: FramesOf,
        settings: MatchSettings,
        known: dict[frozenset[int], Match | None] | None = None,
    ) -> None:
        self.tracks = tracks
        self.frames_of = frames_of
        self.settings = settings
        self.max_shift = seconds_to_frames(settings.max_offset)
        self.min_overlap = seconds_to_frames(settings.min_overlap)
        # Answers remembered from earlier runs, and those computed in this one.
        self._cache: dict[frozenset[int], Match | None] = dict(known or {})
        self.computed: dict[frozenset[int], Match | None] = {}

    def lengths_agree(self, a: Track, b: Track) -> bool:
        if not a.length or not b.length:
            return True
        return abs(a.length - b.length) <= self.settings.length_tolerance

    def verify(self, a_id: int, b_id: int, hints: Sequence[int] = ()) -> Match | None:
        """The match between two tracks, or None when they are not alike."""
        key = frozenset((a_id, b_id))
        if key in self._cache:
            return self._cache[key]
        result = self._verify(a_id, b_id, hints)
        self._cache[key] = result
        self.computed[key] = result
        return result

    def _verify(self, a_id: int, b_id: int, hints: Sequence[int]) -> Match | None:
        a, b = self.tracks[a_id], self.tracks[b_id]
        if not self.lengths_agree(a, b):
            return None
        if a.sketch is not None and a.sketch.empty:
            return None
        if b.sketch is not None and b.sketch.empty:
            return None
        fa, fb = self.frames_of(a_id), self.frames_of(b_id)
        if fa is None or fb is None:
            return None
        # Short tracks cannot offer the configured overlap; demand most of
        # what they have, and never less than a few seconds.
        need = max(MIN_FRAMES, min(self.min_overlap, int(0.8 * min(len(fa), len(fb)))))
        found: Alignment | None = align(
            fa, fb, max_shift=self.max_shift, min_overlap=need, hints=hints
        )
        if found is None and hints:
            found = align(fa, fb, max_shift=self.max_shift, min_overlap=need)
        if found is None or found.similarity < self.settings.ask_threshold:
            return None
        return Match(
            a_id, b_id, round(found.similarity, 4), round(found.offset, 2) + 0.0
        )


def find_matches(tracks: Sequence[Track], verifier: Verifier) -> list[Match]:
    """Candidate pairs from the block index, verified on their frames."""
    sketches = [t.sketch if t.sketch is not None else _NO_SKETCH for t in tracks]
    candidates = candidate_pairs(sketches)
    profiles = [None if s.empty else s.profile for s in sketches]
    near = profile_pairs(
        profiles, [t.length for t in tracks], verifier.settings.length_tolerance
    )
    matches = []
    for i, j in sorted(set(candidates.pairs).union(near)):
        a, b = tracks[i], tracks[j]
        if not verifier.lengths_agree(a, b):
            continue
        m = verifier.verify(a.id, b.id, candidates.hints.get((i, j), ()))
        if m is not None:
            matches.append(m)
    return matches


def build_groups(matches: Sequence[Match], verifier: Verifier) -> list[Group]:
    """Gather matches into groups of copies, never chaining different edits.

    Strong matches (at or above `auto_threshold`) connect tracks into
    components; each component is then split into cliques: a group only
    holds tracks that all match each other strongly, so A~B and B~C never
    pull A and C together unless A~C too. Cliques grow from the best
    connected track, taking first the tracks with the most strong matches,
    so one outlier (a heavily processed copy) cannot split a group of
    clean copies. Matches that did not end up inside one group (those
    between the two thresholds, and strong ones the clique rule refused)
    become uncertain pairs, one per pair of groups (the closest).
    """
    auto = verifier.settings.auto_threshold
    pair_match = {frozenset((m.a, m.b)): m for m in matches}
    strong: dict[int, set[int]] = {}
    for m in matches:
        if m.similarity >= auto:
            strong.setdefault(m.a, set()).add(m.b)
            strong.setdefault(m.b, set()).add(m.a)

    def is_strong(x: int, y: int) -> bool:
        key = frozenset((x, y))
        m = pair_match.get(key)
        if m is None:
            m = verifier.verify(x, y)
            if m is None:
                return False
            pair_match[key] = m
        return m.similarity >= auto

    cluster: dict[int, list[int]] = {}
    for component in _components(strong):
        remaining = set(component)
        while remaining:
            degree = {t: len(strong[t] & remaining) for t in remaining}
            order = sorted(remaining, key=lambda t: (-degree[t], t))
            clique = [order[0]]
            for t in order[1:]:
                if all(is_strong(t, member) for member in clique):
                    clique.append(t)
            remaining -= set(clique)
            if len(clique) > 1:
                for t in clique:
                    cluster[t] = clique
    groups: list[Group] = []
    seen: set[int] = set()
    for members in cluster.values():
        if id(members) in seen:
            continue
        seen.add(id(members))
        ids = sorted(members)
        group_matches = {
            frozenset((x, y)): pair_match[frozenset((x, y))]
            for k, x in enumerate(ids)
            for y in ids[k + 1 :]
        }
        groups.append(Group(DUPLICATE, ids, group_matches))
    groups.extend(_uncertain_pairs(matches, cluster))
    return groups


def _components(edges: dict[int, set[int]]) -> list[list[int]]:
    """Connected components of an undirected graph given as adjacency sets."""
    seen: set[int] = set()
    components = []
    for start in sorted(edges):
        if start in seen:
            continue
        stack, component = [start], []
        seen.add(start)
        while stack:
            node = stack.pop()
            component.append(node)
            for nxt in edges[node]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        components.append(sorted(component))
    return components


def _uncertain_pairs(
    matches: Sequence[Match], cluster: dict[int, list[int]]
) -> list[Group]:
    best: dict[frozenset[int], Match] = {}
    for m in matches:
        ca, cb = cluster.get(m.a), cluster.get(m.b)
        if ca is not None and ca is cb:
            continue
        key = frozenset((id(ca) if ca else -m.a, id(cb) if cb else -m.b))
        if key not in best or m.similarity > best[key].similarity:
            best[key] = m
    return [
        Group(UNCERTAIN, [m.a, m.b], {frozenset((m.a, m.b)): m})
        for m in sorted(best.values(), key=lambda m: (-m.similarity, m.a, m.b))
    ]


_NO_SKETCH = Sketch(np.zeros(0, np.uint32), np.zeros(0, np.int32))
