"""Shared fixtures: a throwaway beets set-up driven through the real `beet` CLI."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BEET = str(Path(sys.executable).with_name("beet"))


@dataclass
class BeetEnv:
    """A beets config dir, a library dir and a DB, all inside one temp folder."""

    root: Path
    extra_config: str = ""
    env: dict[str, str] = field(default_factory=dict)
    # Users run beets' own import defaults (threaded, `copy: yes`,
    # `write: yes`), and so does every test unless it asks for the pinned
    # settings (`threaded: no`, `write: no`) with False.
    beets_defaults: bool = True

    @property
    def configdir(self) -> Path:
        return self.root / "config"

    @property
    def libdir(self) -> Path:
        return self.root / "library"

    @property
    def dbpath(self) -> Path:
        return self.configdir / "library.db"

    def write_config(self, extra: str = "") -> None:
        """(Re)write config.yaml; `extra` is YAML appended verbatim."""
        self.configdir.mkdir(parents=True, exist_ok=True)
        self.libdir.mkdir(parents=True, exist_ok=True)
        pinned = "" if self.beets_defaults else "threaded: no\n"
        write = "" if self.beets_defaults else "    write: no\n"
        base = (
            f"directory: {self.libdir}\n"
            f"library: {self.dbpath}\n"
            "plugins: [dedupfuzzy]\n"
            f"{pinned}"
            "create_backup_before_migrations: no\n"
            "import:\n"
            f"{write}"
            "    duplicate_action: keep\n"
            "    log:\n"
            "ui:\n"
            "    color: no\n"
        )
        self.extra_config = extra
        (self.configdir / "config.yaml").write_text(base + textwrap.dedent(extra))

    def run(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run `beet ARGS` as a user would, with stdin not a terminal."""
        env = dict(os.environ)
        env["BEETSDIR"] = str(self.configdir)
        env["HOME"] = str(self.root)
        env.update(self.env)
        proc = subprocess.run(
            [BEET, *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"beet {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc


@pytest.fixture
def beet(tmp_path: Path) -> BeetEnv:
    """A fresh beets set-up with the plugin enabled, driven through `beet`."""
    env = BeetEnv(tmp_path)
    env.write_config()
    return env


# --- Generated music -------------------------------------------------------

sys.path.insert(0, str(REPO / "tools"))

import corpus as corpus_tools  # noqa: E402

CORPUS_DIR = REPO / ".cache" / "corpus-tests"
CORPUS_SONGS = 4


@pytest.fixture(scope="session")
def corpus() -> corpus_tools.Manifest:
    """The generated test corpus (built once, cached across sessions)."""
    return corpus_tools.build_corpus(CORPUS_DIR, n_songs=CORPUS_SONGS, seed=1)


def _copy_audio(manifest, dest: Path, include_bad: bool = False) -> None:
    for entry in manifest.entries:
        if entry.recording is None and not include_bad:
            continue
        target = dest / entry.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(manifest.path(entry), target)


@pytest.fixture(scope="session")
def fingerprinted_template(tmp_path_factory, corpus) -> Path:
    """A library holding the corpus's audio in place, already fingerprinted.

    The music directory is a copy of the corpus, so an item's path relative
    to the library directory is its corpus relpath.
    """
    root = tmp_path_factory.mktemp("template")
    env = BeetEnv(root)
    env.write_config()
    _copy_audio(corpus, env.libdir)
    env.run("import", "-A", "-s", "-C", "-q", str(env.libdir))
    env.run("dedupfuzzy")
    return root


@pytest.fixture
def library(tmp_path: Path, fingerprinted_template: Path) -> BeetEnv:
    """A private copy of the fingerprinted corpus library for one test."""
    root = tmp_path / "lib"
    shutil.copytree(fingerprinted_template, root, symlinks=True)
    env = BeetEnv(root)
    env.write_config()
    return env


def relpaths(env: BeetEnv, query: tuple[str, ...] = ()) -> set[str]:
    """The library's items as paths relative to its music directory."""
    out = env.run("ls", "-f", "$path", *query).stdout
    return {
        os.path.relpath(line, env.libdir) for line in out.splitlines() if line.strip()
    }


def run_on_terminal(
    env: BeetEnv,
    args: list[str],
    answers: list[str],
    prompt_mark: str | tuple[str, ...] = "keep Both, decide",
    stdout: Path | None = None,
) -> str:
    """Run `beet ARGS` in a pseudo-terminal, answering each prompt in turn.

    A prompt is recognised by `prompt_mark` (text of its options line; one
    of several marks when beets' own prompts are answered too). With
    `stdout`, standard output goes to that file instead of the terminal.
    """
    marks = (prompt_mark,) if isinstance(prompt_mark, str) else prompt_mark
    master, slave = pty.openpty()
    out_file = open(stdout, "wb") if stdout else None  # noqa: SIM115
    proc = subprocess.Popen(
        [BEET, *args],
        stdin=slave,
        stdout=out_file or slave,
        stderr=slave,
        env=dict(os.environ, BEETSDIR=str(env.configdir), HOME=str(env.root)),
        close_fds=True,
    )
    os.close(slave)
    output = ""
    pending = list(answers)
    asked = 0
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        assert ready, f"no output from beet; so far:\n{output}"
        try:
            chunk = os.read(master, 4096).decode("utf-8", "replace")
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        while sum(output.count(m) for m in marks) > asked:
            asked += 1
            assert pending, f"unexpected prompt:\n{output}"
            os.write(master, (pending.pop(0) + "\n").encode())
    proc.wait()
    os.close(master)
    if out_file:
        out_file.close()
    assert proc.returncode == 0, output
    assert not pending, f"prompts not shown:\n{output}"
    return output


# --- Symlink views -------------------------------------------------------


def links(view: Path) -> dict[str, str]:
    """Every link below a view (not following links): relative path -> text."""
    found = {}
    for folder, dirs, files in os.walk(view):
        for name in dirs + files:
            path = Path(folder, name)
            if path.is_symlink():
                found[str(path.relative_to(view))] = os.readlink(path)
    return found


def assert_link(link: Path, target: Path) -> None:
    assert link.is_symlink(), f"{link} is not a link"
    assert os.readlink(link) == str(target)
    assert link.resolve() == target.resolve()
