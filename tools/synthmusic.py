"""Deterministic synthetic songs: the musical material of the test corpus.

Every seed gives a different song: its own key and mode, tempo, metre, chord
progressions, melodies, bass line, drum patterns, instrument timbres, mix and
room. A song is built from sections (intro, verse, chorus, bridge, outro) whose
content depends only on the seed and the section's label, so edits of one song
(a radio edit, an extended mix) are made by rendering another list of sections
from the same material. Everything is plain numpy: a wavetable oscillator for
the pitched parts, filtered noise and swept sines for the drums and a small
Schroeder reverb, fast enough to render a 50 s song in a fraction of a second.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

PARTS: tuple[str, ...] = ("melody", "chords", "bass", "drums")
SECTION_KINDS: tuple[str, ...] = ("intro", "verse", "chorus", "bridge", "outro")
PEAK_DBFS = -1.0

MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
}
_TABLE_SIZE = 4096  # a power of two, so phases wrap with a bit mask

# maps (bar, sixteenth step) within a section to seconds in the arrangement
Clock = Callable[[int, int], float]


@dataclass(frozen=True)
class Section:
    """One section of an arrangement: a label such as "verse2" and its length.

    The kind ("verse") fixes the chord progression; the full label also picks
    the melody and drum variation, so "chorus" and "chorus2" share harmony but
    not every note.
    """

    label: str
    bars: int

    @property
    def kind(self) -> str:
        """The section kind, the label without its trailing number."""
        return self.label.rstrip("0123456789")

    @property
    def variation(self) -> int:
        """The trailing number of the label, 1 when there is none."""
        digits = self.label[len(self.kind) :]
        return int(digits) if digits else 1


@dataclass(frozen=True)
class Timbre:
    """A pitched instrument: one wavetable cycle plus envelope and modulation."""

    table: np.ndarray
    attack: float
    decay: float
    sustain: float
    release: float
    vibrato_depth: float
    vibrato_rate: float
    detune_cents: float
    gain: float
    pan: float


@dataclass(frozen=True)
class Note:
    """A pitched note in seconds from the start of the arrangement."""

    part: str
    start: float
    length: float
    pitch: float
    velocity: float


@dataclass(frozen=True)
class Hit:
    """A drum hit in seconds from the start of the arrangement."""

    drum: str
    start: float
    velocity: float


@dataclass(frozen=True)
class SongPlan:
    """Everything about a song that does not depend on its arrangement."""

    seed: int
    tonic: int
    mode: str
    bpm: float
    beats_per_bar: int
    swing: float
    progressions: dict[str, tuple[int, ...]]
    chords_per_bar: int
    seventh_chords: bool
    chord_style: str
    chord_pattern: tuple[bool, ...]
    chord_low: int
    arp_order: str
    arp_step: int
    bass_style: str
    bass_pattern: tuple[bool, ...]
    melody_centre: int
    melody_step_weights: tuple[float, ...]
    melody_durations: tuple[int, ...]
    melody_rest_prob: float
    kick_pattern: tuple[bool, ...]
    snare_pattern: tuple[bool, ...]
    hat_pattern: tuple[bool, ...]
    intro_drums: str
    timbres: dict[str, Timbre]
    drum_gain: float
    reverb_wet: float
    reverb_size: float

    @property
    def steps_per_bar(self) -> int:
        """Sixteenth-note steps in one bar."""
        return self.beats_per_bar * 4

    @property
    def bar_seconds(self) -> float:
        """The length of one bar in seconds."""
        return self.beats_per_bar * 60.0 / self.bpm

    @property
    def scale(self) -> tuple[int, ...]:
        """Semitone offsets of the mode's seven degrees."""
        return MODES[self.mode]


def song_plan(seed: int, take: int = 0) -> SongPlan:
    """Draw a song's key, tempo, style, patterns and instruments from its seed.

    `take` 0 is the studio recording; other takes are live-like performances
    of the same notes: a tempo 2-5 % off, other instrument sounds, another
    swing, mix and room.
    """
    plan = _studio_plan(seed)
    if take == 0:
        return plan
    rng = np.random.default_rng([seed, 1000 + take])
    tempo = 1.0 + float(rng.choice([-1.0, 1.0])) * float(rng.uniform(0.02, 0.05))
    return replace(
        plan,
        bpm=plan.bpm * tempo,
        swing=float(rng.uniform(0.0, 0.3)),
        timbres={
            part: _timbre(rng, part, pad=plan.chord_style == "pad")
            for part in plan.timbres
        },
        drum_gain=float(rng.uniform(0.5, 0.9)),
        reverb_wet=float(rng.uniform(0.2, 0.4)),
        reverb_size=float(rng.uniform(1.0, 1.5)),
    )


def _studio_plan(seed: int) -> SongPlan:
    rng = np.random.default_rng([seed, 0])
    beats = 3 if rng.random() < 0.2 else 4
    steps = beats * 4
    mode = str(rng.choice(list(MODES)))
    progressions = {kind: _progression(rng, kind) for kind in SECTION_KINDS}
    chord_style = str(rng.choice(["pad", "stabs", "arp", "strum", "pad", "arp"]))
    timbres = {
        "melody": _timbre(rng, "melody"),
        "chords": _timbre(rng, "chords", pad=chord_style == "pad"),
        "bass": _timbre(rng, "bass"),
    }
    durations = tuple(
        int(d) for d in rng.choice([1, 2, 2, 3, 4, 4, 6, 8], size=rng.integers(3, 6))
    )
    return SongPlan(
        seed=seed,
        tonic=int(rng.integers(0, 12)),
        mode=mode,
        bpm=float(rng.uniform(80.0, 150.0)),
        beats_per_bar=beats,
        swing=float(rng.choice([0.0, 0.0, rng.uniform(0.15, 0.33)])),
        progressions=progressions,
        chords_per_bar=int(rng.choice([1, 1, 2])),
        seventh_chords=bool(rng.random() < 0.4),
        chord_style=chord_style,
        chord_pattern=_pattern(rng, steps, density=rng.uniform(0.2, 0.45), first=True),
        chord_low=int(rng.integers(48, 58)),
        arp_order=str(rng.choice(["up", "down", "updown", "random"])),
        arp_step=int(rng.choice([1, 2, 2, 3])),
        bass_style=str(rng.choice(["whole", "pulse", "rootfifth", "pattern", "walk"])),
        bass_pattern=_pattern(rng, steps, density=rng.uniform(0.25, 0.5), first=True),
        melody_centre=int(rng.integers(62, 76)),
        melody_step_weights=tuple(rng.dirichlet([3, 6, 2, 6, 3, 1, 1]).tolist()),
        melody_durations=durations,
        melody_rest_prob=float(rng.uniform(0.05, 0.3)),
        kick_pattern=_kick_pattern(rng, beats),
        snare_pattern=_snare_pattern(rng, beats),
        hat_pattern=_hat_pattern(rng, steps),
        intro_drums=str(rng.choice(["none", "hats", "full"])),
        timbres=timbres,
        drum_gain=float(rng.uniform(0.5, 0.9)),
        reverb_wet=float(rng.uniform(0.08, 0.3)),
        reverb_size=float(rng.uniform(0.7, 1.3)),
    )


def _progression(rng: np.random.Generator, kind: str) -> tuple[int, ...]:
    """A chord progression as scale degrees (0 = tonic) for one section kind."""
    length = int(rng.choice([2, 3, 4, 4, 4, 6, 8]))
    weights = np.array([3.0, 1.0, 1.5, 2.5, 2.5, 2.5, 0.7])
    chords = [0 if kind in ("verse", "intro") and rng.random() < 0.6 else None]
    while len(chords) < length:
        probs = weights.copy()
        if chords[-1] is not None:
            probs[chords[-1]] = 0.0
        chords.append(int(rng.choice(7, p=probs / probs.sum())))
    if chords[0] is None:
        probs = weights.copy()
        probs[chords[1] if length > 1 else 0] = 0.0
        chords[0] = int(rng.choice(7, p=probs / probs.sum()))
    return tuple(int(c) for c in chords)


def _pattern(
    rng: np.random.Generator, steps: int, density: float, first: bool
) -> tuple[bool, ...]:
    """A random one-bar rhythm on the sixteenth grid."""
    hits = rng.random(steps) < density
    hits[0] = hits[0] or first
    return tuple(bool(h) for h in hits)


def _kick_pattern(rng: np.random.Generator, beats: int) -> tuple[bool, ...]:
    """A kick pattern: the downbeat plus random syncopations."""
    steps = beats * 4
    hits = np.zeros(steps, dtype=bool)
    hits[0] = True
    style = rng.integers(0, 3)
    if style == 0:  # four on the floor
        hits[::4] = True
    else:
        hits |= rng.random(steps) < (0.18 if style == 1 else 0.3)
        if beats == 4 and rng.random() < 0.7:
            hits[4::8] = False  # leave beats 2 and 4 to the snare
    return tuple(bool(h) for h in hits)


def _snare_pattern(rng: np.random.Generator, beats: int) -> tuple[bool, ...]:
    """A snare pattern: backbeat, half time or something odder, with ghosts."""
    steps = beats * 4
    hits = np.zeros(steps, dtype=bool)
    style = rng.integers(0, 4)
    if beats == 3:
        hits[[4, 8]] = True
    elif style == 0:
        hits[8] = True
    elif style == 3:
        hits[rng.choice(steps, size=3, replace=False)] = True
    else:
        hits[[4, 12]] = True
    hits |= rng.random(steps) < 0.06
    return tuple(bool(h) for h in hits)


def _hat_pattern(rng: np.random.Generator, steps: int) -> tuple[bool, ...]:
    """A hi-hat pattern: eighths, sixteenths, offbeats or random."""
    style = rng.integers(0, 4)
    idx = np.arange(steps)
    if style == 0:
        hits = idx % 2 == 0
    elif style == 1:
        hits = np.ones(steps, dtype=bool)
    elif style == 2:
        hits = idx % 4 == 2
    else:
        hits = rng.random(steps) < 0.55
    return tuple(bool(h) for h in hits)


def _timbre(rng: np.random.Generator, part: str, pad: bool = False) -> Timbre:
    """A random instrument: harmonic spectrum, envelope, vibrato and place."""
    n_harm = int(rng.integers(3, 15 if part != "bass" else 10))
    k = np.arange(1, n_harm + 1)
    amps = k ** -rng.uniform(0.5, 2.2) * rng.uniform(0.3, 1.2, size=n_harm)
    if rng.random() < 0.3:  # hollow, clarinet-like: odd harmonics only
        amps[1::2] *= 0.05
    if rng.random() < 0.3:  # a formant: boost a band of harmonics
        centre = rng.integers(2, max(3, n_harm))
        amps *= 1.0 + 2.0 * np.exp(-((k - centre) ** 2) / 2.0)
    phases = rng.uniform(0, 2 * np.pi, size=n_harm)
    x = np.arange(_TABLE_SIZE) * (2 * np.pi / _TABLE_SIZE)
    table = (amps[:, None] * np.sin(np.outer(k, x) + phases[:, None])).sum(axis=0)
    table /= np.abs(table).max()
    plucked = part == "melody" and rng.random() < 0.4
    if pad:
        attack, decay, sustain = rng.uniform(0.05, 0.4), rng.uniform(0.3, 1.0), 0.7
    elif plucked or part == "chords":
        attack, decay = rng.uniform(0.002, 0.01), rng.uniform(0.15, 0.6)
        sustain = rng.uniform(0.0, 0.3)
    else:
        attack, decay = rng.uniform(0.005, 0.06), rng.uniform(0.1, 0.5)
        sustain = rng.uniform(0.4, 0.9)
    return Timbre(
        table=table.astype(np.float32),
        attack=float(attack),
        decay=float(decay),
        sustain=float(sustain),
        release=float(rng.uniform(0.03, 0.25 if not pad else 0.6)),
        vibrato_depth=float(rng.uniform(0.0, 0.006) if part == "melody" else 0.0),
        vibrato_rate=float(rng.uniform(4.0, 6.5)),
        detune_cents=float(rng.uniform(3.0, 12.0) if part == "chords" else 0.0),
        gain={"melody": 0.8, "chords": 0.28, "bass": 0.5}[part]
        * float(rng.uniform(0.75, 1.25)),
        pan=float(rng.uniform(-0.4, 0.4) if part != "bass" else 0.0),
    )


def song_form(seed: int, duration: float, edit: str = "album") -> list[Section]:
    """The sections of a song version whose album version lasts `duration` s.

    `edit` is "album", "radio" (the last full section before the outro is left
    out, so the start is identical and the end comes sooner) or "extended" (a
    bridge and another chorus are inserted before the outro). Sections are
    sized so that the album version plus one second of tail fits `duration`.
    """
    plan = song_plan(seed)
    bar = plan.bar_seconds
    usable = max(duration - 1.0, 4 * bar)
    main = max(1, math.ceil(8.2 / bar))
    intro = max(1, round(0.1 * usable / bar))
    outro = max(1, round(0.08 * usable / bar))
    remaining = int(usable // bar) - intro - outro
    n_main = max(1, min(4, remaining // main))
    labels = ["verse", "chorus", "verse2", "chorus2"][:n_main]
    sections = [Section("intro", intro)]
    sections += [Section(label, main) for label in labels]
    spare = int(usable // bar) - sum(s.bars for s in sections) - outro
    if spare > 0:  # lengthen the first verse so the album fills its duration
        sections[1] = Section(sections[1].label, sections[1].bars + spare)
    sections.append(Section("outro", outro))
    if edit == "album":
        return sections
    if edit == "radio":
        return sections[:-2] + sections[-1:]
    if edit == "extended":
        extra = [Section("bridge", main), Section("chorus3", main)]
        return sections[:-1] + extra + sections[-1:]
    raise ValueError(f"unknown edit {edit!r}: expected album, radio or extended")


def section_starts(
    seed: int, sections: Sequence[Section], take: int = 0
) -> list[float]:
    """Start times in seconds of each section of an arrangement."""
    bar = song_plan(seed, take).bar_seconds
    starts, t = [], 0.0
    for section in sections:
        starts.append(t)
        t += section.bars * bar
    return starts


def arrangement_seconds(seed: int, sections: Sequence[Section], take: int = 0) -> float:
    """The musical length of an arrangement, without the release tail."""
    return sum(s.bars for s in sections) * song_plan(seed, take).bar_seconds


def render_song(
    seed: int,
    duration: float,
    *,
    parts: Sequence[str] = PARTS,
    sr: int = 44100,
) -> np.ndarray:
    """Render the album version of song `seed`, exactly `duration` s long.

    Returns float32 stereo samples of shape (n, 2) peaking at -1 dBFS (all
    zeros when `parts` is empty).
    """
    return mix(
        render_song_stems(seed, duration, parts=parts, sr=sr), n=round(duration * sr)
    )


def render_song_stems(
    seed: int,
    duration: float,
    *,
    parts: Sequence[str] = PARTS,
    sr: int = 44100,
) -> dict[str, np.ndarray]:
    """The parts of the album version of song `seed`, as for `render_stems`.

    Every stem is exactly `duration` seconds long; `mix` them to get the song,
    an instrumental or a single instrument.
    """
    sections = song_form(seed, duration, "album")
    tail = duration - arrangement_seconds(seed, sections)
    stems = render_stems(seed, sections, parts=parts, sr=sr, tail=tail)
    n = round(duration * sr)
    return {part: _fit(x, n) for part, x in stems.items()}


def render_arrangement(
    seed: int,
    sections: Sequence[Section],
    *,
    parts: Sequence[str] = PARTS,
    sr: int = 44100,
    tail: float = 1.0,
    take: int = 0,
) -> np.ndarray:
    """Render the given sections of song `seed` one after another.

    The result lasts the sections' length plus `tail` seconds of release and
    reverb, as float32 stereo of shape (n, 2) peaking at -1 dBFS (all zeros
    when `parts` is empty). Sections with the same label sound the same in
    every arrangement, so two arrangements sharing their first sections share
    their first samples up to the peak normalisation.
    """
    n = max(1, round((arrangement_seconds(seed, sections, take) + tail) * sr))
    stems = render_stems(seed, sections, parts=parts, sr=sr, tail=tail, take=take)
    return mix(stems, n=n)


def render_stems(
    seed: int,
    sections: Sequence[Section],
    *,
    parts: Sequence[str] = PARTS,
    sr: int = 44100,
    tail: float = 1.0,
    take: int = 0,
) -> dict[str, np.ndarray]:
    """Render each of `parts` separately, as float64 stereo of shape (n, 2).

    Stems carry their own reverb and are not normalised, so summing them
    gives the full mix. Which parts are rendered changes no other part.
    """
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}: expected {PARTS}")
    plan = song_plan(seed, take)
    n = max(1, round((arrangement_seconds(seed, sections, take) + tail) * sr))
    notes: list[Note] = []
    hits: list[Hit] = []
    starts = section_starts(seed, sections, take)
    for section, start in zip(sections, starts, strict=True):
        section_notes, section_hits = _section_events(plan, section, start)
        notes += section_notes
        hits += section_hits
    stems: dict[str, np.ndarray] = {}
    for part in parts:
        if part == "drums":
            stems[part] = _render_drums(plan, hits, n, sr) * plan.drum_gain
            continue
        timbre = plan.timbres[part]
        mono = _render_notes(timbre, [x for x in notes if x.part == part], n, sr)
        stereo = np.empty((n, 2))
        stereo[:, 0] = mono * math.sqrt(0.5 - 0.5 * timbre.pan)
        stereo[:, 1] = mono * math.sqrt(0.5 + 0.5 * timbre.pan)
        if part != "bass" and mono.any():
            stereo += _reverb(mono, sr, plan.reverb_size) * plan.reverb_wet
        stems[part] = stereo
    return stems


def mix(
    stems: dict[str, np.ndarray],
    parts: Sequence[str] | None = None,
    *,
    n: int | None = None,
) -> np.ndarray:
    """Sum the chosen stems (all by default) and bring the peak to -1 dBFS.

    Returns float32 stereo; `n` gives the length when no stem is chosen.
    """
    chosen = [stems[p] for p in (stems if parts is None else parts)]
    if not chosen:
        if n is None:
            raise ValueError("nothing to mix and no length given")
        return np.zeros((n, 2), dtype=np.float32)
    out = chosen[0].copy()
    for x in chosen[1:]:
        out += x
    peak = np.abs(out).max()
    if peak > 0:
        out *= 10 ** (PEAK_DBFS / 20) / peak
    return out.astype(np.float32)


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad samples to exactly n frames."""
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros((n - len(x), *x.shape[1:]), x.dtype)])


def _section_events(
    plan: SongPlan, section: Section, start: float
) -> tuple[list[Note], list[Hit]]:
    """Notes and drum hits of one section, from the plan and the label alone."""
    kind_index = SECTION_KINDS.index(section.kind)
    rng = np.random.default_rng([plan.seed, 1 + kind_index, section.variation])
    step = plan.bar_seconds / plan.steps_per_bar
    # every part draws from its own stream so that rendering fewer parts, or
    # changing one part's rules, leaves the others unchanged
    streams = rng.spawn(4)

    def at(bar: int, s: int) -> float:
        swing = plan.swing * step if s % 2 == 1 else 0.0
        return start + (bar * plan.steps_per_bar + s) * step + swing

    chords = [
        _chord_at(plan, section, bar, half)
        for bar in range(section.bars)
        for half in range(plan.chords_per_bar)
    ]
    notes = _chord_notes(plan, section, chords, at, step, streams[0])
    notes += _bass_notes(plan, section, chords, at, step, streams[1])
    if _has_melody(section, streams[2]):
        notes += _melody_notes(plan, section, chords, at, step, streams[2])
    hits = _drum_hits(plan, section, at, streams[3])
    return notes, hits


def _chord_at(plan: SongPlan, section: Section, bar: int, half: int) -> int:
    """The chord degree sounding in a bar (and half bar) of a section."""
    prog = plan.progressions[section.kind]
    return prog[(bar * plan.chords_per_bar + half) % len(prog)]


def _degree_pitch(plan: SongPlan, degree: int) -> int:
    """MIDI pitch class offset (may exceed an octave) of a scale degree."""
    octave, d = divmod(degree, 7)
    return plan.tonic + 12 * octave + plan.scale[d]


def _fold(pitch: int, low: int) -> int:
    """Move a pitch by whole octaves into [low, low + 12)."""
    return low + (pitch - low) % 12


def _chord_pitches(plan: SongPlan, degree: int) -> list[int]:
    """The voiced notes of the chord on a scale degree."""
    members = [degree, degree + 2, degree + 4]
    if plan.seventh_chords:
        members.append(degree + 6)
    return sorted(_fold(_degree_pitch(plan, m), plan.chord_low) for m in members)


def _chord_notes(
    plan: SongPlan,
    section: Section,
    chords: list[int],
    at: Clock,
    step: float,
    rng: np.random.Generator,
) -> list[Note]:
    """The chord part: pads, stabs, arpeggios or strums."""
    per_chord = plan.steps_per_bar // plan.chords_per_bar
    notes: list[Note] = []
    sparse = section.kind in ("intro", "outro")
    for i, degree in enumerate(chords):
        bar, half = divmod(i, plan.chords_per_bar)
        s0 = half * per_chord
        pitches = _chord_pitches(plan, degree)
        vel = 0.6 if sparse else 0.8
        if plan.chord_style == "pad" or (sparse and plan.chord_style != "arp"):
            for p in pitches:
                notes.append(Note("chords", at(bar, s0), per_chord * step, p, vel))
        elif plan.chord_style == "stabs":
            for s in range(s0, s0 + per_chord):
                if plan.chord_pattern[s]:
                    for p in pitches:
                        notes.append(Note("chords", at(bar, s), 1.5 * step, p, vel))
        elif plan.chord_style == "strum":
            for s in range(s0, s0 + per_chord, 4):
                for j, p in enumerate(pitches):
                    t = at(bar, s) + 0.012 * j
                    notes.append(Note("chords", t, 3.5 * step, p, vel * (1 - 0.1 * j)))
        else:
            order = _arp_order(plan, pitches, rng)
            for j, s in enumerate(range(s0, s0 + per_chord, plan.arp_step)):
                p = order[j % len(order)]
                notes.append(
                    Note("chords", at(bar, s), plan.arp_step * step * 1.5, p, vel)
                )
    return notes


def _arp_order(
    plan: SongPlan, pitches: list[int], rng: np.random.Generator
) -> list[int]:
    """The order in which an arpeggio walks through a chord."""
    up = pitches + [pitches[0] + 12]
    if plan.arp_order == "up":
        return up
    if plan.arp_order == "down":
        return up[::-1]
    if plan.arp_order == "updown":
        return up + up[-2:0:-1]
    return [int(p) for p in rng.permutation(up)]


def _bass_notes(
    plan: SongPlan,
    section: Section,
    chords: list[int],
    at: Clock,
    step: float,
    rng: np.random.Generator,
) -> list[Note]:
    """The bass line: roots and fifths in the song's bass style."""
    per_chord = plan.steps_per_bar // plan.chords_per_bar
    low = 33 + (plan.tonic + 3) % 12
    notes: list[Note] = []
    for i, degree in enumerate(chords):
        bar, half = divmod(i, plan.chords_per_bar)
        s0 = half * per_chord
        root = _fold(_degree_pitch(plan, degree), low)
        fifth = _fold(_degree_pitch(plan, degree + 4), low)
        style = "whole" if section.kind == "intro" else plan.bass_style
        if style == "whole":
            notes.append(Note("bass", at(bar, s0), per_chord * step * 0.95, root, 0.9))
        elif style == "pulse":
            for s in range(s0, s0 + per_chord, 2):
                notes.append(Note("bass", at(bar, s), 1.6 * step, root, 0.8))
        elif style == "rootfifth":
            for j, s in enumerate(range(s0, s0 + per_chord, 4)):
                p = root if j % 2 == 0 else fifth
                notes.append(Note("bass", at(bar, s), 3.5 * step, p, 0.85))
        elif style == "pattern":
            for s in range(s0, s0 + per_chord):
                if plan.bass_pattern[s]:
                    p = root + (12 if rng.random() < 0.15 else 0)
                    notes.append(Note("bass", at(bar, s), 1.8 * step, p, 0.85))
        else:  # walking: the root, then a note per beat wandering the scale
            for j, s in enumerate(range(s0, s0 + per_chord, 4)):
                p = _fold(
                    _degree_pitch(plan, degree + j * int(rng.choice([1, 2, -1]))), low
                )
                notes.append(
                    Note("bass", at(bar, s), 3.6 * step, p if j else root, 0.85)
                )
    return notes


def _has_melody(section: Section, rng: np.random.Generator) -> bool:
    """Whether a section carries the lead melody."""
    chance = {"intro": 0.3, "verse": 1.0, "chorus": 1.0, "bridge": 0.7, "outro": 0.5}
    return bool(rng.random() < chance[section.kind])


def _melody_notes(
    plan: SongPlan,
    section: Section,
    chords: list[int],
    at: Clock,
    step: float,
    rng: np.random.Generator,
) -> list[Note]:
    """The lead melody: two-bar phrases in an A A' B A' shape."""
    spb = plan.steps_per_bar
    phrase_steps = 2 * spb
    lift = {"chorus": 3, "bridge": -2, "intro": 0, "verse": 0, "outro": 0}
    # _degree_pitch adds the tonic back, so the centre is taken relative to it
    centre = plan.melody_centre + 2 * lift[section.kind] - plan.tonic
    centre_degree = round(centre * 7 / 12)
    motif_a = _motif(plan, rng, phrase_steps, centre_degree)
    motif_b = _motif(plan, rng, phrase_steps, centre_degree + int(rng.integers(-2, 3)))
    notes: list[Note] = []
    per_chord = spb // plan.chords_per_bar
    n_phrases = math.ceil(section.bars / 2)
    for ph in range(n_phrases):
        shape = (ph % 4) in (0, 1, 3)
        motif = motif_a if shape else motif_b
        if ph % 4 in (1, 3):  # the answer keeps the rhythm, bends the ending
            bent = [
                (s, d + int(rng.choice([-2, -1, 1, 2])), n) for s, d, n in motif[-2:]
            ]
            motif = motif[:-2] + bent
        for s, degree, length in motif:
            bar = 2 * ph + s // spb
            if bar >= section.bars:
                continue
            chord = chords[(bar * spb + s % spb) // per_chord]
            if (s % spb) % 4 == 0:
                degree = _nearest_chord_tone(degree, chord, plan.seventh_chords)
            pitch = int(np.clip(_degree_pitch(plan, degree), 52, 91))
            vel = 0.85 if (s % spb) % 4 == 0 else 0.7
            notes.append(Note("melody", at(bar, s % spb), length * step, pitch, vel))
    return notes


def _motif(
    plan: SongPlan, rng: np.random.Generator, steps: int, start_degree: int
) -> list[tuple[int, int, int]]:
    """A phrase as (step, scale degree, length in steps), a random walk."""
    out: list[tuple[int, int, int]] = []
    s, degree = 0, start_degree
    moves = np.array([-3, -2, -1, 0, 1, 2, 4])
    while s < steps - 2:
        length = int(rng.choice(plan.melody_durations))
        length = min(length, steps - s)
        if rng.random() >= plan.melody_rest_prob:
            out.append((s, degree, length))
        degree += int(rng.choice(moves, p=plan.melody_step_weights))
        degree = int(np.clip(degree, start_degree - 6, start_degree + 6))
        s += length
    if not out:
        out.append((0, start_degree, 4))
    return out


def _nearest_chord_tone(degree: int, chord: int, seventh: bool) -> int:
    """The chord tone (as a scale degree) closest to `degree`."""
    tones = [0, 2, 4, 6] if seventh else [0, 2, 4]
    best = degree
    for delta in (0, -1, 1, -2, 2, -3, 3):
        if (degree + delta - chord) % 7 in tones:
            best = degree + delta
            break
    return best


def _drum_hits(
    plan: SongPlan, section: Section, at: Clock, rng: np.random.Generator
) -> list[Hit]:
    """Kick, snare and hi-hat hits of a section."""
    hits: list[Hit] = []
    mode = {"intro": plan.intro_drums, "bridge": "half", "outro": "full"}.get(
        section.kind, "full"
    )
    if mode == "none":
        return hits
    spb = plan.steps_per_bar
    for bar in range(section.bars):
        if section.kind == "chorus" and bar % 4 == 0:
            hits.append(Hit("crash", at(bar, 0), 0.8))
        fill = bar == section.bars - 1 and section.bars > 1
        for s in range(spb):
            t = at(bar, s)
            accent = 1.0 if s % 4 == 0 else 0.75
            if mode != "hats":
                kick = plan.kick_pattern[s] and (mode != "half" or s % 8 == 0)
                if kick:
                    hits.append(Hit("kick", t, accent))
                snare = plan.snare_pattern[s] if mode != "half" else s == spb // 2
                if fill and s >= spb - 4 and rng.random() < 0.7:
                    snare = True
                if snare:
                    hits.append(Hit("snare", t, accent * rng.uniform(0.8, 1.0)))
            if plan.hat_pattern[s]:
                hits.append(Hit("hat", t, accent * rng.uniform(0.6, 1.0)))
    return hits


def _render_notes(timbre: Timbre, notes: list[Note], n: int, sr: int) -> np.ndarray:
    """Mix the notes of one instrument into a mono buffer of n samples.

    Songs repeat themselves, so each distinct (pitch, length) is synthesised
    once and reused.
    """
    out = np.zeros(n, dtype=np.float32)
    cache: dict[tuple[float, int], np.ndarray] = {}
    for note in notes:
        i0 = round(note.start * sr)
        if i0 >= n:
            continue
        hold = round(note.length * sr)
        key = (note.pitch, hold)
        if key not in cache:
            cache[key] = _synth_note(timbre, note.pitch, hold, sr)
        wave = cache[key]
        m = min(len(wave), n - i0)
        out[i0 : i0 + m] += wave[:m] * np.float32(note.velocity)
    return out


def _synth_note(timbre: Timbre, pitch: float, hold: int, sr: int) -> np.ndarray:
    """One note of an instrument: `hold` samples plus its release."""
    length = hold + round(4 * timbre.release * sr)
    t = np.arange(length, dtype=np.float32) / np.float32(sr)
    env = np.minimum(t / np.float32(timbre.attack), np.float32(1.0))
    env *= timbre.sustain + (1 - timbre.sustain) * np.exp(-t / np.float32(timbre.decay))
    env[hold:] *= np.exp(-(t[hold:] - t[hold]) / np.float32(timbre.release))
    freq = 440.0 * 2 ** ((pitch - 69) / 12)
    size = len(timbre.table)
    cents = timbre.detune_cents
    detunes = (-cents, cents) if cents else (0.0,)
    wave = np.zeros(length, dtype=np.float32)
    for c in detunes:
        inc = freq * 2 ** (c / 1200) * size / sr
        phase = np.arange(length) * inc
        if timbre.vibrato_depth:
            vib = np.sin(2 * np.pi * timbre.vibrato_rate * t) * np.minimum(t / 0.3, 1)
            phase += np.cumsum(vib) * (inc * timbre.vibrato_depth)
        wave += timbre.table[phase.astype(np.int64) & (size - 1)]
    return wave * env * np.float32(timbre.gain / len(detunes))


def _drum_kit(plan: SongPlan, sr: int) -> dict[str, np.ndarray]:
    """One-shot samples of the song's kick, snare, hi-hat and crash."""
    rng = np.random.default_rng([plan.seed, 99])

    def noise(seconds: float, lo: float, hi: float, decay: float) -> np.ndarray:
        m = round(seconds * sr)
        spec = np.fft.rfft(rng.standard_normal(m))
        f = np.fft.rfftfreq(m, 1 / sr)
        spec *= 1 / (1 + ((lo / np.maximum(f, 1)) ** 4)) / (1 + (f / hi) ** 4)
        x = np.fft.irfft(spec, m)
        x *= np.exp(-np.arange(m) / sr / decay)
        return x / np.abs(x).max()

    m = round(0.5 * sr)
    t = np.arange(m) / sr
    f0, f1 = rng.uniform(90, 180), rng.uniform(40, 62)
    sweep = f1 + (f0 - f1) * np.exp(-t / rng.uniform(0.02, 0.06))
    kick = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.exp(
        -t / rng.uniform(0.12, 0.35)
    )
    snare_tone = np.sin(2 * np.pi * rng.uniform(160, 260) * t[: round(0.25 * sr)])
    snare = noise(
        0.25, rng.uniform(800, 2000), rng.uniform(4000, 9000), rng.uniform(0.05, 0.15)
    )
    snare += 0.5 * snare_tone * np.exp(-t[: len(snare)] / 0.05)
    return {
        "kick": kick * 1.0,
        "snare": snare * 0.7,
        "hat": noise(0.12, rng.uniform(6000, 9000), 16000, rng.uniform(0.015, 0.05))
        * 0.35,
        "crash": noise(1.5, 4000, 15000, rng.uniform(0.4, 0.9)) * 0.3,
    }


def _render_drums(plan: SongPlan, hits: list[Hit], n: int, sr: int) -> np.ndarray:
    """Place the drum hits into a stereo buffer."""
    kit = _drum_kit(plan, sr)
    pans = {"kick": 0.0, "snare": 0.05, "hat": 0.35, "crash": -0.3}
    mono = {drum: np.zeros(n) for drum in kit}
    for hit in hits:
        sample = kit[hit.drum]
        i0 = round(hit.start * sr)
        if i0 >= n:
            continue
        m = min(len(sample), n - i0)
        mono[hit.drum][i0 : i0 + m] += sample[:m] * hit.velocity
    out = np.zeros((n, 2))
    for drum, x in mono.items():
        out[:, 0] += x * math.sqrt(0.5 - 0.5 * pans[drum])
        out[:, 1] += x * math.sqrt(0.5 + 0.5 * pans[drum])
    return out


def _comb(x: np.ndarray, delay: int, feedback: float) -> np.ndarray:
    """A feedback comb filter, computed one delay-length block at a time."""
    y = x.copy()
    for i in range(delay, len(y), delay):
        j = min(i + delay, len(y))
        y[i:j] += feedback * y[i - delay : j - delay]
    return y


def _allpass(x: np.ndarray, delay: int, gain: float) -> np.ndarray:
    """A Schroeder all-pass filter, computed one delay-length block at a time."""
    y = -gain * x
    y[delay:] += x[:-delay]
    for i in range(delay, len(y), delay):
        j = min(i + delay, len(y))
        y[i:j] += gain * y[i - delay : j - delay]
    return y


def _reverb(send: np.ndarray, sr: int, size: float) -> np.ndarray:
    """A small Schroeder reverb: four combs, two all-passes, stereo spread."""
    scale = sr / 44100 * size
    combs = [
        _comb(send, max(1, int(d * scale)), 0.78) for d in (1557, 1617, 1491, 1422)
    ]
    left = _allpass(
        _allpass(combs[0] + combs[2] - combs[1] - combs[3], 556, 0.5), 441, 0.5
    )
    right = _allpass(
        _allpass(combs[0] + combs[1] - combs[2] - combs[3], 579, 0.5), 433, 0.5
    )
    return np.stack([left, right], axis=1) * 0.25
