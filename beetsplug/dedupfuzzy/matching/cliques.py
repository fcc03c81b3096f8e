"""The one grouping: copies of one recording are a clique of strong matches.

`build_groups` turns verified matches into groups; the recording model (the
`dedupfuzzy_recording` of each item, see `store.recordings`) is the same
partition, stored. A run that changed a few items regroups only what they
touch (`affected`): their recordings and everything connected to them by a
strong match, which is exactly what a run over the whole library would
regroup, so a warm run, an import and a first run reach the same groups.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .matcher import Match, Verifier

DUPLICATE = "duplicate"
UNCERTAIN = "uncertain"


@dataclass
class Group:
    """Copies of one recording (or, uncertain, a pair a human must judge)."""

    status: str
    ids: list[int]
    matches: dict[frozenset[int], Match] = field(default_factory=dict)

    def match_between(self, x: int, y: int) -> Match | None:
        return self.matches.get(frozenset((x, y)))


def build_groups(matches: Sequence[Match], verifier: Verifier) -> list[Group]:
    """Gather matches into groups of copies, never chaining different edits.

    Strong matches (at or above `auto_threshold`) connect tracks into
    components; each component is then split into cliques: a group only
    holds tracks that all match each other strongly, so A~B and B~C never
    pull A and C together unless A~C too. Cliques grow from the best
    connected track, taking first the tracks with the most strong matches,
    so one outlier (a heavily processed copy) cannot split a group of
    clean copies. Degrees count every pair of the component (all are
    verified), not only those the candidate search proposed, so the groups
    do not depend on the search; between tracks of equal degree the one
    whose strong matches are closer goes first (a clean copy and a heavy
    remaster that fail only against each other: the clean copy stays).
    Matches that did not end up inside one group (those
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

    cluster: dict[int, list[int]] = {}
    for component in _components(strong):
        # The clique rule needs every pair of the component: verify those
        # not yet known in one batch, so their audio is decoded together.
        missing = [
            (x, y, ())
            for k, x in enumerate(component)
            for y in component[k + 1 :]
            if frozenset((x, y)) not in pair_match
        ]
        for (x, y, _), m in zip(missing, verifier.verify_many(missing), strict=True):
            if m is not None:
                pair_match[frozenset((x, y))] = m
        adjacent: dict[int, dict[int, float]] = {t: {} for t in component}
        for k, x in enumerate(component):
            for y in component[k + 1 :]:
                m = pair_match.get(frozenset((x, y)))
                if m is not None and m.similarity >= auto:
                    adjacent[x][y] = adjacent[y][x] = m.similarity
        remaining = set(component)
        while remaining:
            order = _best_connected_first(remaining, adjacent)
            clique = [order[0]]
            for t in order[1:]:
                if all(member in adjacent[t] for member in clique):
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


def _best_connected_first(
    tracks: set[int], adjacent: dict[int, dict[int, float]]
) -> list[int]:
    """Most strong matches among `tracks` first, then the closest ones."""

    def rank(t: int) -> tuple[int, float, int]:
        peers = [s for u, s in adjacent[t].items() if u in tracks]
        return -len(peers), -sum(peers), t

    return sorted(tracks, key=rank)


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


def affected(
    dirty: Iterable[int],
    recordings: Mapping[int, int],
    matches: Sequence[Match],
    auto_threshold: float,
    members: Mapping[int, Collection[int]] | None = None,
    matches_of: Callable[[int], Iterable[Match]] | None = None,
) -> set[int]:
    """The dirty items and all items tied to them by a recording or a strong match.

    A caller that keeps the model indexed (an import, one item at a time:
    `heldmodel`) gives the items of each recording (`members`) and each
    item's remembered matches (`matches_of`); `matches` then holds the
    matches not remembered yet.
    """
    if members is None:
        members = with_copies(recordings)
    strong: dict[int, list[int]] = {}
    for m in matches:
        if m.similarity >= auto_threshold:
            strong.setdefault(m.a, []).append(m.b)
            strong.setdefault(m.b, []).append(m.a)
    seen = set(dirty)
    stack = list(seen)
    while stack:
        item_id = stack.pop()
        rec = recordings.get(item_id)
        tied = strong.get(item_id, [])
        if matches_of is not None:
            tied = [
                *tied,
                *(
                    m.other(item_id)
                    for m in matches_of(item_id)
                    if m.similarity >= auto_threshold
                ),
            ]
        if rec in members:
            tied = [*tied, *members[rec]]
        for other in tied:
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return seen


def regroup(
    items: Iterable[int],
    recordings: Mapping[int, int],
    matches: Sequence[Match],
    verifier: Verifier,
    allocate: Callable[[], int],
) -> dict[int, int]:
    """New recording ids of `items` (a set closed by `affected`).

    Cliques keep the recording id most of their members had (so ids are
    stable from run to run); the others get fresh ones from `allocate`.
    """
    wanted = set(items)
    inside = [m for m in matches if m.a in wanted and m.b in wanted]
    cliques = [g.ids for g in build_groups(inside, verifier) if g.status == DUPLICATE]
    grouped = {i for ids in cliques for i in ids}
    cliques += [[i] for i in sorted(wanted - grouped)]
    cliques.sort(key=lambda ids: (-len(ids), ids[0]))
    taken: set[int] = set()
    result: dict[int, int] = {}
    for ids in cliques:
        votes = Counter(recordings[i] for i in ids if i in recordings)
        choice = next(
            (
                rec
                for rec, _ in sorted(votes.items(), key=lambda v: (-v[1], v[0]))
                if rec not in taken
            ),
            None,
        )
        if choice is None:
            choice = allocate()
        taken.add(choice)
        for i in ids:
            result[i] = choice
    return result


def with_copies(recordings: Mapping[int, int]) -> dict[int, list[int]]:
    """The items of each recording that has more than one, in the mapping's
    order (most recordings have one copy: no list is made for those). Found
    in numpy: a warm run of a million items asks this of every item."""
    if not recordings:
        return {}
    items = np.fromiter(recordings.keys(), np.int64, len(recordings))
    recs = np.fromiter(recordings.values(), np.int64, len(recordings))
    order = np.argsort(recs, kind="stable")  # by recording, in mapping order
    ordered = recs[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(ordered)])
    shared = sizes > 1
    taken = items[order[np.repeat(shared, sizes)]].tolist()
    bounds = np.cumsum(sizes[shared]).tolist()
    lists = [taken[a:b] for a, b in zip([0, *bounds], bounds, strict=False)]
    # Recordings in the order their first item comes in the mapping.
    firsts = order[starts[shared]]
    keys = ordered[starts[shared]].tolist()
    members = {}
    for k in np.argsort(firsts, kind="stable").tolist():
        members[keys[k]] = lists[k]
    return members


def groups_of(recordings: Mapping[int, int], matches: Sequence[Match]) -> list[Group]:
    """The groups a user sees: each recording with copies, then uncertain pairs."""
    members = with_copies(recordings)
    by_pair = {frozenset((m.a, m.b)): m for m in matches}
    cluster: dict[int, list[int]] = {}
    groups = []
    for ids in members.values():
        ids.sort()
        for i in ids:
            cluster[i] = ids
        pairs = {
            key: by_pair[key]
            for k, x in enumerate(ids)
            for y in ids[k + 1 :]
            if (key := frozenset((x, y))) in by_pair
        }
        groups.append(Group(DUPLICATE, ids, pairs))
    groups.sort(key=lambda g: g.ids)
    present = [m for m in matches if m.a in recordings and m.b in recordings]
    return groups + _uncertain_pairs(present, cluster)
