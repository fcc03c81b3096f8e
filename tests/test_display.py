"""Paths on one line: control characters escaped as JSON escapes them."""

from __future__ import annotations

import json

from beetsplug.dedupfuzzy.display import one_line, shown


def test_control_characters_are_escaped_as_in_json():
    name = "a\nb\tc\rd\x1be\x7ff\u2028g\\h"
    assert one_line(name) == json.dumps(name)[1:-1]
    assert "\n" not in one_line(name) and "\t" not in one_line(name)


def test_printable_characters_stay_as_they_are():
    name = "Café 🎵 «quotes» \"double\" 'single'"
    assert one_line(name) == name


def test_bytes_paths_are_shown_on_one_line():
    assert shown(b"/music/new\nline.flac") == "/music/new\\nline.flac"
    assert shown(None) == ""
