"""Style rules as properties (hypothesis): limits kept or reported, order and bounds kept."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.model import Paragraph
from archiver.subtitles.audio import Pause
from archiver.subtitles.build import track_cues, tracks
from archiver.subtitles.lines import EN_LINE, ZH_LINE, allowed_break, break_en, break_zh
from archiver.subtitles.quality import check_track
from archiver.subtitles.segment import paragraph_units
from archiver.subtitles.style import (
    MAX_DURATION,
    MIN_DURATION,
    MIN_GAP,
    display_timing,
    make_cues,
)
from archiver.subtitles.text import CLOSING, OPENING, display_width, squash
from archiver.subtitles.timing import time_paragraphs

HAN = st.sampled_from("数字中国建设推进发展经济政府体系人才资金组织领导")
ZH_PUNCT = st.sampled_from(["，", "。", "、", ",", "：", "“", "”", "（", "）"])
LATIN = st.from_regex(r"[A-Za-z0-9]{1,8}", fullmatch=True)
ZH_TOKEN = st.one_of(HAN, HAN, HAN, HAN, ZH_PUNCT, LATIN)
EN_WORD = st.from_regex(r"[A-Za-z]{1,12}[,.]?", fullmatch=True)


def zh_text(min_size: int = 1, max_size: int = 60) -> st.SearchStrategy[str]:
    return st.lists(ZH_TOKEN, min_size=min_size, max_size=max_size).map("".join).filter(
        lambda t: any("\u4e00" <= c <= "\u9fff" for c in t))


def _check_lines(text: str, lines: list[str]) -> None:
    assert squash("".join(lines)) == squash(text)
    for k, line in enumerate(lines):
        if k:
            assert line[0] not in CLOSING, lines
        if k + 1 < len(lines):
            assert line[-1] not in OPENING, lines


@pytest.mark.slow  # hypothesis: 300 examples
@settings(max_examples=300, deadline=None)
@given(zh_text())
def test_break_zh(text: str) -> None:
    lines = break_zh(text)
    _check_lines(text, lines)
    joined = "".join(lines)
    cuts = [sum(len(x) for x in lines[:k]) for k in range(1, len(lines))]
    assert all(allowed_break(joined, c) for c in cuts)  # never inside a word or a number
    for line in lines:  # a line over the limit is only ever an unbreakable run (a number)
        if display_width(line) > ZH_LINE:
            assert not any(allowed_break(line, i) for i in range(1, len(line))), line
    if display_width(text) <= 2 * ZH_LINE and len(lines) > 2:
        # three lines only when no two-line split exists
        assert not any(allowed_break(text, i) and display_width(text[:i]) <= ZH_LINE
                       and display_width(text[i:].strip()) <= ZH_LINE
                       for i in range(1, len(text)))
    if display_width(text) <= ZH_LINE:
        assert lines == [text]


@pytest.mark.slow  # hypothesis: 300 examples
@settings(max_examples=300, deadline=None)
@given(st.lists(EN_WORD, min_size=1, max_size=25).map(" ".join))
def test_break_en(text: str) -> None:
    lines = break_en(text)
    assert " ".join(lines) == text  # only ever cut at a space: never inside a word
    assert all(len(x) <= EN_LINE for x in lines)  # words here are shorter than a line
    if len(text) <= EN_LINE:
        assert lines == [text]


@st.composite
def lessons(draw: st.DrawFn) -> tuple[list[Paragraph], float]:
    count = draw(st.integers(1, 5))
    paragraphs: list[Paragraph] = []
    t = draw(st.floats(0, 30))
    for i in range(count):
        zh = draw(zh_text(4, 120))
        en = draw(st.lists(EN_WORD, min_size=1, max_size=60).map(" ".join))
        paragraphs.append(Paragraph(start=float(int(t)), en=en, zh=zh, line=1 + 3 * i))
        t = int(t) + draw(st.floats(1, 60))
    duration = int(t) + draw(st.floats(0.5, 40))
    return paragraphs, duration


@pytest.mark.slow  # hypothesis: 150 examples
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lessons())
def test_cues_in_order_within_media_and_every_exception_reported(
        lesson: tuple[list[Paragraph], float]) -> None:
    paragraphs, duration = lesson
    units = [paragraph_units(i, p.en, p.zh) for i, p in enumerate(paragraphs)]
    time_paragraphs(paragraphs, units, duration, None)
    by_track = track_cues(units, duration)
    for cues in by_track.values():
        assert squash("".join(c.zh + c.dropped for c in cues)) == squash(
            "".join(p.zh for p in paragraphs))
        assert squash("".join(c.en for c in cues)) == squash("".join(p.en for p in paragraphs))
        previous_end = 0.0
        for cue in cues:
            assert 0 <= cue.start < cue.end <= duration + 1e-9
            assert cue.start >= previous_end - 1e-9  # no overlap
            previous_end = cue.end
    for name, track in tracks(by_track).items():
        report = check_track(track, duration, name)["rules"]
        zh_lines = [list(c.lines) if name != "en" else [] for c in track]
        en_lines = [list(c.lines) if name == "en" else list(c.en_lines) for c in track]
        expected = {
            "min-duration": sum(1 for c in track if c.end - c.start < MIN_DURATION - 1e-3),
            "max-duration": sum(1 for c in track if c.end - c.start > MAX_DURATION + 1e-3),
            "gap": sum(1 for a, b in itertools.pairwise(track)
                       if b.start - a.end < MIN_GAP - 1e-6),
            "zh-line-width": sum(1 for ls in zh_lines if any(display_width(x) > ZH_LINE
                                                             for x in ls)),
            "en-line-width": sum(1 for ls in en_lines if any(len(x) > EN_LINE for x in ls)),
            "zh-lines": sum(1 for ls in zh_lines if len(ls) > 2),
            "en-lines": sum(1 for ls in en_lines if len(ls) > 2),
            "monotonic": 0, "within-media": 0,
        }
        assert {k: report[k]["violated"] for k in expected} == expected


def test_display_timing_closes_small_gaps_and_keeps_two_frames() -> None:
    paragraphs = [Paragraph(0.0, "One two three. Four five six.", "一二三。四五六。", 1)]
    units = [paragraph_units(0, paragraphs[0].en, paragraphs[0].zh)]
    time_paragraphs(paragraphs, units, 10.0, None)
    cues = make_cues(units)
    display_timing(cues, 10.0)
    for a, b in itertools.pairwise(cues):
        gap = b.start - a.end
        assert gap >= MIN_GAP - 1e-9
        assert gap <= MIN_GAP + 1e-9 or gap >= 0.5


@st.composite
def pauses_for(draw: st.DrawFn, duration: float) -> list[Pause]:
    edges = sorted(draw(st.lists(st.floats(0, duration), min_size=0, max_size=40, unique=True)))
    return [Pause(a, b) for a, b in zip(edges[::2], edges[1::2], strict=False) if b > a]


@pytest.mark.slow  # hypothesis: 150 examples
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lessons(), st.data())
def test_audio_snapping_keeps_units_ordered_and_inside(lesson: tuple[list[Paragraph], float],
                                                       data: st.DataObject) -> None:
    paragraphs, duration = lesson
    pauses = data.draw(pauses_for(duration))
    units = [paragraph_units(i, p.en, p.zh) for i, p in enumerate(paragraphs)]
    report = time_paragraphs(paragraphs, units, duration, pauses)
    flat = [u for us in units for u in us]
    assert report.snapped <= report.boundaries
    previous = 0.0
    for unit in flat:
        assert previous - 1e-9 <= unit.start <= unit.end <= duration + 1e-9, unit
        previous = unit.end
    cues = make_cues(units)
    display_timing(cues, duration)
    for a, b in itertools.pairwise(cues):
        assert a.start < a.end <= b.start + 1e-9
