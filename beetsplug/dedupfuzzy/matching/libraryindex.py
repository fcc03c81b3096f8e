"""The import hook's view of the recording model: match items one at a time.

`beet dedupfuzzy` matches its dirty items in one pass; an import needs the
same work one item at a time: the library's sketches are indexed once
when the import begins (the shared `CandidateIndex`, query mode), then each
new item is looked up, verified by the shared verifier, and grouped by the
shared clique rule (`cliques.regroup`) with the recordings and remembered
matches of the library. An item that stays is added to the index and the
model (its recording, its matches), so the later items of the same import
find it and a later `beet dedupfuzzy` has nothing to redo.

Fingerprints of library items are not held in memory: the few that a
verification needs are read from the database when asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from beets.library import Library

from .. import heap
from ..fingerprinting import refresh as fingerprints
from ..fingerprinting.excerpts import ExcerptSource
from ..fingerprinting.sketching import load_sketches
from ..settings import MatchSettings
from ..store import decisions, fields, paircache, recordings, rowcache
from ..store.frames import FrameSource
from . import cliques
from .blockindex import decode_sketch
from .candidates import CandidateIndex
from .heldmodel import HeldModel
from .matcher import Match, Verifier, verify_pairs
from .rows import Tracks, track_of


def sketch_of_row(row: fields.Row):
    """The row's sketch: given, stored, or computed from its fingerprint."""
    if row.sketch is None and row.blocks:
        row.sketch = decode_sketch(row.blocks)
    if row.sketch is None and row.fingerprint:
        frames = fingerprints.frames_of_fingerprint(row.fingerprint)
        row.sketch = None if frames is None else fingerprints.sketch_of(frames)
    return row.sketch


class LibraryIndex:
    """Every fingerprinted library item, ready for one-at-a-time matching."""

    def __init__(self, lib: Library | None, settings: MatchSettings) -> None:
        self.lib = lib
        self.settings = settings
        self.rows: dict[int, fields.Row] = {}
        self.unfingerprinted = 0
        self._model = HeldModel({}, {})
        self.token = ""
        self._by_path: dict[bytes, int] = {}
        self._frames = FrameSource(lib)
        self._tracks = Tracks(self.rows)
        self._informative: set[int] = set()
        self._current: dict[int, fields.Row] = {}
        self.distinct: set[tuple[int, int]] = set()
        self._index = CandidateIndex.of([], [], [], settings.length_tolerance)
        self._verifier = self._new_verifier()

    @classmethod
    def load(
        cls,
        lib: Library,
        match_settings: MatchSettings,
        upto_id: int | None = None,
    ) -> LibraryIndex:
        """Index the library's items (those with ids up to `upto_id`).

        Items with a fingerprint but no stored sketch get one, written back;
        items without a fingerprint cannot be matched and are only counted
        (`beet dedupfuzzy` fingerprints them). Loaded without full
        collections (`heap`): at a million items they took 5 of its 34 s.
        """
        with heap.full_collections_deferred():
            return cls._load(lib, match_settings, upto_id)

    @classmethod
    def _load(
        cls, lib: Library, match_settings: MatchSettings, upto_id: int | None
    ) -> LibraryIndex:
        index = cls(lib, match_settings)
        index.token = recordings.prepare(lib, match_settings)
        index.distinct = decisions.load_distinct(lib)
        # Paths are stored relative to the music folder; a thread of our own
        # does not inherit beets' binding of that folder.
        with lib.music_dir_context():
            rows, _ = rowcache.load_all_rows(lib)
        if upto_id is not None:
            rows = [r for r in rows if r.id <= upto_id]
        usable = [r for r in rows if r.has_fingerprint]
        index.unfingerprinted = len(rows) - len(usable)
        table = load_sketches(lib, usable)
        for row in rows:
            index.rows[row.id] = row
            index._by_path[row.path] = row.id
        informative = [
            r for r, n in zip(usable, table.counts.tolist(), strict=True) if n > 0
        ]
        index._informative = {r.id for r in informative}
        held = {r.id: r.recording for r in informative if r.recording is not None}
        index._index = CandidateIndex(
            [r.id for r in usable],
            [r.length for r in usable],
            table,
            match_settings.length_tolerance,
        )
        # Sorted now (in the background at import), not at the first query.
        index._index.prepare_queries()
        # The one invalidation rule: a match holds while both items are
        # matched under the current settings.
        clean = {r.id for r in informative if r.matched == index.token}
        index._model = HeldModel(
            held,
            {
                frozenset((m.a, m.b)): m
                for m in paircache.load(lib)
                if m.a in clean and m.b in clean
            },
        )
        return index

    def _new_verifier(self) -> Verifier:
        return Verifier(
            self._tracks,
            self._frames,
            self.settings,
            distinct=lambda a, b: (min(a, b), max(a, b)) in self.distinct,
            audio=ExcerptSource(),
        )

    def mark_distinct(self, a: int, b: int) -> None:
        """A human said these are different recordings: never group them."""
        self.distinct.add((min(a, b), max(a, b)))
        self._verifier.forget_pair(a, b)
        self._model.forget_match(frozenset((a, b)))

    # Growing and shrinking during the import.

    def add(self, row: fields.Row) -> None:
        """The item is in the library now: index it, group it, store that."""
        s = sketch_of_row(row)
        self._take(row)
        self.rows[row.id] = row
        self._by_path[row.path] = row.id
        if row.fingerprint:
            self._frames.given[row.id] = row.fingerprint
        if s is None:
            return
        matched: list[Match] = []
        if not s.empty:
            self._tracks[row.id] = track_of(row, s)
            self._informative.add(row.id)
            matched = self.match_row(row)
            self._index.add(row.id, row.length, s)
        self._commit(row.id, matched)

    def _take(self, row: fields.Row) -> None:
        """Start on a row: what was known about its id concerned another
        version of the item, or an item which left (ids are reused)."""
        if self._current.get(row.id) is not row:
            self._forget(row.id)
            self._current[row.id] = row

    def discard(self, item_id: int) -> None:
        """Forget an item (it left the library); its id may be reused."""
        self._forget(item_id)

    def _forget(self, item_id: int) -> None:
        old = self.rows.pop(item_id, None)
        if old is not None and self._by_path.get(old.path) == item_id:
            del self._by_path[old.path]
        self._index.discard(item_id)
        self._tracks.pop(item_id, None)
        self._informative.discard(item_id)
        self._current.pop(item_id, None)
        self._frames.forget(item_id)
        self._model.forget_item(item_id)
        # Cached answers may concern the item that had this id.
        self._verifier.forget(item_id)

    def relocate(self, item_id: int, path: bytes) -> None:
        """Note an item's new path (beets moved or copied its file)."""
        row = self.rows.get(item_id)
        if row is None or row.path == path:
            return
        if self._by_path.get(row.path) == item_id:
            del self._by_path[row.path]
        row.path = path
        self._by_path[path] = item_id

    def __len__(self) -> int:
        return len(self.rows)

    def row(self, item_id: int) -> fields.Row | None:
        return self.rows.get(item_id)

    def id_of_path(self, path: bytes) -> int | None:
        return self._by_path.get(path)

    # Matching.

    def match_row(
        self, row: fields.Row, exclude: Iterable[int] = frozenset()
    ) -> list[Match]:
        """The indexed items that sound like `row`, best first.

        Candidates come from the shared candidate search (query mode); each
        is verified on its frames with the usual guards. Every match has
        `a == row.id`.
        """
        s = sketch_of_row(row)
        if s is None or s.empty:
            return []
        skip = set(exclude)
        skip.add(row.id)
        self._take(row)
        if row.fingerprint:
            self._frames.given[row.id] = row.fingerprint
        self._tracks[row.id] = track_of(row, s)
        self._informative.add(row.id)
        hints = {
            (row.id, item_id): shifts
            for item_id, shifts in self._index.query(s, row.length, skip).items()
            if item_id in self.rows and item_id in self._informative
        }
        # The candidates' fingerprints in one read, verified as a run
        # verifies its pairs (their heads aligned together).
        self._frames.prefetch([row.id] + [b for _, b in hints])
        found = [
            _oriented(m, row.id)
            for m in verify_pairs(list(hints), hints, self._verifier)
        ]
        found.sort(key=lambda m: (-m.similarity, m.b))
        return found

    def clique_of(self, row: fields.Row, matches: Iterable[Match]) -> set[int]:
        """The library items `row` would be grouped with (the clique rule)."""
        fresh = self._regroup(row.id, matches, _Preview())
        mine = fresh.get(row.id)
        return {i for i, rec in fresh.items() if rec == mine and i != row.id}

    def _regroup(
        self, item_id: int, matches: Iterable[Match], allocate: Callable[[], int]
    ) -> dict[int, int]:
        """New recordings of the items grouping `item_id` touches."""
        if item_id not in self._informative:
            return {}
        model = self._model
        matches = list(matches)
        touched = cliques.affected(
            [item_id],
            model.recordings,
            matches,
            self.settings.auto_threshold,
            members=model.members,
            matches_of=model.matches_of,
        )
        touched &= self._informative
        return cliques.regroup(
            touched,
            model.recordings,
            model.among(touched, matches),
            self._verifier,
            allocate,
        )

    def _commit(self, item_id: int, matches: list[Match]) -> None:
        """Store the item's recording, its matches and what changed around it."""
        if self.lib is None:
            return
        allocator = recordings.Allocator(self.lib, [self._model.top])
        fresh = self._regroup(item_id, matches, allocator)
        computed = [
            m
            for m in self._verifier.computed.values()
            if m is not None and m.a in self.rows and m.b in self.rows
        ]
        self._verifier.computed.clear()
        recordings.save(
            self.lib,
            self.token,
            [item_id],
            fresh,
            self._model.recordings,
            allocator,
            computed,
        )
        self._model.set_recordings(fresh)
        self._model.remember(computed)


class _Preview:
    """Recording ids for a grouping that is only looked at, never stored."""

    def __init__(self) -> None:
        self.next = -1

    def __call__(self) -> int:
        self.next -= 1
        return self.next


def _oriented(m: Match, first: int) -> Match:
    """The match with `first` as its `a` (offsets are relative to `a`)."""
    if m.a == first:
        return m
    offset = round(-m.offset / m.speed, 2) + 0.0
    return Match(first, m.a, m.similarity, offset, round(1.0 / m.speed, 4))
