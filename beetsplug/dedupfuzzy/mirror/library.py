"""Library mode of `beet mirror`: read the library, join albums by sound, mirror.

The steps, each cheap enough for a library of 100,000 items:

1. Read the items and place each under the ``mirror.path`` template
   (``mirror_items``).
2. Group them into album entries and copies; find copies whose names
   differ but whose stored sketches share keys (``mirror_albums``).
3. Check a few track pairs of each such candidate on their fingerprint
   frames with the plugin's verifier, and join the albums that pass. The
   answers are remembered in the library database (keyed by both
   sketches), so a re-run reads no fingerprint at all.
4. Hand the views to ``mirror_command.mirror_views`` to plan and apply.

`beet mirror` never runs fpcalc: it uses the sketches and fingerprints that
`beet dedupfuzzy` and the import hook store on the items. Items without them
are still mirrored by their names, they just cannot join a differently
named album. The library is the truth: links point where the items say
their files are, and links into the library directory whose items left are
removed at the next run. Links to items outside the library directory are
kept while right, but are not the mirror's to replace or remove.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from beets import config as beets_config
from beets.library import Library
from beets.ui import UserError

from .. import settings
from ..fingerprinting import refresh as fingerprints
from ..matching import blockindex
from ..matching import matcher as matching
from ..store.catalog import BLOCKS, FINGERPRINT
from .albums import (
    SKETCH_KEYS,
    Album,
    CopyPair,
    FolderCensus,
    SketchPostings,
    Track,
    candidate_copies,
    desired_views,
    group_copies,
    merge_albums,
    shared_key_pairs,
)
from .command import (
    MirrorOptions,
    MirrorRun,
    check_views,
    load_mirror_options,
    mirror_views,
    run_directory_mode,
)
from .items import PathTemplate
from .plan import DesiredViews

_SQL_CHUNK = 500


@dataclass
class LibraryViews:
    """What library mode found: the views to build and how it got there."""

    desired: DesiredViews
    albums: list[Album]
    items: int
    sketched: int
    merged: int
    checked: int


@dataclass
class Refresh:
    """One refresh of the views: the run (plan and summary line) and, in
    library mode, the albums behind it.
    """

    run: MirrorRun
    views: LibraryViews | None = None


def refresh(
    lib: Library, log, *, query: Sequence[str] = (), pretend: bool | None = None
) -> Refresh:
    """Bring the configured views up to date, as `beet mirror` would.

    Reads the options from the `mirror:` configuration; ``pretend``
    overrides `mirror.pretend`. Directory mode runs when source folders are
    configured, library mode (narrowed by ``query``) otherwise. Fatal
    misconfiguration raises ``UserError``.
    """
    options = load_mirror_options(settings.mirror_view())
    if pretend is not None:
        options = replace(options, pretend=pretend)
    if options.sources:
        return Refresh(run_directory_mode(log, options))
    return run_library_mode(lib, log, options, query)


def refresh_after_change(lib: Library, log) -> Refresh | None:
    """Refresh the views after files moved, when `mirror.auto` is on.

    The move already happened, so a mirror problem is a warning, not an
    error; nothing happens when no view is configured.
    """
    view = settings.mirror_view()
    if not view["auto"].get(bool):
        return None
    if not (view["high"].get() or view["low"].get()):
        log.debug("mirror.auto is on but no view is configured")
        return None
    try:
        return refresh(lib, log)
    except UserError as exc:
        log.warning("the mirror views were not refreshed: {}", exc)
        return None


def run_library_mode(
    lib: Library, log, options: MirrorOptions, query: Sequence[str] = ()
) -> Refresh:
    """`beet mirror` in library mode: read, join, plan and apply."""
    owned = _owned_roots(lib)
    check_views(options, owned)
    views = library_views(lib, options, query, log)
    run = mirror_views(log, options, views.desired, owned_roots=owned)
    return Refresh(run, views)


def _owned_roots(lib: Library) -> set[str]:
    libdir = os.fsdecode(lib.directory)
    return {libdir, os.path.realpath(libdir)}


def library_views(
    lib: Library, options: MirrorOptions, query: Sequence[str] = (), log=None
) -> LibraryViews:
    """Read the library and decide what each view shows.

    Touches no view; under ``options.pretend`` it writes nothing either
    (not even the remembered sound checks).
    """
    template = PathTemplate(options.path, options.depth, lib)
    tracks, all_paths = template.read(lib, query)
    copies = group_copies(tracks)
    postings, blocks = read_sketches(lib, tracks)
    match_settings = _match_settings()
    pairs = shared_key_pairs(postings, match_settings.length_tolerance)
    candidates = candidate_copies(copies, pairs)
    check = SoundCheck(lib, tracks, blocks, candidates, match_settings)
    albums, merged = merge_albums(copies, candidates, check)
    if not options.pretend:
        check.memo.save()
    desired = desired_views(albums, FolderCensus(all_paths), template.track_name)
    if options.relative:
        desired = _real_targets(desired)
    if log is not None:
        log.debug(
            "mirror: {} items, {} with sketches; {} albums, {} entries joined by"
            " sound ({} candidates, {} track pairs checked on their frames)",
            len(tracks),
            postings.sketched,
            len(albums),
            merged,
            len(candidates),
            check.checked,
        )
    return LibraryViews(
        desired, albums, len(tracks), postings.sketched, merged, check.checked
    )


def _match_settings() -> settings.MatchSettings:
    view = beets_config["dedupfuzzy"]
    view.add(settings.DEFAULTS)
    return settings.load_settings(view).match


def _real_targets(desired: DesiredViews) -> DesiredViews:
    """Targets through real folders, so relative links resolve from real views."""
    memo: dict[str, str] = {}

    def real(path: str) -> str:
        folder, name = os.path.split(path)
        if folder not in memo:
            memo[folder] = os.path.realpath(folder)
        return os.path.join(memo[folder], name)

    return DesiredViews(
        high={rel: real(t) for rel, t in desired.high.items()},
        low={rel: real(t) for rel, t in desired.low.items()},
    )


def read_sketches(
    lib: Library, tracks: Sequence[Track]
) -> tuple[SketchPostings, dict[int, str]]:
    """The first :data:`SKETCH_KEYS` sketch keys of the tracks, flattened,
    and a text per sketch that changes whenever the sketch does.

    Sketches in the current index format with a full set of keys (nearly
    all) are decoded in one go; the rest one by one.
    """
    position = {t.id: n for n, t in enumerate(tracks)}
    k = blockindex.KEYS_PER_TRACK
    prefix = blockindex.INDEX_VERSION + ":"
    head = len(prefix)
    body = 4 * k * 6 // 3  # base64 of k uint32 keys and k uint16 positions
    cut = 4 * 4 * SKETCH_KEYS // 3  # base64 of the first SKETCH_KEYS keys
    with lib.transaction() as tx:
        rows = tx.query(
            "SELECT entity_id, value FROM item_attributes WHERE key = ?", (BLOCKS,)
        )
    texts: dict[int, str] = {}
    bodies: list[str] = []
    owners: list[int] = []
    odd: list[tuple[int, str]] = []
    for item_id, text in rows:
        n = position.get(item_id)
        if n is None or not text:
            continue
        end = text.find(":", head)
        if (end if end >= 0 else len(text)) - head == body and text.startswith(prefix):
            keys_text = text[head : head + cut]
            texts[item_id] = keys_text
            bodies.append(keys_text)
            owners.append(n)
        else:
            odd.append((item_id, text))
    keys = [np.zeros(0, np.uint32)]
    owner_arrays = [np.zeros(0, np.int64)]
    if bodies:
        raw = base64.b64decode("".join(bodies))
        keys.append(np.frombuffer(raw, "<u4").astype(np.uint32))
        owner_arrays.append(np.repeat(np.asarray(owners, np.int64), SKETCH_KEYS))
    sketched = len(owners)
    for item_id, text in odd:
        sketch = blockindex.decode_sketch(text)
        if sketch is None:
            continue
        n = position[item_id]
        texts[item_id] = text
        sketched += 1
        keys.append(sketch.keys[:SKETCH_KEYS])
        owner_arrays.append(np.full(len(keys[-1]), n, np.int64))
    postings = SketchPostings(
        tracks=tracks,
        owners=np.concatenate(owner_arrays),
        keys=np.concatenate(keys).astype(np.uint32),
        sketched=sketched,
    )
    return postings, texts


class SoundCheck:
    """Decides whether two copies hold the same recordings, on their frames.

    Each candidate's few track pairs are verified with the plugin's
    :class:`matching.Verifier`; the copies pass when every pair is a strong
    match (at or above `auto_threshold`). Answers already in the
    :class:`CheckMemo` are not verified again; fingerprints are read in
    bulk, and only for the pairs still to verify.
    """

    def __init__(
        self,
        lib: Library,
        tracks: Iterable[Track],
        blocks: dict[int, str],
        candidates: Sequence[CopyPair],
        match_settings: settings.MatchSettings,
    ) -> None:
        self.settings = match_settings
        self.blocks = blocks
        self.memo = CheckMemo(lib, match_settings)
        self.checked = 0
        todo = {
            check
            for pair in candidates
            for check in pair.checks
            if self.memo.get(*check, self._stamp(*check)) is None
        }
        ids = {i for check in todo for i in check}
        by_id = {t.id: t for t in tracks if t.id in ids}
        self.sketches = _sketches(lib, ids)
        self.prints = _fingerprints(lib, ids)
        self.frames: dict[int, np.ndarray | None] = {}
        verified = {
            i: matching.Track(
                id=i,
                path=os.fsencode(by_id[i].path),
                length=by_id[i].length,
                format=by_id[i].format,
                sketch=self.sketches[i],
            )
            for i in ids
        }
        self.verifier = matching.Verifier(verified, self._frames, match_settings)

    def __call__(self, pair: CopyPair) -> bool:
        for a, b in pair.checks:
            if self.similarity(a, b) < self.settings.auto_threshold:
                return False
        return bool(pair.checks)

    def similarity(self, a: int, b: int) -> float:
        """The similarity of two tracks (-1 when they do not match at all)."""
        stamp = self._stamp(a, b)
        known = self.memo.get(a, b, stamp)
        if known is not None:
            return known
        self.checked += 1
        found = self.verifier.verify(a, b, self._hints(a, b))
        similarity = found.similarity if found is not None else -1.0
        self.memo.put(a, b, stamp, similarity)
        return similarity

    def _stamp(self, a: int, b: int) -> int:
        a, b = min(a, b), max(a, b)
        return CheckMemo.stamp(self.blocks.get(a, ""), self.blocks.get(b, ""))

    def _frames(self, item_id: int) -> np.ndarray | None:
        if item_id not in self.frames:
            text = self.prints.get(item_id)
            self.frames[item_id] = (
                fingerprints.frames_of_fingerprint(text) if text else None
            )
        return self.frames[item_id]

    def _hints(self, a: int, b: int) -> list[int]:
        """Likely frame offsets of b against a, from their shared keys."""
        sa, sb = self.sketches.get(a), self.sketches.get(b)
        if sa is None or sb is None:
            return []
        _, ia, ib = np.intersect1d(sa.keys, sb.keys, return_indices=True)
        shifts = (sb.positions[ib] - sa.positions[ia]).tolist()
        return [shift for shift, _ in Counter(shifts).most_common(3)]


class CheckMemo:
    """Sound checks already made, kept in the library database.

    A table of its own (``dedupfuzzy_mirror_checks``), like the move
    journal's: one row per track pair with the similarity found and a stamp
    of both sketches and the match settings, so a recomputed fingerprint
    or changed settings make the row stale. Rows of items that left the
    library are dropped when new rows are saved.
    """

    TABLE = "dedupfuzzy_mirror_checks"

    def __init__(self, lib: Library, match_settings: settings.MatchSettings) -> None:
        self.lib = lib
        self.salt = zlib.crc32(repr(match_settings).encode())
        self.new: dict[tuple[int, int], tuple[int, float]] = {}
        self.known: dict[tuple[int, int], tuple[int, float]] = {}
        try:
            with lib.transaction() as tx:
                rows = tx.query(f"SELECT a, b, stamp, similarity FROM {self.TABLE}")
        except sqlite3.OperationalError:  # no table yet
            rows = []
        for a, b, stamp, similarity in rows:
            self.known[(a, b)] = (stamp, similarity)

    @staticmethod
    def stamp(blocks_a: str, blocks_b: str) -> int:
        return zlib.crc32(f"{blocks_a}\0{blocks_b}".encode())

    def get(self, a: int, b: int, stamp: int) -> float | None:
        key = (min(a, b), max(a, b))
        row = self.new.get(key) or self.known.get(key)
        if row is None or row[0] != stamp ^ self.salt:
            return None
        return row[1]

    def put(self, a: int, b: int, stamp: int, similarity: float) -> None:
        self.new[(min(a, b), max(a, b))] = (stamp ^ self.salt, similarity)

    def save(self) -> None:
        """Write the new answers in one transaction; forget departed items."""
        if not self.new:
            return
        with self.lib.transaction() as tx:
            tx.script(
                f"CREATE TABLE IF NOT EXISTS {self.TABLE} ("
                " a INTEGER NOT NULL, b INTEGER NOT NULL, stamp INTEGER NOT NULL,"
                " similarity REAL NOT NULL, PRIMARY KEY (a, b))"
            )
            tx.mutate_many(
                f"INSERT OR REPLACE INTO {self.TABLE} (a, b, stamp, similarity)"
                " VALUES (?, ?, ?, ?)",
                [(a, b, s, sim) for (a, b), (s, sim) in self.new.items()],
            )
            tx.mutate(
                f"DELETE FROM {self.TABLE} WHERE a NOT IN (SELECT id FROM items)"
                " OR b NOT IN (SELECT id FROM items)"
            )
        self.known.update(self.new)
        self.new = {}


def _sketches(lib: Library, ids: Iterable[int]) -> dict[int, blockindex.Sketch | None]:
    """The whole stored sketches of a few items (with positions and profile)."""
    found: dict[int, blockindex.Sketch | None] = dict.fromkeys(ids)
    wanted = sorted(found)
    with lib.transaction() as tx:
        for start in range(0, len(wanted), _SQL_CHUNK):
            chunk = wanted[start : start + _SQL_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = tx.query(
                "SELECT entity_id, value FROM item_attributes"
                f" WHERE key = ? AND entity_id IN ({marks})",
                (BLOCKS, *chunk),
            )
            found.update((r[0], blockindex.decode_sketch(r[1])) for r in rows)
    return found


def _fingerprints(lib: Library, ids: Iterable[int]) -> dict[int, str]:
    """Stored fingerprints by item id: beets' `acoustid_fingerprint` column,
    else the flexible attribute of that name older plugin versions wrote.
    """
    wanted = sorted(ids)
    found: dict[int, str] = {}
    with lib.transaction() as tx:
        for start in range(0, len(wanted), _SQL_CHUNK):
            chunk = wanted[start : start + _SQL_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = tx.query(
                f"SELECT id, {FINGERPRINT} FROM items WHERE id IN ({marks})", chunk
            )
            found.update((r[0], r[1]) for r in rows if r[1])
            missing = [i for i in chunk if i not in found]
            if not missing:
                continue
            marks = ", ".join("?" * len(missing))
            rows = tx.query(
                "SELECT entity_id, value FROM item_attributes"
                f" WHERE key = ? AND entity_id IN ({marks})",
                (FINGERPRINT, *missing),
            )
            found.update((r[0], r[1]) for r in rows if r[1])
    return found
