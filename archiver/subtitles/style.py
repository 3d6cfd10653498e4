"""Professional subtitle style: cue grouping, line breaking and display timing.

Rules (Netflix timed-text style guides for Simplified Chinese and English; BBC guidelines):
Chinese ≤ 16 characters a line (half-width counts 0.5), English ≤ 42; ≤ 2 lines; a cue lasts
5/6 s to 7 s where the speech allows; ≥ 2 frames between cues (gaps under 0.5 s are closed to
2 frames); reading speed ≤ 9 Chinese characters/s, ≤ 20 English characters/s; lines break
after punctuation or between words, never inside an English word or number, no line starts
with closing punctuation or ends with opening punctuation. Where a rule cannot be met the
others still are, and `quality` reports the exception: no text is ever cut to fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from archiver.subtitles.cues import Cue, Unit
from archiver.subtitles.lines import EN_LINE, MAX_LINES, ZH_LINE, break_en, break_zh
from archiver.subtitles.text import DROPPABLE_AT_CUE_END, display_width, spoken_count

MIN_DURATION = 5 / 6
MAX_DURATION = 7.0
FRAME = 1 / 25  # PAL, the publisher's broadcast rate; 2 frames = 80 ms
MIN_GAP = 2 * FRAME
CLOSE_GAP = 0.5
ZH_CPS = 9.0
EN_CPS = 20.0
LINGER = 1.0  # a cue may stay up to this long after its speech ends, for reading time
MAX_UNITS = 6


def shown_zh(text: str) -> tuple[str, str]:
    """(text shown, dropped suffix): a cue's final 。 or ，is dropped by convention."""
    if text and text[-1] in DROPPABLE_AT_CUE_END:
        return text[:-1], text[-1]
    return text, ""


Mode = Literal["zh", "en", "both"]  # which languages a track shows (its cues differ)


def _cost(units: list[Unit], following: Unit | None, mode: Mode) -> float:
    zh, _ = shown_zh("".join(u.zh for u in units))
    en = " ".join(u.en for u in units if u.en)
    duration = max(units[-1].end - units[0].start, 0.01)
    single = len(units) == 1
    cost = 3.0 + 0.3 * abs(duration - 3.5)
    if mode != "en":
        if not single and display_width(zh) > MAX_LINES * ZH_LINE:
            return math.inf
        cost += 3 * max(0.0, spoken_count(zh) / (duration + LINGER / 2) - ZH_CPS)
    if mode != "zh":
        if not single and (len(en) > MAX_LINES * EN_LINE or len(break_en(en)) > MAX_LINES):
            cost += 50 + 2 * max(0, len(en) - MAX_LINES * EN_LINE)
        cost += 1 * max(0.0, len(en) / (duration + LINGER / 2) - EN_CPS)
    if duration > MAX_DURATION and not single:
        cost += 100 + 50 * (duration - MAX_DURATION)
    if duration < MIN_DURATION:
        cost += 100
    if following is not None:
        cost += {"soft": 4.0, "clause": 0.0, "sentence": -1.0, "paragraph": -1.0}[
            following.boundary]
    return cost


def group_units(units: list[Unit], mode: Mode = "both") -> list[list[Unit]]:
    """Best split of one paragraph's units into cues (dynamic programming over cut points)."""
    n = len(units)
    best = [0.0] + [math.inf] * n
    back = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(max(0, j - MAX_UNITS), j):
            if best[i] == math.inf:
                continue
            cost = best[i] + _cost(units[i:j], units[j] if j < n else None, mode)
            if cost < best[j]:
                best[j], back[j] = cost, i
    groups: list[list[Unit]] = []
    j = n
    while j > 0:
        groups.append(units[back[j]:j])
        j = back[j]
    return groups[::-1]


def make_cues(paragraph_units: list[list[Unit]], mode: Mode = "both",
              pairs: Mapping[str, int] | None = None) -> list[Cue]:
    """Cues with broken lines for every paragraph, in order.

    Each track is grouped for its own languages: the Chinese track is not cut short by the
    English's length, nor the English by the Chinese; the bilingual track meets both."""
    cues: list[Cue] = []
    for units in paragraph_units:
        for group in group_units(units, mode):
            zh = "".join(u.zh for u in group)
            shown, dropped = shown_zh(zh)
            en = " ".join(u.en for u in group if u.en)
            cues.append(Cue(start=group[0].start, end=group[-1].end, zh=shown, en=en,
                            paragraph=group[0].paragraph,
                            zh_lines=break_zh(shown, pairs=pairs),
                            en_lines=break_en(en), dropped=dropped, snapped=group[0].snapped,
                            proportional_start=group[0].proportional_start))
    return cues


def display_timing(cues: list[Cue], limit: float | None, mode: Mode = "both") -> None:
    """Extend ends for reading time and minimum duration, close small gaps, keep 2 frames.

    A cue may stay up after its speech (up to LINGER, or to the minimum duration) but never
    runs into the next cue's 2-frame gap, and never past the media's end. An English-only
    cue (`mode` "en", whole sentences: `english`) may stay into the silence after it for as
    long as its reading needs, up to 2 frames before the next speech (issue 11 item 7).
    """
    for k, cue in enumerate(cues):
        last = k + 1 == len(cues)
        room = (limit if limit is not None else math.inf) if last else cues[k + 1].start - MIN_GAP
        need = max(MIN_DURATION, 0.0 if mode == "en" else spoken_count(cue.zh) / ZH_CPS,
                   0.0 if mode == "zh" else len(cue.en) / EN_CPS)
        want = min(max(cue.end, cue.start + need), cue.end + (
            math.inf if mode == "en" else LINGER))
        want = max(want, cue.start + MIN_DURATION)
        want = min(want, max(cue.end, cue.start + MAX_DURATION))
        if not last and room + MIN_GAP - want < CLOSE_GAP:
            want = room
        cue.end = max(min(want, room), min(cue.start + 0.01, room + MIN_GAP))
