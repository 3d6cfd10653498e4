"""WebVTT/SRT writers (escaping, times) and the strict validator, against webvtt-py strict."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import webvtt
from clients import webvtt_errors

from archiver.model import Cue as TrackCue
from archiver.subtitles.transcript import parse_vtt
from archiver.subtitles.validate import check_vtt
from archiver.subtitles.writers import (
    SRT_ARROW,
    escape,
    srt_time,
    vtt_time,
    write_srt,
    write_vtt,
)

CUES = [
    TrackCue(1.0, 2.5, ("研发 & 创新 <测试>",), ("R&D <and> innovation -->",)),
    TrackCue(2.5004, 2.5004, ("零长度",), ()),  # rounding must still give an increasing cue
    TrackCue(3661.2345, 3662.0, ("一小时后",), ("An hour later",)),
]


def test_escape_and_times() -> None:
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert vtt_time(3_661_234) == "01:01:01.234" and srt_time(3_661_234) == "01:01:01,234"


def test_vtt_is_escaped_valid_and_reads_back() -> None:
    text = write_vtt(CUES, "zh-Hans-en")
    assert "R&amp;D &lt;and&gt; innovation --&gt;" in text
    assert "<lang en>R&amp;D" in text and text.startswith("WEBVTT\n")
    assert check_vtt(text.encode()) == []
    parsed = webvtt.from_buffer(io.StringIO(text), strict=True)
    assert len(parsed.captions) == 3
    second = parsed.captions[1]
    assert second.end_time.in_milliseconds() > second.start_time.in_milliseconds()
    back = parse_vtt(text)
    assert back[0].zh == "研发 & 创新 <测试>" and back[0].en == "R&D <and> innovation -->"
    assert back[2].start == pytest.approx(3661.234)


def test_vtt_language_and_provenance_in_a_note_the_w3c_parser_accepts(tmp_path: Path) -> None:
    text = write_vtt(CUES, "zh-Hans-x-en", ["track: zh-Hans-en of lesson a", "", "x --> y"])
    assert text.startswith("WEBVTT\n\nNOTE\nlanguage: zh-Hans-x-en\n"
                           "track: zh-Hans-en of lesson a\nx -> y\n\n1\n00:00:01.000 --> ")
    assert "Language:" not in text
    (tmp_path / "t.vtt").write_text(text, "utf-8")
    assert webvtt_errors([tmp_path / "t.vtt"]) == {tmp_path / "t.vtt": []}
    assert check_vtt(text.encode()) == []
    assert [c.zh for c in parse_vtt(text)] == ["研发 & 创新 <测试>", "零长度", "一小时后"]


# transcript text shaped like SRT structure: a timing line, a cue number, a blank line
HOSTILE = [
    TrackCue(1.0, 2.0, ("00:00:09,000 --> 00:00:10,000",), ("pwned -->",)),
    TrackCue(2.0, 3.0, ("第一行", "", "2"), ("a\n\n00:00:05,000 --> 00:00:06,000\nb",)),
]


def test_srt_text_can_never_read_as_structure(tmp_path: Path) -> None:
    text = write_srt(HOSTILE)
    assert text == ("1\n00:00:01,000 --> 00:00:02,000\n"
                    f"00:00:09,000 {SRT_ARROW} 00:00:10,000\npwned {SRT_ARROW}\n\n"
                    "2\n00:00:02,000 --> 00:00:03,000\n第一行\n2\na\n"
                    f"00:00:05,000 {SRT_ARROW} 00:00:06,000\nb\n")
    (tmp_path / "x.srt").write_text(text, "utf-8")
    captions = webvtt.from_srt(str(tmp_path / "x.srt")).captions
    assert [(c.start, c.end) for c in captions] == [("00:00:01.000", "00:00:02.000"),
                                                     ("00:00:02.000", "00:00:03.000")]
    assert text.count("-->") == 2  # only the two timing lines
    # the .vtt of the same cues is unaffected: `>` is escaped there, text kept as written
    vtt = write_vtt(HOSTILE[:1], "en")
    assert "pwned --&gt;" in vtt and SRT_ARROW not in vtt


def test_srt_is_verbatim_and_numbered(tmp_path: Path) -> None:
    text = write_srt(CUES)
    assert text.startswith("1\n00:00:01,000 --> 00:00:02,500\n研发 & 创新 <测试>\nR&D")
    assert "\n3\n01:01:01,234 --> 01:01:02,000\n" in text
    (tmp_path / "x.srt").write_text(text, "utf-8")
    assert len(webvtt.from_srt(str(tmp_path / "x.srt")).captions) == 3


@pytest.mark.parametrize("text, problem", [
    ("WEBVT\n\n00:00:01.000 --> 00:00:02.000\nx\n", "must start with WEBVTT"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na & b\n", "unescaped '&'"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na < b\n", "unescaped '<'"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na > b\n", "unescaped '>'"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<lang en>x\n", "unclosed tag"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<lang>x</lang>\n", "needs an annotation"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<blink>x</blink>\n", "unknown tag"),
    ("WEBVTT\n\n00:00:01.00 --> 00:00:02.000\nx\n", "malformed cue timings"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000 colour:red\nx\n", "unknown cue setting"),
    ("WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nx\n", "ends at or before"),
    ("WEBVTT\n\n00:00:05.000 --> 00:00:06.000\nx\n\n00:00:01.000 --> 00:00:02.000\ny\n",
     "before the previous cue"),
    ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nx\n00:00:03.000 --> 00:00:04.000\n",
     "contains -->"),
    ("WEBVTT\n\n", "no cues"),
    ("WEBVTT\nLanguage: en\n\n00:00:01.000 --> 00:00:02.000\nx\n", "no blank line after"),
])
def test_validator_catches(text: str, problem: str) -> None:
    problems = check_vtt(text.encode())
    assert any(problem in p for p in problems), problems


def test_validator_rejects_non_utf8() -> None:
    data = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n中文\n".encode("gb18030")
    assert check_vtt(data) == ["byte 38: not UTF-8"]
