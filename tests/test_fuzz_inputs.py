"""Bad input, generated (issue 7): every transcript reader and the build from a transcript let
only the project's own error types escape, each with a location; names a server sends never
become paths."""

from __future__ import annotations

import string
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.errors import SubtitleError
from archiver.subtitles.build import build_subtitles
from archiver.subtitles.transcript import parse_seed, parse_srt, parse_vtt, read_transcript

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


@pytest.mark.parametrize("parse", [parse_seed, parse_vtt, parse_srt])
@FUZZ
@given(text=noisy_text)
def test_readers_raise_only_located_subtitle_errors(parse: Callable[..., object],
                                                    text: str) -> None:
    try:
        parse(text, "fuzz.txt")
    except SubtitleError as error:
        _located(error, "fuzz.txt")


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
    for name, data in build.files.items():
        if name.endswith(".vtt"):
            text = data.decode("utf-8")
            assert text.startswith("WEBVTT")
            assert "<script" not in text


@pytest.mark.parametrize("served_name", ["../../etc/passwd", "/tmp/evil.mp4", "..",
                                         "a/../../b.mp4", "evil\0.mp4"])
def test_server_file_names_never_become_paths(served_name: str, tmp_path: Path,
                                               tiny_media: Path, cert_factory: Callable,
                                               serve: Callable) -> None:
    """A hostile server names the file in Content-Disposition and in the URL path: the media
    is still stored as fetch/original<ext> inside the lesson's folder, nothing else."""
    from archiver.demo.manifest import render_manifest
    from archiver.demo.server import Resource
    from archiver.log import EventLog
    from archiver.manifest import load_manifest
    from archiver.options import FetchOptions, Options
    from archiver.pipeline import Context, run_stages
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
