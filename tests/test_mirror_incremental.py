"""`beet mirror` after a change: only what changed is planned, end to end.

The in-place library of ``test_mirror_library``; its music folders are aged
so that a settled run leaves a stamp and the next run can use it. Every run
after a change is compared, link by link, with a full run made from a copy
of the library into fresh view folders: the runs must agree exactly.
"""

# ruff: noqa: F811  (the fixtures come from test_mirror_library)

from __future__ import annotations

import os
import shutil
import sqlite3
import textwrap
from pathlib import Path

from conftest import BeetEnv, assert_link, links
from test_mirror_library import (  # noqa: F401
    CAFE,
    GLASS,
    METRO_FLAC,
    METRO_MP3,
    RADIO_FLAC,
    UNCHANGED,
    Mirror,
    age_music,
    album_template,
    expected_high,
    expected_low,
    inodes,
    mirror,
)

INCREMENTAL = "items changed"


def said(out, text: str) -> bool:
    return text in out.stdout + out.stderr


def full_rebuild(m: Mirror) -> tuple[dict[str, str], dict[str, str]]:
    """The views a full run makes of the library as it is now: a copy of
    its DB without the mirror's record or stamp, mirrored into fresh folders.
    """
    fresh = BeetEnv(m.beet.root / "fresh")
    fresh.write_config(
        f"mirror:\n    high: {fresh.root / 'high'}\n    low: {fresh.root / 'low'}\n"
    )
    shutil.copy(m.beet.dbpath, fresh.dbpath)
    with sqlite3.connect(fresh.dbpath) as db:
        db.execute("DELETE FROM dedupfuzzy_links")
        db.execute("DROP TABLE IF EXISTS dedupfuzzy_mirror_stamp")
    out = fresh.run("-v", "mirror", "--depth", "2")
    assert not said(out, INCREMENTAL) and not said(out, UNCHANGED)
    return links(fresh.root / "high"), links(fresh.root / "low")


def settled(m: Mirror) -> None:
    """A first run that leaves a stamp."""
    age_music(m)
    m.run()


def test_after_an_album_is_removed_only_its_links_are_planned(mirror: Mirror):
    settled(mirror)
    glass = {view: inodes(view / GLASS) for view in (mirror.high, mirror.low)}

    mirror.beet.run("remove", "-f", "album:Radio Days")
    out = mirror.beet.run("-v", "mirror", "--depth", "2")

    assert said(out, INCREMENTAL) and not said(out, UNCHANGED)
    assert "0 created, 0 replaced, 2 removed, 10 unchanged" in out.stdout
    assert links(mirror.high) == {
        k: v for k, v in expected_high(mirror).items() if "Radio Days" not in k
    }
    assert (links(mirror.high), links(mirror.low)) == full_rebuild(mirror)
    # The albums the change did not reach: the very same links.
    assert {view: inodes(view / GLASS) for view in (mirror.high, mirror.low)} == glass


def test_a_removed_copy_changes_the_album_it_was_joined_to(mirror: Mirror):
    # "Metropole" (FLAC) and "[2014] Metropole" (MP3) share two recordings
    # and are one album named after the FLAC copy. The MP3 entry holds no
    # removed item, yet its links move: it is its own album now.
    settled(mirror)

    mirror.beet.run("remove", "-f", f"path:{mirror.at(METRO_FLAC)}")
    out = mirror.beet.run("-v", "mirror", "--depth", "2")

    assert said(out, INCREMENTAL)
    for view in (mirror.high, mirror.low):
        assert_link(view / GLASS / "[2014] Metropole", mirror.at(METRO_MP3))
        assert not (view / GLASS / "Metropole").exists()
    assert (links(mirror.high), links(mirror.low)) == full_rebuild(mirror)


def test_a_retagged_copy_leaves_its_album_and_the_rest_stays(mirror: Mirror):
    settled(mirror)

    mirror.beet.run("modify", "-y", "-M", "-W", "-a", "album:[2014] Metropole",
                    "album=Metropole Remixes")  # fmt: skip
    out = mirror.beet.run("-v", "mirror", "--depth", "2")

    assert said(out, INCREMENTAL)
    # Still one album (the recordings join them), now named after the
    # FLAC copy either way: the links stay where they were.
    assert links(mirror.high) == expected_high(mirror)
    assert links(mirror.low) == expected_low(mirror)
    assert (links(mirror.high), links(mirror.low)) == full_rebuild(mirror)


def test_an_added_album_is_linked_by_a_run_after_the_change(mirror: Mirror, corpus):
    settled(mirror)
    extended = mirror.at(f"flac/{CAFE}/Window Gold (Extended)")
    extended.mkdir()
    for entry in corpus.entries:
        if entry.variant == "extended" and entry.song in (1, 2):
            shutil.copy2(corpus.path(entry), extended)

    mirror.beet.run("import", "-A", "-C", "-q", str(extended))
    out = mirror.beet.run("-v", "mirror", "--depth", "2")

    assert said(out, INCREMENTAL)
    assert "2 created, 0 replaced, 0 removed, 12 unchanged" in out.stdout
    assert (links(mirror.high), links(mirror.low)) == full_rebuild(mirror)


def test_an_added_copy_joins_the_album_it_copies(mirror: Mirror):
    # The import fingerprints the copy: the same recordings as "Radio
    # Days", so one album, shown from one of two equal copies.
    settled(mirror)
    live = mirror.at(f"flac/{CAFE}/Radio Days Live")
    shutil.copytree(mirror.at(RADIO_FLAC), live)

    mirror.beet.run("import", "-A", "-C", "-q", "--set", "album=Radio Days Live",
                    str(live))  # fmt: skip
    out = mirror.beet.run("-v", "mirror", "--depth", "2")

    assert said(out, INCREMENTAL)
    assert not (mirror.high / CAFE / "Radio Days Live").exists()
    assert (links(mirror.high), links(mirror.low)) == full_rebuild(mirror)


def test_a_second_change_builds_on_the_ledger_the_first_one_left(mirror: Mirror):
    settled(mirror)
    mirror.beet.run("remove", "-f", "album:Radio Days")
    first = mirror.beet.run("-v", "mirror", "--depth", "2")

    mirror.beet.run("remove", "-f", f"path:{mirror.at(METRO_FLAC)}")
    second = mirror.beet.run("-v", "mirror", "--depth", "2")

    assert said(first, INCREMENTAL) and said(second, INCREMENTAL)
    assert_link(mirror.high / GLASS / "[2014] Metropole", mirror.at(METRO_MP3))
    assert (links(mirror.high), links(mirror.low)) == full_rebuild(mirror)


def test_a_file_gone_is_seen_by_its_folders_time(mirror: Mirror):
    settled(mirror)
    gone = mirror.track(RADIO_FLAC, 2)
    gone.unlink()  # the DB still lists it

    out = mirror.beet.run("-v", "mirror", "--depth", "2")

    assert said(out, INCREMENTAL)
    assert f"{gone}: file missing, not linked" in out.stderr
    assert (links(mirror.high), links(mirror.low)) == full_rebuild(mirror)


def test_changed_options_make_a_full_run(mirror: Mirror):
    settled(mirror)
    mirror.beet.run("remove", "-f", "album:Radio Days")

    out = mirror.beet.run("-v", "mirror", "--depth", "2", "--relative")

    assert not said(out, INCREMENTAL) and not said(out, UNCHANGED)
    assert "10 replaced, 2 removed" in out.stdout


def refusing(m: Mirror, folder: Path) -> None:
    """Make `beet` refuse to list ``folder``, as the system does for a user
    who may not read it. Tests run as root, who reads every folder, so the
    refusal is put into os.scandir by a ``sitecustomize`` module; the rest
    of the run is the real one.
    """
    hook = m.beet.root / "refuse"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        textwrap.dedent(
            """\
            import os

            _locked = os.environ["MIRROR_TEST_LOCKED"]
            _scandir = os.scandir


            def scandir(path="."):
                if os.fspath(path) == _locked:
                    raise PermissionError(13, "Permission denied", path)
                return _scandir(path)


            os.scandir = scandir
            """
        )
    )
    m.beet.env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(hook), os.getenv("PYTHONPATH")])),
        MIRROR_TEST_LOCKED=str(folder),
    )


def test_an_unchanged_rerun_names_a_view_folder_it_cannot_read(mirror: Mirror):
    settled(mirror)
    gold = mirror.low / CAFE / "Window Gold"  # a folder of per-track links
    before = links(mirror.low)
    refusing(mirror, gold)

    out = mirror.beet.run("-v", "mirror", "--depth", "2")

    assert said(out, UNCHANGED)
    assert f"cannot read {gold}: Permission denied" in out.stderr
    assert "0 created, 0 replaced, 0 removed, 12 unchanged" in out.stdout
    assert links(mirror.low) == before  # nothing lost
