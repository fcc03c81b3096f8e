"""Benchmark: the lossless check against flac-detective on the same files.

Usage: python bench/bench_lossless.py [--count N] [--fd-sources K] [--no-fd]
       python bench/bench_lossless.py --overhead [N_SONGS] [--repeat N]

Builds (or reuses) the corpus of `bench/lossless_corpus.py` (genuine renders of
real compositions with sampled instruments, recorded drum kits, synth songs,
24/96 files, band-limited genuine files, and fakes made from them), runs this
plugin's check on every file, one at a time, and flac-detective (PyPI
`flac-detective`, installed in bench/.venv-fd, never a project dependency) on
the genuine files and on the fakes of the first K sources of each kind (it
takes seconds per file). Prints detection by source codec and bitrate, false
positives on genuine files by kind, and seconds per file; writes
bench/results/lossless.json.

`--overhead` measures what the check adds to `beet dedupfuzzy` on the
generated corpus of tools/corpus.py: cold runs with `check_lossless: no`
and `yes` alternated `--repeat` times (default 3) on the same imported
library, each followed by a warm run; the medians of wall time and of the
CPU time of the processes (steadier on a shared machine), with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
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
sys.path.insert(0, str(REPO / "tools"))

import corpus as corpus_tools  # noqa: E402
import lossless_corpus  # noqa: E402

from beetsplug.dedupfuzzy.analysis import analyse_file, granules  # noqa: E402
from beetsplug.dedupfuzzy.analysis.readers import decode_excerpts  # noqa: E402

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


def cpu_now() -> float:
    """CPU seconds of this process and of its finished children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def ours(files: list[dict]) -> tuple[dict[str, str], float, float]:
    """Verdicts, wall and CPU seconds per file (one file at a time)."""
    verdicts, wall, cpu = {}, 0.0, 0.0
    for f in files:
        path = CORPUS / f["path"]
        info = MutagenFile(path).info
        start, start_cpu = time.perf_counter(), cpu_now()
        result = analyse_file(str(path).encode(), info.length, info.sample_rate)
        wall += time.perf_counter() - start
        cpu += cpu_now() - start_cpu
        verdicts[f["path"]] = result.verdict
    n = max(1, len(files))
    return verdicts, wall / n, cpu / n


def granule_check(files: list[dict]) -> dict:
    """The MP3 granule check alone (`analysis/granules.py`), on the excerpts
    the check decodes: CPU per file, and its measure on each group, so its
    margin shows (genuine files against fakes)."""
    cpu, excess = 0.0, defaultdict(list)
    for f in files:
        path = CORPUS / f["path"]
        info = MutagenFile(path).info
        excerpts = decode_excerpts(str(path).encode(), info.length, info.sample_rate)
        start = time.process_time()
        found = granules.find_granules(excerpts.parts, excerpts.samplerate)
        cpu += time.process_time() - start
        excess[group_of(f)].append((found.excess, found.found))
    table = {
        group: {
            "found": sum(hit for _, hit in values),
            "files": len(values),
            "excess_%_max": round(100 * max(e for e, _ in values), 2),
            "excess_%_median": round(
                100 * sorted(e for e, _ in values)[len(values) // 2], 2
            ),
        }
        for group, values in sorted(excess.items())
    }
    return {
        "cpu_ms_per_file": round(1000 * cpu / max(1, len(files)), 2),
        "by_group": table,
    }


def flac_detective(
    files: list[dict], workers: int
) -> tuple[dict[str, str], float, float]:
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
        start, start_cpu = time.perf_counter(), cpu_now()
        subprocess.run(
            [str(exe), "--workers", str(workers), "--no-update-check",
             "--format", "json", "--output", str(out), tmp],
            capture_output=True, check=False,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
        cpu = cpu_now() - start_cpu
        report = json.loads(out.read_text())
    verdicts = {}
    for r in report["results"]:
        v = r.get("verdict", "")
        label = "genuine" if v == "AUTHENTIC" else "fake" if "FAKE" in v else "suspect"
        name = Path(r["filepath"]).name
        key = names.get(name) or str(Path(r["filepath"]).resolve().relative_to(CORPUS))
        verdicts[key] = label
    n = max(1, len(files))
    return verdicts, elapsed * workers / n, cpu / n


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


def timed_beet(configdir: Path, *args: str) -> tuple[float, float]:
    """Run `beet ARGS`; its wall time and its CPU time (children included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).with_name("beet")), *args],
        env=dict(os.environ, BEETSDIR=str(configdir)),
        capture_output=True,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def overhead(n_songs: int, repeat: int = 3) -> dict:
    """Cold runs without and with the check, alternated `repeat` times on
    the same imported library (its database restored before each), so both
    see the same machine; then a warm run of each."""
    manifest = corpus_tools.build_corpus(REPO / ".cache" / "corpus", n_songs=n_songs)
    runs: dict[str, list[dict]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="dedupfuzzy-lossless-") as tmp:
        music = Path(tmp, "music")
        for e in manifest.entries:
            if e.recording is not None:
                (music / e.relpath).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(manifest.path(e), music / e.relpath)
        configs = {}
        for check in ("no", "yes"):
            config = Path(tmp, f"config-{check}")
            config.mkdir()
            (config / "config.yaml").write_text(
                f"directory: {music}\nlibrary: {Path(tmp, 'library.db')}\n"
                "plugins: [dedupfuzzy]\ncreate_backup_before_migrations: no\n"
                "import:\n    write: no\n    duplicate_action: keep\n"
                f"dedupfuzzy:\n    auto: no\n    check_lossless: {check}\n"
            )
            configs[check] = config
        timed_beet(configs["no"], "import", "-A", "-s", "-C", "-q", str(music))
        imported = Path(tmp, "imported.db")
        shutil.copy(Path(tmp, "library.db"), imported)

        def measure(name: str, check: str) -> None:
            load = os.getloadavg()[0]
            wall, cpu = timed_beet(configs[check], "dedupfuzzy")
            runs[name].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                               "load": round(load, 2)})  # fmt: skip

        for _ in range(repeat):
            for check in ("no", "yes"):
                shutil.copy(imported, Path(tmp, "library.db"))
                measure(f"cold, check {check}", check)
                measure(f"warm, check {check}", check)
    files = sum(e.recording is not None for e in manifest.entries)
    lossless = sum(e.recording is not None and e.lossless for e in manifest.entries)
    result: dict = {"files": files, "lossless": lossless, "runs": dict(runs)}
    for name, measured in runs.items():
        result[name] = {
            key: round(statistics.median(m[key] for m in measured), 2)
            for key in ("wall_s", "cpu_s", "load")
        }
    base, checked = result["cold, check no"], result["cold, check yes"]
    for key in ("wall", "cpu"):
        result[f"cold_added_{key}_%"] = round(
            100 * (checked[f"{key}_s"] / base[f"{key}_s"] - 1), 1
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fd-sources", type=int, default=2)
    parser.add_argument("--fd-workers", type=int, default=1)
    parser.add_argument("--no-fd", action="store_true")
    parser.add_argument(
        "--fd-result", type=Path, help="reuse flac-detective's part of a saved result"
    )
    parser.add_argument("--overhead", type=int, nargs="?", const=8, metavar="SONGS")
    parser.add_argument("--repeat", type=int, default=3, help="--overhead pairs")
    args = parser.parse_args(argv)
    if args.overhead:
        result = overhead(args.overhead, args.repeat)
        print(json.dumps(result, indent=1))
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.with_name("lossless-overhead.json").write_text(json.dumps(result))
        return 0
    files = lossless_corpus.build(CORPUS, args.seconds, args.count, os.cpu_count() or 2)
    load = os.getloadavg()[0]
    mine, mine_s, mine_cpu = ours(files)
    result = {
        "load": load,
        "ours": {"per_file_s": round(mine_s, 3), "per_file_cpu_s": round(mine_cpu, 3)},
    }
    result["ours"].update(summary(files, mine), by_group=rates(files, mine))
    print(f"ours: {mine_s:.3f} s/file, {mine_cpu:.3f} CPU s/file (load {load:.1f})")
    print(json.dumps(summary(files, mine)))
    result["ours"]["verdicts"] = mine
    result["granules"] = granule_check(files)
    print(f"granule check: {result['granules']['cpu_ms_per_file']} CPU ms/file")
    for group, row in result["granules"]["by_group"].items():
        print(f"  {group:<22} {row}")
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
        mine_subset = {f["path"]: mine[f["path"]] for f in subset}
        if args.fd_result:
            result["flac_detective"] = json.loads(args.fd_result.read_text())[
                "flac_detective"
            ]
        else:
            theirs, theirs_s, theirs_cpu = flac_detective(subset, args.fd_workers)
            result["flac_detective"] = {
                "per_file_s": round(theirs_s, 2),
                "per_file_cpu_s": round(theirs_cpu, 2),
                "load": os.getloadavg()[0],
                **summary(subset, theirs),
                "by_group": rates(subset, theirs),
                "verdicts": theirs,
            }
        fd = result["flac_detective"]
        result["ours_on_fd_subset"] = summary(subset, mine_subset)
        print(
            f"flac-detective: {fd['per_file_s']:.2f} s/file, "
            f"{fd['per_file_cpu_s']:.2f} CPU s/file, "
            f"{fd['fakes'] + fd['genuine']} files"
        )
        print(json.dumps({k: v for k, v in fd.items() if k.endswith("%")}))
        print("ours on the same files:", json.dumps(result["ours_on_fd_subset"]))
    print(f"{'group':<22} {'ours':<40} flac-detective")
    for group, counts in result["ours"]["by_group"].items():
        other = result.get("flac_detective", {}).get("by_group", {}).get(group, "")
        print(f"{group:<22} {str(counts):<40} {other}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
