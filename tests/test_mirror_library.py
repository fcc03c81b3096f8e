"""`beet mirror` in library mode, end to end on real audio, links and a real library.

The library holds four albums made from the generated corpus (two songs
each): "Window Gold" in FLAC and in MP3 under one name, "Radio Days" only in
FLAC, "Night Drive" only in MP3, and the Metropole pair: the same two
recordings as a FLAC album "Metropole" and an MP3 album "[2014] Metropole",
which only their fingerprints can join. The unit tests at the end cover the
pure rules of ``mirror_albums`` on plain data.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from beets.library import Item, Library
from conftest import BeetEnv, assert_link, links

from beetsplug.dedupfuzzy.mirror.albums import (
    Copy,
    FolderCensus,
    SketchPostings,
    Track,
    candidate_copies,
    desired_views,
    group_copies,
    merge_albums,
    shared_key_pairs,
)
from beetsplug.dedupfuzzy.mirror.items import PathTemplate

CAFE = "Café Tides"
GLASS = "The Glass Engines"
GOLD_FLAC = f"flac/{CAFE}/Window Gold"
GOLD_MP3 = f"mp3/{CAFE}/[1993] Window Gold"
METRO_FLAC = f"flac/{GLASS}/Garden Winter"
METRO_MP3 = f"mp3/{GLASS}/[2013] Garden Winter"
RADIO_FLAC = f"flac/{CAFE}/Singles"
RADIO_MP3 = f"mp3/{GLASS}/Singles"

# corpus variant and song numbers -> the album tags they get in the library
ALBUMS = {
    ("master", (1, 2)): (CAFE, "Window Gold"),
    ("mp3-320", (1, 2)): (CAFE, "Window Gold"),
    ("master", (3, 4)): (GLASS, "Metropole"),
    ("mp3-320", (3, 4)): (GLASS, "[2014] Metropole"),
    ("radio-edit", (1, 2)): (CAFE, "Radio Days"),
    ("radio-edit-mp3", (3, 4)): (GLASS, "Night Drive"),
}


@pytest.fixture(scope="module")
def album_template(tmp_path_factory, corpus) -> Path:
    """The four-album library, imported as is, tagged and fingerprinted."""
    root = tmp_path_factory.mktemp("albums")
    env = BeetEnv(root)
    # The import hook is not what this file tests; beet dedupfuzzy below
    # fingerprints everything at once.
    env.write_config("dedupfuzzy:\n    auto: no\n")
    for (variant, songs), (artist, album) in ALBUMS.items():
        picked = [e for e in corpus.entries if e.variant == variant and e.song in songs]
        assert len(picked) == 2
        for entry in picked:
            target = env.libdir / entry.relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(corpus.path(entry), target)
        folder = env.libdir / Path(picked[0].relpath).parent
        env.run("import", "-A", "-s", "-C", "-q", str(folder))
        env.run(
            "modify", "-y", "-W", "-M", f"path:{folder}",
            f"album={album}", f"albumartist={artist}", f"artist={artist}",
        )  # fmt: skip
    env.run("dedupfuzzy")
    return root


class Mirror:
    """A private copy of the four-album library with both views configured."""

    def __init__(self, root: Path, extra: str = "") -> None:
        self.beet = BeetEnv(root)
        self.high = root / "views" / "high"
        self.low = root / "views" / "low"
        self.quarantine = root / "quarantine"
        self.configure(extra)

    def configure(self, extra: str = "") -> None:
        self.beet.write_config(
            f"""\
            mirror:
                high: {self.high}
                low: {self.low}
            """
            + extra
        )

    def lib(self, rel: str) -> Path:
        return self.beet.libdir / rel

    def run(self, *args: str, check: bool = True):
        return self.beet.run("mirror", "--depth", "2", *args, check=check)


@pytest.fixture
def mirror(tmp_path: Path, album_template: Path) -> Mirror:
    root = tmp_path / "lib"
    shutil.copytree(album_template, root, symlinks=True)
    return Mirror(root)


def inodes(view: Path) -> dict[str, int]:
    return {rel: os.lstat(view / rel).st_ino for rel in links(view)}


def test_every_album_once_per_view_each_from_the_right_format(mirror: Mirror):
    out = mirror.run().stdout

    assert links(mirror.high) == {
        f"{CAFE}/Window Gold": str(mirror.lib(GOLD_FLAC)),
        f"{CAFE}/Radio Days": str(mirror.lib(RADIO_FLAC)),
        f"{GLASS}/Metropole": str(mirror.lib(METRO_FLAC)),
        f"{GLASS}/Night Drive": str(mirror.lib(RADIO_MP3)),
    }
    assert links(mirror.low) == {
        f"{CAFE}/Window Gold": str(mirror.lib(GOLD_MP3)),
        f"{CAFE}/Radio Days": str(mirror.lib(RADIO_FLAC)),
        f"{GLASS}/Metropole": str(mirror.lib(METRO_MP3)),
        f"{GLASS}/Night Drive": str(mirror.lib(RADIO_MP3)),
    }
    assert_link(mirror.low / GLASS / "Metropole", mirror.lib(METRO_MP3))
    assert sorted(os.listdir(mirror.low / GLASS / "Metropole")) == [
        "01 - rain shadow avenue.mp3",
        "02 - city window river.mp3",
    ]
    assert (mirror.high / CAFE).is_dir() and not (mirror.high / CAFE).is_symlink()
    assert "8 created, 0 replaced, 0 removed" in out


def test_a_rerun_changes_nothing(mirror: Mirror):
    mirror.run()
    before = {view: inodes(view) for view in (mirror.high, mirror.low)}

    out = mirror.run().stdout

    assert "0 created, 0 replaced, 0 removed, 8 unchanged, 0 conflicts" in out
    assert {view: inodes(view) for view in (mirror.high, mirror.low)} == before


def test_without_fingerprints_differently_named_copies_stay_apart(mirror: Mirror):
    mirror.beet.run(
        "modify", "-y", "-W", "-M", "dedupfuzzy_blocks::.", "dedupfuzzy_blocks!"
    )

    mirror.run()

    assert set(links(mirror.high)) == {
        f"{CAFE}/Window Gold",
        f"{CAFE}/Radio Days",
        f"{GLASS}/Metropole",
        f"{GLASS}/[2014] Metropole",
        f"{GLASS}/Night Drive",
    }


def test_an_album_removed_from_the_library_leaves_both_views(mirror: Mirror):
    mirror.run()

    mirror.beet.run("remove", "-f", "album:Radio Days")
    out = mirror.run().stdout

    for view in (mirror.high, mirror.low):
        assert not (view / CAFE / "Radio Days").is_symlink()
        assert (view / CAFE / "Window Gold").is_symlink()
    assert "2 removed" in out
    assert len(os.listdir(mirror.lib(RADIO_FLAC))) == 2  # the files stay


def test_auto_refresh_follows_dedupfuzzy_moves_and_undo(mirror: Mirror):
    mirror.configure("    auto: yes\n")
    mirror.run()
    high = inodes(mirror.high)

    out = mirror.beet.run("dedupfuzzy", "-m", str(mirror.quarantine)).stdout

    assert "0 created, 2 replaced, 0 removed, 6 unchanged" in out
    assert_link(mirror.low / CAFE / "Window Gold", mirror.lib(GOLD_FLAC))
    assert_link(mirror.low / GLASS / "Metropole", mirror.lib(METRO_FLAC))
    assert_link(mirror.low / GLASS / "Night Drive", mirror.lib(RADIO_MP3))
    assert inodes(mirror.high) == high

    out = mirror.beet.run("dedupfuzzy", "--undo").stdout

    assert "0 created, 2 replaced, 0 removed, 6 unchanged" in out
    assert_link(mirror.low / CAFE / "Window Gold", mirror.lib(GOLD_MP3))
    assert_link(mirror.low / GLASS / "Metropole", mirror.lib(METRO_MP3))
    assert inodes(mirror.high) == high


def test_a_failed_auto_refresh_is_a_warning_after_the_move(mirror: Mirror):
    mirror.configure("    auto: yes\n")
    mirror.high.parent.mkdir(parents=True)
    mirror.high.write_text("not a folder")

    proc = mirror.beet.run("dedupfuzzy", "-m", str(mirror.quarantine))

    assert "moved 4 file(s)" in proc.stdout
    assert "the mirror views were not refreshed" in proc.stderr
    assert "is a file, not a folder" in proc.stderr
    assert mirror.high.read_text() == "not a folder"


def test_without_auto_dedupfuzzy_leaves_the_views_alone(mirror: Mirror):
    mirror.run()
    low = links(mirror.low)

    out = mirror.beet.run("dedupfuzzy", "-m", str(mirror.quarantine)).stdout

    assert "mirror:" not in out
    assert links(mirror.low) == low


def test_auto_refresh_after_an_import(mirror: Mirror, corpus):
    mirror.configure("    auto: yes\n")
    mirror.run()
    folder = mirror.lib(f"flac/{CAFE}/Window Gold (Instrumentals)")
    folder.mkdir(parents=True)
    for entry in corpus.entries:
        if entry.variant != "instrumental" or entry.song not in (1, 2):
            continue
        shutil.copy2(corpus.path(entry), folder)

    out = mirror.beet.run("import", "-A", "-s", "-C", "-q", str(folder)).stdout

    assert "2 created, 0 replaced, 0 removed, 8 unchanged" in out
    # Same material, same lengths, but other recordings: not joined.
    assert_link(mirror.high / CAFE / "Window Gold (Instrumentals)", folder)
    assert_link(mirror.low / CAFE / "Window Gold", mirror.lib(GOLD_MP3))


def test_a_folder_shared_with_other_items_becomes_per_track_links(mirror: Mirror):
    # Retag one FLAC track: its folder now holds two albums' tracks.
    track = mirror.lib(f"{GOLD_FLAC}/02 Window night.flac")
    mirror.beet.run("modify", "-y", "-W", "-M", f"path:{track}", "album=Other")

    mirror.run()

    gold = mirror.high / CAFE / "Window Gold"
    assert gold.is_dir() and not gold.is_symlink()
    assert_link(
        gold / "01 Light mirror.flac", mirror.lib(f"{GOLD_FLAC}/01 Light mirror.flac")
    )
    assert_link(mirror.high / CAFE / "Other" / "02 Window night.flac", track)
    # The MP3 copy still fills its folder alone: one folder link.
    assert_link(mirror.low / CAFE / "Window Gold", mirror.lib(GOLD_MP3))


def test_a_slash_in_a_name_does_not_make_a_folder(mirror: Mirror):
    mirror.beet.run(
        "modify", "-y", "-W", "-M", f"path:{mirror.lib(RADIO_FLAC)}", "album=Live/Dub"
    )

    mirror.run()

    assert_link(mirror.high / CAFE / "Live_Dub", mirror.lib(RADIO_FLAC))


def test_a_query_narrows_the_items(mirror: Mirror):
    mirror.run()

    mirror.run(f"albumartist:{GLASS}")

    assert set(links(mirror.high)) == {f"{GLASS}/Metropole", f"{GLASS}/Night Drive"}


def test_the_path_template_and_depth_decide_the_entries(mirror: Mirror):
    mirror.run("--path", "%upper{$album}/$track $title", "--depth", "1")

    assert links(mirror.high)["METROPOLE"] == str(mirror.lib(METRO_FLAC))
    assert links(mirror.low)["METROPOLE"] == str(mirror.lib(METRO_MP3))


def test_entries_at_track_depth_link_files(mirror: Mirror):
    mirror.run("--depth", "3", "album:Metropole")

    assert links(mirror.high) == {
        f"{GLASS}/Metropole/01 Rain shadow avenue.flac": str(
            mirror.lib(f"{METRO_FLAC}/01 Rain shadow avenue.flac")
        ),
        f"{GLASS}/Metropole/02 City window river.flac": str(
            mirror.lib(f"{METRO_FLAC}/02 City window river.flac")
        ),
    }


def test_a_template_needing_items_gives_the_same_views(mirror: Mirror):
    # One track in a folder of its own gets per-track links, so the file
    # names are compared too.
    track = mirror.lib(f"{GOLD_FLAC}/02 Window night.flac")
    mirror.beet.run("modify", "-y", "-W", "-M", f"path:{track}", "album=Other")
    mirror.run()
    slow = mirror.beet.root / "slow"

    # $singleton is computed, so the items are read through beets.
    mirror.run(
        "--path",
        "$albumartist/%if{$singleton,$album,$album}/$track $title",
        "--high",
        str(slow / "high"),
        "--low",
        str(slow / "low"),
    )

    assert links(slow / "high") == links(mirror.high)
    assert links(slow / "low") == links(mirror.low)
    assert f"{CAFE}/Other/02 Window night.flac" in links(mirror.high)


def test_pretend_creates_nothing(mirror: Mirror):
    out = mirror.run("--pretend").stdout

    assert f"create high:{GLASS}/Metropole -> {mirror.lib(METRO_FLAC)}" in out
    assert not mirror.high.exists()


def test_relative_links_resolve(mirror: Mirror):
    mirror.run("--relative")

    link = mirror.low / GLASS / "Metropole"
    assert not os.readlink(link).startswith("/")
    assert link.resolve() == mirror.lib(METRO_MP3).resolve()


def test_no_view_configured_is_one_clear_line(beet: BeetEnv):
    proc = beet.run("mirror", check=False)

    assert proc.returncode != 0
    assert "no views configured" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_empty_library_makes_empty_views(beet: BeetEnv):
    out = beet.run("mirror", "--high", str(beet.root / "high")).stdout

    assert "0 created" in out


def test_entries_are_named_as_beets_names_folders(tmp_path: Path):
    """The SQL path evaluates the template exactly as `Item.destination` does."""
    lib = Library(str(tmp_path / "lib.db"), str(tmp_path / "music"))
    odd_names = [
        ("AC/DC", "Live: at the *Bowl*?", "  Spaced  "),
        ("", ".hidden", "Trailing."),
        ("Björk", "Homogenic", "Jóga"),
        ("Artist", "x" * 300, "Long"),
    ]
    for n, (albumartist, album, title) in enumerate(odd_names):
        item = Item(
            path=str(tmp_path / "music" / f"{n}.flac"),
            albumartist=albumartist,
            artist="Fallback Artist",
            album=album,
            title=title,
            track=n + 1,
            format="FLAC",
        )
        lib.add(item)
    in_album = Item(
        path=str(tmp_path / "music" / "a.mp3"),
        albumartist="Item Artist",
        album="Item Album",
        title="T",
        format="MP3",
    )
    lib.add(in_album)
    album = lib.add_album([in_album])
    album.albumartist = "Album Artist"
    album.store(inherit=False)
    template_text = "$albumartist/$album/$track $title"
    template = PathTemplate(template_text, 2, lib)
    assert template.fast

    tracks, _ = template.read(lib, ())

    for track in tracks:
        item = lib.get_item(track.id)
        wanted = item.destination(
            relative_to_libdir=True, path_formats=[("default", template_text)]
        )
        parts = os.fsdecode(wanted).split(os.sep)
        assert track.entry == os.sep.join(parts[:2])
        assert os.path.join(track.entry, template.track_name(track)) == (
            os.fsdecode(wanted)
        )
    entries = {t.entry for t in tracks}
    assert "Album Artist/Item Album" in entries
    assert "AC_DC/Live_ at the _Bowl__" in entries


# --- The pure rules, on plain data ------------------------------------------


def track(
    id: int, folder: str, entry: str, fmt: str = "FLAC", name: str = "", **kw
) -> Track:
    lossless = fmt == "FLAC"
    ext = ".flac" if lossless else ".mp3"
    name = name or f"{id:02d} t"
    return Track(
        id=id,
        path=f"/lib/{folder}/{name}{ext}",
        folder=f"/lib/{folder}",
        album_id=kw.get("album_id"),
        format=fmt,
        quality=(1, 16, 44100, 900) if lossless else (0, 0, kw.get("bitrate", 320), 0),
        length=kw.get("length", 200.0),
        entry=entry,
        whole=False,
        ext=ext,
        source=name,
    )


def album_of(n: int, folder: str, entry: str, fmt: str = "FLAC", first: int = 1):
    return [track(first + i, folder, entry, fmt) for i in range(n)]


def test_copies_rank_lossless_first_and_low_takes_the_best_lossy():
    tracks = (
        album_of(3, "mp3/a", "A/X", "MP3", first=1)
        + album_of(3, "flac/a", "A/X", "FLAC", first=11)
        + [track(21 + i, "mp3/b", "A/X", "MP3", bitrate=128) for i in range(3)]
    )
    copies = group_copies(tracks)["A/X"]
    albums, _ = merge_albums({"A/X": copies}, [], lambda pair: True)

    assert albums[0].high.folder == "/lib/flac/a"
    assert albums[0].low.folder == "/lib/mp3/a"


def test_most_of_the_larger_copy_must_match():
    album = album_of(10, "flac/album", "A/Album")
    single = album_of(1, "mp3/single", "A/Single", "MP3", first=101)
    half = album_of(5, "mp3/half", "A/Half", "MP3", first=201)
    most = album_of(8, "mp3/most", "A/Most", "MP3", first=301)
    pairs = {(1, 101): 40}
    pairs.update({(i, 200 + i): 40 for i in range(1, 6)})
    pairs.update({(i, 300 + i): 40 for i in range(1, 9)})

    [candidate] = candidate_copies(group_copies(album + single + half + most), pairs)

    assert candidate.second.entry == "A/Most"
    assert candidate.checks == [(1, 301), (2, 302), (3, 303)]


def test_merged_albums_are_named_after_their_best_copy_and_checked_once():
    flac = album_of(2, "flac/m", "A/Metropole", "FLAC", first=1)
    mp3 = album_of(2, "mp3/m", "A/[2014] Metropole", "MP3", first=11)
    aac = album_of(2, "aac/m", "A/Metropole (Deluxe)", "AAC", first=21)
    copies = group_copies(flac + mp3 + aac)
    pairs = {(1, 11): 40, (2, 12): 40, (1, 21): 30, (2, 22): 30, (11, 21): 30}
    pairs[(12, 22)] = 30
    asked = []

    def same(pair) -> bool:
        asked.append(pair)
        return True

    albums, merged = merge_albums(copies, candidate_copies(copies, pairs), same)

    assert [a.rel for a in albums] == ["A/Metropole"]
    assert merged == 2 and len(asked) == 2
    assert albums[0].names == [
        "A/Metropole",
        "A/Metropole (Deluxe)",
        "A/[2014] Metropole",
    ]


def test_a_refused_check_keeps_albums_apart():
    copies = group_copies(album_of(2, "f", "A/X") + album_of(2, "m", "A/Y", "MP3", 11))
    candidates = candidate_copies(copies, {(1, 11): 9, (2, 12): 9})

    albums, merged = merge_albums(copies, candidates, lambda pair: False)

    assert [a.rel for a in albums] == ["A/X", "A/Y"] and merged == 0


def test_shared_key_pairs_skip_one_entry_and_disagreeing_lengths():
    tracks = [
        track(1, "f", "A/X"),
        track(2, "m", "A/X", "MP3"),
        track(3, "m2", "A/Y", "MP3"),
        track(4, "m3", "A/Z", "MP3", length=260.0),
    ]
    keys = np.arange(48, dtype=np.uint32)
    postings = SketchPostings(
        tracks, np.repeat(np.arange(4), 48), np.tile(keys, 4), sketched=4
    )

    assert shared_key_pairs(postings, 5.0) == {(1, 3): 48, (2, 3): 48}


def test_a_folder_holding_more_than_the_copy_gets_per_track_links():
    gold = album_of(2, "flac/gold", "A/Gold")
    other = [track(9, "flac/gold", "A/Other")]
    nested = album_of(2, "flac/box", "A/Box", first=21)
    inner = [track(30, "flac/box/cd2", "A/Box2")]
    tracks = gold + other + nested + inner
    copies = group_copies(tracks)
    albums, _ = merge_albums(copies, [], lambda pair: True)
    census = FolderCensus(t.path for t in tracks)

    views = desired_views(albums, census, lambda t: t.source + t.ext)

    assert views.high["A/Gold/01 t.flac"] == "/lib/flac/gold/01 t.flac"
    assert views.high["A/Other/09 t.flac"] == "/lib/flac/gold/09 t.flac"
    assert "A/Box/21 t.flac" in views.high
    assert views.high["A/Box2"] == "/lib/flac/box/cd2"


def test_two_tracks_of_one_name_are_told_apart():
    tracks = [track(1, "f", "A/X", name="01 t"), track(2, "f", "A/X", name="01 t")]
    tracks[1] = replace(tracks[1], path="/lib/f/01 tz.flac")
    copies = group_copies(tracks + [track(3, "f", "A/Y")])
    albums, _ = merge_albums(copies, [], lambda pair: True)
    census = FolderCensus(t.path for t in tracks + [track(3, "f", "A/Y")])

    views = desired_views(albums, census, lambda t: t.source + t.ext)

    assert views.high["A/X/01 t.flac"] == "/lib/f/01 t.flac"
    assert views.high["A/X/01 t.1.flac"] == "/lib/f/01 tz.flac"


def test_copy_quality_is_the_median_track():
    copy = Copy(
        "A/X",
        [track(1, "f", "A/X", "MP3", bitrate=b) for b in (320, 128, 320)],
    )

    assert copy.quality == (0, 0, 320, 0)
