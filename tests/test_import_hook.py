"""`beet import` with the hook: real beets, real fpcalc, generated music.

The library holds song 1 and song 3 as FLAC masters and song 2 only as a
320 kbps MP3; each test imports other copies of those songs, new songs and
a radio edit, and checks the library and every file afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import BeetEnv, run_on_terminal

BASE = {"s1-flac": (1, "master"), "s2-mp3": (2, "mp3-320"), "s3-flac": (3, "master")}
INCOMING = {
    "s1-v0": (1, "mp3-v0"),
    "s2-flac": (2, "master"),
    "s3-aac": (3, "aac-128"),
    "s4-mp3": (4, "mp3-128"),
    "s4-flac": (4, "master"),
    "s4-opus": (4, "opus-96"),
    "s1-radio": (1, "radio-edit"),
    "s1-instrumental": (1, "instrumental"),
    "s2-128": (2, "mp3-128"),
}
PROMPT_MARK = "Skip?"


def corpus_file(corpus, key: tuple[int, str]) -> Path:
    return corpus.path(next(e for e in corpus.entries if (e.song, e.variant) == key))


def sha(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


class Files:
    """The generated files a test placed, known by label and by content."""

    def __init__(self, corpus) -> None:
        self.sources = {
            label: corpus_file(corpus, key)
            for label, key in {**BASE, **INCOMING}.items()
        }
        self.label_of = {sha(p): label for label, p in self.sources.items()}

    def place(self, label: str, folder: Path, name: str | None = None) -> Path:
        source = self.sources[label]
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (name or f"{label}{source.suffix}")
        shutil.copy2(source, target)
        return target

    def labels_under(self, *roots: Path) -> list[str]:
        """Labels of the known files under the roots, one per file found."""
        found = []
        for root in roots:
            for dirpath, _, names in os.walk(root):
                for name in names:
                    label = self.label_of.get(sha(Path(dirpath) / name))
                    if label:
                        found.append(label)
        return sorted(found)

    def in_library(self, env: BeetEnv) -> set[str]:
        out = env.run("ls", "-f", "$path").stdout
        return {self.label_of[sha(Path(p))] for p in out.splitlines() if p.strip()}


@pytest.fixture(scope="session")
def hook_template(tmp_path_factory, corpus) -> Path:
    """A library of the BASE files, imported (and fingerprinted) by the hook."""
    root = tmp_path_factory.mktemp("hook-template")
    env = BeetEnv(root)
    env.write_config()
    files = Files(corpus)
    for label in BASE:
        files.place(label, root / "base" / label)
    out = env.run("import", "-q", "-A", str(root / "base")).stdout
    assert "3 fingerprinted" in out
    shutil.rmtree(root / "base")
    return root


@pytest.fixture
def env(tmp_path, hook_template) -> BeetEnv:
    root = tmp_path / "env"
    shutil.copytree(hook_template, root)
    env = BeetEnv(root)
    env.write_config()
    return env


@pytest.fixture(scope="session")
def files(corpus) -> Files:
    return Files(corpus)


def configure(env: BeetEnv, **dedupfuzzy: str) -> Path:
    quarantine = env.root / "quarantine"
    options = {"quarantine": str(quarantine), **dedupfuzzy}
    env.write_config(
        "dedupfuzzy:\n" + "".join(f"    {k}: {v}\n" for k, v in options.items())
    )
    return quarantine


def test_quiet_best_keeps_one_copy_per_recording_and_undo_restores(env, files):
    quarantine = configure(env, quiet_action="best")
    incoming = env.root / "incoming"
    files.place("s1-v0", incoming / "a")
    files.place("s2-flac", incoming / "b")
    files.place("s3-aac", incoming / "c")
    # One album with two copies of one song (the worse first), and a third
    # copy in a later album: items of one import match each other too.
    files.place("s4-mp3", incoming / "d", "01 city.mp3")
    files.place("s4-flac", incoming / "d", "02 city.flac")
    files.place("s4-opus", incoming / "e")
    files.place("s1-radio", incoming / "f")
    before = files.labels_under(env.libdir, incoming)

    out = env.run("import", "-q", "-A", "-m", str(incoming)).stdout

    assert "7 fingerprinted, 5 duplicates found: 0 kept, 5 quarantined" in out
    assert files.in_library(env) == {
        "s1-flac",
        "s2-flac",
        "s3-flac",
        "s4-flac",
        "s1-radio",
    }
    assert files.labels_under(quarantine) == sorted(
        ["s1-v0", "s2-mp3", "s3-aac", "s4-mp3", "s4-opus"]
    )
    # No file lost or doubled: each is in exactly one place.
    assert files.labels_under(env.libdir, incoming, quarantine) == before
    assert files.labels_under(incoming) == []
    # Fingerprints and sketches are stored: the command decodes nothing.
    summary = json.loads(env.run("dedupfuzzy", "--json").stdout)["summary"]
    assert summary["fingerprinted"] == 0
    assert summary["unchanged"] == 5
    assert summary["duplicate_groups"] == 0

    out = env.run("dedupfuzzy", "--undo").stdout
    assert "5 file(s) put back" in out
    assert files.labels_under(quarantine) == []
    assert files.in_library(env) == set(BASE) | {
        "s1-v0",
        "s2-flac",
        "s3-aac",
        "s4-mp3",
        "s4-flac",
        "s4-opus",
        "s1-radio",
    }
    # The new copies are back where the import found them.
    assert files.labels_under(incoming) == ["s1-v0", "s3-aac", "s4-mp3", "s4-opus"]


def test_skip_leaves_the_new_copy_where_it_was(env, files):
    quarantine = configure(env, quiet_action="skip")
    incoming = env.root / "incoming"
    worse = files.place("s1-v0", incoming)
    files.place("s2-flac", incoming)
    stat = worse.stat()

    out = env.run("import", "-q", "-A", "-s", str(incoming)).stdout

    assert "2 duplicates found: 1 kept, 0 quarantined, 1 skipped" in out
    assert files.in_library(env) == set(BASE) | {"s2-flac"}
    assert worse.stat().st_mtime_ns == stat.st_mtime_ns
    assert files.labels_under(incoming) == ["s1-v0", "s2-flac"]  # copy mode
    assert not quarantine.exists()


def test_keep_imports_everything_and_moves_nothing(env, files):
    quarantine = configure(env)  # quiet_action: keep is the default
    incoming = env.root / "incoming"
    files.place("s1-v0", incoming / "a")
    files.place("s3-aac", incoming / "b")

    out = env.run("import", "-q", "-A", "-m", str(incoming)).stdout

    assert "2 duplicates found: 2 kept, 0 quarantined, 0 skipped" in out
    assert files.in_library(env) == set(BASE) | {"s1-v0", "s3-aac"}
    assert not quarantine.exists()


def test_an_uncertain_match_is_imported_and_listed(env, files):
    quarantine = configure(env, quiet_action="best")
    incoming = env.root / "incoming"
    files.place("s1-instrumental", incoming)

    out = env.run("import", "-q", "-A", str(incoming)).stdout

    assert "0 duplicates found" in out and "1 uncertain" in out
    # Listed with its place in the library, next to the copy it resembles.
    listed = next(line for line in out.splitlines() if "uncertain (" in line)
    assert str(env.libdir) in listed.split(" ~ ")[0]
    assert "similarity 0.5" in listed
    assert files.in_library(env) == set(BASE) | {"s1-instrumental"}
    assert not quarantine.exists()


@pytest.mark.parametrize(
    ("answer", "singleton", "library", "quarantined", "left_in_source"),
    [
        ("n", False, {"s1-flac", "s3-flac", "s2-flac"}, ["s2-mp3"], ["s2-flac"]),
        ("o", True, set(BASE), ["s2-flac"], []),
        ("b", False, set(BASE) | {"s2-flac"}, [], ["s2-flac"]),
        ("s", True, set(BASE), [], ["s2-flac"]),
    ],
    ids=["keep-new", "keep-old", "keep-both", "skip"],
)
def test_each_answer_on_a_terminal(
    env, files, answer, singleton, library, quarantined, left_in_source
):
    quarantine = configure(env)  # import_action: ask is the default
    incoming = env.root / "incoming"
    files.place("s2-flac", incoming)

    args = ["import", "-A", *(["-s"] if singleton else []), str(incoming)]
    out = run_on_terminal(env, args, [answer], PROMPT_MARK)

    assert "Duplicate of a library track" in out
    assert "new  FLAC" in out and "similarity" in out
    old_line = next(line for line in out.splitlines() if "old  MP3" in line)
    assert str(env.libdir) in old_line
    assert files.in_library(env) == library
    assert files.labels_under(quarantine) == quarantined
    assert files.labels_under(incoming) == left_in_source
    if answer == "b":
        # Kept both on purpose: not offered as duplicates again.
        groups = json.loads(env.run("dedupfuzzy", "--json").stdout)["groups"]
        assert groups == []


def test_no_prompt_without_a_terminal(env, files):
    configure(env)  # import_action: ask, but stdin is not a terminal
    incoming = env.root / "incoming"
    files.place("s2-flac", incoming)

    out = env.run("import", "-A", str(incoming)).stdout

    assert PROMPT_MARK not in out
    assert "1 duplicates found: 1 kept" in out
    assert files.in_library(env) == set(BASE) | {"s2-flac"}


def test_best_of_each_keeps_a_lossy_copy_beside_the_lossless_one(env, files):
    quarantine = configure(env, quiet_action="best", keep="best-of-each")
    incoming = env.root / "incoming"
    files.place("s1-v0", incoming / "a")  # the library has only a FLAC of it
    files.place("s3-aac", incoming / "b")

    out = env.run("import", "-q", "-A", str(incoming)).stdout

    assert "2 duplicates found: 2 kept, 0 quarantined" in out
    assert files.in_library(env) == set(BASE) | {"s1-v0", "s3-aac"}
    assert not quarantine.exists()


def test_best_without_a_quarantine_warns_and_keeps(env, files):
    env.write_config("dedupfuzzy:\n    quiet_action: best\n")
    incoming = env.root / "incoming"
    files.place("s1-v0", incoming)

    proc = env.run("import", "-q", "-A", str(incoming))

    assert "dedupfuzzy.quarantine is not set" in proc.stderr
    assert "1 duplicates found: 1 kept" in proc.stdout
    assert files.in_library(env) == set(BASE) | {"s1-v0"}


def test_the_chroma_plugin_sees_the_stored_fingerprint(env, files):
    env.write_config("plugins: [chroma, dedupfuzzy]\nchroma:\n    auto: no\n")
    incoming = env.root / "incoming"
    files.place("s4-flac", incoming)
    env.run("import", "-q", "-A", str(incoming))

    proc = env.run("fingerprint")

    assert "using existing fingerprint" in proc.stderr + proc.stdout
    assert "fingerprinting" not in proc.stderr + proc.stdout


def test_a_reimport_from_the_library_moves_nothing(env, files):
    configure(env)
    incoming = env.root / "incoming"
    files.place("s1-v0", incoming)
    env.run("import", "-q", "-A", str(incoming))
    quarantine = configure(env, quiet_action="best")

    out = env.run("import", "-q", "-A", "-L").stdout

    assert "0 quarantined" in out
    assert files.in_library(env) == set(BASE) | {"s1-v0"}
    assert not quarantine.exists()


def test_beets_duplicate_removal_goes_through_the_quarantine(env, files):
    configure(env)
    files.place("s2-128", env.root / "first")
    env.run("import", "-q", "-A", "-s", str(env.root / "first"))
    # beets finds the singleton by its tags and would delete its file.
    env.write_config(
        "import:\n    write: no\n    duplicate_action: remove\n    log:\n"
        "dedupfuzzy:\n    quiet_action: best\n"
        f"    quarantine: {env.root / 'quarantine'}\n"
    )
    files.place("s2-flac", env.root / "second")

    out = env.run("import", "-q", "-A", "-s", str(env.root / "second")).stdout

    assert "2 quarantined" in out
    assert files.in_library(env) == {"s1-flac", "s2-flac", "s3-flac"}
    assert files.labels_under(env.root / "quarantine") == ["s2-128", "s2-mp3"]
    env.run("dedupfuzzy", "--undo")
    assert files.in_library(env) == set(BASE) | {"s2-flac", "s2-128"}
