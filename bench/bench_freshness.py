"""What tag edits cost `beet dedupfuzzy`, and what the import hook costs `beet import`.

1. The freshness check for 10,000 unchanged files (hard links to the test
   corpus: FLAC, MP3, AAC, Vorbis, Opus), against decoding them with fpcalc:
   - after nothing happened: one `stat` per file;
   - after a tag edit (new mtime): one audio identity per file.
2. The demo library (`make demo`): `beet write` of every file, then an
   external tag edit of every file with mutagen and `beet update`; after
   each, how many files `beet dedupfuzzy` decodes.
3. `beet import -q -A` of the test corpus under beets' default import
   settings (threaded, `copy: yes`, `write: yes`): with the hook
   (`auto: yes`) and without it (`auto: no`).

Run: .venv/bin/python bench/bench_freshness.py [--skip-demo]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO))

import corpus as corpus_tools  # noqa: E402
import mediafile  # noqa: E402

from beetsplug.dedupfuzzy.fingerprinting import freshness  # noqa: E402
from beetsplug.dedupfuzzy.fingerprinting.fpcalc import (  # noqa: E402
    fingerprint_file,
    fpcalc_command,
)
from beetsplug.dedupfuzzy.store.catalog import Row  # noqa: E402

BEET = str(Path(sys.executable).with_name("beet"))
N_FILES = 10_000
DECODED_SAMPLE = 24


def audio_files() -> list[Path]:
    manifest = corpus_tools.build_corpus(
        REPO / ".cache" / "corpus-tests", n_songs=4, seed=1
    )
    return [manifest.path(e) for e in manifest.entries if e.recording is not None]


def rows_for(files: list[Path], folder: Path) -> list[Row]:
    """N_FILES hard links to the files, as rows with identity and mtime recorded."""
    rows = []
    for n in range(N_FILES):
        source = files[n % len(files)]
        link = folder / f"{n:05d}{source.suffix}"
        os.link(source, link)
        path = bytes(link)
        rows.append(
            Row(
                id=n + 1,
                path=path,
                length=0.0,
                format="",
                bitrate=0,
                bitdepth=0,
                samplerate=0,
                mtime=0.0,
                fingerprint="stored",
                fp_mtime=os.path.getmtime(link),
                audio_id=freshness.audio_identity(path),
            )
        )
    return rows


def time_checks(rows: list[Row], shift: float) -> tuple[float, int]:
    """Seconds for checking every row, the recorded mtime off by `shift`."""
    for row in rows:
        row.fp_mtime = freshness.file_mtime(row.path) - shift
    start = time.perf_counter()
    fresh = sum(freshness.check(r, freshness.file_mtime(r.path)).fresh for r in rows)
    return time.perf_counter() - start, fresh


def bench_check() -> None:
    files = audio_files()
    with tempfile.TemporaryDirectory() as tmp:
        rows = rows_for(files, Path(tmp))
        for shift, label in ((0.0, "unchanged (one stat)"), (1.0, "tags edited")):
            times = []
            for _ in range(3):
                seconds, fresh = time_checks(rows, shift)
                times.append(seconds)
                assert fresh == N_FILES, fresh
            print(
                f"freshness check, {N_FILES} files, {label}: "
                f"{min(times):.2f}-{max(times):.2f} s "
                f"({min(times) / N_FILES * 1e6:.0f} us per file)"
            )
    command = fpcalc_command()
    sample = files[:DECODED_SAMPLE]
    start = time.perf_counter()
    for path in sample:
        assert fingerprint_file(command, bytes(path)).ok
    per_file = (time.perf_counter() - start) / len(sample)
    print(
        f"fpcalc decode: {per_file * 1e3:.0f} ms per file (48 s clips, one "
        f"process); {N_FILES} files: {per_file * N_FILES:.0f} s of CPU"
    )


def beet(configdir: Path, *args: str) -> str:
    env = dict(os.environ, BEETSDIR=str(configdir), HOME=str(configdir.parent))
    proc = subprocess.run(
        [BEET, *args], capture_output=True, text=True, env=env, check=True
    )
    return proc.stdout


def decoded(configdir: Path) -> str:
    start = time.perf_counter()
    summary = json.loads(beet(configdir, "dedupfuzzy", "--json"))["summary"]
    return (
        f"{summary['fingerprinted']} decoded, {summary['unchanged']} unchanged "
        f"({time.perf_counter() - start:.1f} s)"
    )


def bench_demo() -> None:
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo.py")],
        check=True,
        capture_output=True,
    )
    configdir = REPO / "demo-out" / "config"
    out = beet(configdir, "write")
    written = sum(1 for line in out.splitlines() if "acoustid_fingerprint" in line)
    print(f"demo: beet write rewrote {written} files; dedupfuzzy: {decoded(configdir)}")
    paths = [p for p in beet(configdir, "ls", "-f", "$path").splitlines() if p]
    for path in paths:
        f = mediafile.MediaFile(path)
        f.comments = "edited by another tagger"
        f.title = (f.title or "") + " (edited)"
        f.save()
    beet(configdir, "update")
    print(
        f"demo: {len(paths)} files retagged with mutagen, beet update; "
        f"dedupfuzzy: {decoded(configdir)}"
    )


def import_time(music: Path, root: Path, auto: bool) -> float:
    if root.exists():
        shutil.rmtree(root)
    configdir = root / "config"
    configdir.mkdir(parents=True)
    (configdir / "config.yaml").write_text(
        f"directory: {root / 'library'}\nlibrary: {configdir / 'library.db'}\n"
        "plugins: [dedupfuzzy]\ncreate_backup_before_migrations: no\n"
        "import:\n    duplicate_action: keep\n    log:\n"
        f"dedupfuzzy:\n    auto: {'yes' if auto else 'no'}\n"
    )
    start = time.perf_counter()
    beet(configdir, "import", "-q", "-A", str(music))
    return time.perf_counter() - start


def bench_import() -> None:
    files = audio_files()
    with tempfile.TemporaryDirectory() as tmp:
        music = Path(tmp) / "music"
        for n, source in enumerate(files):
            target = music / f"album{n % 12:02d}" / f"{n:03d}{source.suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        for auto in (False, True):
            times = [import_time(music, Path(tmp) / "lib", auto) for _ in range(2)]
            print(
                f"beet import -q -A of {len(files)} files, beets' defaults "
                f"(threaded, copy, write), hook {'on ' if auto else 'off'}: "
                f"{min(times):.1f}-{max(times):.1f} s"
            )


def main() -> None:
    print(f"load before: {os.getloadavg()[0]:.1f}")
    bench_check()
    if "--skip-demo" not in sys.argv:
        bench_demo()
    bench_import()
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
