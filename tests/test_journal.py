"""The move journal on a real beets library, including real crashes (SIGKILL)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import beets
import pytest
from beets import dbcore
from beets.library import Album, Item, Library

from beetsplug.dedupfuzzy.safety import journal as journal_mod
from beetsplug.dedupfuzzy.safety import safemove
from beetsplug.dedupfuzzy.safety import schema as journal_schema
from beetsplug.dedupfuzzy.safety.journal import Journal, JournalError

REPO = Path(__file__).resolve().parent.parent


def b(path: Path) -> bytes:
    return os.fsencode(path)


@dataclass
class Setup:
    """A library on disk with its music folder and a quarantine folder."""

    root: Path
    lib: Library
    original_items: dict[int, dict[str, Any]] = field(default_factory=dict)
    original_albums: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def music(self) -> Path:
        return self.root / "music"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def db(self) -> Path:
        return self.root / "lib.db"

    def reopen(self) -> Library:
        self.lib = Library(str(self.db), str(self.music))
        return self.lib

    def destination(self, item: Item) -> bytes:
        return os.path.join(
            b(self.quarantine), os.path.relpath(item.path, b(self.music))
        )

    def add_file(self, rel: str, **fields: Any) -> Item:
        path = self.music / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(2048) + rel.encode())
        item = Item(path=b(path), format="MP3", **fields)
        self.lib.add(item)
        return item


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    beets.config["create_backup_before_migrations"] = False
    (tmp_path / "music").mkdir()
    return Setup(tmp_path, Library(str(tmp_path / "lib.db"), str(tmp_path / "music")))


def fill(setup: Setup) -> None:
    """Two albums (with flexible fields) and two singletons."""
    lib = setup.lib
    first = [
        setup.add_file(f"Band/First/{n}.mp3", title=f"first {n}", track=n)
        for n in (1, 2, 3)
    ]
    album = lib.add_album(first)
    album.label = "Label One"
    album["mood"] = "calm"
    album.store()
    second = [
        setup.add_file(f"Band/Second/{n}.mp3", title=f"second {n}") for n in (1, 2)
    ]
    lib.add_album(second)
    setup.add_file("Loose/a.mp3", title="loose a", artist="Solo")
    loose = setup.add_file("Loose/b.mp3", title="loose b", genres=["Rock", "Pop"])
    loose["rating"] = "5"
    loose["play_count"] = 12
    loose.store()


def fields(model: Item | Album) -> dict[str, Any]:
    """All fixed and flexible fields, without an item's album fallback."""
    return {key: model.get(key) for key in dbcore.Model.keys(model)}


def library_state(lib: Library) -> tuple[dict[int, dict], dict[int, dict]]:
    with lib.music_dir_context():
        items = {item.id: fields(item) for item in lib.items()}
        albums = {album.id: fields(album) for album in lib.albums()}
    return items, albums


def digest(path: Path | bytes) -> str:
    return hashlib.sha256(Path(os.fsdecode(path)).read_bytes()).hexdigest()


def files_under(*folders: Path) -> dict[Path, str]:
    return {
        p: digest(p)
        for folder in folders
        if folder.exists()
        for p in folder.rglob("*")
        if p.is_file()
    }


def assert_library_points_at_existing_files(lib: Library) -> None:
    with lib.music_dir_context():
        for item in lib.items():
            assert os.path.exists(item.path), item.path


# quarantine and undo in one process


def test_quarantine_then_undo_restores_everything(setup: Setup) -> None:
    fill(setup)
    lib = setup.lib
    before_items, before_albums = library_state(lib)
    before_files = files_under(setup.music)
    journal = Journal(lib)

    run = journal.start_run()
    for item in list(lib.items()):
        final = journal.quarantine(run, item, setup.destination(item))
        assert (
            digest(final)
            == before_files[Path(os.fsdecode(before_items[item.id]["path"]))]
        )

    assert list(lib.items()) == [] and list(lib.albums()) == []
    assert files_under(setup.music) == {}
    assert sorted(files_under(setup.quarantine).values()) == sorted(
        before_files.values()
    )
    assert {e.state for e in journal.entries(run)} == {journal_mod.MOVED}

    results = journal.undo()

    assert all(r.ok for r in results) and len(results) == len(before_items)
    assert library_state(lib) == (before_items, before_albums)
    assert files_under(setup.music) == before_files
    assert files_under(setup.quarantine) == {}
    assert {e.state for e in journal.entries(run)} == {journal_mod.UNDONE}
    assert journal.undo() == []


def test_undo_restores_flexible_attributes_and_album_fields(setup: Setup) -> None:
    fill(setup)
    lib = setup.lib
    item = lib.items("title:'loose b'").get()
    album_item = lib.items("title:'first 1'").get()
    album_id = album_item.album_id
    journal = Journal(lib)
    run = journal.start_run()
    for victim in lib.items(f"album_id:{album_id}"):
        journal.quarantine(run, victim, setup.destination(victim))
    journal.quarantine(run, item, setup.destination(item))
    assert lib.get_album(album_id) is None

    journal.undo()

    restored = lib.get_item(item.id)
    assert restored["rating"] == "5" and int(restored["play_count"]) == 12
    assert restored.genres == ["Rock", "Pop"]
    album = lib.get_album(album_id)
    assert album is not None
    assert (album.label, album["mood"]) == ("Label One", "calm")
    assert sorted(i.title for i in album.items()) == ["first 1", "first 2", "first 3"]


def test_quarantine_takes_a_free_name(setup: Setup) -> None:
    item = setup.add_file("a.mp3", title="a")
    taken = setup.quarantine / "a.mp3"
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"already here")
    journal = Journal(setup.lib)

    final = journal.quarantine(journal.start_run(), item, b(taken))

    assert final == b(setup.quarantine / "a.1.mp3")
    assert taken.read_bytes() == b"already here"
    assert journal.entries()[0].dst == final


def test_undo_goes_back_one_run_at_a_time(setup: Setup) -> None:
    a = setup.add_file("a.mp3", title="a")
    c = setup.add_file("c.mp3", title="c")
    journal = Journal(setup.lib)
    first, second = journal.start_run(), journal.start_run()
    journal.quarantine(first, a, setup.destination(a))
    journal.quarantine(second, c, setup.destination(c))
    assert journal.last_run() == second

    assert [r.item_id for r in journal.undo()] == [c.id]
    assert [i.title for i in setup.lib.items()] == ["c"]
    assert [r.item_id for r in journal.undo()] == [a.id]
    assert sorted(i.title for i in setup.lib.items()) == ["a", "c"]
    assert journal.last_run() is None


def test_undo_all_runs_newest_first(setup: Setup) -> None:
    fill(setup)
    lib = setup.lib
    state = library_state(lib)
    before_files = files_under(setup.music)
    journal = Journal(lib)
    items = list(lib.items())
    for chunk in (items[:3], items[3:]):
        run = journal.start_run()
        for item in chunk:
            journal.quarantine(run, item, setup.destination(item))
    assert [r.states for r in journal.runs()] == [{"moved": 3}, {"moved": 4}]

    results = journal.undo(all_runs=True)

    assert [r.item_id for r in results] == [i.id for i in reversed(items)]
    assert library_state(lib) == state
    assert files_under(setup.music) == before_files


def test_undo_when_the_old_name_is_taken(setup: Setup) -> None:
    item = setup.add_file("a.mp3", title="a")
    data = Path(os.fsdecode(item.path)).read_bytes()
    journal = Journal(setup.lib)
    journal.quarantine(journal.start_run(), item, setup.destination(item))
    (setup.music / "a.mp3").write_bytes(b"a newcomer")

    [result] = journal.undo()

    assert result.ok and result.restored_to == b(setup.music / "a.1.mp3")
    assert "a.1.mp3" in str(result)
    assert (setup.music / "a.mp3").read_bytes() == b"a newcomer"
    restored = setup.lib.get_item(item.id)
    assert restored.path == b(setup.music / "a.1.mp3")
    assert (setup.music / "a.1.mp3").read_bytes() == data


def test_undo_reports_a_missing_quarantined_file_and_goes_on(setup: Setup) -> None:
    a = setup.add_file("a.mp3", title="a")
    c = setup.add_file("c.mp3", title="c")
    journal = Journal(setup.lib)
    run = journal.start_run()
    lost = journal.quarantine(run, a, setup.destination(a))
    journal.quarantine(run, c, setup.destination(c))
    os.unlink(lost)

    results = journal.undo()

    assert [r.ok for r in results] == [True, False]
    assert "missing" in str(results[1]) and "\n" not in str(results[1])
    assert [i.title for i in setup.lib.items()] == ["c"]
    assert [e.state for e in journal.entries(run)] == ["moved", "undone"]


def test_undo_when_the_item_id_was_reused(setup: Setup) -> None:
    item = setup.add_file("a.mp3", title="a")
    journal = Journal(setup.lib)
    journal.quarantine(journal.start_run(), item, setup.destination(item))
    newcomer = setup.add_file("new.mp3", title="new")
    assert newcomer.id == item.id  # SQLite reuses the highest free id

    [result] = journal.undo()

    assert result.ok and result.item_id != item.id
    assert "taken" in str(result)
    assert sorted(i.title for i in setup.lib.items()) == ["a", "new"]
    assert setup.lib.get_item(newcomer.id).title == "new"


def test_undo_when_the_album_id_was_reused(setup: Setup) -> None:
    item = setup.add_file("a.mp3", title="a", album="Old")
    setup.lib.add_album([item])
    journal = Journal(setup.lib)
    journal.quarantine(journal.start_run(), item, setup.destination(item))
    other = setup.lib.add_album([setup.add_file("n.mp3", title="n", album="New")])
    assert other.id == item.album_id

    [result] = journal.undo()

    restored = setup.lib.get_item(result.item_id)
    assert restored.album_id != other.id
    assert restored.get_album().album == "Old"
    assert [i.title for i in other.items()] == ["n"]


def test_failed_move_puts_the_item_back(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(setup)
    state = library_state(setup.lib)
    item = setup.lib.items("title:'first 1'").get()
    journal = Journal(setup.lib)
    run = journal.start_run()

    def broken(src: bytes, dst: bytes) -> None:
        raise safemove.SafeMoveError("cannot move: No space left on device")

    monkeypatch.setattr(safemove, "move_exact", broken)
    with pytest.raises(JournalError) as caught:
        journal.quarantine(run, item, setup.destination(item))

    assert isinstance(caught.value, OSError)
    assert "No space left" in str(caught.value) and "\n" not in str(caught.value)
    assert library_state(setup.lib) == state
    assert [e.state for e in journal.entries(run)] == ["reverted"]


def test_missing_file_is_refused_before_anything_changes(setup: Setup) -> None:
    item = setup.add_file("a.mp3", title="a")
    os.unlink(item.path)
    journal = Journal(setup.lib)
    with pytest.raises(JournalError, match="does not exist"):
        journal.quarantine(journal.start_run(), item, setup.destination(item))
    assert setup.lib.get_item(item.id) is not None
    assert journal.entries() == []


def test_refuses_to_run_inside_an_open_transaction(setup: Setup) -> None:
    item = setup.add_file("a.mp3", title="a")
    journal = Journal(setup.lib)
    run = journal.start_run()
    with setup.lib.transaction() as tx:
        tx.mutate("UPDATE items SET title = 'b' WHERE id = ?", (item.id,))
        with pytest.raises(RuntimeError):
            journal.quarantine(run, item, setup.destination(item))


# real crashes: a child process quarantines (or undoes) and is SIGKILLed

CHILD = textwrap.dedent(
    """\
    import errno, os, sys
    from beets.library import Item, Library
    from beetsplug.dedupfuzzy.safety import safemove
    from beetsplug.dedupfuzzy.safety.journal import Journal

    db, music, quarantine, mode, pause_step, pause_index, xdev = sys.argv[1:]
    lib = Library(db, music)
    now = {"i": -1, "src": None}

    def step(name):
        print(f"step {name} {now['i']}", flush=True)
        if name == pause_step and now["i"] == int(pause_index):
            print("PAUSED", flush=True)
            sys.stdin.readline()  # the test kills us here

    real_move_exact = safemove.move_exact
    def move_exact(src, dst):
        if mode == "undo":
            now["i"] += 1
        now["src"] = src
        step("before-move")
        real_move_exact(src, dst)
        step("after-move")
    safemove.move_exact = move_exact

    real_remove = Item.remove
    def remove(self, *args, **kwargs):
        real_remove(self, *args, **kwargs)
        step("in-transaction")
    Item.remove = remove

    def is_partial(path):
        name = os.path.basename(os.fsencode(path))
        return name.startswith(safemove.PARTIAL_PREFIX)

    real_link = os.link
    def link(src, dst, *args, **kwargs):
        if xdev == "1" and not is_partial(src):
            raise OSError(errno.EXDEV, "simulated cross-device link")
        if is_partial(src):
            step("copy-written")
        return real_link(src, dst, *args, **kwargs)
    os.link = link

    real_unlink = os.unlink
    def unlink(path, *args, **kwargs):
        if os.fsencode(path) == now["src"]:
            step("before-unlink-source")
        return real_unlink(path, *args, **kwargs)
    os.unlink = unlink

    journal = Journal(lib)
    if mode == "quarantine":
        run = journal.start_run()
        for i, item in enumerate(sorted(lib.items(), key=lambda it: it.id)):
            now["i"] = i
            rel = os.path.relpath(item.path, os.fsencode(music))
            journal.quarantine(run, item, os.path.join(os.fsencode(quarantine), rel))
            print(f"done {i}", flush=True)
    else:
        for result in journal.undo(all_runs=True):
            print(f"done {result}", flush=True)
    print("FINISHED", flush=True)
    """
)


def run_child(
    setup: Setup,
    mode: str,
    pause_step: str = "",
    pause_index: int = -1,
    xdev: bool = False,
    kill_after: str = "PAUSED",
) -> None:
    """Run the child until it prints `kill_after`, then SIGKILL it."""
    script = setup.root / "child.py"
    script.write_text(CHILD)
    config = setup.root / "config"
    config.mkdir(exist_ok=True)
    (config / "config.yaml").write_text("create_backup_before_migrations: no\n")
    env = {
        **os.environ,
        "BEETSDIR": str(config),
        "PYTHONPATH": str(REPO),
    }
    args = [
        str(setup.db),
        str(setup.music),
        str(setup.quarantine),
        mode,
        pause_step,
        str(pause_index),
        "1" if xdev else "0",
    ]
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=setup.root,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line.strip())
        if line.strip() == kill_after:
            proc.kill()
            break
    proc.wait()
    assert proc.returncode == -9, (seen, proc.stderr.read() if proc.stderr else "")
    proc.stdin.close() if proc.stdin else None
    proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()


def check_nothing_lost(setup: Setup, originals: dict[Path, str]) -> None:
    """Every original file still exists somewhere; the library is sound."""
    lib = setup.reopen()
    present = set(files_under(setup.music, setup.quarantine).values())
    assert set(originals.values()) <= present
    assert_library_points_at_existing_files(lib)
    by_id = {item_id: digest(f["path"]) for item_id, f in library_state(lib)[0].items()}
    original_by_path = {b(p): d for p, d in originals.items()}
    original_items = setup.original_items
    for item_id, content in by_id.items():
        assert content == original_by_path[original_items[item_id]["path"]]


def check_recovers_to_original(setup: Setup, originals: dict[Path, str]) -> None:
    """recover() leaves each file exactly once; undo brings back everything."""
    lib = setup.reopen()
    journal = Journal(lib)
    journal.recover()
    everything = files_under(setup.music, setup.quarantine)
    assert sorted(everything.values()) == sorted(originals.values())
    assert_library_points_at_existing_files(lib)
    assert not [
        e
        for e in journal.entries()
        if e.state in (journal_mod.PENDING, journal_mod.UNDOING)
    ]

    journal.undo(all_runs=True)

    assert library_state(lib) == (setup.original_items, setup.original_albums)
    assert files_under(setup.music) == originals
    assert files_under(setup.quarantine) == {}


def prepare(setup: Setup) -> dict[Path, str]:
    fill(setup)
    setup.original_items, setup.original_albums = library_state(setup.lib)
    return files_under(setup.music)


def in_flight(setup: Setup) -> tuple[str, bool, bool, bool] | None:
    """The interrupted entry: its state, and where its file is to be found."""
    entries = [
        e
        for e in Journal(setup.reopen()).entries()
        if e.state in (journal_mod.PENDING, journal_mod.UNDOING)
    ]
    if not entries:
        return None
    [entry] = entries
    origin, target = entry.src, entry.dst
    if entry.state == journal_mod.UNDOING:
        assert entry.undo_path is not None
        origin, target = entry.dst, entry.undo_path
    return (
        entry.state,
        os.path.exists(origin),
        os.path.exists(target),
        bool(safemove.leftover_partials(target)),
    )


P, U = journal_mod.PENDING, journal_mod.UNDOING
KILL_POINTS = [
    # step, item index, across filesystems?, (state, at origin, at target, partial)
    ("in-transaction", 2, False, None),  # removed + album emptied, uncommitted
    ("before-move", 2, False, (P, True, False, False)),
    ("before-unlink-source", 2, False, (P, True, True, False)),  # hard link
    ("after-move", 2, False, (P, False, True, False)),  # not marked yet
    ("copy-written", 4, True, (P, True, False, True)),  # fsynced, not linked
    ("before-unlink-source", 4, True, (P, True, True, True)),  # copy linked
    ("after-move", 4, True, (P, False, True, False)),
]


@pytest.mark.parametrize(("step", "index", "xdev", "expected"), KILL_POINTS)
def test_killed_quarantine_loses_nothing(
    setup: Setup, step: str, index: int, xdev: bool, expected: tuple | None
) -> None:
    originals = prepare(setup)

    run_child(setup, "quarantine", step, index, xdev)

    assert in_flight(setup) == expected
    check_nothing_lost(setup, originals)
    check_recovers_to_original(setup, originals)


def test_killed_anywhere_mid_run_loses_nothing(setup: Setup) -> None:
    originals = prepare(setup)

    run_child(setup, "quarantine", kill_after="done 3")

    check_nothing_lost(setup, originals)
    check_recovers_to_original(setup, originals)


@pytest.mark.parametrize(
    ("step", "index", "xdev", "expected"),
    [
        ("before-move", 1, False, (U, True, False, False)),
        ("before-unlink-source", 1, False, (U, True, True, False)),
        ("after-move", 1, False, (U, False, True, False)),
        ("copy-written", 3, True, (U, True, False, True)),
        ("before-unlink-source", 3, True, (U, True, True, True)),
    ],
)
def test_killed_undo_loses_nothing(
    setup: Setup, step: str, index: int, xdev: bool, expected: tuple
) -> None:
    originals = prepare(setup)
    journal = Journal(setup.lib)
    run = journal.start_run()
    for item in list(setup.lib.items()):
        journal.quarantine(run, item, setup.destination(item))

    run_child(setup, "undo", step, index, xdev)

    assert in_flight(setup) == expected
    check_nothing_lost(setup, originals)
    check_recovers_to_original(setup, originals)


def test_recovery_never_claims_a_file_it_did_not_make(setup: Setup) -> None:
    """A byte-identical file that appeared at the destination is left alone."""
    originals = prepare(setup)
    run_child(setup, "quarantine", "before-move", 0)
    [entry] = Journal(setup.reopen()).entries()
    rival = Path(os.fsdecode(entry.dst))
    rival.parent.mkdir(parents=True, exist_ok=True)
    rival.write_bytes(Path(os.fsdecode(entry.src)).read_bytes())

    lines = Journal(setup.lib).recover()

    assert "left untouched" in lines[0]
    assert rival.exists() and Path(os.fsdecode(entry.src)).exists()
    assert library_state(setup.lib) == (setup.original_items, setup.original_albums)
    assert files_under(setup.music) == originals


def test_ctrl_c_during_the_move_puts_the_item_back(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = setup.add_file("a.mp3", title="a")
    state = library_state(setup.lib)
    journal = Journal(setup.lib)
    run = journal.start_run()

    def interrupted(src: bytes, dst: bytes) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(safemove, "move_exact", interrupted)
    with pytest.raises(KeyboardInterrupt):
        journal.quarantine(run, item, setup.destination(item))

    assert library_state(setup.lib) == state
    assert [e.state for e in journal.entries(run)] == ["reverted"]


def test_a_name_taken_after_the_commit_is_recorded_before_retrying(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = setup.add_file("a.mp3", title="a")
    journal = Journal(setup.lib)
    run = journal.start_run()
    rival = setup.quarantine / "a.mp3"
    real_move_exact = safemove.move_exact
    recorded = []

    def move_after_a_rival(src: bytes, dst: bytes) -> None:
        recorded.append(journal.entries(run)[0].dst)
        if not rival.exists():
            rival.parent.mkdir(parents=True)
            rival.write_bytes(b"rival")
        real_move_exact(src, dst)

    monkeypatch.setattr(safemove, "move_exact", move_after_a_rival)
    final = journal.quarantine(run, item, setup.destination(item))

    assert final == b(setup.quarantine / "a.1.mp3")
    assert recorded == [b(rival), final]
    assert rival.read_bytes() == b"rival"


def test_failed_undo_move_keeps_the_file_in_quarantine(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = setup.add_file("a.mp3", title="a")
    journal = Journal(setup.lib)
    run = journal.start_run()
    final = journal.quarantine(run, item, setup.destination(item))

    def broken(src: bytes, dst: bytes) -> None:
        raise safemove.SafeMoveError("cannot move: Read-only file system")

    monkeypatch.setattr(safemove, "move_exact", broken)
    [result] = journal.undo()

    assert not result.ok and "Read-only file system" in str(result)
    assert os.path.exists(final)
    assert list(setup.lib.items()) == []
    assert [e.state for e in journal.entries(run)] == ["moved"]


def test_a_failure_inside_the_transaction_changes_nothing(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = setup.add_file("a.mp3", title="a", album="One")
    setup.lib.add_album([item])
    state = library_state(setup.lib)
    journal = Journal(setup.lib)
    run = journal.start_run()

    def broken(*args: Any) -> int:
        raise RuntimeError("journal insert failed")

    monkeypatch.setattr(journal_schema, "insert_entry", broken)
    with pytest.raises(RuntimeError):
        journal.quarantine(run, item, setup.destination(item))

    assert library_state(setup.reopen()) == state
    assert Journal(setup.lib).entries() == []
    assert os.path.exists(item.path)
