"""Unit tests of mirror planning: plain data in, a list of actions out."""

from __future__ import annotations

from beetsplug.dedupfuzzy.mirror.apply import ApplyReport
from beetsplug.dedupfuzzy.mirror.model import (
    Action,
    ActionKind,
    ExistingLink,
    RecordedLink,
    ViewSpec,
    ViewState,
)
from beetsplug.dedupfuzzy.mirror.narrowing import ViewPart, narrow
from beetsplug.dedupfuzzy.mirror.plan import choose_views, plan_mirror, plan_view
from beetsplug.dedupfuzzy.mirror.record import record_after

HIGH = "/music/flac"
LOW = "/music/mp3"
VIEW = "/views/high"
OWNED = (HIGH, LOW)

CREATE = ActionKind.CREATE
REPLACE = ActionKind.REPLACE
REMOVE = ActionKind.REMOVE
PRUNE = ActionKind.PRUNE
KEEP = ActionKind.KEEP
CONFLICT = ActionKind.CONFLICT
FOREIGN = ActionKind.FOREIGN


def side(root: str, *rels: str) -> dict[str, str]:
    return {rel: f"{root}/{rel}" for rel in rels}


def plan(desired, state=None, recorded=(), **options):
    """Plan one view; ``recorded`` are the paths whose links the record lists."""
    state = state or ViewState()
    records = {
        rel: RecordedLink(state.links[rel].text, state.links[rel].text)
        for rel in recorded
    }
    spec = ViewSpec("high", VIEW, desired, state, records)
    return plan_view(spec, dangling_roots=OWNED, **options)


def kinds(actions) -> dict[str, ActionKind]:
    return {action.rel: action.kind for action in actions}


def test_choose_views_follows_the_mmirror_example():
    views = choose_views(side(HIGH, "2", "3", "4", "5"), side(LOW, *"01234"))

    def origin(view):
        return [("h" if t.startswith(HIGH) else "l") + rel for rel, t in view.items()]

    assert sorted(origin(views.low)) == ["h5", "l0", "l1", "l2", "l3", "l4"]
    assert sorted(origin(views.high)) == ["h2", "h3", "h4", "h5", "l0", "l1"]


def test_choose_views_hides_a_fallback_entry_nested_in_a_preferred_one():
    views = choose_views(side(HIGH, "A"), side(LOW, "A/B", "C"))

    assert views.high == {"A": f"{HIGH}/A", "C": f"{LOW}/C"}
    assert views.low == {"A/B": f"{LOW}/A/B", "C": f"{LOW}/C"}


def test_empty_view_gets_one_absolute_link_per_entry():
    actions = plan(side(HIGH, "A/X", "A/Y"))

    assert [(a.kind, a.rel, a.link_text) for a in actions] == [
        (CREATE, "A/X", f"{HIGH}/A/X"),
        (CREATE, "A/Y", f"{HIGH}/A/Y"),
    ]


def test_relative_links_are_relative_to_their_own_folder():
    (action,) = plan(side(HIGH, "A/X"), relative=True)

    assert action.link_text == "../../../music/flac/A/X"


def test_a_correct_link_is_kept_and_owned_only_when_recorded():
    state = ViewState(links={"A/X": ExistingLink(f"{HIGH}/A/X")}, dirs={"A"})

    (mine,) = plan(side(HIGH, "A/X"), state, recorded=["A/X"])
    (theirs,) = plan(side(HIGH, "A/X"), state)

    assert (mine.kind, mine.owned) == (KEEP, True)
    assert (theirs.kind, theirs.owned) == (KEEP, False)


def test_switching_to_relative_links_replaces_the_absolute_ones():
    state = ViewState(links={"A/X": ExistingLink(f"{HIGH}/A/X")}, dirs={"A"})

    (action,) = plan(side(HIGH, "A/X"), state, ["A/X"], relative=True)

    assert (action.kind, action.link_text) == (REPLACE, "../../../music/flac/A/X")


def test_a_dangling_link_into_a_source_is_replaced():
    state = ViewState(links={"X": ExistingLink(f"{LOW}/gone", dangling=True)})

    (action,) = plan(side(HIGH, "X"), state)

    assert (action.kind, action.reason) == (REPLACE, "dangling")


def test_a_recorded_link_with_the_wrong_target_is_replaced():
    state = ViewState(links={"X": ExistingLink(f"{LOW}/X")})

    (action,) = plan(side(HIGH, "X"), state, recorded=["X"])

    assert (action.kind, action.link_text) == (REPLACE, f"{HIGH}/X")


def test_an_unrecorded_link_into_a_source_is_not_the_mirrors():
    state = ViewState(links={"X": ExistingLink(f"{LOW}/X"), "Y": ExistingLink("/a")})

    assert kinds(plan(side(HIGH, "X"), state)) == {"X": FOREIGN}


def test_a_recorded_link_someone_changed_is_no_longer_the_mirrors():
    state = ViewState(links={"X": ExistingLink("/mine/now")})
    spec = ViewSpec("high", VIEW, {}, state, {"X": RecordedLink(f"{HIGH}/X", "")})

    assert plan_view(spec, dangling_roots=OWNED) == []


def test_a_foreign_link_in_the_way_is_left_and_reported():
    state = ViewState(links={"X": ExistingLink("/elsewhere/X", dangling=True)})

    assert kinds(plan(side(HIGH, "X"), state)) == {"X": FOREIGN}


def test_a_foreign_link_in_the_way_is_replaced_when_allowed():
    state = ViewState(links={"X": ExistingLink("/elsewhere/X")})

    (action,) = plan(side(HIGH, "X"), state, overwrite_symlinks=True)

    assert (action.kind, action.link_text) == (REPLACE, f"{HIGH}/X")


def test_a_foreign_link_nobody_asks_for_is_not_touched():
    state = ViewState(links={"mine": ExistingLink("/elsewhere/mine")})

    assert plan({}, state, overwrite_symlinks=True) == []


def test_real_files_and_folders_in_the_way_are_conflicts():
    state = ViewState(files={"X", "Y/cover.jpg"}, dirs={"Y"})

    assert kinds(plan(side(HIGH, "X", "Y"), state)) == {"X": CONFLICT, "Y": CONFLICT}


def test_a_real_file_where_a_folder_is_needed_blocks_the_entries_below():
    state = ViewState(files={"A"})

    assert kinds(plan(side(HIGH, "A/X", "A/Y", "B"), state)) == {
        "A": CONFLICT,
        "B": CREATE,
    }


def test_a_foreign_link_where_a_folder_is_needed_blocks_the_entries_below():
    state = ViewState(links={"A": ExistingLink("/elsewhere/A")})

    assert kinds(plan(side(HIGH, "A/X"), state)) == {"A": FOREIGN}


def test_a_link_whose_entry_left_is_removed_and_its_emptied_folder_pruned():
    state = ViewState(links={"A/X": ExistingLink(f"{HIGH}/A/X")}, dirs={"A"})

    actions = plan({}, state, ["A/X"])

    assert [(a.kind, a.rel) for a in actions] == [(REMOVE, "A/X"), (PRUNE, "A")]


def test_a_folder_still_holding_other_things_is_not_pruned():
    state = ViewState(
        links={"A/X": ExistingLink(f"{HIGH}/A/X")},
        files={"A/notes.txt"},
        dirs={"A", "E"},
    )

    assert kinds(plan({}, state, ["A/X"])) == {"A/X": REMOVE}


def test_a_folder_still_needed_is_not_pruned():
    state = ViewState(links={"A/X": ExistingLink(f"{HIGH}/A/X")}, dirs={"A"})

    assert kinds(plan(side(HIGH, "A/Y"), state, ["A/X"])) == {
        "A/X": REMOVE,
        "A/Y": CREATE,
    }


def test_a_link_into_an_unreadable_source_folder_is_kept():
    state = ViewState(links={"A/X": ExistingLink(f"{HIGH}/A/X")}, dirs={"A"})

    actions = plan({}, state, ["A/X"], uncertain=[f"{HIGH}/A"])

    assert kinds(actions) == {"A/X": KEEP}


def test_a_mirror_folder_at_an_entry_position_is_emptied_then_linked():
    # After switching from depth 2 to depth 1: A held only the mirror's links.
    state = ViewState(links={"A/X": ExistingLink(f"{HIGH}/A/X")}, dirs={"A"})

    actions = plan(side(HIGH, "A"), state, ["A/X"])

    assert [(a.kind, a.rel) for a in actions] == [
        (REMOVE, "A/X"),
        (PRUNE, "A"),
        (CREATE, "A"),
    ]


def test_an_old_link_where_a_folder_is_needed_is_removed_first():
    # After switching from depth 1 to depth 2: A was a link, now a folder.
    state = ViewState(links={"A": ExistingLink(f"{HIGH}/A")})

    actions = plan(side(HIGH, "A/X"), state, ["A"])

    assert [(a.kind, a.rel) for a in actions] == [(REMOVE, "A"), (CREATE, "A/X")]


def test_an_entry_inside_another_entry_is_a_conflict():
    actions = plan({"A": f"{HIGH}/A", "A/X": f"{LOW}/A/X"})

    assert kinds(actions) == {"A": CREATE, "A/X": CONFLICT}


def test_plan_mirror_counts_over_all_views():
    views = choose_views(side(HIGH, "X"), side(LOW, "Y"))
    specs = [
        ViewSpec("high", "/views/high", views.high, ViewState()),
        ViewSpec("low", "/views/low", views.low, ViewState()),
    ]

    mirror = plan_mirror(specs, dangling_roots=OWNED)

    assert mirror.count(CREATE) == 4
    assert {a.path for a in mirror.changes} == {
        "/views/high/X",
        "/views/high/Y",
        "/views/low/X",
        "/views/low/Y",
    }


def test_a_query_run_plans_only_its_entries_and_what_is_in_their_way():
    state = ViewState(
        links={"A/X": ExistingLink(f"{HIGH}/A/X"), "B/Y": ExistingLink(f"{HIGH}/B/Y")},
        files={"C"},
        dirs={"A", "B"},
    )
    records = {
        rel: RecordedLink(link.text, link.text) for rel, link in state.links.items()
    }
    spec = ViewSpec("high", VIEW, side(HIGH, "A/X", "C/Z"), state, records)

    narrowed = narrow(spec, ViewPart(["A/X", "C/Z"]))

    assert set(narrowed.state.links) == {"A/X"} and narrowed.state.files == {"C"}
    # B holds only what the run leaves out: not planned, never pruned.
    assert set(narrowed.records) == {"A/X"} and narrowed.state.dirs == {"A"}
    assert kinds(plan_view(narrowed, dangling_roots=OWNED)) == {
        "A/X": KEEP,
        "C": CONFLICT,
    }


def test_a_query_run_prunes_a_folder_above_its_entries_only_when_it_empties_it():
    links = ("Old/X", "Both/X", "Both/Y")
    state = ViewState(
        links={rel: ExistingLink(f"{HIGH}/{rel}") for rel in links},
        dirs={"Old", "Both"},
    )
    records = {rel: RecordedLink(f"{HIGH}/{rel}", f"{HIGH}/{rel}") for rel in links}
    spec = ViewSpec("high", VIEW, side(HIGH, "New/X"), state, records)

    # The album X moved from Old and Both to New; Both/Y is another album.
    narrowed = narrow(spec, ViewPart(["New/X", "Old/X", "Both/X"]))

    assert kinds(plan_view(narrowed, dangling_roots=OWNED)) == {
        "Old/X": REMOVE,
        "Both/X": REMOVE,
        "Old": PRUNE,
        "New/X": CREATE,
    }


def test_the_record_after_a_run_holds_what_the_mirror_made_and_kept():
    before = {
        "kept": RecordedLink("/t/k", "/t/k", 1),
        "gone": RecordedLink("/t/g", "/t/g", 2),
        "stuck": RecordedLink("/t/s", "/t/s", 3),
        "changed": RecordedLink("/t/c", "/t/c", 4),
    }
    made = Action(CREATE, "high", VIEW, "new", link_text="/t/n", target="/t/n")
    kept = Action(
        KEEP, "high", VIEW, "kept", link_text="/t/k", target="/t/k", owned=True
    )
    removed = Action(REMOVE, "high", VIEW, "gone")
    failed = Action(REMOVE, "high", VIEW, "stuck")
    theirs = Action(KEEP, "high", VIEW, "theirs", link_text="/t/x", target="/t/x")
    report = ApplyReport(done=[made, removed], failed=[(failed, "busy")])

    after = record_after(
        before, [made, kept, removed, failed, theirs], report, {"new": 9, "kept": 5}
    )

    assert after == {
        "new": RecordedLink("/t/n", "/t/n", 9),
        "kept": RecordedLink("/t/k", "/t/k", 5),
        "stuck": before["stuck"],
    }


def test_an_identical_link_is_taken_over_only_with_overwrite_symlinks():
    state = ViewState(links={"X": ExistingLink(f"{HIGH}/X")})

    (left,) = plan(side(HIGH, "X"), state)
    (taken,) = plan(side(HIGH, "X"), state, overwrite_symlinks=True)

    assert (left.kind, left.owned) == (KEEP, False)
    assert (taken.kind, taken.owned, taken.reason) == (KEEP, True, "taken over")
