"""The row cache is never the truth: after runs that write the plugin's
fields, every cached row is what beets' own tables say."""

from __future__ import annotations

import shutil

from beets.library import Item, Library
from conftest import BeetEnv

from beetsplug.dedupfuzzy.fingerprinting.fpcalc import fpcalc_command
from beetsplug.dedupfuzzy.importing.fingerprints import FingerprintSource
from beetsplug.dedupfuzzy.importing.tally import Tally
from beetsplug.dedupfuzzy.store import catalog, fields, rowcache, rowsnapshot, rowsync


def assert_cache_is_complete_and_true(env: BeetEnv) -> None:
    lib = Library(str(env.dbpath), str(env.libdir))
    cached, read_again = rowcache.load_all_rows(lib)
    truth = catalog.read_rows(lib, None, False, False)
    assert read_again == set()  # the run left every row cached
    assert len(cached) == len(truth) > 0
    assert [r.id for r in cached] == sorted(truth)
    for row in cached:
        assert row == truth[row.id]


def test_cache_agrees_with_beets_after_a_run_that_rewrites_every_item(library):
    # Other settings: every item is matched again, its fields written anew.
    library.write_config("dedupfuzzy:\n    length_tolerance: 6\n")
    library.run("dedupfuzzy")
    assert_cache_is_complete_and_true(library)


def test_cache_agrees_with_beets_after_a_tag_edit_and_a_run(library):
    library.run("modify", "-y", "title=Renamed", "path::Glass Engines")
    library.run("dedupfuzzy")
    assert_cache_is_complete_and_true(library)


def test_many_cleared_fingerprints_are_put_back_from_our_copies(tmp_path, monkeypatch):
    # Above a few thousand items only those with a copy are tested: lower the
    # bound so that three items take that way.
    monkeypatch.setattr(catalog, "_FEW_TO_RESTORE", 1)
    lib = Library(str(tmp_path / "library.db"), str(tmp_path))
    items = []
    for k in range(3):
        item = Item(path=f"/music/{k}.mp3".encode(), acoustid_fingerprint=f"AQAA{k}")
        lib.add(item)
        items.append(item)
    catalog.copy_fingerprints(lib, [items[0].id, items[1].id])
    with lib.transaction() as tx:  # `beet update` of files without the tag
        tx.mutate("UPDATE items SET acoustid_fingerprint = ''")
    catalog.restore_cleared_fingerprints(lib, [i.id for i in items])
    found = catalog.load_texts(lib, [i.id for i in items], fields.FINGERPRINT)
    assert found == {items[0].id: "AQAA0", items[1].id: "AQAA1"}


def test_a_row_cached_before_the_import_hook_stored_its_fingerprint_is_dropped(
    beet, corpus
):
    # beets adds an item (the hook off); a library index loading in its own
    # thread caches the item as it stands: no fingerprint yet.
    entry = next(e for e in corpus.entries if e.relpath.endswith(".mp3"))
    shutil.copy2(corpus.path(entry), beet.libdir / "song.mp3")
    beet.write_config("dedupfuzzy:\n    auto: no\n")
    beet.run("import", "-A", "-s", "-C", "-q", str(beet.libdir))
    lib = Library(str(beet.dbpath), str(beet.libdir))
    (cached,), _ = rowcache.load_all_rows(lib)
    assert not cached.has_fingerprint
    # Then the hook stores the item's fingerprint through beets.
    item = lib.get_item(cached.id)
    stored = FingerprintSource(lib, fpcalc_command(), 1).store([item], Tally())
    assert list(stored) == [item.id]
    # The next import's library index reads the item as it now is.
    (row,), read_again = rowcache.load_all_rows(lib)
    assert read_again == {item.id} and row.has_fingerprint


def test_the_packed_copy_serves_a_run_and_every_later_write_shows(library):
    library.run("dedupfuzzy")
    lib = Library(str(library.dbpath), str(library.libdir))
    with lib.transaction() as tx:
        assert tx.query(f"SELECT count(*) FROM {rowsnapshot.PACKED}")[0][0] > 1
        assert tx.query(f"SELECT count(*) FROM {rowsnapshot.TOUCHED}")[0][0] == 0
    first, second, third = (r.id for r in rowcache.load_all_rows(lib)[0][:3])
    # An update in place (a run's own write), a dropped row, a tag edit.
    catalog.store_flex(lib, [(first, fields.RECORDING, "4242")], current=True)
    rowsync.uncache(lib, [second])
    item = lib.get_item(third)
    item.format = "Renamed format"
    item.store()
    rowsync.uncache(lib, [third])
    rows, read_again = rowcache.load_all_rows(lib)
    by_id = {r.id: r for r in rows}
    assert by_id[first].recording == 4242
    assert read_again == {second, third}
    assert by_id[third].format == "Renamed format"
    truth = catalog.read_rows(lib, None, False, False)
    assert [r.id for r in rows] == sorted(truth)
    assert all(row == truth[row.id] for row in rows)
