"""`beet import` with the hook: real beets, real fpcalc, generated music.

The library holds song 1 and song 3 as FLAC masters and song 2 only as a
320 kbps MP3; each test imports other copies of those songs, new songs and
a radio edit, and checks the library and every file afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
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
PROMPT_MARK = "keep Both, decide"


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


def base_library(tmp_path: Path, hook_template: Path, beets_defaults: bool) -> BeetEnv:
    root = tmp_path / "env"
    shutil.copytree(hook_template, root)
    env = BeetEnv(root, beets_defaults=beets_defaults)
    env.write_config()
    return env


@pytest.fixture
def env(tmp_path, hook_template) -> BeetEnv:
    """The BASE library, the suite's pinned import settings."""
    return base_library(tmp_path, hook_template, False)


@pytest.fixture(params=["pinned", "beets-defaults"])
def any_env(request, tmp_path, hook_template) -> BeetEnv:
    """The BASE library, with the pinned settings and with beets' defaults
    (threaded, `copy: yes`, `write: yes`), as users import."""
    return base_library(tmp_path, hook_template, request.param == "beets-defaults")


@pytest.fixture(scope="session")
def files(corpus) -> Files:
    return Files(corpus)


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file below a folder: relative path -> (content hash, mtime)."""
    return {
        str(p.relative_to(folder)): (sha(p), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def item_paths(env: BeetEnv) -> list[str]:
    return [p for p in env.run("ls", "-f", "$path").stdout.splitlines() if p]


def configure(env: BeetEnv, **dedupfuzzy: str) -> Path:
    quarantine = env.root / "quarantine"
    options = {"quarantine": str(quarantine), **dedupfuzzy}
    env.write_config(
        "dedupfuzzy:\n" + "".join(f"    {k}: {v}\n" for k, v in options.items())
    )
    return quarantine


def place_mixed(files: Files, incoming: Path) -> None:
    files.place("s1-v0", incoming / "a")  # worse than the library's FLAC
    files.place("s2-flac", incoming / "b")  # better than the library's MP3
    files.place("s3-aac", incoming / "c")  # worse
    # One album with two copies of one song (the worse first), and a third
    # copy in a later album: items of one import match each other too.
    files.place("s4-mp3", incoming / "d", "01 city.mp3")
    files.place("s4-flac", incoming / "d", "02 city.flac")
    files.place("s4-opus", incoming / "e")
    files.place("s1-radio", incoming / "f")  # another recording


KEPT = {"s1-flac", "s2-flac", "s3-flac", "s4-flac", "s1-radio"}


def test_copy_mode_never_touches_the_source(any_env, files):
    quarantine = configure(any_env, quiet_action="best")
    incoming = any_env.root / "incoming"
    place_mixed(files, incoming)
    source = snapshot(incoming)

    out = any_env.run("import", "-q", "-A", str(incoming)).stdout

    assert (
        "7 fingerprinted, 5 duplicates found: 0 kept, 1 quarantined, "
        "4 not imported" in out
    )
    assert files.in_library(any_env) == KEPT
    # The library's own worse copy went to the quarantine; the sources,
    # kept or not, are exactly as they were.
    assert files.labels_under(quarantine) == ["s2-mp3"]
    assert snapshot(incoming) == source
    # Fingerprints and sketches are stored: the command decodes nothing.
    summary = json.loads(any_env.run("dedupfuzzy", "--json").stdout)["summary"]
    assert summary["fingerprinted"] == 0
    assert summary["unchanged"] == 5
    assert summary["duplicate_groups"] == 0

    out = any_env.run("dedupfuzzy", "--undo").stdout
    assert "1 file(s) put back" in out
    assert files.in_library(any_env) == KEPT | {"s2-mp3"}
    # No item refers to a source file the import did not add.
    assert not [p for p in item_paths(any_env) if p.startswith(str(incoming))]
    assert snapshot(incoming) == source


def test_move_mode_leaves_the_copies_not_kept_in_the_source(any_env, files):
    quarantine = configure(any_env, quiet_action="best")
    incoming = any_env.root / "incoming"
    place_mixed(files, incoming)

    out = any_env.run("import", "-q", "-A", "-m", str(incoming)).stdout

    assert "1 quarantined, 4 not imported" in out
    assert files.in_library(any_env) == KEPT
    assert files.labels_under(quarantine) == ["s2-mp3"]
    # What was imported was moved; what was not stays where it was.
    assert files.labels_under(incoming) == ["s1-v0", "s3-aac", "s4-mp3", "s4-opus"]


def test_in_place_quarantines_the_copies_not_kept_and_undo_restores(any_env, files):
    quarantine = configure(any_env, quiet_action="best")
    incoming = any_env.root / "incoming"
    files.place("s1-v0", incoming / "a")
    files.place("s2-flac", incoming / "b")

    out = any_env.run("import", "-q", "-A", "-C", str(incoming)).stdout

    assert "2 duplicates found: 0 kept, 2 quarantined, 0 not imported" in out
    assert files.in_library(any_env) == {"s1-flac", "s2-flac", "s3-flac"}
    assert files.labels_under(quarantine) == ["s1-v0", "s2-mp3"]
    assert files.labels_under(incoming) == ["s2-flac"]

    any_env.run("dedupfuzzy", "--undo")
    assert files.labels_under(quarantine) == []
    # The import added both in place: both are back, where they were.
    assert files.in_library(any_env) == set(BASE) | {"s1-v0", "s2-flac"}
    assert files.labels_under(incoming) == ["s1-v0", "s2-flac"]


def test_in_place_without_a_quarantine_leaves_out_the_worse_copy(any_env, files):
    any_env.write_config("dedupfuzzy:\n    quiet_action: best\n")
    incoming = any_env.root / "incoming"
    files.place("s1-v0", incoming / "a")
    files.place("s2-flac", incoming / "b")
    source = snapshot(incoming)

    proc = any_env.run("import", "-q", "-A", "-C", str(incoming))

    assert "dedupfuzzy.quarantine is not set" in proc.stderr
    assert "2 duplicates found: 1 kept, 0 quarantined, 1 not imported" in proc.stdout
    assert files.in_library(any_env) == set(BASE) | {"s2-flac"}
    assert snapshot(incoming) == source


def test_a_move_that_fails_is_counted_and_the_import_exits_non_zero(any_env, files):
    quarantine = configure(any_env, quiet_action="best")
    quarantine.write_text("a file where the quarantine folder should be")
    incoming = any_env.root / "incoming"
    files.place("s1-v0", incoming / "a")
    files.place("s2-flac", incoming / "b")

    proc = any_env.run("import", "-q", "-A", str(incoming), check=False)

    assert proc.returncode != 0
    assert "0 quarantined, 1 not imported; 0 uncertain; 1 could not be moved" in (
        proc.stdout
    )
    assert "1 library cop(ies) could not be moved" in proc.stderr
    assert files.in_library(any_env) == set(BASE) | {"s2-flac"}


def test_skip_leaves_the_new_copy_where_it_was(any_env, files):
    quarantine = configure(any_env, quiet_action="skip")
    incoming = any_env.root / "incoming"
    worse = files.place("s1-v0", incoming)
    files.place("s2-flac", incoming)
    stat = worse.stat()

    out = any_env.run("import", "-q", "-A", "-s", str(incoming)).stdout

    assert "2 duplicates found: 1 kept, 0 quarantined, 1 not imported" in out
    assert files.in_library(any_env) == set(BASE) | {"s2-flac"}
    assert worse.stat().st_mtime_ns == stat.st_mtime_ns
    assert files.labels_under(incoming) == ["s1-v0", "s2-flac"]  # copy mode
    assert not quarantine.exists()


def test_keep_imports_everything_and_moves_nothing(any_env, files):
    quarantine = configure(any_env)  # quiet_action: keep is the default
    incoming = any_env.root / "incoming"
    files.place("s1-v0", incoming / "a")
    files.place("s3-aac", incoming / "b")

    out = any_env.run("import", "-q", "-A", "-m", str(incoming)).stdout

    assert "2 duplicates found: 2 kept, 0 quarantined, 0 not imported" in out
    assert files.in_library(any_env) == set(BASE) | {"s1-v0", "s3-aac"}
    assert not quarantine.exists()


def test_an_uncertain_match_is_imported_and_listed(any_env, files):
    quarantine = configure(any_env, quiet_action="best")
    incoming = any_env.root / "incoming"
    files.place("s1-instrumental", incoming)

    out = any_env.run("import", "-q", "-A", str(incoming)).stdout

    assert "0 duplicates found" in out and "1 uncertain" in out
    # Listed with its place in the library, next to the copy it resembles.
    listed = next(line for line in out.splitlines() if "undecided (" in line)
    assert str(any_env.libdir) in listed.split(" ~ ")[0]
    assert "similarity 0.5" in listed
    assert files.in_library(any_env) == set(BASE) | {"s1-instrumental"}
    assert not quarantine.exists()


@pytest.mark.parametrize(
    ("answer", "singleton", "library", "quarantined", "left_in_source"),
    [
        ("n", False, {"s1-flac", "s3-flac", "s2-flac"}, ["s2-mp3"], ["s2-flac"]),
        ("o", True, set(BASE), [], ["s2-flac"]),
        ("b", False, set(BASE) | {"s2-flac"}, [], ["s2-flac"]),
        ("l", True, set(BASE) | {"s2-flac"}, [], ["s2-flac"]),
        # Enter: the better copy stays; the source is never touched.
        ("", False, {"s1-flac", "s3-flac", "s2-flac"}, ["s2-mp3"], ["s2-flac"]),
    ],
    ids=["keep-new", "keep-old", "keep-both", "decide-later", "default"],
)
def test_each_answer_on_a_terminal(
    any_env, files, answer, singleton, library, quarantined, left_in_source
):
    quarantine = configure(any_env)  # import_action: ask is the default
    incoming = any_env.root / "incoming"
    files.place("s2-flac", incoming)

    args = ["import", "-A", *(["-s"] if singleton else []), str(incoming)]
    out = run_on_terminal(any_env, args, [answer], PROMPT_MARK)

    assert "Duplicate of a library track" in out
    assert "new  FLAC" in out and "similarity" in out
    old_line = next(line for line in out.splitlines() if "old  MP3" in line)
    assert str(any_env.libdir) in old_line
    assert files.in_library(any_env) == library
    assert files.labels_under(quarantine) == quarantined
    assert files.labels_under(incoming) == left_in_source
    groups = json.loads(any_env.run("dedupfuzzy", "--json").stdout)["groups"]
    if answer == "b":
        assert groups == []  # kept both on purpose: never offered again
    if answer == "l":
        assert len(groups) == 1  # decided later: offered again


def test_no_prompt_without_a_terminal(any_env, files):
    configure(any_env)  # import_action: ask, but stdin is not a terminal
    incoming = any_env.root / "incoming"
    files.place("s2-flac", incoming)

    out = any_env.run("import", "-A", str(incoming)).stdout

    assert PROMPT_MARK not in out
    assert "1 duplicates found: 1 kept" in out
    assert files.in_library(any_env) == set(BASE) | {"s2-flac"}


def test_best_of_each_keeps_a_lossy_copy_beside_the_lossless_one(any_env, files):
    quarantine = configure(any_env, quiet_action="best", keep="best-of-each")
    incoming = any_env.root / "incoming"
    files.place("s1-v0", incoming / "a")  # the library has only a FLAC of it
    files.place("s3-aac", incoming / "b")

    out = any_env.run("import", "-q", "-A", str(incoming)).stdout

    assert "2 duplicates found: 2 kept, 0 quarantined" in out
    assert files.in_library(any_env) == set(BASE) | {"s1-v0", "s3-aac"}
    assert not quarantine.exists()


def test_best_without_a_quarantine_moves_nothing(any_env, files):
    any_env.write_config("dedupfuzzy:\n    quiet_action: best\n")
    incoming = any_env.root / "incoming"
    files.place("s1-v0", incoming / "a")  # worse: not imported
    files.place("s2-flac", incoming / "b")  # better: the MP3 cannot leave

    proc = any_env.run("import", "-q", "-A", str(incoming))

    assert "dedupfuzzy.quarantine is not set" in proc.stderr
    assert "2 duplicates found: 1 kept, 0 quarantined, 1 not imported" in proc.stdout
    assert files.in_library(any_env) == set(BASE) | {"s2-flac"}
    assert files.labels_under(incoming) == ["s1-v0", "s2-flac"]


@pytest.mark.parametrize("quiet", [True, False], ids=["quiet", "not-a-terminal"])
def test_import_action_needs_no_terminal(any_env, files, quiet):
    quarantine = configure(any_env, import_action="best")
    incoming = any_env.root / "incoming"
    files.place("s1-v0", incoming / "a")
    files.place("s2-flac", incoming / "b")

    out = any_env.run("import", *(["-q"] if quiet else []), "-A", str(incoming)).stdout

    assert "2 duplicates found: 0 kept, 1 quarantined, 1 not imported" in out
    assert files.in_library(any_env) == {"s1-flac", "s2-flac", "s3-flac"}
    assert files.labels_under(quarantine) == ["s2-mp3"]


def test_quiet_action_replaces_only_ask(any_env, files):
    quarantine = configure(any_env, import_action="skip", quiet_action="best")
    incoming = any_env.root / "incoming"
    files.place("s1-v0", incoming / "a")
    files.place("s2-flac", incoming / "b")

    out = any_env.run("import", "-q", "-A", str(incoming)).stdout

    assert "2 duplicates found: 1 kept, 0 quarantined, 1 not imported" in out
    assert files.in_library(any_env) == set(BASE) | {"s2-flac"}
    assert not quarantine.exists()


def test_questions_come_in_beets_own_flow_on_a_threaded_import(env, files):
    """With autotagging, beets asks about each album, then the hook about its
    duplicates, in turn, though the import runs threaded."""
    quarantine = configure(env)
    env.write_config(env.extra_config + "threaded: yes\n")
    incoming = env.root / "incoming"
    files.place("s2-flac", incoming / "a")
    files.place("s1-v0", incoming / "b")
    beets_mark = "Group albums"  # beets' own options line, no match found

    out = run_on_terminal(
        env,
        ["import", str(incoming)],
        ["u", "n", "u", "o"],
        (beets_mark, PROMPT_MARK),
    )

    # Each of our questions comes right after beets' question for its album.
    order = [m.group(0) for m in re.finditer(f"{beets_mark}|{PROMPT_MARK}", out)]
    assert order == [beets_mark, PROMPT_MARK] * 2
    assert files.in_library(env) == {"s1-flac", "s2-flac", "s3-flac"}
    assert files.labels_under(quarantine) == ["s2-mp3"]
    assert files.labels_under(incoming) == ["s1-v0", "s2-flac"]


def test_the_chroma_plugin_sees_the_stored_fingerprint(any_env, files):
    any_env.write_config("plugins: [chroma, dedupfuzzy]\nchroma:\n    auto: no\n")
    incoming = any_env.root / "incoming"
    files.place("s4-flac", incoming)
    any_env.run("import", "-q", "-A", str(incoming))

    proc = any_env.run("fingerprint")

    said = proc.stderr + proc.stdout
    # chroma says one or the other, by its `write` setting.
    assert "using existing fingerprint" in said or "fingerprint exists" in said
    assert "fingerprinting" not in said


def test_a_reimport_from_the_library_moves_nothing(any_env, files):
    configure(any_env)
    incoming = any_env.root / "incoming"
    files.place("s1-v0", incoming)
    any_env.run("import", "-q", "-A", str(incoming))
    quarantine = configure(any_env, quiet_action="best")

    out = any_env.run("import", "-q", "-A", "-L").stdout

    assert "0 quarantined" in out
    assert files.in_library(any_env) == set(BASE) | {"s1-v0"}
    assert not quarantine.exists()


def test_beets_duplicate_removal_goes_through_the_quarantine(any_env, files):
    configure(any_env)
    files.place("s2-128", any_env.root / "first")
    any_env.run("import", "-q", "-A", "-s", str(any_env.root / "first"))
    # beets finds the singleton by its tags and would delete its file. (This
    # block replaces the base config's `import:`: it keeps the variant's write.)
    write = "" if any_env.beets_defaults else "    write: no\n"
    any_env.write_config(
        f"import:\n{write}    duplicate_action: remove\n    log:\n"
        "dedupfuzzy:\n    quiet_action: best\n"
        f"    quarantine: {any_env.root / 'quarantine'}\n"
    )
    files.place("s2-flac", any_env.root / "second")

    out = any_env.run("import", "-q", "-A", "-s", str(any_env.root / "second")).stdout

    assert "2 quarantined" in out
    assert files.in_library(any_env) == {"s1-flac", "s2-flac", "s3-flac"}
    assert files.labels_under(any_env.root / "quarantine") == ["s2-128", "s2-mp3"]
    any_env.run("dedupfuzzy", "--undo")
    assert files.in_library(any_env) == set(BASE) | {"s2-flac", "s2-128"}
