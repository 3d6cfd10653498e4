"""Lesson 13 end to end (transcript only): valid tracks, text preserved, limits or reported."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import webvtt

from archiver.subtitles import build_subtitles
from archiver.subtitles.build import SubtitleBuild
from archiver.subtitles.lines import EN_LINE, ZH_LINE
from archiver.subtitles.text import DROPPABLE_AT_CUE_END, display_width, squash
from archiver.subtitles.transcript import parse_vtt, read_transcript
from archiver.subtitles.validate import check_vtt

ROOT = Path(__file__).resolve().parent.parent
LESSON13 = ROOT / "manifests" / "transcripts" / "digital-china-13.txt"
ID = "digital-china-13"


@pytest.fixture(scope="module")
def build() -> SubtitleBuild:
    return build_subtitles(ID, LESSON13, None, 643.0, footnotes=7)


@pytest.mark.parametrize("track", ["zh-Hans", "en", "zh-Hans-en"])
def test_tracks_pass_strict_parsers(build: SubtitleBuild, track: str, tmp_path: Path) -> None:
    data = build.files[f"{ID}.{track}.vtt"]
    assert check_vtt(data) == []
    path = tmp_path / "t.vtt"
    path.write_bytes(data)
    captions = webvtt.read(str(path), strict=True).captions
    cues = build.track_cues[track]
    expected = len(cues) if track != "en" else sum(1 for c in cues if c.en)
    assert len(captions) == expected
    assert data.decode("utf-8")  # CJK written as UTF-8, not escaped
    if track != "en":
        assert "数字中国".encode() in data


def _walk(source: str, shown: list[str], droppable: frozenset[str]) -> list[str]:
    """Consume `source` cue by cue; return what was skipped at cue ends (must be droppable)."""
    rest = squash(source)
    skipped: list[str] = []
    for text in shown:
        text = squash(text)
        assert rest.startswith(text), (text, rest[:40])
        rest = rest[len(text):]
        if rest and rest[0] in droppable and not (text and text[-1] in droppable):
            skipped.append(rest[0])
            rest = rest[1:]
    assert rest == "" or (len(rest) == 1 and rest in droppable)
    return [*skipped, rest] if rest else skipped


def test_chinese_text_preserved_except_cue_final_stop_or_comma(build: SubtitleBuild) -> None:
    paragraphs = read_transcript(LESSON13)[1]
    source = "".join(p.zh for p in paragraphs)
    vtt = parse_vtt(build.files[f"{ID}.zh-Hans.vtt"].decode(), "zh")
    skipped = _walk(source, [p.zh for p in vtt], DROPPABLE_AT_CUE_END)
    # exactly the recorded drops, and nothing else: every other character is there, in order
    assert skipped == [c.dropped for c in build.track_cues["zh-Hans"] if c.dropped]
    assert set(skipped) <= {"。", "，", ","}
    assert build.quality["text"]["zh_preserved"] is True
    srt = build.files[f"{ID}.zh-Hans.srt"].decode()
    srt_text = [line for block in srt.split("\n\n") for line in block.split("\n")[2:]]
    assert squash("".join(srt_text)) == squash("".join(c.zh for c in vtt))


def test_english_text_preserved_exactly(build: SubtitleBuild) -> None:
    paragraphs = read_transcript(LESSON13)[1]
    en_track = build.files[f"{ID}.en.vtt"].decode()
    cues = [block.split("\n")[2:] for block in en_track.split("\n\n")[2:]]  # signature, NOTE
    shown = " ".join(" ".join(lines) for lines in cues)
    assert squash(shown) == squash(" ".join(p.en for p in paragraphs))
    assert "Commission7" in shown  # the footnote marker is kept as written
    assert build.quality["footnote_markers"] == ["Commission7"]
    assert build.quality["text"]["en_preserved"] is True


def test_bilingual_track_pairs_languages(build: SubtitleBuild) -> None:
    vtt = build.files[f"{ID}.zh-Hans-en.vtt"].decode()
    blocks = vtt.split("\n\n")[2:]  # after the signature and the NOTE
    first = blocks[0].split("\n")
    assert first[2].startswith("建设数字中国")
    assert first[3].startswith("<lang en>Constructing Digital China")
    assert blocks[0].endswith("</lang>")
    opener = next(b for b in blocks if "一是加强组织领导" in b)
    # 44 characters: two lines, broken after the comma
    assert "<lang en>First, strengthen\norganizational leadership.</lang>" in opener


def test_style_limits_met_or_reported(build: SubtitleBuild) -> None:
    report: dict[str, Any] = build.quality
    zh = report["tracks"]["zh-Hans"]["rules"]
    for rule in ("zh-line-width", "zh-lines", "gap", "monotonic", "within-media",
                 "line-start-closing", "line-end-opening", "max-duration"):
        assert zh[rule]["violated"] == 0, (rule, zh[rule])
    for cues in build.track_cues.values():
        for cue in cues:
            assert all(display_width(line) <= ZH_LINE for line in cue.zh_lines)
            assert all(len(line) <= EN_LINE for line in cue.en_lines)
    assert report["tracks"]["zh-Hans"]["violations"] == 0
    en = report["tracks"]["en"]["rules"]
    assert en["en-line-width"]["violated"] == 0
    # the translation is verbose (about 19 characters/s of speech): reading speed exceptions
    # are expected there and must be reported with worst cases
    if en["en-reading-speed"]["violated"]:
        assert en["en-reading-speed"]["worst"][0]["value"] > 20
    text = build.files["quality.txt"].decode()
    assert "timing: proportional (no media)" in text
    assert "en-reading-speed" in text


def test_transcript_and_chapters(build: SubtitleBuild) -> None:
    transcript = json.loads(build.files["transcript.json"])
    assert len(transcript) == 23
    assert set(transcript[0]) == {"start", "end", "en", "zh"}
    assert transcript[0]["start"] == 22.0 and transcript[3]["zh"].startswith("一是")
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(transcript))
    assert transcript[-1]["end"] < 643.0 - 5  # ends with the speech, not at the video's end
    chapters = json.loads(build.files["chapters.json"])
    assert [c["start"] for c in chapters] == [0.0, 110.0, 193.0, 323.0, 441.0, 532.0]
    assert chapters[1]["title"] == {"en": "First, strengthen organizational leadership.",
                                    "zh": "一是加强组织领导。"}
    assert chapters[3]["title"]["en"] == "Third, ensure financial support."
    assert chapters[-1]["end"] == 643.0
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(chapters))
