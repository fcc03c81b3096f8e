"""LibraryIndex: one new item against the library, on real fingerprints."""

from __future__ import annotations

from pathlib import Path

import pytest
from beets.library import Item, Library

from beetsplug.dedupfuzzy.fingerprinting import refresh as fingerprints
from beetsplug.dedupfuzzy.fingerprinting.fpcalc import fingerprint_files
from beetsplug.dedupfuzzy.importing import verdicts
from beetsplug.dedupfuzzy.matching import blockindex
from beetsplug.dedupfuzzy.matching import libraryindex as importmatch
from beetsplug.dedupfuzzy.settings import MatchSettings
from beetsplug.dedupfuzzy.store import catalog, fields
from beetsplug.dedupfuzzy.store.fields import Row

SETTINGS = MatchSettings()

# (song, variant) -> format, bitrate, bitdepth of the file as beets reads it
USED = {
    (1, "master"): ("FLAC", 900_000, 16),
    (1, "radio-edit"): ("FLAC", 900_000, 16),
    (2, "master"): ("FLAC", 900_000, 16),
    (2, "mp3-v0"): ("MP3", 245_000, 0),
    (3, "master"): ("FLAC", 900_000, 16),
    (4, "master"): ("FLAC", 900_000, 16),
    (4, "mp3-128"): ("MP3", 128_000, 0),
}


@pytest.fixture(scope="session")
def prints(corpus) -> dict[tuple[int, str], tuple[Path, str, float]]:
    """Path, fingerprint and length of the corpus files these tests use."""
    paths = {
        key: corpus.path(next(e for e in corpus.entries if (e.song, e.variant) == key))
        for key in USED
    }
    by_path = {
        r.path: r for r in fingerprint_files([bytes(p) for p in paths.values()], 2)
    }
    out = {}
    for key, p in paths.items():
        result = by_path[bytes(p)]
        assert result.ok, result.error
        out[key] = (p, result.fingerprint, result.duration)
    return out


def row_of(item_id: int, key, prints, with_fingerprint: bool = True) -> Row:
    path, fingerprint, length = prints[key]
    fmt, bitrate, bitdepth = USED[key]
    return Row(
        id=item_id,
        path=bytes(path),
        length=length,
        format=fmt,
        bitrate=bitrate,
        bitdepth=bitdepth,
        samplerate=44100,
        mtime=0.0,
        fingerprint=fingerprint if with_fingerprint else "",
    )


def make_library(tmp_path: Path, prints, keys, in_column=()) -> dict:
    """A beets library holding the given corpus files, fingerprinted.

    Fingerprints go where `beet dedupfuzzy` puts them (flexible attributes
    with a sketch), or for `in_column` keys only into beets' own
    `acoustid_fingerprint` column, as the chroma plugin leaves them.
    """
    lib = Library(str(tmp_path / "library.db"), str(tmp_path))
    ids = {}
    writes = []
    for key in keys:
        path, fingerprint, length = prints[key]
        fmt, bitrate, bitdepth = USED[key]
        item = Item(
            path=bytes(path),
            length=length,
            format=fmt,
            bitrate=bitrate,
            bitdepth=bitdepth,
            samplerate=44100,
        )
        if key in in_column:
            item.acoustid_fingerprint = fingerprint
        lib.add(item)
        ids[key] = item.id
        if key not in in_column:
            frames = fingerprints.frames_of_fingerprint(fingerprint)
            blocks = blockindex.encode_sketch(fingerprints.sketch_of(frames))
            writes += [
                (item.id, fields.FINGERPRINT, fingerprint),
                (item.id, fields.BLOCKS, blocks),
            ]
    catalog.store_flex(lib, writes)
    return {"lib": lib, "ids": ids}


LIBRARY = [(1, "master"), (2, "master"), (3, "master")]


def test_finds_a_transcode_among_library_rows(tmp_path, prints):
    made = make_library(tmp_path, prints, LIBRARY)
    index = importmatch.LibraryIndex.load(made["lib"], SETTINGS)
    found = index.match_row(row_of(1000, (2, "mp3-v0"), prints))
    assert [m.b for m in found] == [made["ids"][(2, "master")]]
    assert found[0].a == 1000
    assert found[0].similarity >= SETTINGS.auto_threshold


def test_other_songs_and_a_radio_edit_do_not_match(tmp_path, prints):
    made = make_library(tmp_path, prints, LIBRARY)
    index = importmatch.LibraryIndex.load(made["lib"], SETTINGS)
    assert index.match_row(row_of(1000, (4, "master"), prints)) == []
    # Same opening as the album version, but a different length.
    assert index.match_row(row_of(1001, (1, "radio-edit"), prints)) == []


def test_exclude_leaves_out_the_item_itself(tmp_path, prints):
    made = make_library(tmp_path, prints, LIBRARY)
    index = importmatch.LibraryIndex.load(made["lib"], SETTINGS)
    me = made["ids"][(2, "master")]
    assert index.match_row(row_of(me, (2, "master"), prints), exclude={me}) == []


def test_added_items_match_later_items_of_the_same_import(tmp_path, prints):
    made = make_library(tmp_path, prints, LIBRARY)
    index = importmatch.LibraryIndex.load(made["lib"], SETTINGS)
    first = row_of(1000, (4, "master"), prints)
    first.blocks = blockindex.encode_sketch(
        fingerprints.sketch_of(fingerprints.frames_of_fingerprint(first.fingerprint))
    )
    assert index.match_row(first) == []
    index.add(first)
    found = index.match_row(row_of(1001, (4, "mp3-128"), prints))
    assert [(m.a, m.b) for m in found] == [(1001, 1000)]
    index.discard(1000)
    assert index.match_row(row_of(1002, (4, "mp3-128"), prints)) == []


def test_a_fingerprint_only_in_beets_column_is_used(tmp_path, prints):
    made = make_library(tmp_path, prints, LIBRARY, in_column={(2, "master")})
    index = importmatch.LibraryIndex.load(made["lib"], SETTINGS)
    assert index.unfingerprinted == 0
    found = index.match_row(row_of(1000, (2, "mp3-v0"), prints))
    assert [m.b for m in found] == [made["ids"][(2, "master")]]
    # The sketch was stored, so the next import need not decode it again.
    assert catalog.load_rows(made["lib"], [made["ids"][(2, "master")]])[0].blocks


def test_upto_id_leaves_out_items_added_after(tmp_path, prints):
    made = make_library(tmp_path, prints, [*LIBRARY, (2, "mp3-v0")])
    index = importmatch.LibraryIndex.load(
        made["lib"], SETTINGS, upto_id=made["ids"][(3, "master")]
    )
    assert len(index) == 3


# Deciding.


def copy(item_id: int, fmt: str, bitrate: int, bitdepth: int = 0) -> Row:
    return Row(
        item_id, f"/m/{item_id}".encode(), 48.0, fmt, bitrate, bitdepth, 44100, 0
    )


def test_best_keeps_the_lossless_copy_wherever_it_is():
    flac, mp3 = copy(1, "FLAC", 900_000, 16), copy(2, "MP3", 320_000)
    assert verdicts.best_verdict(flac, [mp3], "best") == verdicts.Verdict(leaving=(2,))
    assert verdicts.best_verdict(mp3, [flac], "best").new_leaves


def test_best_of_each_keeps_a_lossless_and_a_lossy_copy():
    flac, mp3 = copy(1, "FLAC", 900_000, 16), copy(2, "MP3", 320_000)
    assert verdicts.best_verdict(mp3, [flac], "best-of-each").keeps_all
    worse = copy(3, "MP3", 128_000)
    assert verdicts.best_verdict(worse, [flac, mp3], "best-of-each").new_leaves


def test_between_equal_copies_the_one_in_the_library_stays():
    new, old = copy(1, "MP3", 320_000), copy(2, "MP3", 320_000)
    assert verdicts.best_verdict(new, [old], "best").new_leaves
    assert verdicts.library_has_as_good(new, [old], "best")
    better = copy(3, "MP3", 321_000)
    assert not verdicts.library_has_as_good(better, [old], "best")
