"""Stress check: runs of the plugin at once on one library, many times over.

Each try copies a fingerprinted library of the generated test corpus and
starts, at the same instant, one of these pairs of real `beet` processes:

- two: `beet dedupfuzzy -m Q` twice;
- import: `beet dedupfuzzy -m Q` beside a quiet `beet import` of new copies
  (the hook quarantining with `quiet_action: best`);
- mirror: `beet dedupfuzzy -m Q` beside `beet mirror`.

A try passes when both runs exit 0 without a traceback or "database is
locked", no file content is lost, and every library item points at its
own existing file. Usage: `python tools/stress_together.py [--tries 20]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))

import corpus as corpus_tools  # noqa: E402

BEET = str(Path(sys.executable).with_name("beet"))
CORPUS = REPO / ".cache" / "corpus-tests"


class Library:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "config"
        self.music = root / "library"

    def write_config(self, extra: str = "") -> None:
        self.config.mkdir(parents=True, exist_ok=True)
        self.music.mkdir(parents=True, exist_ok=True)
        text = f"""\
            directory: {self.music}
            library: {self.config / "library.db"}
            plugins: [dedupfuzzy]
            create_backup_before_migrations: no
            import:
                write: no
                duplicate_action: keep
                log:
            """
        (self.config / "config.yaml").write_text(textwrap.dedent(text) + extra)

    def start(self, *args: str) -> subprocess.Popen[str]:
        env = dict(os.environ, BEETSDIR=str(self.config), HOME=str(self.root))
        return subprocess.Popen(
            [BEET, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def run(self, *args: str) -> str:
        out, err = self.start(*args).communicate()
        return out

    def contents(self, *roots: Path) -> Counter[str]:
        found: Counter[str] = Counter()
        for root in roots:
            for dirpath, _, names in os.walk(root):
                for name in names:
                    path = Path(dirpath, name)
                    if not path.is_symlink() and path.suffix in AUDIO:
                        found[hashlib.sha1(path.read_bytes()).hexdigest()] += 1
        return found


AUDIO = {".flac", ".mp3", ".m4a", ".ogg", ".opus", ".wav"}


def template(workdir: Path, manifest) -> Path:
    lib = Library(workdir / "template")
    lib.write_config()
    for entry in manifest.entries:
        if entry.recording is None:
            continue
        target = lib.music / entry.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(manifest.path(entry), target)
    lib.run("import", "-A", "-s", "-C", "-q", str(lib.music))
    lib.run("dedupfuzzy")
    return lib.root


def one_try(scenario: str, source: Path, workdir: Path, manifest) -> str:
    """Run one try; return "" when it passed, else what went wrong."""
    root = workdir / "try"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(source, root, symlinks=True)
    lib = Library(root)
    quarantine = root / "q"
    incoming = root / "incoming"
    extra = ""
    if scenario == "import":
        extra = f"dedupfuzzy:\n    quarantine: {quarantine}\n    quiet_action: best\n"
        for entry in manifest.entries:
            if entry.variant in ("master", "mp3-320") and entry.song in (1, 2):
                (incoming / entry.relpath).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(manifest.path(entry), incoming / entry.relpath)
    if scenario == "mirror":
        extra = f"mirror:\n    high: {root / 'high'}\n    low: {root / 'low'}\n"
    lib.write_config(extra)
    before = lib.contents(lib.music, incoming)
    other = {
        "two": ("dedupfuzzy", "-m", str(quarantine)),
        "import": ("import", "-q", "-s", "-A", str(incoming)),
        "mirror": ("mirror",),
    }[scenario]
    procs = [lib.start(*other), lib.start("dedupfuzzy", "-m", str(quarantine))]
    problems = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode or "Traceback" in err or "database is locked" in err:
            problems.append(f"{proc.args[1]} exited {proc.returncode}: {err[-300:]}")
    lost = before - lib.contents(lib.music, quarantine, incoming)
    if lost:
        problems.append(f"{sum(lost.values())} file(s) lost")
    paths = lib.run("ls", "-f", "$path").splitlines()
    if len(paths) != len(set(paths)):
        problems.append("two items share a path")
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        problems.append(f"{len(missing)} item(s) point at no file")
    return "; ".join(problems)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument(
        "--scenarios", default="two,import,mirror", help="comma-separated"
    )
    args = parser.parse_args()
    manifest = corpus_tools.build_corpus(CORPUS, n_songs=4, seed=1)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="stress-together-") as tmp:
        workdir = Path(tmp)
        source = template(workdir, manifest)
        failures = 0
        for scenario in args.scenarios.split(","):
            start = time.monotonic()
            failed = 0
            for n in range(1, args.tries + 1):
                problem = one_try(scenario, source, workdir, manifest)
                if problem:
                    failed += 1
                    print(f"{scenario} try {n}: {problem}", flush=True)
            took = time.monotonic() - start
            print(
                f"{scenario}: {args.tries - failed}/{args.tries} tries clean "
                f"({took / args.tries:.1f} s per try)",
                flush=True,
            )
            failures += failed
    print(f"load average at start: {load:.2f}")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
