"""The nearest-profile search by cells keeps what the exact search finds."""

from __future__ import annotations

import os

import numpy as np
import pytest

from beetsplug.dedupfuzzy.matching import cells, nearest
from beetsplug.dedupfuzzy.matching.nearest import NearestProfiles


def library(
    seed: int, songs: int, dims: int, copies: int, near: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, set[tuple[int, int]]]:
    """Songs with profiles spread as real bit profiles are (each dimension
    about 0.18 around its mean), and copies of some at a distance in `near`
    (a copy 0-1 s longer or shorter): ids, lengths, profiles, planted pairs."""
    rng = np.random.default_rng(seed)
    profiles = rng.uniform(0.19, 0.81, (songs, dims)).astype(np.float32)
    lengths = np.clip(rng.normal(240, 60, songs), 60, 900)
    sources = rng.choice(songs, copies, replace=False)
    step = rng.normal(size=(copies, dims))
    step *= rng.uniform(*near, copies)[:, None] / np.linalg.norm(step, axis=1)[:, None]
    profiles = np.vstack([profiles, profiles[sources] + step.astype(np.float32)])
    lengths = np.concatenate([lengths, lengths[sources] + rng.uniform(-1, 1, copies)])
    ids = np.arange(len(lengths)) + 1
    planted = {(int(s) + 1, songs + k + 1) for k, s in enumerate(sources)}
    return ids, lengths, profiles, planted


@pytest.fixture
def small_cells(monkeypatch):
    """Cells of 100 tracks: a test-sized library gets dozens of them."""
    monkeypatch.setattr(cells, "CELL_SIZE", 100)


def search(ids, lengths, profiles, exact, twin=0.0, neighbours=2, radius=0.55):
    return NearestProfiles(
        ids, lengths, profiles, lambda _: 5.0, radius, neighbours, twin, exact=exact
    )


def test_cells_keep_every_copy_the_exact_search_finds(small_cells):
    ids, lengths, profiles, planted = library(1, 8000, 32, 800, (0.02, 0.45))
    exact = search(ids, lengths, profiles, exact=True).pairs()
    cells = search(ids, lengths, profiles, exact=False)
    found = cells.pairs()
    assert cells._cells is not None and len(cells._cells.centres) >= 50
    assert planted <= exact
    assert planted <= found


def test_cells_keep_off_speed_copies_and_step_past_twins(small_cells):
    """Repetition profiles: off-speed copies 0.1-0.6 from their master, and
    an MP3 of each master (a twin, 0.01 away): the copy still proposes its
    master or the MP3, and every pair the exact search keeps is kept."""
    ids, lengths, profiles, planted = library(2, 6000, 48, 600, (0.1, 0.6))
    rng = np.random.default_rng(3)
    masters = np.array(sorted(a for a, _ in planted)) - 1
    mp3 = profiles[masters] + rng.normal(0, 0.002, (len(masters), 48))
    profiles = np.vstack([profiles, mp3.astype(np.float32)])
    lengths = np.concatenate([lengths, lengths[masters]])
    ids = np.arange(len(lengths)) + 1
    args = dict(twin=0.08, neighbours=1, radius=0.7)
    exact = search(ids, lengths, profiles, True, **args).pairs()
    found = search(ids, lengths, profiles, False, **args).pairs()
    mp3_of = {int(m) + 1: 6600 + k + 1 for k, m in enumerate(masters)}
    for a, b in planted:
        assert (a, b) in found or (b, mp3_of[a]) in found or (mp3_of[a], b) in found
    # A copy as near to a master as to its MP3 (a tie up to float rounding,
    # which differs from one CPU to another) may propose either of the two.
    twin_of = {**mp3_of, **{mp3: m for m, mp3 in mp3_of.items()}}
    exact_profiles = profiles.astype(np.float64)

    def distance(x: int, y: int) -> float:
        return float(np.linalg.norm(exact_profiles[x - 1] - exact_profiles[y - 1]))

    for a, b in exact - found:
        assert any(
            y in twin_of
            and tuple(sorted((x, twin_of[y]))) in found
            and abs(distance(x, y) - distance(x, twin_of[y])) < 1e-5
            for x, y in ((a, b), (b, a))
        ), (a, b)


def test_flat_profiles_cost_k_neighbours_each(small_cells):
    """Every profile within the radius of every other (noise-like tracks):
    each track still proposes only its nearest few, and planted copies,
    closer than the rest, are among them."""
    rng = np.random.default_rng(4)
    n = 5000
    profiles = (0.5 + rng.normal(0, 0.02, (n, 32))).astype(np.float32)
    lengths = np.full(n, 200.0) + rng.uniform(-3, 3, n)
    copies = (profiles[:500] + rng.normal(0, 0.002, (500, 32))).astype(np.float32)
    profiles = np.vstack([profiles, copies])
    lengths = np.concatenate([lengths, lengths[:500]])
    ids = np.arange(len(lengths)) + 1
    found = search(ids, lengths, profiles, exact=False).pairs()
    assert len(found) <= 2 * len(ids)
    assert {(k + 1, n + k + 1) for k in range(500)} <= found


def test_cells_respect_the_length_window_and_the_radius(small_cells):
    ids, lengths, profiles, _ = library(5, 6000, 32, 600, (0.02, 0.6))
    found = search(ids, lengths, profiles, exact=False).pairs()
    for a, b in found:
        assert abs(lengths[a - 1] - lengths[b - 1]) <= 5.0
        assert np.linalg.norm(profiles[a - 1] - profiles[b - 1]) <= 0.55 + 1e-5


def test_probing_every_cell_is_the_exact_search(monkeypatch):
    ids, lengths, profiles, _ = library(6, 1500, 32, 300, (0.0, 0.6))
    monkeypatch.setattr(cells, "CELL_SIZE", 300)
    monkeypatch.setattr(nearest, "PROBES", 8)  # 6 cells: every one
    for twin, k, radius in ((0.0, 2, 0.55), (0.08, 1, 0.7)):
        exact = search(ids, lengths, profiles, True, twin, k, radius).pairs()
        by_cells = search(ids, lengths, profiles, False, twin, k, radius).pairs()
        assert by_cells == exact


def test_queries_after_a_batch_see_added_and_built_tracks_alike(small_cells):
    ids, lengths, profiles, planted = library(7, 6000, 32, 600, (0.02, 0.3))
    index = search(ids, lengths, profiles, exact=False)
    assert planted <= index.pairs()
    assert index._cells is not None  # queries now look in the cells
    a, b = next(iter(sorted(planted)))
    assert b in index.query(profiles[a - 1], float(lengths[a - 1]), [a])
    new = profiles[a - 1] + 0.01
    index.add(99_999, float(lengths[a - 1]), new)
    assert 99_999 in index.query(profiles[a - 1], float(lengths[a - 1]), [a])
    index.discard(99_999)
    assert 99_999 not in index.query(profiles[a - 1], float(lengths[a - 1]), [a])


def test_an_import_in_a_large_library_queries_its_cells_not_the_window(small_cells):
    """Before an import's queries the cells are built (no batch search ran):
    each copy is found in them."""
    ids, lengths, profiles, planted = library(9, 6000, 32, 600, (0.02, 0.3))
    index = search(ids, lengths, profiles, exact=False)  # as a large library's
    index.prepare_queries()
    assert index._cells is not None
    for a, b in sorted(planted)[:50]:
        assert b in index.query(profiles[a - 1], float(lengths[a - 1]), [a])


def test_a_small_library_is_searched_exactly():
    ids, lengths, profiles, _ = library(8, 2000, 32, 200, (0.02, 0.3))
    index = search(ids, lengths, profiles, exact=None)
    index.pairs()
    assert index._cells is None


def test_a_search_shared_with_a_forked_process_gives_what_it_gives_here(small_cells):
    """The repetition search by cells comes in parts: a forked process takes
    them from the first on, this one from the last on once its own work is
    done; together they find what one search here finds."""
    from beetsplug.dedupfuzzy.matching import beside

    ids, lengths, profiles, _ = library(4, 6000, 48, 600, (0.1, 0.6))
    here = search(ids, lengths, profiles, exact=False, twin=0.08)
    there = search(ids, lengths, profiles, exact=False, twin=0.08)
    parts = there.parts(5)
    assert len(parts) == 5
    with beside.shared(len(parts), lambda k: there.pairs(parts[k])) as forked:
        expected = here.pairs()
        got = forked.results()
    assert len(got) == 5 and all(got)
    assert set().union(*got) == expected and len(expected) > 500


def test_parts_the_forked_process_leaves_are_computed_here():
    from beetsplug.dedupfuzzy.matching import beside

    here = os.getpid()

    def part(k: int) -> set[tuple[int, int]]:
        if os.getpid() != here and k == 2:  # in the forked process: it dies
            os._exit(1)
        return {(k, k + 1)}

    with beside.shared(4, part) as forked:
        got = forked.results()
    assert got == [{(0, 1)}, {(1, 2)}, {(2, 3)}, {(3, 4)}]


def test_an_exact_search_is_one_part():
    ids, lengths, profiles, _ = library(8, 2000, 32, 200, (0.02, 0.3))
    index = search(ids, lengths, profiles, exact=True)
    assert index.parts(16) == [None]
    assert index.pairs(None) == search(ids, lengths, profiles, exact=True).pairs()


def test_a_search_planned_in_parts_finds_what_it_finds_whole(small_cells, monkeypatch):
    """A million tracks' cell visits are planned a few hundred thousand at a
    time: the pairs are the same as when planned at once."""
    ids, lengths, profiles, planted = library(4, 6000, 32, 600, (0.02, 0.45))
    whole = search(ids, lengths, profiles, exact=False).pairs()
    monkeypatch.setattr(cells, "VISITS", 5000)
    parted = search(ids, lengths, profiles, exact=False).pairs()
    assert planted <= whole
    assert parted == whole
