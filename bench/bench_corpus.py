"""Benchmark: accuracy and speed of `beet dedupfuzzy` on the generated corpus.

Usage: python bench/bench_corpus.py [N_SONGS]   (default 8)
       python bench/bench_corpus.py --cases [N_SONGS]   (default 6)

Builds (or reuses) the synthetic corpus, adds a heavy remaster of each song
(+6 dB bass, -5 dB presence, 4:1 compression: about 10-13 % of bits differ),
imports everything as-is into a throwaway library and reports:
- precision and recall of duplicate pairs, for this plugin and for three
  baselines: exact fingerprint strings (beets' duplicates plugin keyed on
  acoustid_fingerprint), difflib on the strings (the music-manager script),
  and artist + title tags;
- the time of a cold run (fingerprints computed) against the chroma plugin's
  `beet fingerprint` on an identical library, and of a warm run.

With --cases: the whole-recording cases of `tools/cases.py` on 2:40 songs.
Each case gets its own library of every song's master, its MP3 and the
case's copy (a library rarely holds more copies of one song). Per case:
how many copies were grouped with their master (copies of the recording)
or merged wrongly (other recordings), how many pairs the verifier accepts
when checked directly (as if the candidate search proposed every one), the
similarities, the ending windows' similarity, the speed reported, and the
cost: cold run (wall and CPU of the `beet` process), excerpts decoded and
their share, warm run.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unicodedata
from itertools import combinations
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tools"))

import cases  # noqa: E402
import corpus as corpus_tools  # noqa: E402

from beetsplug.dedupfuzzy.fingerprinting.excerpts import ExcerptSource  # noqa: E402
from beetsplug.dedupfuzzy.matching import blockindex, codec, similarity  # noqa: E402
from beetsplug.dedupfuzzy.matching.matcher import Track, Verifier  # noqa: E402
from beetsplug.dedupfuzzy.settings import MatchSettings  # noqa: E402

BEET = str(Path(sys.executable).with_name("beet"))
HEAVY_REMASTER = (
    "equalizer=f=100:t=q:w=1:g=6,equalizer=f=3000:t=q:w=1:g=-5,"
    "acompressor=threshold=-20dB:ratio=4"
)


def beet(configdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, BEETSDIR=str(configdir))
    return subprocess.run(
        [BEET, *args], capture_output=True, text=True, env=env, check=True
    )


def make_library(
    root: Path, files: Path, plugins: str, auto: bool = False
) -> tuple[Path, float]:
    """A library of `files` imported as-is in place; returns it and the import time."""
    configdir = root / "config"
    configdir.mkdir(parents=True)
    (configdir / "config.yaml").write_text(
        f"directory: {files}\nlibrary: {configdir / 'library.db'}\n"
        f"plugins: [{plugins}]\ncreate_backup_before_migrations: no\n"
        "import:\n    write: no\n    duplicate_action: keep\n"
        "chroma:\n    auto: no\n"
        # The cold run below must do the fingerprinting, not the import hook.
        f"dedupfuzzy:\n    auto: {'yes' if auto else 'no'}\n"
    )
    start = time.perf_counter()
    beet(configdir, "import", "-A", "-s", "-C", "-q", str(files))
    return configdir, time.perf_counter() - start


def score(found: set, truth: set) -> tuple[float, float]:
    hit = len(found & truth)
    return hit / max(1, len(truth)), hit / max(1, len(found))


def pairs_from_groups(groups: list[list[str]]) -> set[tuple[str, str]]:
    out = set()
    for g in groups:
        out.update(combinations(sorted(g), 2))
    return out


def main() -> None:
    n_songs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    manifest = corpus_tools.build_corpus(REPO / ".cache" / "corpus", n_songs=n_songs)
    truth = set(corpus_tools.true_duplicate_pairs(manifest))
    keep = os.environ.get("BENCH_KEEP")  # a folder to keep the libraries in
    with tempfile.TemporaryDirectory(prefix="dedupfuzzy-corpus-") as tmp:
        tmp = Path(keep) if keep else Path(tmp)
        if keep:
            shutil.rmtree(tmp, ignore_errors=True)
        files = tmp / "music"
        for e in manifest.entries:
            if e.recording is None:
                continue
            (files / e.relpath).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(manifest.path(e), files / e.relpath)
        # Heavy remasters: same recording as the master.
        for e in manifest.entries:
            if e.variant != "master":
                continue
            rel = f"heavy/{e.song:02d} {Path(e.relpath).stem} (heavy remaster).flac"
            (files / rel).parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    "ffmpeg",
                    "-loglevel",
                    "error",
                    "-y",
                    "-i",
                    str(manifest.path(e)),
                    "-af",
                    HEAVY_REMASTER,
                    "-sample_fmt",
                    "s16",
                    str(files / rel),
                ],
                check=True,
            )
            for other in manifest.recordings()[e.recording]:
                truth.add(tuple(sorted((other.relpath, rel))))
        files_chroma = tmp / "music-chroma"
        shutil.copytree(files, files_chroma)
        files_hooked = tmp / "music-hooked"
        shutil.copytree(files, files_hooked)
        ours, import_plain = make_library(tmp / "ours", files, "dedupfuzzy")
        theirs, _ = make_library(tmp / "theirs", files_chroma, "chroma")
        _, import_hooked = make_library(
            tmp / "hooked", files_hooked, "dedupfuzzy", auto=True
        )
        n_files = sum(1 for _ in files.rglob("*") if _.is_file())

        t0 = time.perf_counter()
        beet(theirs, "fingerprint")
        chroma_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        beet(ours, "dedupfuzzy", "--json")
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        doc = json.loads(beet(ours, "dedupfuzzy", "--json").stdout)
        warm_s = time.perf_counter() - t0

        def rel(p: str, base: Path = files) -> str:
            return os.path.relpath(p, base)

        found = pairs_from_groups(
            [
                [rel(i["path"]) for i in g["items"]]
                for g in doc["groups"]
                if g["status"] == "duplicate"
            ]
        )
        uncertain = sum(1 for g in doc["groups"] if g["status"] == "uncertain")
        # Baselines on the same fingerprints (chroma's library).
        rows = beet(
            theirs, "ls", "-f", "$path\t$acoustid_fingerprint\t$artist\t$title"
        ).stdout.splitlines()
        items = [r.split("\t") for r in rows]
        by_fp: dict[str, list[str]] = {}
        by_tags: dict[tuple[str, str], list[str]] = {}
        for path, fp, artist, title in items:
            by_fp.setdefault(fp, []).append(rel(path, files_chroma))
            by_tags.setdefault((artist.lower(), title.lower()), []).append(
                rel(path, files_chroma)
            )
        exact = pairs_from_groups([g for g in by_fp.values() if len(g) > 1])
        tags = pairs_from_groups([g for g in by_tags.values() if len(g) > 1])
        fuzzy = set()
        for (pa, fa, _, _), (pb, fb, _, _) in combinations(items, 2):
            m = difflib.SequenceMatcher(None, fa, fb)
            if m.real_quick_ratio() >= 0.9 and m.ratio() >= 0.9:
                fuzzy.add(tuple(sorted((rel(pa, files_chroma), rel(pb, files_chroma)))))

        print(f"corpus: {n_songs} songs, {n_files} files, {len(truth)} true pairs")
        for name, pairs in (
            ("dedupfuzzy", found),
            ("exact fingerprint string", exact),
            ("difflib >= 0.9 on strings", fuzzy),
            ("artist + title tags", tags),
        ):
            r, p = score(pairs, truth)
            wrong = len(pairs - truth)
            print(f"{name:28} recall {r:7.2%}  precision {p:7.2%}  wrong pairs {wrong}")
        print(f"uncertain pairs shown (not acted on): {uncertain}")
        print(f"chroma `beet fingerprint`: {chroma_s:6.1f} s")
        print(
            f"dedupfuzzy cold run:       {cold_s:6.1f} s "
            f"({cold_s / chroma_s:.0%} of chroma)"
        )
        print(
            f"dedupfuzzy warm run:       {warm_s:6.1f} s "
            f"({warm_s / cold_s:.0%} of cold)"
        )
        print(
            f"beet import -A without the hook: {import_plain:6.1f} s, "
            f"with it (fingerprint + match every item): {import_hooked:6.1f} s"
        )
        heavy = {t for t in truth if any(x.startswith("heavy/") for x in t)}
        r, _ = score(found & (truth - heavy), truth - heavy)
        print(
            f"dedupfuzzy recall without the heavy remasters: {r:.2%} "
            f"({len((truth - heavy) - found)} pairs missed)"
        )
        r, _ = score(found & heavy, heavy)
        print(f"dedupfuzzy recall of heavy remasters (10-18 % BER): {r:.2%}")
        for a, b in sorted(found - truth):
            print("  wrong:", a, "<->", b)
        for a, b in sorted((truth - heavy) - found)[:10]:
            print("  missed:", a, "<->", b)


# --- Whole-recording cases (`--cases`) ------------------------------------

SAME_RECORDING = ("pregap-8s", "speed+0.3", "speed-0.8", "speed+2", "speed-2", "dj-mix")
EXCERPT_LOG = re.compile(r"(\d+) excerpts decoded for endings and speed in ([\d.]+) s")


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def library_rows(configdir: Path, files: Path) -> dict[str, tuple[int, float, str]]:
    """Relative path -> (id, length, fingerprint, path) of every item, as stored."""
    with sqlite3.connect(configdir / "library.db") as db:
        stored = db.execute(
            "SELECT id, length, acoustid_fingerprint, path FROM items"
        ).fetchall()
    return {
        # beets stores paths relative to the library directory
        unicodedata.normalize("NFC", os.fsdecode(path)): (
            i,
            length,
            fp,
            os.fsencode(files) + b"/" + path,
        )
        for i, length, fp, path in stored
    }


def check_pairs(rows, pairs: list[tuple[str, str]]) -> list[tuple]:
    """Each (master, copy) pair verified directly, as if the search proposed it.

    Returns (match or None, head alignment, ending similarity) per pair.
    """
    tracks, frames = {}, {}
    for item_id, length, fp, path in rows.values():
        frames[item_id] = codec.decode(fp)
        informative = similarity.is_informative(frames[item_id])
        tracks[item_id] = Track(
            item_id,
            path,
            length,
            sketch=blockindex.sketch(frames[item_id], informative),
        )
    verifier = Verifier(tracks, frames.get, MatchSettings(), audio=ExcerptSource(2))
    results = []
    for a, b in pairs:
        ia, ib = rows[a][0], rows[b][0]
        head, ending = verifier.explain(ia, ib)
        results.append((verifier.verify(ia, ib), head, ending))
    return results


def run_cases(n_songs: int) -> None:
    """Per case: a library of each song's master, its MP3 and the case's copy."""
    manifest = corpus_tools.build_corpus(
        REPO / ".cache" / "corpus-cases",
        n_songs=n_songs,
        variants=["master", "mp3-320", *corpus_tools.CASE_NAMES],
        extras=[],
        duration=cases.MIN_SECONDS + 10,
    )
    entry = {(e.song, e.variant): e for e in manifest.entries}
    songs = sorted({e.song for e in manifest.entries})
    print(f"whole-recording cases: {len(songs)} songs of {cases.MIN_SECONDS + 10:g} s")
    print(
        "case             same? found  checked  false  uncertain  similarity   "
        "ending      speed      cold s  cpu s  excerpts  extra    warm s"
    )
    total_cold = total_extra = total_cpu = 0.0
    with tempfile.TemporaryDirectory(prefix="dedupfuzzy-cases-") as tmp:
        for case in corpus_tools.CASE_NAMES:
            files = Path(tmp) / case / "music"
            chosen = [entry[(s, v)] for s in songs for v in ("master", "mp3-320", case)]
            for e in chosen:
                (files / e.relpath).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(manifest.path(e), files / e.relpath)
            lib, _ = make_library(Path(tmp) / case, files, "dedupfuzzy")
            t0, cpu0 = time.perf_counter(), children_cpu()
            cold = beet(lib, "-v", "dedupfuzzy", "--json")
            cold_s = time.perf_counter() - t0
            cold_cpu = children_cpu() - cpu0
            t0 = time.perf_counter()
            beet(lib, "dedupfuzzy", "--json")
            warm_s = time.perf_counter() - t0
            found = EXCERPT_LOG.search(cold.stderr)
            n_excerpts, excerpt_s = (
                (int(found.group(1)), float(found.group(2))) if found else (0, 0.0)
            )
            doc = json.loads(cold.stdout)
            group_of: dict[str, int] = {}
            speeds, sims = [], []
            for n, g in enumerate(doc["groups"]):
                if g["status"] != "duplicate":
                    continue
                for item in g["items"]:
                    group_of[os.path.relpath(item["path"], files)] = n
                    if Path(item["path"]).name in {
                        Path(entry[(s, case)].relpath).name for s in songs
                    }:
                        speeds.append(item["speed"])
                        sims.append(item["similarity"])
            together = sum(
                1
                for s in songs
                if group_of.get(entry[(s, case)].relpath) is not None
                and group_of.get(entry[(s, case)].relpath)
                == group_of.get(entry[(s, "master")].relpath)
            )
            uncertain = sum(1 for g in doc["groups"] if g["status"] == "uncertain")
            rows = library_rows(lib, files)
            checked = check_pairs(
                rows,
                [
                    (
                        unicodedata.normalize("NFC", entry[(s, "master")].relpath),
                        unicodedata.normalize("NFC", entry[(s, case)].relpath),
                    )
                    for s in songs
                ],
            )
            n_checked = sum(1 for m, _, _ in checked if m is not None)
            heads = [h.similarity for _, h, _ in checked if h is not None]
            ends = [e for _, _, e in checked if e is not None]
            same = case in SAME_RECORDING
            total_cold += cold_s
            total_cpu += cold_cpu
            total_extra += excerpt_s
            # 2:40 FLACs add up: one case's library at a time on the disk.
            shutil.rmtree(Path(tmp) / case)

            def span(values: list[float]) -> str:
                return f"{min(values):.2f}-{max(values):.2f}" if values else "-"

            print(
                f"{case:16} {'yes' if same else 'no':5} "
                f"{together if same else '-':>2}/{len(songs):<3} "
                f"{n_checked:>3}/{len(songs):<4} "
                f"{'-' if same else together:>5}  {uncertain:>9}  "
                f"{span(sims if same else heads):11} {span(ends):11} "
                f"{span([100 * x for x in speeds]) if speeds else '-':10} "
                f"{cold_s:6.2f} {cold_cpu:6.2f}  {n_excerpts:8}  "
                f"{excerpt_s / max(1e-9, cold_s - excerpt_s):6.1%}  {warm_s:6.2f}"
            )
    print(
        f"all cases: cold {total_cold:.1f} s ({total_cpu:.1f} s CPU), of which "
        f"excerpts {total_extra:.1f} s: "
        f"+{total_extra / max(1e-9, total_cold - total_extra):.1%} over the same runs "
        "without them"
    )


if __name__ == "__main__":
    if "--cases" in sys.argv:
        sys.argv.remove("--cases")
        run_cases(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
    else:
        main()
