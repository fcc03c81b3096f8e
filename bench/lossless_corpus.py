"""Genuine and fake lossless files with known truth, for the detector benchmark.

Genuine material, as real as this machine allows:
- `midi`: compositions (Planet Blupi's MIDI music, Debian package
  planetblupi-music-midi) rendered by fluidsynth with the FluidR3 General MIDI
  sound font (fluid-soundfont-gm): sampled real instruments;
- `kit`: drum loops sequenced from recorded acoustic drum kits (Debian package
  hydrogen-drumkits) over a sampled-instrument render;
- `synth`: songs from tools/synthmusic.py;
- `hires`: synth songs and MIDI renders made at 96 kHz, stored 24/96;
- band-limited genuine files: an "old transfer" (4th-order roll-off at 7 kHz
  plus broadband tape hiss), a soft synth (pads and bass through a gentle
  low-pass), a quiet sparse piece (one instrument at -30 dBFS), and, as the
  adversarial case, a genuine recording brick-walled at 16 kHz by a digital
  filter (a mastering low-pass): spectrally that is exactly what an encoder
  does, and a detector must not call it fake for that alone.

Fakes: every full-band 44.1 kHz source is encoded with MP3 CBR 128/192/256/320,
VBR V0/V2, AAC 128/256, Opus 96/160 and Vorbis q3/q6, decoded and stored as
16-bit FLAC (Opus at its native 48 kHz); some are also upsampled to 24/96.

`manifest.json` lists every file with its truth: genuine or fake, the source
codec and bitrate class, and the material kind. The corpus is rebuilt only
when the parameters or `VERSION` change.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import synthmusic  # noqa: E402

VERSION = "2"
SR = 44100
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
MIDI_DIR = Path("/usr/share/planetblupi/music")
KITS_DIR = Path("/usr/share/hydrogen/data/drumkits")
# acoustic kits recorded with microphones (the electronic ones are synthetic;
# "circAfrique v4" is left out: a third of its samples stop dead at 15.5 kHz,
# the mark of an MP3 somewhere in their history)
ACOUSTIC_KITS = (
    "ColomboAcousticDrumkit",
    "The Black Pearl 1.0",
    "Gimme A Hand 1.0",
)

# name: (ffmpeg encoder args, container extension, class kbps)
LOSSY: dict[str, tuple[tuple[str, ...], str, int]] = {
    "mp3-128": (("-c:a", "libmp3lame", "-b:a", "128k"), "mp3", 128),
    "mp3-192": (("-c:a", "libmp3lame", "-b:a", "192k"), "mp3", 192),
    "mp3-256": (("-c:a", "libmp3lame", "-b:a", "256k"), "mp3", 256),
    "mp3-320": (("-c:a", "libmp3lame", "-b:a", "320k"), "mp3", 320),
    "mp3-v0": (("-c:a", "libmp3lame", "-q:a", "0"), "mp3", 245),
    "mp3-v2": (("-c:a", "libmp3lame", "-q:a", "2"), "mp3", 190),
    "aac-128": (("-c:a", "aac", "-b:a", "128k"), "m4a", 128),
    "aac-256": (("-c:a", "aac", "-b:a", "256k"), "m4a", 256),
    "opus-96": (("-c:a", "libopus", "-b:a", "96k"), "opus", 96),
    "opus-160": (("-c:a", "libopus", "-b:a", "160k"), "opus", 160),
    "vorbis-q3": (("-c:a", "libvorbis", "-q:a", "3"), "ogg", 112),
    "vorbis-q6": (("-c:a", "libvorbis", "-q:a", "6"), "ogg", 192),
}
UPSAMPLED = ("mp3-320", "mp3-v0", "aac-256", "opus-160", "mp3-128", "vorbis-q6")


def _run(cmd: list[str], data: bytes | None = None) -> bytes:
    proc = subprocess.run(cmd, input=data, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def _normalise(x: np.ndarray, peak_dbfs: float = -1.0) -> np.ndarray:
    peak = float(np.abs(x).max()) or 1.0
    return (x * (10 ** (peak_dbfs / 20) / peak)).astype(np.float32)


def render_midi(
    midi: Path, seconds: float, sr: int = SR, skip: float = 4.0
) -> np.ndarray:
    """`seconds` of a MIDI file rendered with sampled instruments."""
    need = int((seconds + skip) * sr) * 4
    proc = subprocess.Popen(
        ["fluidsynth", "-ni", "-q", "-T", "raw", "-O", "s16", "-r", str(sr),
         "-g", "0.25", "-F", "/dev/stdout", str(SOUNDFONT), str(midi)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    data = b""
    while len(data) < need:
        chunk = proc.stdout.read(need - len(data))
        if not chunk:
            break
        data += chunk
    proc.kill()
    proc.wait()
    x = np.frombuffer(data[: len(data) // 4 * 4], "<i2").reshape(-1, 2) / 32768.0
    x = x[int(skip * sr) :]
    if len(x) < seconds * sr:  # a short piece: loop it
        x = np.tile(x, (int(np.ceil(seconds * sr / max(len(x), 1))), 1))
    return _normalise(x[: int(seconds * sr)])


def _load(path: Path, sr: int = SR) -> np.ndarray:
    raw = _run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le",
                "-ac", "2", "-ar", str(sr), "-"])  # fmt: skip
    return np.frombuffer(raw, "<f4").reshape(-1, 2)


def drum_loop(kit: str, seconds: float, seed: int) -> np.ndarray:
    """A beat sequenced from one kit's recorded samples, 16th-note grid."""
    rng = random.Random(seed)
    files = sorted(
        p for p in (KITS_DIR / kit).iterdir() if p.suffix.lower() in (".wav", ".flac")
    )
    samples = [_load(p) for p in rng.sample(files, min(8, len(files)))]
    n = int(seconds * SR)
    out = np.zeros((n + SR * 4, 2))
    step = int(SR * 60 / rng.uniform(84, 132) / 4)
    patterns = [[rng.random() < d for _ in range(16)] for d in (0.3, 0.25, 0.6, 0.2)]
    pos, k = 0, 0
    while pos < n:
        for voice, pattern in enumerate(patterns):
            if pattern[k % 16]:
                s = samples[(voice * 2 + rng.randrange(2)) % len(samples)]
                gain = rng.uniform(0.5, 1.0)
                out[pos : pos + len(s)] += s[: len(out) - pos] * gain
        pos += step
        k += 1
    return out[:n]


def _lowpass(x: np.ndarray, sr: int, cutoff: float, order: int) -> np.ndarray:
    """A Butterworth-shaped magnitude response applied in the frequency domain."""
    spec = np.fft.rfft(x, axis=0)
    f = np.fft.rfftfreq(len(x), 1 / sr)
    spec *= (1 / np.sqrt(1 + (f / cutoff) ** (2 * order)))[:, None]
    return np.fft.irfft(spec, n=len(x), axis=0)


def _hiss(n: int, rng: np.random.Generator, level_db: float) -> np.ndarray:
    return rng.standard_normal((n, 2)) * 10 ** (level_db / 20)


def sources(seconds: float, count: int) -> list[dict]:
    """The genuine material: name, kind, samples, sample rate."""
    rng = np.random.default_rng(7)
    midis = sorted(MIDI_DIR.glob("*.mid"))
    out: list[dict] = []
    for i in range(count):
        out.append(
            dict(
                name=f"synth{i}",
                kind="synth",
                sr=SR,
                audio=synthmusic.render_song(100 + i, seconds),
            )
        )
        midi = render_midi(midis[i % len(midis)], seconds)
        out.append(dict(name=f"midi{i}", kind="midi", sr=SR, audio=midi))
        kit = ACOUSTIC_KITS[i % len(ACOUSTIC_KITS)]
        loop = drum_loop(kit, seconds, seed=i)
        bed = render_midi(midis[(i + 5) % len(midis)], seconds)
        out.append(
            dict(
                name=f"kit{i}",
                kind="kit",
                sr=SR,
                audio=_normalise(_normalise(loop) + 0.5 * bed),
            )
        )
    for i in range(max(1, count // 2)):
        out.append(
            dict(
                name=f"hires-synth{i}",
                kind="hires",
                sr=96000,
                bits=24,
                audio=synthmusic.render_song(200 + i, seconds, sr=96000),
            )
        )
        out.append(
            dict(
                name=f"hires-midi{i}",
                kind="hires",
                sr=96000,
                bits=24,
                audio=render_midi(midis[(i + 2) % len(midis)], seconds, sr=96000),
            )
        )
        # band-limited genuine recordings
        old = render_midi(midis[(i + 3) % len(midis)], seconds)
        old = _lowpass(old, SR, 7000, 4) + _hiss(len(old), rng, -58)
        out.append(
            dict(name=f"oldtransfer{i}", kind="banded", sr=SR, audio=_normalise(old))
        )
        stems = synthmusic.render_song_stems(300 + i, seconds)
        soft = _lowpass(synthmusic.mix(stems, ("chords", "bass")), SR, 5000, 2)
        out.append(
            dict(name=f"softsynth{i}", kind="banded", sr=SR, audio=_normalise(soft))
        )
        quiet = synthmusic.mix(
            synthmusic.render_song_stems(400 + i, seconds), ("melody",)
        )
        out.append(
            dict(name=f"quiet{i}", kind="banded", sr=SR, audio=_normalise(quiet, -30.0))
        )
        wall = _lowpass(
            render_midi(midis[(i + 7) % len(midis)], seconds), SR, 16000, 48
        )
        out.append(
            dict(name=f"brickwall{i}", kind="brickwall", sr=SR, audio=_normalise(wall))
        )
    return out  # fmt: skip


def _write_flac(audio: np.ndarray, sr: int, bits: int, dest: Path) -> None:
    fmt = "s16" if bits == 16 else "s32"
    _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "f32le", "-ar", str(sr),
          "-ac", "2", "-i", "pipe:0", "-c:a", "flac", "-sample_fmt", fmt,
          *(["-bits_per_raw_sample", "24"] if bits == 24 else []), str(dest)],
         np.ascontiguousarray(audio, "<f4").tobytes())  # fmt: skip


def _fake(job: tuple) -> list[dict]:
    """Encode one genuine file with one lossy setting, back to FLAC."""
    genuine, name, codec, root, kind = job
    args, ext, kbps = LOSSY[codec]
    made = []
    with tempfile.TemporaryDirectory() as tmp:
        lossy = Path(tmp) / f"x.{ext}"
        _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(genuine), *args,
              str(lossy)])  # fmt: skip
        rel = f"fake/{name}.{codec}.flac"
        _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(lossy), "-c:a",
              "flac", "-sample_fmt", "s16", str(root / rel)])  # fmt: skip
        made.append(
            dict(path=rel, truth="fake", kind=kind, codec=codec, kbps=kbps, hires=False)
        )
        if codec in UPSAMPLED:
            rel96 = f"fake/{name}.{codec}.24-96.flac"
            _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(lossy),
                  "-ar", "96000", "-c:a", "flac", "-sample_fmt", "s32",
                  "-bits_per_raw_sample", "24", str(root / rel96)])  # fmt: skip
            made.append(
                dict(
                    path=rel96,
                    truth="fake",
                    kind=kind,
                    codec=codec,
                    kbps=kbps,
                    hires=True,
                )
            )
    return made


def build(root: Path, seconds: float, count: int, workers: int) -> list[dict]:
    params = {"version": VERSION, "seconds": seconds, "count": count}
    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        stored = json.loads(manifest_path.read_text())
        if stored.get("params") == params:
            return stored["files"]
    if root.exists():
        shutil.rmtree(root)
    (root / "genuine").mkdir(parents=True)
    (root / "fake").mkdir()
    files: list[dict] = []
    jobs = []
    for i, src in enumerate(sources(seconds, count)):
        bits = src.get("bits", 16)
        rel = f"genuine/{src['name']}.flac"
        _write_flac(src["audio"], src["sr"], bits, root / rel)
        files.append(dict(path=rel, truth="genuine", kind=src["kind"], codec=None,
                          kbps=None, hires=src["sr"] > SR))  # fmt: skip
        if src["kind"] in ("synth", "midi", "kit"):
            for codec in LOSSY:
                jobs.append((root / rel, src["name"], codec, root, src["kind"]))
        elif src["kind"] in ("banded", "brickwall") and i % 2 == 0:
            # fakes made from band-limited music: the hard case for spectra
            for codec in ("mp3-320", "aac-256"):
                jobs.append((root / rel, src["name"], codec, root, src["kind"]))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for made in pool.map(_fake, jobs):
            files += made
    manifest_path.write_text(json.dumps({"params": params, "files": files}, indent=1))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    files = build(args.root, args.seconds, args.count, args.workers)
    genuine = sum(f["truth"] == "genuine" for f in files)
    print(f"{len(files)} files: {genuine} genuine, {len(files) - genuine} fake")
    return 0


if __name__ == "__main__":
    sys.exit(main())
