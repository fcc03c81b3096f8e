"""Benchmark: the lossless check against flac-detective on the same files.

Usage: python bench/bench_lossless.py [--count N] [--fd-sources K] [--no-fd]

Builds (or reuses) the corpus of `bench/lossless_corpus.py` (genuine renders of
real compositions with sampled instruments, recorded drum kits, synth songs,
24/96 files, band-limited genuine files, and fakes made from them), runs this
plugin's check on every file, one at a time, and flac-detective (PyPI
`flac-detective`, installed in bench/.venv-fd, never a project dependency) on
the genuine files and on the fakes of the first K sources of each kind (it
takes seconds per file). Prints detection by source codec and bitrate, false
positives on genuine files by kind, and seconds per file; writes
bench/results/lossless.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from mutagen import File as MutagenFile

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import lossless_corpus  # noqa: E402

from beetsplug.dedupfuzzy.analysis import analyse_file  # noqa: E402

CORPUS = REPO / ".cache" / "lossless-bench"
FD_VENV = HERE / ".venv-fd"
RESULTS = HERE / "results" / "lossless.json"


def ensure_flac_detective() -> Path:
    exe = FD_VENV / "bin" / "flac-detective"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(FD_VENV)], check=True)
        subprocess.run(
            [str(FD_VENV / "bin" / "pip"), "install", "-q", "flac-detective==2.5.0"],
            check=True,
        )
    return exe


def ours(files: list[dict]) -> tuple[dict[str, str], float]:
    verdicts, total = {}, 0.0
    for f in files:
        path = CORPUS / f["path"]
        info = MutagenFile(path).info
        start = time.perf_counter()
        result = analyse_file(str(path).encode(), info.length, info.sample_rate)
        total += time.perf_counter() - start
        verdicts[f["path"]] = result.verdict
    return verdicts, total / max(1, len(files))


def flac_detective(files: list[dict], workers: int) -> tuple[dict[str, str], float]:
    """flac-detective's verdicts: fake (FAKE*), suspect (the others), genuine."""
    exe = ensure_flac_detective()
    with tempfile.TemporaryDirectory() as tmp:
        # one folder of links, so one run (and one start-up) covers them all
        names = {}
        for i, f in enumerate(files):
            name = f"{i:04d}.flac"
            os.symlink(CORPUS / f["path"], Path(tmp, name))
            names[name] = f["path"]
        out = Path(tmp, "report.json")
        start = time.perf_counter()
        subprocess.run(
            [str(exe), "--workers", str(workers), "--no-update-check",
             "--format", "json", "--output", str(out), tmp],
            capture_output=True, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
        report = json.loads(out.read_text())
    verdicts = {}
    for r in report["results"]:
        v = r.get("verdict", "")
        label = "genuine" if v == "AUTHENTIC" else "fake" if "FAKE" in v else "suspect"
        verdicts[names[Path(r["filepath"]).name]] = label
    return verdicts, elapsed * workers / max(1, len(files))


def group_of(f: dict) -> str:
    if f["truth"] == "genuine":
        return f"genuine {f['kind']}"
    return f"fake {f['codec']}{' 24/96' if f['hires'] else ''}"


def rates(files: list[dict], verdicts: dict[str, str]) -> dict[str, dict]:
    table: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for f in files:
        if f["path"] in verdicts:
            table[group_of(f)][verdicts[f["path"]]] += 1
    return {k: dict(v) for k, v in sorted(table.items())}


def summary(files: list[dict], verdicts: dict[str, str]) -> dict[str, float | int]:
    def share(subset: list[dict], label: str) -> float:
        judged = [f for f in subset if f["path"] in verdicts]
        hits = sum(verdicts[f["path"]] == label for f in judged)
        return round(100 * hits / max(1, len(judged)), 1)

    fakes = [f for f in files if f["truth"] == "fake"]
    genuine = [f for f in files if f["truth"] == "genuine"]
    return {
        "fakes_le_256k_detected_%": share(
            [f for f in fakes if f["kbps"] <= 256], "fake"
        ),
        "fakes_detected_%": share(fakes, "fake"),
        "genuine_called_fake_%": share(genuine, "fake"),
        "genuine_called_genuine_%": share(genuine, "genuine"),
        "fakes": sum(f["path"] in verdicts for f in fakes),
        "genuine": sum(f["path"] in verdicts for f in genuine),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fd-sources", type=int, default=2)
    parser.add_argument("--fd-workers", type=int, default=1)
    parser.add_argument("--no-fd", action="store_true")
    args = parser.parse_args(argv)
    files = lossless_corpus.build(CORPUS, args.seconds, args.count, os.cpu_count() or 2)
    load = os.getloadavg()[0]
    mine, mine_s = ours(files)
    result = {"load": load, "ours": {"per_file_s": round(mine_s, 3)}}
    result["ours"].update(summary(files, mine), by_group=rates(files, mine))
    print(f"ours: {mine_s:.3f} s/file (load {load:.1f})")
    print(json.dumps(summary(files, mine)))
    if not args.no_fd:
        kinds = (
            "synth",
            "midi",
            "kit",
            "oldtransfer",
            "softsynth",
            "quiet",
            "brickwall",
        )
        chosen = {f"{k}{i}" for k in kinds for i in range(args.fd_sources)}
        subset = [
            f for f in files
            if f["truth"] == "genuine" or Path(f["path"]).name.split(".")[0] in chosen
        ]  # fmt: skip
        theirs, theirs_s = flac_detective(subset, args.fd_workers)
        mine_subset = {f["path"]: mine[f["path"]] for f in subset}
        result["flac_detective"] = {"per_file_s": round(theirs_s, 2)}
        result["flac_detective"].update(
            summary(subset, theirs), by_group=rates(subset, theirs)
        )
        result["ours_on_fd_subset"] = summary(subset, mine_subset)
        print(f"flac-detective: {theirs_s:.2f} s/file on {len(subset)} files")
        print(json.dumps(summary(subset, theirs)))
        print("ours on the same files:", json.dumps(summary(subset, mine_subset)))
    print(f"{'group':<22} {'ours':<40} flac-detective")
    for group, counts in result["ours"]["by_group"].items():
        other = result.get("flac_detective", {}).get("by_group", {}).get(group, "")
        print(f"{group:<22} {str(counts):<40} {other}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
