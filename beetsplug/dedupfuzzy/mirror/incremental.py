"""A run after a change: plan only the albums the change can reach.

When the stamp's digest differs (albums removed, an item retagged, a file
gone from its folder), the ledger kept with the stamp (``mirror.ledger``)
tells what changed, and only the albums it can reach are read, chosen,
planned and applied; the recorded links of the others stay, checked in
place as an unchanged run checks them.

- An item *changed* when it is new, gone, its row hashes differently (a
  column the template or the keeper reads, its recording, its lossless
  verdict), or its folder's time changed (its file may be gone); those are
  read again.
- An entry is *touched* when it holds, or held, a changed item, or an item
  in a folder whose count of items changed, or above a folder that appeared
  or went (a folder is linked whole only when it holds exactly its album).
- The entries planned are the touched ones, closed under "was one album
  with" (the last run's albums) and "is one album with" (the join rule on
  today's recordings). An entry outside holds the same tracks as before and
  is joined to the same entries, so its album, its copies and its links are
  what the last run made: recordings spanning albums (a compilation sharing
  one song with ten albums) change nothing unless they join.

Anything the ledger cannot vouch for makes it a full run: the options
changed, a view moved, a recorded link is not in place, or so much changed
that a full run costs as little.
"""

from __future__ import annotations

import os
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from beets.library import Library

from ..display import shown
from ..store.catalog import load_verdicts
from .albums import (
    Album,
    FolderCensus,
    Ranker,
    Track,
    desired_views,
    join_entries,
    joined,
)
from .command import MirrorOptions
from .files import real_targets, recordings_of, split_unusable
from .items import PathTemplate
from .ledger import NO_RECORDING, Ledger, join_albums, stored_recording
from .stamp import Changes, FolderTimes, ItemRows, Stamp, recorded_links_intact
from .views import MirrorRun, Territory, check_views, mirror_views

# Past this share of the items changed, or of the entries touched, a full
# run costs about as much (a small library is never past it: its full run
# is cheap, but one code path for every size is easier to trust).
MAX_CHANGED_SHARE = 0.05
MAX_TOUCHED_SHARE = 0.2
ALWAYS_ALLOWED = 1000


@dataclass
class Increment:
    """A run after a change: the run, the items not linked, and the stamp
    to keep (None when the run did not settle).
    """

    run: MirrorRun
    unusable: list[tuple[str, str]]
    stamp: Stamp | None


def run_after_change(
    lib: Library,
    log,
    saved: Stamp,
    rows: ItemRows,
    stamp_of_run: tuple[str, str],
    template: PathTemplate,
    rank: Ranker,
    views: dict[str, str],
    options: MirrorOptions,
) -> Increment | None:
    """Plan and apply only what changed since ``saved``; None when only a
    full run can tell (see the module rules). ``stamp_of_run`` is this run's
    (digest, settings digest).
    """
    fingerprint, settings = stamp_of_run
    ledger = saved.ledger
    if ledger is None or saved.settings != settings:
        log.debug("mirror: a full run (the options changed)")
        return None
    intact = recorded_links_intact(lib, views, saved.links)
    if intact is None:
        log.debug("mirror: a full run (the views are not as recorded)")
        return None
    for line in intact.unreadable:
        log.warning("{}", line)
    change = Changes(ledger, saved, rows)
    if len(change.gone) > _limit(MAX_CHANGED_SHARE, len(rows.ids)):
        log.debug("mirror: a full run ({} items changed)", len(change.gone))
        return None
    times = FolderTimes.start()
    fresh = template.read_some(lib, change.changed)
    fresh_usable, fresh_unusable = split_unusable(fresh, times)
    recordings = recordings_of(lib, [t.id for t in fresh])
    for track in fresh:
        track.recording = recordings.get(track.id)
    state = _State(ledger, change, fresh, fresh_usable)
    libdir = os.fsdecode(lib.directory)
    # As a full run does: no view may lie in or hold a folder of items.
    check_views(views, Territory(libdir=libdir, item_folders=state.census.direct))
    touched = state.closure()
    if len(touched) > _limit(MAX_TOUCHED_SHARE, len(state.entries)):
        log.debug("mirror: a full run ({} entries touched)", len(touched))
        return None
    planned = state.tracks_of(lib, template, touched, fresh_usable)
    albums = join_entries(planned)
    names = {state.entries[e] for e in touched}
    if any(name not in names for album in albums for name in album.names):
        log.debug("mirror: a full run (the albums reach further)")
        return None
    built = desired_views(albums, state.census, template.track_name, rank)
    desired = real_targets(built.desired) if options.relative else built.desired
    unusable = state.unusable(fresh, fresh_unusable)
    for _, (path, reason) in unusable:
        log.warning("mirror: {}: {}, not linked", shown(path), reason)
    log.debug(
        "mirror: {} items changed, {} entries planned ({} albums)",
        len(change.gone),
        len(touched),
        len(albums),
    )
    run = mirror_views(
        lib,
        log,
        views,
        desired,
        relative=options.relative,
        overwrite_symlinks=options.overwrite_symlinks,
        pretend=options.pretend,
        items=built.items,
        scope=names,
        scope_items=state.items_of(touched),
        dangling_roots={libdir, os.path.realpath(libdir), *state.census.direct},
        others_unchanged=True,
    )
    made = None
    if run.settled and times.stampable and not intact.unreadable:
        folders = {
            folder: times.times.get(folder, saved.folders.get(folder, -1))
            for folder in state.census.direct
        }
        new_ledger = state.ledger_after(rows, touched, albums, unusable)
        made = Stamp(
            fingerprint,
            folders,
            [u[1] for u in unusable],
            run.recorded,
            settings,
            new_ledger,
        )
    return Increment(run, [u[1] for u in unusable], made)


def _limit(share: float, count: int) -> float:
    return max(ALWAYS_ALLOWED, share * count)


class _State:
    """Today's library, as far as the touched entries need it: the ledger
    for the items that did not change, the fresh tracks for those that did.
    Entries and folders are indexes into lists that only grow.
    """

    def __init__(
        self,
        ledger: Ledger,
        change: Changes,
        fresh: Sequence[Track],
        fresh_usable: Sequence[Track],
    ) -> None:
        self.ledger, self.change = ledger, change
        self.entries = list(ledger.entries)
        self.entry_index = {e: n for n, e in enumerate(self.entries)}
        self.folders = list(ledger.folders)
        self.folder_index = {f: n for n, f in enumerate(self.folders)}
        self.fresh = {t.id: t for t in fresh}
        usable_ids = {t.id for t in fresh_usable}
        gone = change.gone
        touched: set[int] = set()
        watched = set()  # folders whose items' entries are touched
        for item in gone:
            p = change.position.get(item)
            if p is not None:
                touched.add(ledger.entry[p])
                watched.add(ledger.folder[p])
        self.fresh_entry: dict[int, int] = {}
        self.fresh_folder: dict[int, int] = {}
        for track in fresh:
            entry = self._index(self.entries, self.entry_index, track.entry)
            folder = self._index(self.folders, self.folder_index, track.folder)
            self.fresh_entry[track.id] = entry
            self.fresh_folder[track.id] = folder
            touched.add(entry)
            watched.add(folder)
        # Today's members, recordings (of usable items) and folder counts;
        # one pass over the ledger, so written for speed.
        members: list[list[int]] = [[] for _ in self.entries]
        recordings: list[list[int]] = [[] for _ in self.entries]
        holders: dict[int, list[int]] = {}
        before = Counter(ledger.folder)
        counts = [before.get(n, 0) for n in range(len(self.folders))]
        for item in gone:
            p = change.position.get(item)
            if p is not None:
                counts[ledger.folder[p]] -= 1
        for track in fresh:
            counts[self.fresh_folder[track.id]] += 1
        kept = [
            (item, entry, recording if usable else NO_RECORDING)
            for item, entry, recording, usable in zip(
                ledger.ids, ledger.entry, ledger.recording, ledger.usable, strict=True
            )
            if item not in gone
        ]
        kept += [
            (
                t.id,
                self.fresh_entry[t.id],
                NO_RECORDING
                if t.recording is None or t.id not in usable_ids
                else t.recording,
            )
            for t in fresh
        ]
        for item, entry, recording in kept:
            members[entry].append(item)
            if recording != NO_RECORDING:
                recordings[entry].append(recording)
                held = holders.get(recording)
                if held is None:
                    holders[recording] = [entry]
                elif held[-1] != entry:
                    held.append(entry)
        self.members, self.recordings, self.holders = members, recordings, holders
        self.census = FolderCensus.of_counts(
            {self.folders[f]: n for f, n in enumerate(counts) if n}
        )
        # A folder that appeared or went changes what its parents hold.
        for folder in list(watched):
            if (before.get(folder, 0) > 0) != (counts[folder] > 0):
                parent = os.path.dirname(self.folders[folder])
                while parent != os.path.dirname(parent):
                    if parent in self.folder_index:
                        watched.add(self.folder_index[parent])
                    parent = os.path.dirname(parent)
        for item, entry, folder in zip(
            ledger.ids, ledger.entry, ledger.folder, strict=True
        ):
            if folder in watched and item not in gone:
                touched.add(entry)
        for item, folder in self.fresh_folder.items():
            if folder in watched:
                touched.add(self.fresh_entry[item])
        self.touched = touched

    @staticmethod
    def _index(names: list[str], index: dict[str, int], name: str) -> int:
        found = index.get(name)
        if found is None:
            found = index[name] = len(names)
            names.append(name)
        return found

    def closure(self) -> set[int]:
        """The touched entries with every entry that was, or is, one album
        with one of them.
        """
        old = self.ledger.album
        mates: dict[int, list[int]] = {}
        for entry, named in enumerate(old):
            mates.setdefault(named, []).append(entry)
        sets: dict[int, set[int]] = {}

        def recordings(entry: int) -> set[int]:
            found = sets.get(entry)
            if found is None:
                found = sets[entry] = set(self.recordings[entry])
            return found

        done = set(self.touched)
        pending = list(done)
        while pending:
            entry = pending.pop()
            near = set(mates.get(old[entry], ())) if entry < len(old) else set()
            mine = recordings(entry)
            for recording in mine:
                near.update(self.holders.get(recording, ()))
            for other in near - done:
                theirs = recordings(other)
                was_one = entry < len(old) and other < len(old)
                if (was_one and old[other] == old[entry]) or joined(
                    len(mine & theirs), len(mine), len(theirs)
                ):
                    done.add(other)
                    pending.append(other)
        return done

    def tracks_of(
        self,
        lib: Library,
        template: PathTemplate,
        touched: set[int],
        fresh_usable: Sequence[Track],
    ) -> list[Track]:
        """The usable tracks of the touched entries, as a full run has them."""
        wanted = {item for e in touched for item in self.members[e]}
        fresh_ids = {t.id for t in fresh_usable}
        ledger, position = self.ledger, self.change.position
        read = [i for i in wanted if i not in self.fresh and ledger.usable[position[i]]]
        tracks = template.read_some(lib, read)
        for track in tracks:
            recording = ledger.recording[position[track.id]]
            track.recording = None if recording == NO_RECORDING else recording
        tracks += [t for t in fresh_usable if t.id in wanted and t.id in fresh_ids]
        verdicts = load_verdicts(lib)
        for track in tracks:
            if track.id in verdicts:
                track.lossless, track.likely_source = verdicts[track.id]
        return tracks

    def items_of(self, touched: set[int]) -> set[int]:
        """The items the touched entries hold and held."""
        found = {item for e in touched for item in self.members[e]}
        found.update(
            item
            for item, entry in zip(self.ledger.ids, self.ledger.entry, strict=True)
            if entry in touched
        )
        return found

    def unusable(
        self, fresh: Sequence[Track], fresh_unusable: Sequence[tuple[str, str]]
    ) -> list[tuple[int, tuple[str, str]]]:
        """(item, (path, reason)) of every item not linked, by item."""
        gone = self.change.gone
        found = [(i, u) for i, u in self.ledger.unusable.items() if i not in gone]
        by_path = {t.path: t.id for t in fresh}
        found += [(by_path[path], (path, why)) for path, why in fresh_unusable]
        return sorted(found)

    def ledger_after(
        self,
        rows: ItemRows,
        touched: set[int],
        albums: Sequence[Album],
        unusable: Sequence[tuple[int, tuple[str, str]]],
    ) -> Ledger | None:
        """The ledger of today's library, once this run settled: the last
        one without the items gone, in its order, then the changed items.
        """
        ledger, position = self.ledger, self.change.position
        cuts = sorted(position[i] for i in self.change.gone if i in position)

        def kept(values: array) -> array:
            out, start = array(values.typecode), 0
            for cut in cuts:
                out += values[start:cut]
                start = cut + 1
            out += values[start:]
            return out

        ids, hashes = kept(ledger.ids), kept(ledger.hashes)
        entry, folder = kept(ledger.entry), kept(ledger.folder)
        recording, usable = kept(ledger.recording), kept(ledger.usable)
        unusable_ids = {i for i, _ in unusable}
        row_hashes = rows.hashes()
        for item in sorted(self.fresh):
            number = stored_recording(self.fresh[item].recording)
            if number is None:
                return None
            ids.append(item)
            hashes.append(row_hashes[bisect_left(rows.ids, item)])
            entry.append(self.fresh_entry[item])
            folder.append(self.fresh_folder[item])
            recording.append(number)
            usable.append(0 if item in unusable_ids else 1)
        album = list(ledger.album) + list(range(len(ledger.album), len(self.entries)))
        for e in touched:
            album[e] = e
        album = join_albums(album, self.entry_index, albums)
        return Ledger(
            ids,
            hashes,
            entry,
            folder,
            recording,
            usable,
            self.entries,
            self.folders,
            album,
            dict(unusable),
        )
