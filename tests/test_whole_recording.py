"""The whole recording decides: endings, lead-ins and speed errors, end to end.

The songs here last 2:40, longer than the two minutes fpcalc reads, so what
happens after them (a medley, an alternate ending, a DJ's cross-fade) is
only seen through the excerpts decoded for candidate pairs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import REPO, BeetEnv

sys.path.insert(0, str(REPO / "tools"))

import cases  # noqa: E402
import corpus as corpus_tools  # noqa: E402

from beetsplug.dedupfuzzy.cli.report import describe  # noqa: E402
from beetsplug.dedupfuzzy.fingerprinting.excerpts import ExcerptSource  # noqa: E402
from beetsplug.dedupfuzzy.fingerprinting.fpcalc import (  # noqa: E402
    fingerprint_file,
    fpcalc_command,
)
from beetsplug.dedupfuzzy.matching import blockindex, codec, similarity  # noqa: E402
from beetsplug.dedupfuzzy.matching.groups import Member  # noqa: E402
from beetsplug.dedupfuzzy.matching.matcher import Track, Verifier  # noqa: E402
from beetsplug.dedupfuzzy.settings import MatchSettings  # noqa: E402
from beetsplug.dedupfuzzy.store.fields import Row  # noqa: E402

CASES_DIR = REPO / ".cache" / "corpus-cases-tests"
SAME = ["pregap-8s", "dj-mix"]
OTHER = ["medley", "alt-ending", "extended-outro", "key+2", "live"]


@pytest.fixture(scope="session")
def cases_corpus() -> corpus_tools.Manifest:
    """One 2:40 song with every whole-recording case (built once, cached)."""
    return corpus_tools.build_corpus(
        CASES_DIR,
        n_songs=1,
        seed=1,
        variants=["master", *corpus_tools.CASE_NAMES],
        extras=[],
        duration=cases.MIN_SECONDS + 10,
    )


def library_of(
    tmp_path: Path, manifest, variants: list[str], config: str = ""
) -> tuple[BeetEnv, dict]:
    env = BeetEnv(tmp_path)
    env.write_config(config)
    chosen = {e.variant: e for e in manifest.entries if e.variant in variants}
    for e in chosen.values():
        target = env.libdir / e.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(manifest.path(e), target)
    env.run("import", "-A", "-s", "-C", "-q", str(env.libdir))
    return env, {v: e.relpath for v, e in chosen.items()}


def duplicate_groups(env: BeetEnv, out: str) -> list[dict[str, dict]]:
    doc = json.loads(out)
    return [
        {os.path.relpath(i["path"], env.libdir): i for i in g["items"]}
        for g in doc["groups"]
        if g["status"] == "duplicate"
    ]


def test_needle_drop_and_dj_mix_join_their_master(tmp_path: Path, cases_corpus) -> None:
    env, paths = library_of(tmp_path, cases_corpus, ["master", *SAME])
    (group,) = duplicate_groups(env, env.run("dedupfuzzy", "--json").stdout)
    assert set(group) == set(paths.values())
    assert group[paths["master"]]["keep"]
    # 8 s of room noise in front: the music starts 8 s later, same length.
    assert group[paths["pregap-8s"]]["offset"] == pytest.approx(8.0, abs=0.2)
    assert group[paths["dj-mix"]]["speed"] == 0.0


def test_other_edits_sharing_the_opening_stay_apart(
    tmp_path: Path, cases_corpus
) -> None:
    env, _ = library_of(tmp_path, cases_corpus, ["master", *OTHER])
    out = env.run("dedupfuzzy", "--json").stdout
    assert duplicate_groups(env, out) == []
    assert json.loads(out)["summary"]["duplicate_groups"] == 0


def test_a_medley_alone_with_its_master_is_not_moved(
    tmp_path: Path, cases_corpus
) -> None:
    env, paths = library_of(tmp_path, cases_corpus, ["master", "medley"])
    quarantine = tmp_path / "quarantine"
    env.run("dedupfuzzy", "-m", str(quarantine))
    assert not quarantine.exists() or not any(quarantine.rglob("*.flac"))
    assert all((env.libdir / p).exists() for p in paths.values())


def test_warm_run_decodes_no_excerpt(tmp_path: Path, cases_corpus) -> None:
    env, _ = library_of(
        tmp_path,
        cases_corpus,
        ["master", "dj-mix", "alt-ending"],
        "dedupfuzzy:\n    auto: no\n",  # the import fingerprints nothing
    )
    cold = env.run("-v", "dedupfuzzy")
    warm = env.run("-v", "dedupfuzzy")
    assert "excerpts decoded" in cold.stderr
    assert "excerpts decoded" not in warm.stderr
    # the same groups (the summary line differs: nothing fingerprinted)
    assert warm.stdout.splitlines()[:-1] == cold.stdout.splitlines()[:-1]


OFF_SPEED = [
    ("speed+0.3", 1.003),
    ("speed-0.8", 0.992),
    ("speed+2", 1.02),
    ("speed-2", 0.98),
]


@pytest.mark.parametrize(("variant", "speed"), OFF_SPEED)
def test_an_off_speed_rip_joins_its_master(
    tmp_path: Path, cases_corpus, variant, speed
) -> None:
    """A vinyl or tape rip off speed is found and grouped by `beet dedupfuzzy`:
    the candidate search proposes it (repetition profiles), the verifier
    follows the drift; a live take of the same song stays apart."""
    env, paths = library_of(tmp_path, cases_corpus, ["master", variant, "live"])
    (group,) = duplicate_groups(env, env.run("dedupfuzzy", "--json").stdout)
    assert set(group) == {paths["master"], paths[variant]}
    assert group[paths["master"]]["keep"]
    assert group[paths[variant]]["speed"] == pytest.approx(speed - 1, abs=0.001)


@pytest.mark.parametrize(("variant", "speed"), OFF_SPEED)
def test_off_speed_rips_match_once_compared(cases_corpus, variant, speed) -> None:
    """The verifier recognises vinyl/tape speed errors when a pair reaches it."""
    command = fpcalc_command()
    entries = {e.variant: e for e in cases_corpus.entries}
    tracks, frames = {}, {}
    for n, name in enumerate(["master", variant]):
        path = bytes(cases_corpus.path(entries[name]))
        result = fingerprint_file(command, path)
        frames[n] = codec.decode(result.fingerprint)
        sketch = blockindex.sketch(frames[n], similarity.is_informative(frames[n]))
        tracks[n] = Track(n, path, result.duration, sketch=sketch)
    settings = MatchSettings()
    verifier = Verifier(tracks, frames.get, settings, audio=ExcerptSource(1))
    match = verifier.verify(0, 1)
    assert match is not None
    assert match.similarity >= settings.auto_threshold
    # b lasts 1/speed as long as the master
    assert match.speed == pytest.approx(1 / speed, abs=0.001)


def test_the_listing_shows_how_much_faster_a_copy_plays() -> None:
    row = Row(2, b"/m/rip.mp3", 161.3, "MP3", 192000, 0, 44100, 0.0)
    slow = describe(Member(row, False, 0.91, 0.0, -0.008), False)
    assert "similarity 0.91" in slow and "speed -0.8%" in slow
    assert "speed" not in describe(Member(row, False, 0.99, 0.0), False)
