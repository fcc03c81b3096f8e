"""`make demo`: generate a small messy library and run the plugin on it.

Everything lands in demo-out/: the generated music (FLAC albums, MP3 and AAC
copies with other tags and names, a radio edit, an instrumental, silence),
a throwaway beets config and library, the quarantine and the mirror views.
Each step prints the `beet` command it runs, so it can be replayed by hand
with `BEETSDIR=demo-out/config`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))

import corpus as corpus_tools  # noqa: E402

OUT = REPO / "demo-out"
BEET = str(Path(sys.executable).with_name("beet"))
VARIANTS = (
    "master",
    "mp3-320",
    "mp3-v0",
    "aac-128",
    "mp3-lead-silence",
    "aac-trim-start",
    "remaster",
    "radio-edit",
    "instrumental",
)


def beet(*args: str) -> str:
    print(f"\n$ beet {' '.join(args)}", flush=True)
    env = dict(os.environ, BEETSDIR=str(OUT / "config"), HOME=str(OUT))
    proc = subprocess.run([BEET, *args], env=env, text=True, capture_output=True)
    sys.stdout.write(proc.stdout)
    sys.stdout.write(proc.stderr)
    if proc.returncode:
        raise SystemExit(f"beet {args[0]} failed with exit code {proc.returncode}")
    return proc.stdout


def tree(root: Path, depth: int = 3) -> None:
    print(f"{root.relative_to(OUT)}/")

    def walk(folder: Path, prefix: str, level: int) -> None:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
        for k, p in enumerate(entries):
            last = k == len(entries) - 1
            mark = "`-- " if last else "|-- "
            if p.is_symlink():
                target = os.readlink(p)
                shown = (
                    os.path.relpath(target, OUT) if os.path.isabs(target) else target
                )
                print(f"{prefix}{mark}{p.name} -> {shown}")
            elif p.is_dir() and level < depth:
                print(f"{prefix}{mark}{p.name}/")
                walk(p, prefix + ("    " if last else "|   "), level + 1)
            else:
                print(f"{prefix}{mark}{p.name}")

    walk(root, "", 1)


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    music = OUT / "music"
    print("generating demo music (deterministic synthetic songs) ...", flush=True)
    manifest = corpus_tools.build_corpus(
        REPO / ".cache" / "corpus-demo",
        n_songs=3,
        seed=5,
        variants=VARIANTS,
        extras=("silence-flac", "tone-440"),
    )
    for e in manifest.entries:
        if e.recording is None:
            continue
        (music / e.relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(manifest.path(e), music / e.relpath)
    config = OUT / "config"
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(
        f"directory: {music}\n"
        f"library: {config / 'library.db'}\n"
        "plugins: [dedupfuzzy]\n"
        "create_backup_before_migrations: no\n"
        "import:\n    write: no\n    duplicate_action: keep\n"
        "dedupfuzzy:\n"
        f"    quarantine: {OUT / 'quarantine'}\n"
        "    quiet_action: keep\n"
        "    keep: best-of-each\n"
        "mirror:\n"
        f"    high: {OUT / 'views' / 'high'}\n"
        f"    low: {OUT / 'views' / 'low'}\n"
        "    depth: 2\n"
    )
    print(f"\n{sum(1 for p in music.rglob('*') if p.is_file())} files in {music}")
    beet("import", "-A", "-s", "-C", "-q", str(music))
    beet("dedupfuzzy")
    beet("dedupfuzzy", "--pretend", "--move", str(OUT / "quarantine"))
    beet("dedupfuzzy", "--move", str(OUT / "quarantine"))
    beet("mirror", "--depth", "2")
    for view in ("high", "low"):
        print()
        tree(OUT / "views" / view)
    print(
        f"\nEverything is in {OUT}; replay with: BEETSDIR={config} beet dedupfuzzy"
        "\n(put the quarantined copies back with: beet dedupfuzzy --undo)"
    )


if __name__ == "__main__":
    main()
