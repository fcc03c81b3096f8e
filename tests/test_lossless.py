"""The lossless check end to end: genuine and fake FLACs made with ffmpeg.

Two songs from tools/synthmusic.py; the fakes are the song encoded as MP3
and decoded back into FLAC, as they are found in collections.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import synthmusic
from conftest import BeetEnv

SR = 44100
SECONDS = 14.0
SONG_A, SONG_B, SOFT, LONE = 21, 22, 23, 24
SONG_V = 101  # soft highs: LAME V0 switches its band above 16 kHz on and off


def ffmpeg(*args: str, data: bytes | None = None) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *args],
        input=data,
        check=True,
        capture_output=True,
    )


def write_flac(audio: np.ndarray, dest: Path) -> None:
    pcm = np.ascontiguousarray(audio, "<f4").tobytes()
    ffmpeg("-f", "f32le", "-ar", str(SR), "-ac", "2", "-i", "pipe:0",
           "-c:a", "flac", "-sample_fmt", "s16", str(dest), data=pcm)  # fmt: skip


def transcode(src: Path, dest: Path, *args: str) -> None:
    ffmpeg("-i", str(src), *args, str(dest))


def fake_flac(mp3: Path, dest: Path, hires: bool = False) -> None:
    """An MP3 decoded and stored as FLAC (optionally upsampled to 24/96)."""
    if hires:
        transcode(mp3, dest, "-ar", "96000", "-c:a", "flac", "-sample_fmt", "s32")
    else:
        transcode(mp3, dest, "-c:a", "flac", "-sample_fmt", "s16")


@pytest.fixture(scope="session")
def material(tmp_path_factory) -> dict[str, Path]:
    """Every file the tests use, made once per session."""
    root = tmp_path_factory.mktemp("lossless")
    made: dict[str, Path] = {}
    for name, seed in (("a", SONG_A), ("b", SONG_B), ("lone", LONE)):
        genuine = root / f"{name}-genuine.flac"
        write_flac(synthmusic.render_song(seed, SECONDS), genuine)
        made[f"{name}-genuine"] = genuine
        for kbps in (128, 320):
            mp3 = root / f"{name}-{kbps}.mp3"
            transcode(genuine, mp3, "-c:a", "libmp3lame", "-b:a", f"{kbps}k")
            made[f"{name}-{kbps}.mp3"] = mp3
            made[f"{name}-fake{kbps}"] = root / f"{name}-fake{kbps}.flac"
            fake_flac(mp3, made[f"{name}-fake{kbps}"])
    made["a-fake128-96"] = root / "a-fake128-96.flac"
    fake_flac(made["a-128.mp3"], made["a-fake128-96"], hires=True)
    # AAC 256 kbps keeps the whole band: only its frame grid gives it away,
    # read back at 44.1 kHz when the file was upsampled to 24/96
    aac = root / "b-256.m4a"
    transcode(made["b-genuine"], aac, "-c:a", "aac", "-b:a", "256k")
    made["b-aac256-96"] = root / "b-aac256-96.flac"
    fake_flac(aac, made["b-aac256-96"], hires=True)
    # LAME V0 keeps the whole band: only its granules give it away
    made["v-genuine"] = root / "v-genuine.flac"
    write_flac(synthmusic.render_song(SONG_V, SECONDS), made["v-genuine"])
    v0 = root / "v-v0.mp3"
    transcode(made["v-genuine"], v0, "-c:a", "libmp3lame", "-q:a", "0")
    made["v-fakev0"] = root / "v-fakev0.flac"
    fake_flac(v0, made["v-fakev0"])
    made["v-fakev0-96"] = root / "v-fakev0-96.flac"
    fake_flac(v0, made["v-fakev0-96"], hires=True)
    made["a-alac"] = root / "a-alac.m4a"
    transcode(made["a-genuine"], made["a-alac"], "-c:a", "alac")
    # soft synthesized music: pads and bass, nothing above a few kHz
    stems = synthmusic.render_song_stems(SOFT, SECONDS)
    made["soft"] = root / "soft.flac"
    write_flac(synthmusic.mix(stems, ("chords", "bass")), root / "soft-raw.flac")
    transcode(root / "soft-raw.flac", made["soft"], "-af", "lowpass=f=3000",
              "-c:a", "flac", "-sample_fmt", "s16")  # fmt: skip
    return made


def library_of(beet: BeetEnv, material: dict[str, Path], names: list[str]) -> BeetEnv:
    """A library holding the named files in place, imported as singletons."""
    for name in names:
        src = material[name]
        shutil.copy2(src, beet.libdir / Path(name).with_suffix(src.suffix))
    beet.run("import", "-A", "-s", "-C", "-q", str(beet.libdir))
    return beet


def fields(env: BeetEnv, template: str, *query: str) -> dict[str, str]:
    """File stem -> the formatted fields of that item ("" where unset)."""
    out = env.run("ls", "-f", f"$path\t{template}", *query).stdout
    result = {}
    for line in out.splitlines():
        path, _, value = line.partition("\t")
        result[Path(path).stem] = "" if value == template else value
    return result


def keepers(env: BeetEnv, *args: str) -> list[tuple[list[str], list[str]]]:
    """Each duplicate group's copies by stem: the kept ones, then the others."""
    groups = json.loads(env.run("dedupfuzzy", "--json", *args).stdout)["groups"]
    return [
        (
            sorted(Path(i["path"]).stem for i in g["items"] if i["keep"]),
            sorted(Path(i["path"]).stem for i in g["items"] if not i["keep"]),
        )
        for g in groups
        if g["status"] == "duplicate"
    ]


def test_each_file_gets_its_verdict_stored_and_queryable(beet, material):
    env = library_of(
        beet,
        material,
        ["a-genuine", "a-fake128", "a-fake128-96", "b-aac256-96", "soft", "a-320.mp3"],
    )
    env.run("dedupfuzzy")
    verdicts = fields(env, "$dedupfuzzy_lossless")
    assert verdicts == {
        "a-genuine": "genuine",
        "a-fake128": "fake",
        "a-fake128-96": "fake",
        "b-aac256-96": "fake",
        "soft": "unknown",
        "a-320": "",
    }
    fakes = env.run("ls", "-f", "$path", "dedupfuzzy_lossless:fake").stdout
    assert sorted(Path(p).stem for p in fakes.split()) == [
        "a-fake128",
        "a-fake128-96",
        "b-aac256-96",
    ]
    assert fields(env, "$dedupfuzzy_source")["b-aac256-96"].startswith("aac-")
    cutoffs = fields(env, "$dedupfuzzy_cutoff")
    assert 15500 < int(cutoffs["a-fake128"]) < 17500
    assert int(cutoffs["a-genuine"]) > 21000
    # the declared type makes ranges work
    low = env.run("ls", "-f", "$path", "dedupfuzzy_cutoff:..18000").stdout
    assert {Path(p).stem for p in low.split()} >= {"a-fake128", "a-fake128-96"}
    assert "a-genuine" not in low


def test_genuine_lossless_wins_and_upsampled_fake_adds_nothing(beet, material):
    env = library_of(
        beet, material, ["a-genuine", "a-fake128-96", "a-fake320", "a-320.mp3"]
    )
    assert keepers(env) == [(["a-genuine"], ["a-320", "a-fake128-96", "a-fake320"])]
    # keeping both kinds: the genuine FLAC and the best lossy file; no fake
    env.write_config("dedupfuzzy:\n    keep: best-of-each\n")
    assert keepers(env) == [(["a-320", "a-genuine"], ["a-fake128-96", "a-fake320"])]


def test_the_mirror_ranks_a_fake_lossless_copy_as_the_keeper_does(beet, material):
    env = library_of(beet, material, ["a-fake128-96", "a-320.mp3"])
    env.run("dedupfuzzy")  # the recording model: one recording, two copies
    env.run("modify", "-y", "albumartist=Artist", "album=Album", "title=Song")
    views = {name: env.root / name for name in ("high", "low")}
    env.run("mirror", "--depth", "2", "--high", str(views["high"]),
            "--low", str(views["low"]))  # fmt: skip

    for view in views.values():
        shown = [p for p in (view / "Artist" / "Album").iterdir()]
        # a FLAC made from a 128 kbps MP3 and upsampled ranks below the
        # 320 kbps MP3 in both views, as in `beet dedupfuzzy`'s keeper
        assert [p.resolve().suffix for p in shown] == [".mp3"]


def test_without_a_genuine_copy_the_source_bitrate_decides(beet, material):
    env = library_of(
        beet,
        material,
        ["a-fake128", "a-fake128-96", "a-320.mp3", "b-fake320", "b-320.mp3"],
    )
    assert sorted(keepers(env)) == [
        # a 320 kbps MP3 beats FLACs made from a 128 kbps MP3
        (["a-320"], ["a-fake128", "a-fake128-96"]),
        # equally band-limited: the lossless container wins
        (["b-fake320"], ["b-320"]),
    ]


def test_listing_json_and_csv_show_verdict_and_cutoff(beet, material, tmp_path):
    env = library_of(beet, material, ["a-genuine", "a-fake128", "a-128.mp3"])
    listing = env.run("dedupfuzzy").stdout
    line = next(x for x in listing.splitlines() if "a-fake128.flac" in x)
    assert "fake, cutoff 16." in line and "lossy ~128 kbps" in line
    assert "(genuine, cutoff" in listing

    items = json.loads(env.run("dedupfuzzy", "--json").stdout)["groups"][0]["items"]
    by_stem = {Path(i["path"]).stem: i for i in items}
    assert by_stem["a-fake128"]["lossless"] == "fake"
    assert by_stem["a-fake128"]["source"] == "lossy ~128 kbps"
    assert 15500 < by_stem["a-fake128"]["cutoff"] < 17500
    assert by_stem["a-genuine"]["lossless"] == "genuine"
    assert by_stem["a-128"]["lossless"] is None

    report = tmp_path / "report.csv"
    env.run("dedupfuzzy", "--report", str(report))
    rows = {Path(r["path"]).stem: r for r in csv.DictReader(report.open())}
    assert rows["a-fake128"]["lossless"] == "fake"
    assert rows["a-fake128"]["source"] == "lossy ~128 kbps"
    assert int(rows["a-fake128"]["cutoff"]) == by_stem["a-fake128"]["cutoff"]
    assert rows["a-128"]["lossless"] == ""


def test_fakes_lists_every_fake_even_without_duplicates(beet, material):
    env = library_of(beet, material, ["a-genuine", "lone-fake128", "b-fake320", "soft"])
    out = env.run("dedupfuzzy", "--fakes").stdout.splitlines()
    assert len(out) == 3
    assert sorted(Path(x.split("  ")[-1]).stem for x in out[:2]) == [
        "b-fake320",
        "lone-fake128",
    ]
    assert out[-1] == "4 lossless items: 1 genuine, 2 fake, 1 unknown"

    formatted = env.run("dedupfuzzy", "--fakes", "-f", "$title|$dedupfuzzy_cutoff")
    lines = formatted.stdout.splitlines()[:2]
    assert all("|" in x and int(x.split("|")[1]) > 15000 for x in lines)

    proc = env.run("dedupfuzzy", "--fakes", "--json")
    doc = json.loads(proc.stdout)
    assert {Path(f["path"]).stem for f in doc["fakes"]} == {"b-fake320", "lone-fake128"}
    assert all(f["lossless"] == "fake" and f["cutoff"] for f in doc["fakes"])
    assert doc["summary"]["fake"] == 2 and doc["summary"]["genuine"] == 1
    assert "lossless items" in proc.stderr


def test_a_v0_mp3_made_lossless_is_fake_and_band_limited_music_is_not(beet, material):
    """LAME V0 keeps the whole band, so no cutoff shows; the band above
    16 kHz coming and going granule by granule does, also upsampled to
    24/96. Soft band-limited music stays `unknown`."""
    env = library_of(beet, material, ["v-genuine", "v-fakev0", "v-fakev0-96", "soft"])
    doc = json.loads(env.run("dedupfuzzy", "--fakes", "--json").stdout)
    fakes = {Path(f["path"]).stem: f for f in doc["fakes"]}
    assert sorted(fakes) == ["v-fakev0", "v-fakev0-96"]
    assert all(f["source"].startswith("MP3 ~") for f in fakes.values())
    assert fields(env, "$dedupfuzzy_lossless") == {
        "v-genuine": "genuine",
        "v-fakev0": "fake",
        "v-fakev0-96": "fake",
        "soft": "unknown",
    }
    assert fields(env, "$dedupfuzzy_source")["v-fakev0"].startswith("mp3-")
    # the genuine copy keeps; the 24/96 fake adds nothing
    assert keepers(env) == [(["v-genuine"], ["v-fakev0", "v-fakev0-96"])]


def test_checked_on_import_once_and_a_missing_decoder_is_one_line(beet, material):
    """FLAC is read in-process; ALAC needs ffmpeg. Without it the import and
    the run go on, and the ALAC file's check is reported, not stored."""
    for name in ("a-genuine", "a-fake128", "a-alac", "a-128.mp3"):
        src = material[name]
        shutil.copy2(src, beet.libdir / Path(name).with_suffix(src.suffix))
    nofmpeg = beet.root / "bin"
    nofmpeg.mkdir()
    os.symlink(shutil.which("fpcalc"), nofmpeg / "fpcalc")
    beet.env["PATH"] = str(nofmpeg)
    beet.run("import", "-A", "-s", "-C", "-q", str(beet.libdir))
    # the import hook checked the FLACs already
    assert fields(beet, "$dedupfuzzy_lossless") == {
        "a-genuine": "genuine",
        "a-fake128": "fake",
        "a-alac": "",
        "a-128": "",
    }
    proc = beet.run("dedupfuzzy")
    assert "1 duplicate groups" in proc.stdout
    errors = [x for x in proc.stdout.splitlines() if "lossless check" in x]
    assert len(errors) == 1 and "a-alac" in errors[0]
    assert "ffmpeg is not installed" in errors[0]
    # with ffmpeg the ALAC file is checked; then never again while unchanged
    del beet.env["PATH"]
    beet.run("dedupfuzzy")
    assert fields(beet, "$dedupfuzzy_lossless")["a-alac"] == "genuine"
    beet.env["PATH"] = str(nofmpeg)
    warm = beet.run("dedupfuzzy")
    assert "lossless check" not in warm.stdout
    # a changed file is checked again
    shutil.copy(material["a-genuine"], beet.libdir / "a-fake128.flac")
    beet.run("dedupfuzzy")
    assert fields(beet, "$dedupfuzzy_lossless")["a-fake128"] == "genuine"


@pytest.mark.parametrize("beets_defaults", [False, True], ids=["in-place", "defaults"])
def test_an_imported_fake_is_judged_on_import_and_never_wins(
    tmp_path, material, beets_defaults
):
    """In place (`-C`, threads off) and under beets' defaults (threaded,
    `copy: yes`, `write: yes`): the verdict comes before the keeper."""
    beet = BeetEnv(tmp_path, beets_defaults=beets_defaults)
    beet.write_config()
    library_of(beet, material, ["a-320.mp3"])
    beet.write_config("dedupfuzzy:\n    quiet_action: best\n")
    incoming = beet.root / "incoming"
    incoming.mkdir()
    for name in ("a-fake128", "lone-fake128"):
        shutil.copy2(material[name], incoming / f"{name}.flac")
    before = {p.name: p.read_bytes() for p in incoming.iterdir()}

    mode = () if beets_defaults else ("-C",)
    proc = beet.run("import", "-q", "-A", *mode, str(incoming))

    # a FLAC made from a 128 kbps MP3 is worse than the library's 320 kbps
    # MP3: left out of the import, as any worse copy
    summary = "1 duplicates found: 0 kept, 0 quarantined, 1 not imported"
    assert summary in proc.stdout, proc.stderr
    # the other fake has its verdict before any `beet dedupfuzzy` run
    listed = beet.run("ls", "-f", "$format $dedupfuzzy_lossless").stdout.split("\n")
    assert sorted(x for x in listed if x) == ["FLAC fake", "MP3 $dedupfuzzy_lossless"]
    # the import never touched its sources
    assert {p.name: p.read_bytes() for p in incoming.iterdir()} == before
