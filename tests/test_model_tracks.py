"""The track table is the one definition of the subtitle tracks.

Behaviour: what each stage writes is named by the table (subtitle files, catalog keys, site
`<track srclang>`, container languages are checked in their stages' tests against these rows);
here, that the subtitle build writes exactly the table's files, that the table is consistent,
and, by reading the source (in addition to those behaviour tests), that no other module lists
the tracks again.
"""

from __future__ import annotations

import ast
from pathlib import Path

from archiver.model import BILINGUAL_TRACK, DEFAULT_TRACK, TRACK_KEYS, TRACKS, track
from archiver.subtitles import build_subtitles

ARCHIVER = Path(__file__).parent.parent / "archiver"
TABLE = ARCHIVER / "model" / "tracks.py"
TRANSCRIPT = "00:00\nHello, and welcome.\n你好，欢迎。\n00:01\nGoodbye.\n再见。\n"


def test_the_table_is_consistent() -> None:
    assert TRACK_KEYS == ("zh-Hans", "en", "zh-Hans-en")  # public names: never renamed
    assert [t.suffix for t in TRACKS] == list(TRACK_KEYS)  # file names are public too
    assert len({t.bcp47 for t in TRACKS}) == len(TRACKS)  # every client tells them apart
    assert BILINGUAL_TRACK.bcp47 == "zh-Hans-x-en" and BILINGUAL_TRACK.iso639_2 == "mul"
    assert [t.key for t in TRACKS if t.default] == [DEFAULT_TRACK.key] == ["zh-Hans"]
    assert track("en").label == "English" and track("en").srt_name("l1") == "l1.en.srt"
    assert BILINGUAL_TRACK.srt_name("l1") is None


def test_the_subtitle_build_writes_the_tables_files(tmp_path: Path) -> None:
    transcript = tmp_path / "l1.txt"
    transcript.write_text(TRANSCRIPT, "utf-8")
    build = build_subtitles("l1", transcript, duration=60.0)
    expected = {t.vtt_name("l1") for t in TRACKS} | {
        name for t in TRACKS if (name := t.srt_name("l1")) is not None}
    assert {n for n in build.files if n.endswith((".vtt", ".srt"))} == expected
    assert list(build.quality["tracks"]) == list(TRACK_KEYS)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _strings(nodes: list[ast.expr | None]) -> set[str]:
    return {n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _redefinitions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    docstrings = _docstrings(tree)
    keys = set(TRACK_KEYS)
    tags = {t.bcp47 for t in TRACKS if t.bcp47 not in keys} | {BILINGUAL_TRACK.key}
    problems = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(ARCHIVER.parent)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            listed = _strings(list(node.elts)) & keys
        elif isinstance(node, ast.Dict):
            listed = _strings(list(node.keys)) & keys
        else:
            listed = set()
        if len(listed) >= 2:
            problems.append(f"{where}: lists the tracks {sorted(listed)}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                id(node) not in docstrings and any(tag in node.value for tag in tags):
            problems.append(f"{where}: names a track by hand: {node.value[:60]!r}")
        if isinstance(node, ast.ClassDef) and node.name in ("TrackSpec", "Track"):
            problems.append(f"{where}: defines {node.name}")
    return problems


def test_no_other_module_defines_the_tracks() -> None:
    sources = [p for p in sorted(ARCHIVER.rglob("*.py")) if p != TABLE]
    assert len(sources) > 50
    problems = [problem for path in sources for problem in _redefinitions(path)]
    assert problems == []
    assert _redefinitions(TABLE)  # the scan does see a definition where there is one
