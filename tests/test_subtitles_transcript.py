"""Transcript readers: the seed's lesson 13, tolerated variants, WebVTT/SRT, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.errors import SubtitleError
from archiver.subtitles.transcript import parse_seed, parse_srt, parse_vtt, read_transcript

ROOT = Path(__file__).resolve().parent.parent
LESSON13 = ROOT / "manifests" / "transcripts" / "digital-china-13.txt"


def test_lesson13_seed() -> None:
    fmt, paras = read_transcript(LESSON13, duration=643.0)
    assert fmt == "seed"
    assert len(paras) == 23
    assert (paras[0].start, paras[-1].start) == (22.0, 621.0)
    assert paras[3].start == 110.0 and paras[3].zh.startswith("一是加强组织领导。")
    assert paras[3].en.startswith("First, strengthen organizational leadership.")
    assert "Commission7" in paras[3].en
    assert paras[0].line == 1 and paras[1].line == 4
    assert all(p.en and p.zh for p in paras)


def test_tolerates_chinese_first_blank_lines_and_hours() -> None:
    text = "\n\n01:00:05\n\n中文在前。\n\nEnglish after.\n1:00:09\nSecond.\n第二段。\n"
    paras = parse_seed(text)
    assert [(p.start, p.en, p.zh) for p in paras] == [
        (3605.0, "English after.", "中文在前。"), (3609.0, "Second.", "第二段。")]


def test_paragraph_over_several_lines_is_joined() -> None:
    paras = parse_seed("00:01\nFirst half\nsecond half.\n前半\n后半。\n")
    assert (paras[0].en, paras[0].zh) == ("First half second half.", "前半后半。")


@pytest.mark.parametrize("text, line, words", [
    ("00:01\nA.\n甲。\n00:61\nB.\n乙。\n", 4, "malformed timestamp '00:61'"),
    ("00:01\nA.\n甲。\n0:0:0:1\nB.\n乙。\n", 4, "malformed timestamp"),
    ("00:05\nA.\n甲。\n00:05\nB.\n乙。\n", 4, "not after the previous one"),
    ("00:05\nA.\n甲。\n00:02\nB.\n乙。\n", 4, "not after the previous one"),
    ("00:01\nOnly English.\n00:05\nB.\n乙。\n", 1, "no Chinese text"),
    ("00:01\n只有中文。\n", 1, "no English text"),
    ("00:01\n\n00:05\nB.\n乙。\n", 1, "empty text"),
    ("Preamble\n00:01\nA.\n甲。\n", 1, "text before the first timestamp"),
    ("", 1, "no timestamped paragraphs"),
])
def test_seed_errors_name_file_and_line(tmp_path: Path, text: str, line: int,
                                        words: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text, "utf-8")
    with pytest.raises(SubtitleError) as info:
        read_transcript(path)
    assert info.value.where.file == path and info.value.where.line == line
    assert words in str(info.value) and f"bad.txt:{line}" in str(info.value)


def test_timestamp_beyond_media(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("00:01\nA.\n甲。\n02:00\nB.\n乙。\n", "utf-8")
    with pytest.raises(SubtitleError, match=r"t.txt:4: timestamp 02:00 is beyond .* \(01:30\)"):
        read_transcript(path, duration=90.0)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes("00:01\nA.\n甲。\n".encode("gb18030"))
    with pytest.raises(SubtitleError, match="not UTF-8"):
        read_transcript(path)


VTT = """WEBVTT

NOTE a comment

1
00:00:01.000 --> 00:00:03.500 align:center
建设数字中国 &amp; 更多
<lang en>Build &lt;Digital&gt; China</lang>

00:00:04.000 --> 00:00:06.000
第二句。
Second <i>sentence</i>.
"""


def test_vtt_reader_languages_tags_and_entities(tmp_path: Path) -> None:
    path = tmp_path / "x.vtt"
    path.write_text(VTT, "utf-8")
    fmt, paras = read_transcript(path)
    assert fmt == "vtt"
    assert [(p.start, p.end) for p in paras] == [(1.0, 3.5), (4.0, 6.0)]
    assert paras[0].zh == "建设数字中国 & 更多" and paras[0].en == "Build <Digital> China"
    assert paras[1].en == "Second sentence." and paras[1].line == 10


def test_srt_reader(tmp_path: Path) -> None:
    path = tmp_path / "x.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\n甲。\nA.\n\n2\n00:00:02,500 --> "
                    "00:00:04,000\n乙。\nB.\n", "utf-8")
    fmt, paras = read_transcript(path)
    assert fmt == "srt" and [(p.zh, p.en, p.end) for p in paras] == [
        ("甲。", "A.", 2.0), ("乙。", "B.", 4.0)]


@pytest.mark.parametrize("text, line, words", [
    ("WEBVTT\n\n00:1.000 --> 00:00:02.000\n甲\n", 3, "malformed timestamp"),
    ("WEBVTT\n\n00:00:03.000 --> 00:00:02.000\n甲\n", 3, "ends before it starts"),
    ("WEBVTT\n\n00:00:05.000 --> 00:00:06.000\n甲\n\n00:00:01.000 --> 00:00:02.000\n乙\n", 6,
     "not monotonic"),
    ("WEBVTT\n\nid only\n", 3, "without a timing line"),
    ("NOT VTT\n", 1, "not a WebVTT file"),
])
def test_vtt_errors(text: str, line: int, words: str) -> None:
    with pytest.raises(SubtitleError) as info:
        parse_vtt(text, "f.vtt")
    assert info.value.where.line == line and words in str(info.value)


def test_srt_malformed_time() -> None:
    with pytest.raises(SubtitleError, match=r"f.srt:2: malformed timestamp"):
        parse_srt("1\n00:00:01 --> 00:00:02,000\n甲\n", "f.srt")


def test_cue_file_missing_language_is_an_error_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "zh.vtt"
    path.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n只有中文\n", "utf-8")
    with pytest.raises(SubtitleError, match="no English"):
        read_transcript(path)
    assert read_transcript(path, require_both=False)[1][0].zh == "只有中文"
