"""Bad input, generated (issue 7): every transcript reader and the build from a transcript let
only the project's own error types escape, each with a location; names a server sends never
become paths."""

from __future__ import annotations

import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.errors import SubtitleError
from archiver.model import Paragraph
from archiver.subtitles.build import build_subtitles
from archiver.subtitles.transcript import parse_seed, parse_srt, parse_vtt, read_transcript

pytestmark = pytest.mark.slow  # hypothesis: hundreds of generated transcripts per reader

ROOT = Path(__file__).resolve().parents[1]
LESSON_13 = (ROOT / "manifests" / "transcripts" / "digital-china-13.txt").read_text("utf-8")

# the characters transcripts are made of, and those that break parsers
ALPHABET = string.printable + "数字中国建设。,、:“”<>&-–—\ufeff\u3000\r"
CUE_SHAPES = st.sampled_from([
    "WEBVTT\n\n", "00:00:01.000 --> 00:00:02.000\n", "00:01.000 --> 00:00.500\n", "1\n",
    "00:00:01,000 --> 00:00:02,000\n", "<lang en>", "</lang>", "\n\n", "NOTE x\n", "&amp;",
    "00:22\n", "99:99\n", "1:02:03\n", "English words.\n", "中文段落。\n",
])
noisy_text = st.lists(st.one_of(st.text(alphabet=ALPHABET, max_size=40), CUE_SHAPES),
                      max_size=30).map("".join)
FUZZ = settings(max_examples=250, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _located(error: SubtitleError, path: Path | str) -> None:
    assert str(error.where.file) == str(path), error
    assert error.where.line is None or error.where.line >= 1


# what a VTT reader may produce that its input did not hold literally (character references)
UNESCAPED = set("<>&\u00a0\u200e\u200f")


def _well_formed(parse: Callable[..., list[Paragraph]], text: str,
                 paragraphs: list[Paragraph]) -> None:
    """What any successful read promises: paragraphs in source order, each pointing at the line
    it starts on, with times that only move forward and text taken from the input."""
    lines = text.lstrip("\ufeff").splitlines()
    assert paragraphs, "a successful read returns at least one paragraph"
    numbers = [p.line for p in paragraphs]
    assert numbers == sorted(set(numbers)) and numbers[0] >= 1 and numbers[-1] <= len(lines)
    starts = [p.start for p in paragraphs]
    assert all(start >= 0 for start in starts) and starts == sorted(starts)
    allowed = set(text) | (UNESCAPED if parse is parse_vtt else set())
    for paragraph in paragraphs:
        assert paragraph.en or paragraph.zh, paragraph
        assert set(paragraph.en + paragraph.zh) <= allowed | {" "}, paragraph
        source = lines[paragraph.line - 1]
        if parse is parse_seed:  # a timestamp line; both languages; strictly later starts
            assert paragraph.end is None and paragraph.en and paragraph.zh, paragraph
            assert source.strip() and ":" in source and "-->" not in source, source
        else:  # the cue's timing line; it ends after it starts
            assert paragraph.end is not None and paragraph.end > paragraph.start, paragraph
            assert "-->" in source, source
    if parse is parse_seed:
        assert len(set(starts)) == len(starts), starts


@pytest.mark.parametrize("parse", [parse_seed, parse_vtt, parse_srt])
@FUZZ
@given(text=noisy_text)
def test_readers_raise_only_located_subtitle_errors(parse: Callable[..., list[Paragraph]],
                                                    text: str) -> None:
    try:
        paragraphs = parse(text, "fuzz.txt")
    except SubtitleError as error:
        _located(error, "fuzz.txt")
        return
    _well_formed(parse, text, paragraphs)


# well-formed files with generated text: the success branch, which random noise rarely reaches
# (with a letter: a line of digits and separators only is a timestamp in the seed format)
WORDS = st.text(alphabet=string.ascii_letters + " ,.'!?", min_size=1, max_size=30).filter(
    lambda text: any(char.isalpha() for char in text))
HAN = st.text(alphabet="数字中国建设发展。,、:“”", max_size=20).map(lambda t: "中" + t)
SPANS = st.lists(st.tuples(st.integers(0, 90_000), st.integers(1, 30_000), WORDS, HAN),
                 min_size=1, max_size=12)
Expected = list[tuple[float, float | None, str, str]]


def _clock(ms: int, sep: str) -> tuple[str, float]:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return (f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}",
            hours * 3600 + minutes * 60 + seconds + millis / 1000)


def _render(kind: str, spans: list[tuple[int, int, str, str]]) -> tuple[str, Expected]:
    """The file of `kind` holding `spans` (gap before, length, English, Chinese), and the
    paragraphs its reader must return."""
    out = ["WEBVTT", ""] if kind == "vtt" else []
    expected: Expected = []
    start = 0
    for number, (gap, length, en, zh) in enumerate(spans, 1):
        if kind == "seed":  # whole seconds, each strictly after the previous
            start += 1000 + gap - gap % 1000
            clock, seconds = _clock(start, ".")
            out += [clock[:8], en, zh, ""]
            expected.append((seconds, None, en.strip(), zh))
            continue
        start += gap
        (left, begin), (right, end) = (_clock(start, "," if kind == "srt" else "."),
                                       _clock(start + length, "," if kind == "srt" else "."))
        out += ([str(number)] if kind == "srt" else []) + [f"{left} --> {right}", en, zh, ""]
        expected.append((begin, end, " ".join(en.split()), zh))
    return "\n".join(out), expected


@pytest.mark.parametrize("parse", [parse_seed, parse_vtt, parse_srt])
@FUZZ
@given(spans=SPANS)
def test_readers_read_back_every_well_formed_file(parse: Callable[..., list[Paragraph]],
                                                  spans: list[tuple[int, int, str, str]]) -> None:
    text, expected = _render(parse.__name__.removeprefix("parse_"), spans)
    paragraphs = parse(text, "fuzz.txt")
    _well_formed(parse, text, paragraphs)
    assert [(p.start, p.end, p.en, p.zh) for p in paragraphs] == expected


@pytest.mark.parametrize("parse", [parse_seed, parse_vtt, parse_srt])
def test_the_fuzzed_readers_accept_what_they_should(
        parse: Callable[..., list[Paragraph]]) -> None:
    """The success branch above is exercised, not only the error branch: a well-formed input
    of each kind reads, and passes the same checks."""
    text = {parse_seed: "00:05\nHello.\n你好。\n\n01:02:03\nBye.\n再见。\n",
            parse_vtt: "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<lang en>A &amp; B</lang>\n"
                       "中文段落。\n\nNOTE x\n\n00:00:02.000 --> 00:00:03.500\nEnglish words.\n",
            parse_srt: "1\n00:00:01,000 --> 00:00:02,000\n中文段落。\nEnglish words.\n"}[parse]
    paragraphs = parse(text, "fuzz.txt")
    _well_formed(parse, text, paragraphs)
    assert len(paragraphs) == (1 if parse is parse_srt else 2)


@FUZZ
@given(cut=st.integers(min_value=0, max_value=len(LESSON_13)),
       noise=st.text(alphabet=ALPHABET, max_size=20))
def test_damaged_lesson_13_gives_located_errors_or_valid_tracks(tmp_path: Path, cut: int,
                                                                 noise: str) -> None:
    path = tmp_path / "t.txt"
    path.write_text(LESSON_13[:cut] + noise + LESSON_13[cut:], "utf-8")
    try:
        _format, paragraphs = read_transcript(path, duration=643.0)
        build = build_subtitles("fuzz", path, duration=643.0)
    except SubtitleError as error:
        _located(error, path)
        return
    assert paragraphs and build.files
    starts = [p.start for p in paragraphs]
    assert starts == sorted(set(starts)) and starts[-1] < 643.0
    tracks = [name for name in build.files if name.endswith((".vtt", ".srt"))]
    assert len(tracks) == 5, sorted(build.files)
    for name in tracks:
        text = build.files[name].decode("utf-8")
        assert "<script" not in text
        if name.endswith(".vtt"):
            assert text.startswith("WEBVTT")
        # every track we write reads back with our own reader: timed cues inside the media
        cues = (parse_vtt if name.endswith(".vtt") else parse_srt)(text, name)
        assert cues and all(0 <= c.start < (c.end or 0) <= 643.0 for c in cues), name


@pytest.mark.parametrize("served_name", ["../../etc/passwd", "/tmp/evil.mp4", "..",
                                         "a/../../b.mp4", "evil\0.mp4"])
def test_server_file_names_never_become_paths(served_name: str, tmp_path: Path,
                                               tiny_media: Path, cert_factory: Callable[..., Any],
                                               serve: Callable[..., Any]) -> None:
    """A hostile server names the file in Content-Disposition and in the URL path: the media
    is still stored as fetch/original<ext> inside the lesson's folder, nothing else."""
    from archiver.batch import run_stages
    from archiver.demo.manifest import render_manifest
    from archiver.demo.server import Resource
    from archiver.log import EventLog
    from archiver.manifest import load_manifest
    from archiver.options import FetchOptions, Options
    from archiver.pipeline import Context
    from archiver.store import Store

    certs = cert_factory("valid")
    quoted = served_name.replace("\0", "%00")
    headers = {"Content-Disposition": f'attachment; filename="{quoted}"'}
    server = serve({"/media/..%2F..%2Fevil.mp4": Resource(tiny_media.read_bytes(), "video/mp4",
                                                          headers=headers)}, certs)
    manifest_path = tmp_path / "m.toml"
    manifest_path.write_text(render_manifest([{"id": "one", "sources": [
        {"url": server.url("/media/..%2F..%2Fevil.mp4"), "tls": f"ca:{certs.ca}"}]}]), "utf-8")
    output = tmp_path / "out"
    manifest = load_manifest(manifest_path)
    ctx = Context(store=Store(output), manifest=manifest, log=EventLog(progress=False),
                  options=Options(fetch=FetchOptions(backoff=0.01)))
    outcomes = run_stages(manifest.lessons, ["fetch"], ctx)
    assert outcomes["one"][0].status == "ok", outcomes
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                     if p.is_file())
    assert all(p.startswith("out/") or p == "m.toml" for p in written), written
    fetch_files = sorted(p.name for p in (output / "lessons" / "one" / "fetch").iterdir())
    assert fetch_files == ["capture-media.warc", "capture.json", "capture.warc.gz",
                           "original.mp4"], fetch_files
    assert not any("evil" in p or "passwd" in p for p in written), written
