"""`beet dedupfuzzy` end to end: a real library of generated music, real fpcalc."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from itertools import combinations
from pathlib import Path

import corpus as corpus_tools
from conftest import BeetEnv, relpaths

LOSSLESS = {"FLAC", "ALAC", "WAV", "AIFF"}


def found_groups(env: BeetEnv, *args: str) -> list[dict]:
    return json.loads(env.run("dedupfuzzy", "--json", *args).stdout)["groups"]


def rel(env: BeetEnv, path: str) -> str:
    return os.path.relpath(path, env.libdir)


def duplicate_pairs(env: BeetEnv, groups: list[dict]) -> set[tuple[str, str]]:
    pairs = set()
    for g in groups:
        if g["status"] == "duplicate":
            paths = sorted(rel(env, i["path"]) for i in g["items"])
            pairs.update(combinations(paths, 2))
    return pairs


def leaving_copies(env: BeetEnv) -> list[str]:
    """The copies the plugin would not keep, in listing order."""
    return [
        rel(env, i["path"])
        for g in found_groups(env)
        for i in g["items"]
        if g["status"] == "duplicate" and not i["keep"]
    ]


def checksums(root: Path) -> dict[str, str]:
    """Content hash -> where it is, for every audio file under root."""
    sums = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if p.suffix in {".db", ".yaml"} or p.name.startswith("."):
                continue
            sums[hashlib.sha1(p.read_bytes()).hexdigest()] = str(p)
    return sums


def test_every_copy_found_and_no_different_edit_merged(library, corpus):
    pairs = duplicate_pairs(library, found_groups(library))
    truth = corpus_tools.true_duplicate_pairs(corpus)
    assert truth - pairs == set(), "missed copies"
    assert pairs - truth == set(), "merged different recordings"


def test_silence_and_steady_tones_are_in_no_group(library, corpus):
    quiet = {e.relpath for e in corpus.audio_entries() if e.song is None}
    grouped = {
        rel(library, i["path"]) for g in found_groups(library) for i in g["items"]
    }
    assert quiet and not quiet & grouped


def test_keeper_is_the_lossless_copy(library):
    for g in found_groups(library):
        if g["status"] == "duplicate":
            keeper = g["items"][0]
            assert keeper["keep"] is True
            assert keeper["format"] in LOSSLESS
            assert [i["keep"] for i in g["items"][1:]] == [False] * (
                len(g["items"]) - 1
            )


def test_offsets_are_reported_in_seconds(library, corpus):
    groups = found_groups(library)
    by_path = {rel(library, i["path"]): i for g in groups for i in g["items"]}
    silence_copy = next(e for e in corpus.entries if e.variant == "mp3-lead-silence")
    assert abs(abs(by_path[silence_copy.relpath]["offset"]) - 2.0) < 0.15


def test_listing_touches_no_file(library):
    before = checksums(library.libdir)
    out = library.run("dedupfuzzy").stdout
    assert "duplicate groups" in out
    assert checksums(library.libdir) == before


def test_configured_quarantine_alone_does_not_make_a_listing_move(library, tmp_path):
    library.write_config(f"dedupfuzzy:\n    quarantine: {tmp_path / 'q'}\n")
    before = checksums(library.libdir)
    library.run("dedupfuzzy")
    assert checksums(library.libdir) == before
    library.write_config(
        f"dedupfuzzy:\n    quarantine: {tmp_path / 'q'}\n    move: yes\n"
    )
    library.run("dedupfuzzy")
    assert (tmp_path / "q").is_dir()


def test_rerun_decodes_nothing_and_changed_audio_is_fingerprinted(library):
    out = library.run("dedupfuzzy", "-c").stdout
    assert " 0 fingerprinted" in out
    paths = sorted(relpaths(library))
    touched, replaced = library.libdir / paths[0], library.libdir / paths[1]
    os.utime(touched, (1_700_000_000, 1_700_000_000))  # same audio
    replaced.write_bytes((library.libdir / paths[-1]).read_bytes())  # new audio
    proc = library.run("-v", "dedupfuzzy", "-c")
    assert " 1 fingerprinted" in proc.stdout
    # With -v, the time of each stage that had work (both files read).
    assert "dedupfuzzy: reading files (2) took" in proc.stderr
    assert "dedupfuzzy: fingerprinting (1) took" in proc.stderr  # the new audio
    assert "dedupfuzzy: verifying (" in proc.stderr
    assert "dedupfuzzy: sketching (" not in proc.stderr  # sketched as made
    # And the parts around them.
    for part in ("reading rows", "checking files", "storing the model", "caching rows"):
        assert f"dedupfuzzy: {part} took" in proc.stderr


def test_count_and_format(library):
    out = library.run("dedupfuzzy", "-c", "-f", "$format|$title").stdout
    lines = [ln for ln in out.splitlines() if "|" in ln]
    assert lines and all(ln.split(": ")[-1].isdigit() for ln in lines)
    assert all(ln.split("|")[0] in LOSSLESS for ln in lines)


def test_query_narrows_the_items_considered(library):
    for g in found_groups(library, "format:MP3"):
        assert {i["format"] for i in g["items"]} == {"MP3"}


def test_json_keeps_stdout_clean_when_files_fail(library):
    victim = sorted(relpaths(library))[0]
    (library.libdir / victim).unlink()
    proc = library.run("dedupfuzzy", "--json")
    doc = json.loads(proc.stdout)
    assert doc["summary"]["failed"] == 1
    assert f"skipped (missing): {library.libdir / victim}" in proc.stderr.splitlines()
    missing = {"path": str(library.libdir / victim), "reason": "missing"}
    assert {**missing, "detail": ""} in doc["skipped"]


def test_corrupt_and_empty_files_get_one_line_each_and_run_goes_on(library):
    paths = sorted(relpaths(library, ("format:MP3",)))
    (library.libdir / paths[0]).write_bytes(b"")
    (library.libdir / paths[1]).write_bytes(b"this is not audio at all" * 100)
    proc = library.run("dedupfuzzy")
    errors = [ln for ln in proc.stdout.splitlines() if paths[0] in ln or paths[1] in ln]
    errors = [ln for ln in errors if "fingerprint" in ln or "empty" in ln]
    assert len(errors) == 2
    assert "2 failed" in proc.stdout
    assert "duplicate groups" in proc.stdout


def test_missing_fpcalc_is_a_clear_error(library):
    # A file whose sound changed must be decoded (a touched one need not be).
    first, second = sorted(relpaths(library, ("format:FLAC",)))[:2]
    (library.libdir / first).write_bytes((library.libdir / second).read_bytes())
    library.env["FPCALC"] = "/nonexistent/fpcalc"
    proc = library.run("dedupfuzzy", check=False)
    assert proc.returncode != 0
    assert "libchromaprint-tools" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_move_quarantines_copies_and_undo_puts_everything_back(library, tmp_path):
    quarantine = tmp_path / "quarantine"
    before_ids = library.run("ls", "-f", "$id $path").stdout
    before = checksums(library.libdir)
    leaving = set(leaving_copies(library))
    library.run("dedupfuzzy", "-m", str(quarantine))
    left = relpaths(library)
    assert not leaving & left
    moved = {
        str(p.relative_to(quarantine)) for p in quarantine.rglob("*") if p.is_file()
    }
    assert moved == leaving
    # Nothing lost: every file's content is somewhere, once.
    after = checksums(library.libdir) | checksums(quarantine)
    assert set(after) == set(before)
    library.run("dedupfuzzy", "--undo")
    assert library.run("ls", "-f", "$id $path").stdout == before_ids
    assert checksums(library.libdir) == before
    assert not [p for p in quarantine.rglob("*") if p.is_file()]


def test_move_never_overwrites_in_the_quarantine(library, tmp_path):
    quarantine = tmp_path / "q"
    first = leaving_copies(library)[0]
    (quarantine / first).parent.mkdir(parents=True)
    (quarantine / first).write_bytes(b"someone else's file")
    library.run("dedupfuzzy", "-m", str(quarantine))
    assert (quarantine / first).read_bytes() == b"someone else's file"
    stem, ext = os.path.splitext(first)
    assert (quarantine / f"{stem}.1{ext}").exists()


def test_pretend_prints_the_plan_and_changes_nothing(library, tmp_path):
    before = checksums(library.libdir)
    out = library.run("dedupfuzzy", "-p", "-m", str(tmp_path / "q")).stdout
    assert "would move" in out
    assert checksums(library.libdir) == before
    assert not (tmp_path / "q").exists()


def test_tag_marks_the_copies_not_kept(library):
    leaving = set(leaving_copies(library))
    library.run("dedupfuzzy", "-t", "dupe=yes")
    assert relpaths(library, ("dupe:yes",)) == leaving


def test_best_of_each_keeps_a_lossless_and_a_lossy_copy(library):
    library.write_config("dedupfuzzy:\n    keep: best-of-each\n")
    for g in found_groups(library):
        if g["status"] != "duplicate":
            continue
        kept = [i for i in g["items"] if i["keep"]]
        formats = {i["format"] in LOSSLESS for i in g["items"]}
        assert len(kept) == len(formats)
        assert {i["format"] in LOSSLESS for i in kept} == formats


def test_csv_report_has_a_row_per_copy(library, tmp_path):
    report = tmp_path / "report.csv"
    library.run("dedupfuzzy", "--report", str(report))
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    groups = found_groups(library)
    assert len(rows) == sum(len(g["items"]) for g in groups)
    assert {r["keep"] for r in rows} == {"yes", "no"}


def _kill_after_moves(env: BeetEnv, quarantine: Path, moves: int) -> None:
    """Start a real `beet dedupfuzzy -m` and SIGKILL it after `moves` moves."""
    import signal
    import subprocess

    from conftest import BEET

    proc = subprocess.Popen(
        [BEET, "dedupfuzzy", "-m", str(quarantine)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, BEETSDIR=str(env.configdir), HOME=str(env.root)),
    )
    seen = 0
    assert proc.stderr is not None
    for line in proc.stderr:
        if "moved " in line:
            seen += 1
            if seen == moves:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _library_points_at_existing_files(env: BeetEnv) -> None:
    for path in env.run("ls", "-f", "$path").stdout.splitlines():
        assert os.path.exists(path), path


def test_killed_run_loses_nothing_and_undo_reverts_it(library, tmp_path):
    quarantine = tmp_path / "q"
    before = checksums(library.libdir)
    before_items = library.run("ls", "-f", "$id $path").stdout
    _kill_after_moves(library, quarantine, moves=3)
    assert set(checksums(library.libdir) | checksums(quarantine)) == set(before)
    _library_points_at_existing_files(library)
    library.run("dedupfuzzy", "--undo")
    assert checksums(library.libdir) == before
    assert library.run("ls", "-f", "$id $path").stdout == before_items


def test_next_run_finishes_what_a_killed_run_started(library, tmp_path):
    quarantine = tmp_path / "q"
    before = checksums(library.libdir)
    leaving = set(leaving_copies(library))
    expected_left = relpaths(library) - leaving
    _kill_after_moves(library, quarantine, moves=2)
    library.run("dedupfuzzy", "-m", str(quarantine))
    assert relpaths(library) == expected_left
    assert set(checksums(library.libdir) | checksums(quarantine)) == set(before)
    _library_points_at_existing_files(library)


def test_fingerprints_of_the_chroma_plugin_are_reused_and_shared(beet, corpus):
    masters = [e for e in corpus.entries if e.variant in ("master", "mp3-320")][:2]
    music = beet.libdir
    for e in masters:
        (music / e.relpath).parent.mkdir(parents=True, exist_ok=True)
        (music / e.relpath).write_bytes(corpus.path(e).read_bytes())
    beet.write_config(
        "plugins: [chroma, dedupfuzzy]\nchroma:\n    auto: no\n"
        "dedupfuzzy:\n    auto: no\n"
    )
    beet.run("import", "-A", "-s", "-C", "-q", str(music))
    beet.run("fingerprint")
    out = beet.run("dedupfuzzy").stdout
    assert "0 fingerprinted, 2 unchanged" in out
    # And the other way round: what dedupfuzzy computes, chroma sees.
    fresh = beet.root / "fresh"
    fresh.mkdir()
    e = next(e for e in corpus.entries if e.variant == "aac-128")
    (fresh / "song.m4a").write_bytes(corpus.path(e).read_bytes())
    beet.run("import", "-A", "-s", "-C", "-q", str(fresh))
    assert "1 fingerprinted" in beet.run("dedupfuzzy").stdout
    shown = beet.run("ls", "-f", "$acoustid_fingerprint", "path:" + str(fresh)).stdout
    assert shown.strip().startswith("AQA")


def test_a_replaced_file_is_matched_anew_not_from_memory(library, corpus):
    groups = found_groups(library)
    first, second = [
        [rel(library, i["path"]) for i in g["items"]]
        for g in groups
        if g["status"] == "duplicate"
    ][:2]
    # Overwrite one copy of the first recording with a copy of the second.
    victim = next(p for p in first[1:] if p.endswith(".flac") or p.endswith(".mp3"))
    donor = next(p for p in second if p.endswith(os.path.splitext(victim)[1]))
    (library.libdir / victim).write_bytes((library.libdir / donor).read_bytes())
    regrouped = found_groups(library)
    with_victim = next(
        {rel(library, i["path"]) for i in g["items"]}
        for g in regrouped
        if victim in {rel(library, i["path"]) for i in g["items"]}
    )
    assert donor in with_victim
    assert first[0] not in with_victim
