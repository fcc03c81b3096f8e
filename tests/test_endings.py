"""Pure parts of judging the whole recording: stretches, drift, ending windows."""

from __future__ import annotations

import numpy as np
import pytest

from beetsplug.dedupfuzzy.matching import endings, similarity
from beetsplug.dedupfuzzy.matching.endings import TimeMap


def drifting_frames(seed: int, n: int = 900) -> np.ndarray:
    """Frames that change a few bits at a time, like real ones."""
    rng = np.random.default_rng(seed)
    flips = rng.integers(0, 32, size=(n, 3))
    steps = np.bitwise_or.reduce(
        np.left_shift(np.uint32(1), flips.astype(np.uint32)), 1
    )
    return np.bitwise_xor.accumulate(steps.astype(np.uint32)) ^ np.uint32(
        rng.integers(0, 2**32)
    )


def stretched(frames: np.ndarray, speed: float, ber: float, seed: int) -> np.ndarray:
    """The frames of a copy lasting `speed` times as long, a few bits flipped."""
    rng = np.random.default_rng(seed)
    j = np.arange(int(len(frames) * speed))
    out = frames[np.minimum(len(frames) - 1, np.rint(j / speed).astype(int))]
    bits = rng.random((len(out), 32)) < ber
    noise = (bits * (1 << np.arange(32, dtype=np.uint64))).sum(axis=1)
    return out ^ noise.astype(np.uint32)


def test_a_lead_in_is_no_difference_in_length_an_intro_cut_is() -> None:
    # 8 s of room noise in front: 8 s longer, starting 8 s later.
    assert endings.stretch_difference(180.0, 188.0, TimeMap(1.0, 8.0)) == 0.0
    # a radio edit: same start, 20 s shorter
    assert endings.stretch_difference(180.0, 160.0, TimeMap()) == -20.0
    # a tape 1 % slow is 1 % longer
    assert endings.stretch_difference(200.0, 202.0, TimeMap(1.01)) == pytest.approx(0)


@pytest.mark.parametrize("speed", [0.98, 0.992, 1.003, 1.02])
def test_drift_gives_the_speed_of_an_off_speed_copy(speed: float) -> None:
    a = drifting_frames(1)
    b = stretched(a, speed, 0.1, 2)
    drift = similarity.fit_drift(a, b, max_shift=97)
    assert drift is not None and drift.is_speed_error
    assert drift.speed == pytest.approx(speed, abs=0.001)
    followed = similarity.align_drifting(a, b, drift)
    straight = similarity.align(a, b, max_shift=97, min_overlap=160)
    assert followed.bit_error_rate < 0.15 < straight.bit_error_rate


def test_unrelated_frames_show_no_drift() -> None:
    assert similarity.fit_drift(drifting_frames(1), drifting_frames(2), 97) is None


def test_the_screen_passes_copies_and_turns_down_other_songs() -> None:
    a = drifting_frames(1)
    pairs = [
        (a, stretched(a, 1.0, 0.15, 2)),  # a noisy transcode
        (a, np.concatenate([drifting_frames(4, 40), stretched(a, 1.0, 0.1, 3)])),
        (a, stretched(a, 1.02, 0.1, 2)),  # 2 % slow
        (a, drifting_frames(2)),  # another song
        (drifting_frames(5), drifting_frames(6)),
        (drifting_frames(7, 200), drifting_frames(8, 200)),  # too short to tell
    ]
    assert similarity.may_line_up(pairs, 97) == [True, True, True, False, False, True]
    assert similarity.may_line_up([], 97) == []


def test_a_short_track_is_judged_on_its_fingerprint_alone() -> None:
    # 48 s: the window lies inside fpcalc's two minutes
    window, other = endings.window_spans(48.0, 48.0, TimeMap())
    head = drifting_frames(3, n=390)
    assert endings.from_head(head, window) is not None
    assert endings.from_head(head, other) is not None
    # 20 s: too short for a window at all
    assert endings.window_spans(20.0, 20.0, TimeMap()) is None


def test_a_long_track_needs_an_excerpt_of_its_end() -> None:
    window, other = endings.window_spans(200.0, 208.0, TimeMap(1.0, 8.0))
    head = drifting_frames(3, n=970)  # 120 s
    assert endings.from_head(head, window) is None
    assert window.start == pytest.approx(200 - 39.5)
    assert other.start == pytest.approx(208 - 39.5)
    # off speed: the span covers 2 % more of the file, played back faster
    _, fast = endings.window_spans(200.0, 204.0, TimeMap(1.02))
    assert fast.speed == 1.02 and fast.seconds == pytest.approx(17 * 1.02)


def test_the_ending_decides_between_same_and_other_material() -> None:
    a = drifting_frames(4, n=200)
    same = np.concatenate([drifting_frames(9, n=20), a])  # 20 frames earlier
    other = drifting_frames(5, n=220)
    window = a[20:120]
    assert endings.ending_similarity(window, same, 40 * similarity.FRAME_SECONDS) > 0.95
    assert endings.ending_similarity(window, other, 40 * similarity.FRAME_SECONDS) < 0.5


def test_windows_compared_together_score_as_each_alone() -> None:
    # Leads from 0 to 60 frames, same and other material, a silent window:
    # one array operation for all must give each pair its own answer.
    cases = []
    for k in range(12):
        a = drifting_frames(20 + k, n=260)
        lead = 5 * k
        same = np.concatenate([drifting_frames(40 + k, n=lead), a[20:]])
        other = drifting_frames(60 + k, n=240)
        window = a[20:120]
        cases.append(
            (window, same if k % 3 else other, lead * similarity.FRAME_SECONDS)
        )
    cases.append((np.zeros(100, np.uint32), drifting_frames(7, n=200), 1.0))
    together = endings.ending_similarities(cases)
    alone = [endings.ending_similarities([case])[0] for case in cases]
    assert together == alone
    assert together[-1] is None
    assert sum(s is not None and s > 0.95 for s in together) == 8
