"""A stored fingerprint survives tag edits, by beets or anyone, and not audio edits.

Each test asserts what a user sees: the `fingerprinted` count of the next
`beet dedupfuzzy`, that is how many files it decodes again.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import mediafile
import pytest
from conftest import BeetEnv, relpaths

from beetsplug.dedupfuzzy.fingerprinting.freshness import audio_identity

COVER = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def retag(path: Path) -> None:
    """What an external tagger does: new, larger tags and a cover."""
    f = mediafile.MediaFile(str(path))
    f.title = "A much longer title " * 40
    f.comments = "retagged " * 200
    f.images = [mediafile.Image(COVER, desc="cover", type=mediafile.ImageType.front)]
    f.save()


def summary(env: BeetEnv) -> dict:
    return json.loads(env.run("dedupfuzzy", "--json").stdout)["summary"]


@pytest.fixture(scope="session")
def one_of_each(corpus, tmp_path_factory) -> dict[str, Path]:
    """One file per format of the corpus, plus WAV and AIFF made by ffmpeg."""
    found: dict[str, Path] = {}
    for entry in corpus.entries:
        if entry.recording is not None:
            found.setdefault(entry.format, corpus.path(entry))
    folder = tmp_path_factory.mktemp("formats")
    source = next(p for f, p in found.items() if f == "flac")
    for ext in ("wav", "aiff"):
        target = folder / f"tone.{ext}"
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-i", str(source), "-t", "5", target],
            check=True,
        )
        found[ext] = target
    return found


@pytest.mark.parametrize("ext", ["flac", "mp3", "m4a", "ogg", "opus", "wav", "aiff"])
def test_the_audio_identity_ignores_tags_and_sees_audio(one_of_each, tmp_path, ext):
    path = tmp_path / f"copy.{ext}"
    shutil.copy2(one_of_each[ext], path)
    before = audio_identity(bytes(path))

    retag(path)

    assert before and audio_identity(bytes(path)) == before
    others = {audio_identity(bytes(p)) for e, p in one_of_each.items() if e != ext}
    assert before not in others


def test_beet_write_and_modify_decode_nothing(library):
    # The fingerprints stored in the DB are not in the files yet: `beet write`
    # rewrites every file, as it does after a first `beet dedupfuzzy`.
    out = library.run("write").stdout
    assert out.count("acoustid_fingerprint") >= 10
    library.run("modify", "-y", "-w", "artist=Someone Else", "format:FLAC")

    s = summary(library)

    assert s["fingerprinted"] == 0 and s["unchanged"] == s["items"]


def test_an_external_tagger_then_beet_update_decodes_nothing(library):
    paths = sorted(relpaths(library))
    for p in paths:
        retag(library.libdir / p)
    library.run("update")

    s = summary(library)

    assert s["fingerprinted"] == 0 and s["unchanged"] == len(paths)


def test_new_audio_under_an_old_name_is_decoded_again(library):
    paths = sorted(relpaths(library))
    (library.libdir / paths[0]).write_bytes((library.libdir / paths[-1]).read_bytes())

    assert summary(library)["fingerprinted"] == 1


def test_chroma_fingerprints_are_reused_under_beets_defaults(
    tmp_path, corpus, one_of_each
):
    """`beet fingerprint` (write: yes) and then `beet dedupfuzzy`: no decode."""
    env = BeetEnv(tmp_path, beets_defaults=True)
    env.write_config("plugins: [chroma, dedupfuzzy]\ndedupfuzzy:\n    auto: no\n")
    music = tmp_path / "music"
    for ext in ("flac", "mp3", "ogg"):
        shutil.copy2(one_of_each[ext], music / f"a.{ext}") if music.exists() else (
            music.mkdir(),
            shutil.copy2(one_of_each[ext], music / f"a.{ext}"),
        )
    env.run("import", "-q", "-A", str(music))
    env.run("fingerprint")

    s = summary(env)

    assert s["items"] == 3
    assert s["fingerprinted"] == 0 and s["unchanged"] == 3


def test_files_beets_moved_are_found_where_they_went(library):
    """A warm run takes each item's path from the plugin's own row cache;
    a file beets moved since is read again where it is now."""
    before = json.loads(library.run("dedupfuzzy", "--json").stdout)
    library.write_config(
        "paths:\n    default: moved/$title\n    singleton: moved/$title\n"
    )
    library.run("move")
    assert all(p.startswith("moved") for p in relpaths(library))

    after = json.loads(library.run("dedupfuzzy", "--json").stdout)

    s = after["summary"]
    assert s["failed"] == 0 and s["fingerprinted"] == 0
    assert s["unchanged"] == s["items"] == before["summary"]["items"]

    def ids(doc: dict) -> list[list[int]]:
        return sorted(sorted(i["id"] for i in g["items"]) for g in doc["groups"])

    assert ids(after) == ids(before)
    shown = {i["path"] for g in after["groups"] for i in g["items"]}
    assert shown and all("/moved/" in p for p in shown)
