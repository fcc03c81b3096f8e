"""Matching on plain data: guards, offsets, complete-linkage groups."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import BeetEnv

from beetsplug.dedupfuzzy.matching import blockindex, candidates, similarity
from beetsplug.dedupfuzzy.matching.candidates import CandidateIndex
from beetsplug.dedupfuzzy.matching.cliques import (
    DUPLICATE,
    UNCERTAIN,
    affected,
    build_groups,
    groups_of,
    regroup,
    with_copies,
)
from beetsplug.dedupfuzzy.matching.heldmodel import HeldModel
from beetsplug.dedupfuzzy.matching.matcher import (
    Match,
    Track,
    Verifier,
    find_matches,
)
from beetsplug.dedupfuzzy.matching.sharedkeys import with_hints
from beetsplug.dedupfuzzy.settings import MatchSettings


def song_frames(seed: int, n: int = 600) -> np.ndarray:
    """Frames that drift like real ones: a few bits change from frame to frame."""
    rng = np.random.default_rng(seed)
    frames = np.empty(n, dtype=np.uint32)
    value = np.uint32(rng.integers(0, 2**32))
    for i in range(n):
        flips = rng.integers(0, 32, size=rng.integers(1, 6))
        for b in flips:
            value ^= np.uint32(1 << int(b))
        frames[i] = value
    return frames


def degrade(frames: np.ndarray, ber: float, seed: int) -> np.ndarray:
    """Flip each bit with probability `ber` (a transcode)."""
    rng = np.random.default_rng(seed)
    bits = rng.random((len(frames), 32)) < ber
    noise = (bits * (1 << np.arange(32, dtype=np.uint64))).sum(axis=1)
    return frames ^ noise.astype(np.uint32)


def make(tracks: dict[int, tuple[np.ndarray, float]], settings=None):
    settings = settings or MatchSettings()
    objs = {}
    for tid, (frames, length) in tracks.items():
        s = blockindex.sketch(frames, similarity.is_informative(frames))
        objs[tid] = Track(tid, f"/m/{tid}".encode(), length, sketch=s)
    verifier = Verifier(objs, lambda i: tracks[i][0], settings)
    return list(objs.values()), verifier


def test_transcode_with_leading_silence_matches_at_its_offset():
    master = song_frames(1)
    shifted = np.concatenate([np.full(16, 0x5555, np.uint32), degrade(master, 0.03, 2)])
    tracks, verifier = make({1: (master, 200.0), 2: (shifted, 202.0)})
    (m,) = find_matches(tracks, verifier)
    assert m.similarity > 0.9
    assert m.offset == pytest.approx(16 * similarity.FRAME_SECONDS, abs=0.01)


def test_different_songs_do_not_match():
    tracks, verifier = make({1: (song_frames(1), 200.0), 2: (song_frames(2), 200.0)})
    assert find_matches(tracks, verifier) == []


def test_lengths_that_disagree_are_not_copies():
    master = song_frames(3)
    tracks, verifier = make({1: (master, 240.0), 2: (master.copy(), 200.0)})
    assert find_matches(tracks, verifier) == []


def test_silence_matches_nothing():
    silence = np.full(600, 0x1234, dtype=np.uint32)
    tracks, verifier = make({1: (silence, 60.0), 2: (silence.copy(), 60.0)})
    assert not similarity.is_informative(silence)
    assert find_matches(tracks, verifier) == []
    assert verifier.verify(1, 2) is None


def test_heavily_processed_copy_found_through_its_profile():
    master = song_frames(4)
    remaster = degrade(master, 0.12, 5)
    tracks, verifier = make({1: (master, 180.0), 2: (remaster, 180.0)})
    (m,) = find_matches(tracks, verifier)
    assert 0.7 < m.similarity < 0.8


def test_chain_does_not_join_items_that_do_not_match():
    """A~B and B~C strongly, but A and C differ: not one group of three."""
    settings = MatchSettings(auto_threshold=0.8, ask_threshold=0.5)
    a = song_frames(6)
    b = degrade(a, 0.06, 7)
    c = degrade(b, 0.06, 8)
    tracks, verifier = make({1: (a, 100.0), 2: (b, 100.0), 3: (c, 100.0)}, settings)
    # A~C is about 0.11 BER: similarity ~0.78, under the auto threshold.
    matches = [verifier.verify(1, 2), verifier.verify(2, 3)]
    groups = build_groups([m for m in matches if m], verifier)
    dup = [g for g in groups if g.status == DUPLICATE]
    assert all(len(g.ids) == 2 for g in dup)
    assert [g for g in groups if g.status == UNCERTAIN]


def test_uncertain_band_is_reported_not_grouped():
    settings = MatchSettings(auto_threshold=0.9, ask_threshold=0.6)
    a = song_frames(9)
    tracks, verifier = make({1: (a, 100.0), 2: (degrade(a, 0.12, 10), 100.0)}, settings)
    groups = build_groups(find_matches(tracks, verifier), verifier)
    assert [g.status for g in groups] == [UNCERTAIN]


def test_candidate_query_finds_the_copy_and_its_shift():
    master = song_frames(11)
    sketches = [blockindex.sketch(master), blockindex.sketch(song_frames(12))]
    index = CandidateIndex.of([1, 2], [100.0, 100.0], sketches, 5.0)
    copy = np.concatenate([np.full(10, 7, np.uint32), degrade(master, 0.02, 13)])
    found = index.query(blockindex.sketch(copy), 101.0)
    assert 1 in found and found[1][0] == -10
    # Added later (as during an import), found the same way.
    index.add(3, 101.0, blockindex.sketch(copy))
    assert 3 in index.query(blockindex.sketch(degrade(master, 0.02, 14)), 100.0)


def test_a_track_added_again_is_found_by_its_new_version():
    """A track discarded and added again (an item changed during an import,
    or its id reused) is found by its new sketch, not its old one's keys."""
    masters = [song_frames(30 + k) for k in range(3)]
    sketches = [blockindex.sketch(m) for m in masters]
    index = CandidateIndex.of([1, 2, 3], [120.0] * 3, sketches, 5.0)
    copy_of_2 = blockindex.sketch(degrade(masters[1], 0.03, 35))
    assert index.query(blockindex.sketch(degrade(masters[0], 0.03, 34)), 120.0)[1]
    index.add(1, 120.0, copy_of_2)  # item 1 now holds song 2
    # Shared keys give shift hints: song 2's now, song 1's no more.
    found = index.query(blockindex.sketch(degrade(masters[1], 0.03, 36)), 120.0)
    assert found[1] and found[2]
    old = index.query(blockindex.sketch(degrade(masters[0], 0.03, 37)), 120.0)
    assert not old.get(1)


def test_batch_and_query_modes_find_the_same_copies():
    masters = [song_frames(20 + k) for k in range(6)]
    frames = masters + [degrade(m, 0.03, 40 + k) for k, m in enumerate(masters)]
    sketches = [blockindex.sketch(f) for f in frames]
    ids = list(range(1, 13))
    index = CandidateIndex.of(ids, [120.0] * 12, sketches, 5.0)
    batch = set(index.pairs().pairs)
    for k in range(6):
        assert (k + 1, k + 7) in batch
        assert k + 7 in index.query(sketches[k], 120.0, {k + 1})


def test_a_query_counts_shared_keys_and_hints_by_the_batch_rule():
    """One rule for shared keys: a query's shift hints are the batch's for
    the same pair (measured the other way round), added tracks included."""
    masters = [song_frames(90 + k) for k in range(4)]
    copies = [
        np.concatenate([np.full(3 * k + 1, 9, np.uint32), degrade(m, 0.04, 95 + k)])
        for k, m in enumerate(masters)
    ]
    sketches = [blockindex.sketch(f) for f in masters + copies]
    index = CandidateIndex.of(list(range(1, 9)), [120.0] * 8, sketches, 5.0)
    hints = index.pairs().hints
    later = CandidateIndex.of([1, 2, 3, 4], [120.0] * 4, sketches[:4], 5.0)
    for k in range(4):
        batch = hints[(k + 1, k + 5)]
        assert batch and batch[0] == 3 * k + 1
        assert index.query(sketches[k + 4], 120.0, {k + 5})[k + 1] == [
            -h for h in batch
        ]
        later.add(k + 5, 120.0, sketches[k + 4])
        assert later.query(sketches[k], 120.0, {k + 1})[k + 5] == batch


def test_shared_keys_sorted_in_parts_give_the_same_pairs_and_hints(monkeypatch):
    """A million tracks' postings are sorted in parts split by key: the
    pairs, their shift hints and the queries are those of one sort."""
    masters = [song_frames(60 + k) for k in range(8)]
    frames = masters + [
        np.concatenate([np.full(k, 5, np.uint32), degrade(m, 0.03, 80 + k)])
        for k, m in enumerate(masters)
    ]
    sketches = [blockindex.sketch(f) for f in frames]
    ids = list(range(1, 17))

    def found():
        index = CandidateIndex.of(ids, [120.0] * 16, sketches, 5.0)
        return index.pairs()

    whole = found()
    monkeypatch.setattr(candidates, "KEY_PART", 50)
    parted = found()
    assert all((k + 1, k + 9) in whole.pairs for k in range(8))
    assert parted.pairs == whole.pairs
    assert dict(parted.hints) == dict(whole.hints)
    assert whole.hints[(4, 12)][0] == 3  # the copy starts 3 frames late
    # Looked up together (as the verifier does), the hints are the same;
    # pairs without any (among them ids never indexed) get none.
    asked = [*whole.pairs, (1, 2), (2, 1), (0, 99), (16, 17)]
    together = with_hints(asked, whole.hints)
    assert [(a, b) for a, b, _ in together] == asked
    assert [list(s) for _, _, s in together] == [
        whole.hints.get(pair, []) for pair in asked
    ]
    assert any(s for _, _, s in together) and not any(s for _, _, s in together[-4:])


def test_flat_profiles_cost_k_neighbours_each_not_every_pair():
    """Noise-like tracks all lie within the profile radius of each other:
    each still proposes only its nearest few."""
    rng = np.random.default_rng(3)
    n = 300
    frames = [
        rng.integers(0, 2**32, 400, dtype=np.uint64).astype(np.uint32) for _ in range(n)
    ]
    sketches = [blockindex.sketch(f) for f in frames]
    index = CandidateIndex.of(list(range(n)), [200.0] * n, sketches, 5.0)
    assert len(index.pairs().pairs) <= 2 * n


def test_regrouping_what_changed_equals_grouping_everything():
    """A chain A~B~C plus a new copy D of A: regrouping only what D touches
    gives the groups a run over everything gives."""
    settings = MatchSettings(auto_threshold=0.8, ask_threshold=0.5)
    a = song_frames(6)
    b, d = degrade(a, 0.06, 7), degrade(a, 0.02, 9)
    c = degrade(b, 0.06, 8)
    e = song_frames(30)
    tracks, verifier = make(
        {1: (a, 100.0), 2: (b, 100.0), 3: (c, 100.0), 4: (d, 100.0), 5: (e, 90.0)},
        settings,
    )
    everything = find_matches(tracks, verifier)
    whole = [
        sorted(g.ids)
        for g in build_groups(everything, verifier)
        if g.status == DUPLICATE
    ]
    before = [m for m in everything if 4 not in (m.a, m.b)]
    counter = iter(range(100, 200))
    old = regroup({1, 2, 3, 5}, {}, before, verifier, lambda: next(counter))
    touched = affected([4], old, everything, settings.auto_threshold)
    assert 5 not in touched
    new = regroup(touched, old, everything, verifier, lambda: next(counter))
    recs = {**old, **new}
    shown = [
        sorted(g.ids) for g in groups_of(recs, everything) if g.status == DUPLICATE
    ]
    assert sorted(shown) == sorted(whole)
    assert recs[5] == old[5]


def test_an_import_groups_from_its_held_model_what_the_whole_model_gives():
    """The import keeps the model indexed by item (`HeldModel`): what a new
    item touches and the matches among them are those the whole model gives,
    in the same order, also after an item left and its matches with it."""
    settings = MatchSettings(auto_threshold=0.8, ask_threshold=0.5)
    a = song_frames(6)
    b, d = degrade(a, 0.06, 7), degrade(a, 0.02, 9)
    c = degrade(b, 0.06, 8)
    e, f = song_frames(30), song_frames(31)
    tracks, verifier = make(
        {
            1: (a, 100.0),
            2: (b, 100.0),
            3: (c, 100.0),
            4: (d, 100.0),
            5: (e, 90.0),
            6: (degrade(e, 0.02, 10), 90.0),
            7: (f, 80.0),
        },
        settings,
    )
    everything = find_matches(tracks, verifier)
    before = [m for m in everything if 4 not in (m.a, m.b)]
    new = [m for m in everything if 4 in (m.a, m.b)]
    counter = iter(range(100, 200))
    old = regroup({1, 2, 3, 5, 6, 7}, {}, before, verifier, lambda: next(counter))
    held = HeldModel(dict(old), {frozenset((m.a, m.b)): m for m in before})
    whole = affected([4], old, everything, settings.auto_threshold)
    touched = affected(
        [4],
        held.recordings,
        new,
        settings.auto_threshold,
        members=held.members,
        matches_of=held.matches_of,
    )
    assert touched == whole and {1, 2, 4} <= touched and 5 not in touched
    listed = [m for m in everything if m.a in touched and m.b in touched]
    assert held.among(touched, new) == [m for m in before if m in listed] + new
    held.forget_item(2)
    assert all(2 not in (m.a, m.b) for m in held.matches.values())
    assert 2 not in held.members.get(old[2], set())
    assert held.among({1, 3}, []) == [m for m in before if {m.a, m.b} == {1, 3}]
    # A match remembered after others were forgotten comes after every
    # match remembered before it, as in the whole model's listing.
    later = Match(1, 7, 0.6, 0.0)
    held.remember([later])
    every = set(held.recordings)
    assert held.among(every, []) == [
        *(m for m in before if 2 not in (m.a, m.b) and m.a in every and m.b in every),
        later,
    ]


def test_sketch_survives_its_text_form():
    s = blockindex.sketch(song_frames(14))
    back = blockindex.decode_sketch(blockindex.encode_sketch(s))
    assert back is not None
    assert (back.keys == s.keys).all() and (back.positions == s.positions).all()
    assert np.abs(back.profile - s.profile).max() < 0.01
    assert s.repetition is not None
    assert np.abs(back.repetition - s.repetition).max() < 0.01
    assert blockindex.decode_sketch("1:old-version") is None
    # The bulk reader (a whole library at once) reads the same sketch.
    table = blockindex.SketchTable.decode([blockindex.encode_sketch(s), None])
    bulk = table.sketch(0)
    assert (bulk.keys == back.keys).all() and (bulk.positions == back.positions).all()
    assert np.array_equal(bulk.profile, back.profile)
    assert np.array_equal(bulk.repetition, back.repetition)
    assert table.sketch(1) is None


def test_sketches_encoded_together_read_as_each_encoded_alone():
    """A first run encodes a chunk's sketches together: full ones in bulk,
    the rest (short, silent, missing) one by one; the texts are the same."""
    full = blockindex.sketch(song_frames(22))
    sketches = [
        blockindex.sketch(song_frames(20)),
        blockindex.sketch(song_frames(21, n=300)),  # no repetition profile
        blockindex.Sketch(full.keys[:10], full.positions[:10], full.profile),
        blockindex.EMPTY,
        blockindex.sketch(song_frames(23)),
        None,
    ]
    texts = blockindex.SketchTable.of(sketches).encode()
    assert texts[:5] == [blockindex.encode_sketch(s) for s in sketches[:5]]
    assert texts[5] is None
    assert sketches[0].repetition is not None and sketches[1].repetition is None
    assert len(sketches[2].keys) < blockindex.KEYS_PER_TRACK


def test_a_short_fingerprint_has_no_repetition_profile():
    """Each quarter must hold the longest lag (12 s): under ~48 s, none."""
    assert blockindex.sketch(song_frames(14, n=300)).repetition is None


def test_match_orientation():
    m = Match(1, 2, 0.9, 1.5)
    assert m.other(1) == 2 and m.other(2) == 1


def test_a_chorus_hinting_at_the_wrong_shift_does_not_hide_a_copy():
    """A key that recurs (a repeated chorus) may be shared at two places, so
    its shift hint points between the repeats: the straight search still runs."""
    verse, chorus, bridge = song_frames(3, 60), song_frames(4, 30), song_frames(5, 400)
    master = np.concatenate([chorus, verse, chorus, bridge])
    copy = degrade(master, 0.03, 6)
    _, verifier = make({1: (master, 70.0), 2: (copy, 70.0)})
    wrong = len(chorus) + len(verse)  # the first chorus against the second

    m = verifier.verify(1, 2, [wrong])

    assert m is not None and m.similarity > 0.85 and m.offset == 0.0


def test_a_fingerprint_at_the_repetition_profiles_minimum_gets_none():
    from beetsplug.dedupfuzzy.matching.repetition import MIN_FRAMES, repetition_profile

    rng = np.random.default_rng(3)
    frames = rng.integers(0, 2**32, size=MIN_FRAMES, dtype=np.uint64)
    assert repetition_profile(frames.astype(np.uint32)) is None
    longer = rng.integers(0, 2**32, size=MIN_FRAMES + 1, dtype=np.uint64)
    profile = repetition_profile(longer.astype(np.uint32))
    assert profile is not None and np.isfinite(profile).all()


def test_frames_decoded_through_libchromaprint_equal_pyacoustids():
    from beetsplug.dedupfuzzy.matching import codec

    frames = np.random.default_rng(7).integers(0, 2**32, 1500, dtype=np.uint32)
    text = codec.encode(frames)
    assert np.array_equal(codec.decode(text), frames)
    assert np.array_equal(codec._decode_pyacoustid(text.encode()), frames)
    for bad in ("", "zzzz", "AQAAxyz!!", "AQAA\u00e9t\u00e9", "===="):
        with pytest.raises(codec.CodecError):
            codec.decode(bad)


def test_a_padded_fingerprint_decodes_and_does_not_abort_the_process():
    # libchromaprint 1.5.1 writes past its buffer when bytes follow the
    # data, and glibc aborts: decoded in a process of its own.
    from beetsplug.dedupfuzzy.matching import codec

    frames = np.random.default_rng(8).integers(0, 2**32, 1500, dtype=np.uint32)
    text = codec.encode(frames)
    padded = text + "=" * (-len(text) % 4 or 4)
    script = (
        "import sys\n"
        "from beetsplug.dedupfuzzy.matching import codec\n"
        "for text in sys.argv[1:]:\n"
        "    print(len(codec.decode(text)), int(codec.decode(text).sum()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, padded, f" {text}\n"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    expected = f"{len(frames)} {int(frames.sum())}"
    assert done.stdout.split("\n")[:2] == [expected, expected]


def test_repetition_profile_is_each_quarters_ber_at_each_lag():
    from beetsplug.dedupfuzzy.matching import repetition as rep

    frames = song_frames(5, 900)
    n, longest = len(frames), int(rep.LAGS[-1])
    rows = []
    for k in range(rep.PARTS):
        start, stop = k * n // rep.PARTS, min(n, (k + 1) * n // rep.PARTS + longest)
        rows.append(
            [
                np.mean(
                    [
                        bin(int(frames[i] ^ frames[i + lag])).count("1") / 32.0
                        for i in range(start, stop - lag)
                    ]  # fmt: skip
                )
                for lag in rep.LAGS.tolist()
            ]
        )
    ber = np.array(rows)
    z = (ber - ber.mean(axis=1, keepdims=True)) / ber.std(axis=1, keepdims=True)
    expected = np.clip(z.ravel(), -4, 4) / np.sqrt(rep.DIMS)
    assert np.allclose(rep.repetition_profile(frames), expected, atol=1e-5)


# A heavy remaster as bench/bench_corpus.py makes it: +6 dB bass, -5 dB
# presence, 4:1 compression (10-18 % of the bits differ).
HEAVY_REMASTER = (
    "equalizer=f=100:t=q:w=1:g=6,equalizer=f=3000:t=q:w=1:g=-5,"
    "acompressor=threshold=-20dB:ratio=4"
)


def test_a_heavy_remaster_does_not_push_a_clean_copy_out_of_its_group(
    tmp_path, corpus
) -> None:
    """Real copies of one song, and a heavy remaster that matches each of
    them strongly but one: the AAC copy trimmed at the start (0.76, under
    `auto_threshold`; every other pair 0.78-0.95). Both then have the same
    number of strong matches; the clique keeps the clean copy, the remaster
    is left to a human (an uncertain pair). It used to keep whichever came
    first in the library (the remaster, imported from "heavy/")."""
    env = BeetEnv(tmp_path)
    env.write_config("dedupfuzzy:\n    auto: no\n")
    copies = [e for e in corpus.entries if e.recording == "song03-album"]
    for e in copies:
        target = env.libdir / e.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(corpus.path(e), target)
    master = next(e for e in copies if e.variant == "master")
    heavy = env.libdir / "heavy" / "Rain shadow avenue (heavy remaster).flac"
    heavy.parent.mkdir()
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(corpus.path(master)),
         "-af", HEAVY_REMASTER, "-sample_fmt", "s16", str(heavy)],
        check=True,
    )  # fmt: skip
    env.run("import", "-A", "-s", "-C", "-q", str(env.libdir))

    doc = json.loads(env.run("dedupfuzzy", "--json").stdout)

    groups = [
        {os.path.relpath(i["path"], env.libdir) for i in g["items"]}
        for g in doc["groups"]
        if g["status"] == "duplicate"
    ]
    assert groups == [{e.relpath for e in copies}]
    uncertain = [g for g in doc["groups"] if g["status"] == "uncertain"]
    assert any(
        os.path.relpath(i["path"], env.libdir) == "heavy/" + heavy.name
        for g in uncertain
        for i in g["items"]
    )


def test_two_copies_of_one_recording_take_one_place_among_the_nearest():
    """An off-speed copy's nearest repetition profiles may be another song's
    master and its MP3 (all but identical profiles): they count as one, so
    its own master, next after them, is proposed too, in both modes."""
    from beetsplug.dedupfuzzy.matching.nearest import NearestProfiles

    rng = np.random.default_rng(5)
    copy = rng.normal(size=48).astype(np.float32)
    copy /= np.linalg.norm(copy)

    def at(distance: float, seed: int) -> np.ndarray:
        step = np.random.default_rng(seed).normal(size=48).astype(np.float32)
        step -= (step @ copy) * copy  # orthogonal: the distance is exact
        return copy + distance * step / np.linalg.norm(step)

    other_master, own_master = at(0.48, 1), at(0.52, 2)
    other_mp3 = other_master + 0.005 * (at(1.0, 3) - copy)
    own_mp3 = own_master + 0.005 * (at(1.0, 4) - copy)
    profiles = np.array([copy, other_master, other_mp3, own_master, own_mp3])
    lengths = [160.0, 160.0, 160.0, 163.0, 163.0]

    def search(twin: float) -> NearestProfiles:
        return NearestProfiles(range(5), lengths, profiles, lambda _: 6.0, 0.7, 1, twin)

    own = {(0, 3), (0, 4)}
    assert not own & search(0.0).pairs()
    assert own & search(0.08).pairs()
    assert search(0.0).query(copy, 160.0, skip=[0]) == {1, 2}
    assert search(0.08).query(copy, 160.0, skip=[0]) in ({1, 3}, {1, 4})


def test_informative_fingerprints_tested_together_as_each_alone() -> None:
    rng = np.random.default_rng(5)

    def noise(n: int) -> np.ndarray:
        return rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)

    prints = [
        np.zeros(0, np.uint32),  # empty
        np.zeros(300, np.uint32),  # digital silence
        noise(39),  # too short
        noise(41),
        np.repeat(noise(30), 10),  # barely changing
        np.tile(noise(23), 30),  # too few distinct values
        np.tile(noise(24), 30),
        np.concatenate([np.repeat(noise(5), 40), noise(400)]),  # values later on
        song_frames(3),
    ]
    alone = [similarity.is_informative(p) for p in prints]
    assert similarity.informative_many(prints) == alone
    assert similarity.informative_many(prints[::-1]) == alone[::-1]
    assert alone == [False, False, False, True, False, False, True, True, True]


def test_bottom_k_keys_are_each_runs_smallest_distinct_hashes():
    """The sketch keys of many runs at once are, per run, its smallest
    distinct hashes at their first positions, whatever the runs hold: long
    ones, short ones, ones with few distinct values (a steady passage), ones
    with fewer distinct values than keys."""
    rng = np.random.default_rng(5)
    runs = [
        rng.integers(0, 2**32, 969, dtype=np.uint64).astype(np.uint32),
        rng.integers(0, 2**32, 150, dtype=np.uint64).astype(np.uint32),
        rng.choice(rng.integers(0, 2**32, 120, dtype=np.uint64), 969).astype(np.uint32),
        rng.choice(rng.integers(0, 2**32, 30, dtype=np.uint64), 969).astype(np.uint32),
        np.full(500, 7, np.uint32),
        blockindex._mix(song_frames(9)),
    ]
    lengths = np.array([len(r) for r in runs], np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])

    keys, positions = blockindex._bottom_k_many(np.concatenate(runs), starts, lengths)

    for run, got_keys, got_positions in zip(runs, keys, positions, strict=True):
        values, first = np.unique(run, return_index=True)
        want = min(blockindex.KEYS_PER_TRACK, len(values))
        assert got_keys.tolist() == values[:want].tolist()
        assert got_positions.tolist() == first[:want].tolist()


def test_recordings_with_copies_list_their_items_in_the_models_order():
    """Each recording held by more than one item, with its items in the
    model's order; recordings of one item are left out."""
    recordings = {9: 5, 2: 7, 4: 5, 8: 1, 3: 7, 6: 5, 1: 2}

    assert with_copies(recordings) == {5: [9, 4, 6], 7: [2, 3]}
    assert list(with_copies(recordings)) == [5, 7]
    assert with_copies({}) == {} and with_copies({1: 1, 2: 2}) == {}
