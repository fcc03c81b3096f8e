"""The audio of the whole-recording cases: what happens after fpcalc's two minutes.

Each function takes a song's album rendering (float32 stereo at 44.1 kHz)
and returns a new one. Copies of the same recording: a long lead-in of room
noise (a needle drop), a DJ-mix copy whose last 25 s cross-fade into another
song. Other recordings that share the opening: a medley (the first 90 s,
then another song), an alternate ending (the last 45 s replaced by other
sections of the same song), an extended outro (30 s more), and a live-like
take (the same notes, another tempo, sound and room). Speed errors and a key
change are ffmpeg filters on the album rendering (see `corpus.py`).
"""

from __future__ import annotations

import numpy as np
import synthmusic
from synthmusic import Section

SR = 44100
MIN_SECONDS = 150.0  # the cases are about what lies past fpcalc's 120 s
PREGAP_SECONDS = 8.0
MEDLEY_AT = 90.0
DJ_FADE_SECONDS = 25.0
ALT_ENDING_SECONDS = 45.0
EXTRA_OUTRO_SECONDS = 30.0
OTHER_SONG = 5000  # seed offset of the song a medley or a DJ mix runs into


def _fade(n: int) -> np.ndarray:
    return np.linspace(1.0, 0.0, n, dtype=np.float32)[:, None]


def _level(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    peak = float(np.abs(x).max())
    return x * (float(np.abs(like).max()) / peak) if peak > 0 else x


def _join(first: np.ndarray, second: np.ndarray, at: int, fade: int) -> np.ndarray:
    """`first` up to `at`, then `second` (from its start) after a short cross-fade."""
    out = first[: at + fade].copy()
    ramp = _fade(fade)
    out[at:] = first[at : at + fade] * ramp + second[:fade] * (1 - ramp)
    return np.concatenate([out, second[fade:]]).astype(np.float32)


def other_song(seed: int, seconds: float) -> np.ndarray:
    return synthmusic.render_song(seed + OTHER_SONG, seconds)


def pregap(album: np.ndarray, seed: int) -> np.ndarray:
    """8 s of room noise (rumble, hiss, mains hum at -50 dB) before the music."""
    rng = np.random.default_rng([seed, 8])
    n = round(PREGAP_SECONDS * SR)
    hiss = rng.standard_normal((n, 2)) * 0.002
    rumble = np.cumsum(rng.standard_normal((n, 2)), axis=0)
    rumble -= np.linspace(rumble[0], rumble[-1], n)
    rumble *= 0.003 / max(1e-9, float(np.abs(rumble).max()))
    hum = 0.003 * np.sin(2 * np.pi * 50 * np.arange(n) / SR)[:, None]
    noise = (hiss + rumble + hum).astype(np.float32)
    return np.concatenate([noise, album]).astype(np.float32)


def medley(album: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The first 90 s, then another song from its 30th second; the same length."""
    start = round(30.0 * SR)
    tail = other[start : start + len(album)]
    return _join(album, _level(tail, album), round(MEDLEY_AT * SR), SR)[: len(album)]


def dj_mix(album: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The last 25 s cross-faded into another song, as a DJ mix cuts it."""
    n = round(DJ_FADE_SECONDS * SR)
    start = round(40.0 * SR)
    out = album.copy()
    ramp = _fade(n)
    out[-n:] = album[-n:] * ramp + _level(other, album)[start : start + n] * (1 - ramp)
    return out


def alternate_ending(album: np.ndarray, seed: int) -> np.ndarray:
    """The last 45 s replaced by other sections of the same song."""
    bar = synthmusic.song_plan(seed).bar_seconds
    bars = int(np.ceil((ALT_ENDING_SECONDS + 2) / bar / 3)) + 1
    sections = [
        Section("bridge2", bars),
        Section("chorus3", bars),
        Section("outro2", bars),
    ]
    ending = _level(synthmusic.render_arrangement(seed, sections), album)
    at = len(album) - round(ALT_ENDING_SECONDS * SR)
    return _join(album, ending, at, SR)[: len(album)]


def extended_outro(seed: int, duration: float) -> np.ndarray:
    """The album arrangement with its outro played on for 30 s more."""
    sections = synthmusic.song_form(seed, duration, "album")
    bar = synthmusic.song_plan(seed).bar_seconds
    extra = Section("outro2", max(1, round(EXTRA_OUTRO_SECONDS / bar)))
    tail = duration - synthmusic.arrangement_seconds(seed, sections)
    return synthmusic.render_arrangement(seed, [*sections, extra], tail=tail)


def live_take(seed: int, duration: float) -> np.ndarray:
    """The same sections and notes, performed again: take 1 of the song."""
    sections = synthmusic.song_form(seed, duration, "album")
    return synthmusic.render_arrangement(seed, sections, take=1)
