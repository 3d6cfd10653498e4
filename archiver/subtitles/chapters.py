"""Chapters and the paragraph transcript, for players and for the site's interactive text.

Lectures in this series announce their parts: 一是…, 二是…, or 首先/其次/最后, or 第一….
A paragraph whose Chinese opens that way starts a chapter, titled with its first sentence in
each language ("First, strengthen organizational leadership." / "一是加强组织领导。"). What
precedes the first such paragraph is the opening chapter. No openers, no chapters: a single
chapter spanning the video would tell a viewer nothing.
"""

from __future__ import annotations

import re
from dataclasses import replace

from archiver.model import Bilingual, Chapter, Paragraph
from archiver.subtitles.cues import Cue
from archiver.subtitles.segment import en_sentences, zh_sentences

NUMERALS = "一二三四五六七八九十"
OPENER = re.compile(rf"\s*(?:[{NUMERALS}]+是|第[{NUMERALS}]+(?:是|[,，、:：])"
                    r"|(?:首先|其次|再次|然后|最后)[,，、:：])")
OPENING_TITLE = Bilingual(en="Introduction", zh="引言")


def paragraph_times(paragraphs: list[Paragraph], cues: list[Cue]) -> list[tuple[float, float]]:
    """Each paragraph's (start, end) as its cues are timed (audio-aligned when possible)."""
    spans: list[tuple[float, float]] = []
    for index, para in enumerate(paragraphs):
        own = [c for c in cues if c.paragraph == index]
        spans.append((own[0].start, own[-1].end) if own else (para.start, para.end or para.start))
    return spans


def timed_paragraphs(paragraphs: list[Paragraph], cues: list[Cue]) -> list[Paragraph]:
    """The paragraphs with the times their cues got (what transcript.json holds)."""
    return [replace(p, start=start, end=end)
            for p, (start, end) in zip(paragraphs, paragraph_times(paragraphs, cues),
                                       strict=True)]


def is_opener(zh: str) -> bool:
    return bool(OPENER.match(zh))


def chapters(paragraphs: list[Paragraph], cues: list[Cue],
             duration: float | None) -> list[Chapter]:
    """The lesson's chapters; they tile the video from 0 to its end."""
    spans = paragraph_times(paragraphs, cues)
    openers = [i for i, p in enumerate(paragraphs) if is_opener(p.zh)]
    if not openers:
        return []
    end_of_video = duration if duration is not None else (cues[-1].end if cues else spans[-1][1])
    starts: list[tuple[float, Bilingual]] = []
    if openers[0] > 0:
        starts.append((0.0, OPENING_TITLE))
    for i in openers:
        en = en_sentences(paragraphs[i].en)
        zh = zh_sentences(paragraphs[i].zh)
        start = 0.0 if not starts else spans[i][0]
        starts.append((start, Bilingual(en=en[0] if en else "",
                                        zh=zh[0].strip() if zh else "")))
    found: list[Chapter] = []
    for k, (start, title) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else max(end_of_video, start)
        found.append(Chapter(round(start, 3), round(end, 3), title))
    return found
