"""Where lines (and units) may break: the line breakers for Chinese and English.

A Chinese line may break between any two characters except inside a Latin word or a number,
before closing punctuation or after opening punctuation; without a dictionary, the natural
places are after a pause mark or a particle (的, 了) or before a conjunction or preposition
(和, 与, 对, 在). English lines break only at spaces, preferably after punctuation, balanced.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from archiver.subtitles.text import (
    CLOSING,
    OPENING,
    ZH_CLAUSE_END,
    ZH_ENUM,
    ZH_SENTENCE_END,
    display_width,
    is_word_char,
)

ZH_LINE = 16.0
EN_LINE = 42
MAX_LINES = 2
# Places where a Chinese line or unit may be cut without a punctuation mark: after these
# particles, or before these conjunctions/prepositions (no dictionary needed, no word split).
CUT_AFTER = frozenset("的了地着得")
CUT_BEFORE = frozenset("是和与及并对在将把从向为以而或等让由被")


def allowed_break(text: str, i: int) -> bool:
    """May a line (or a unit) end before text[i]? Never inside a Latin word or a number, never
    before closing punctuation, never after opening punctuation."""
    if i <= 0 or i >= len(text):
        return False
    before, after = text[i - 1], text[i]
    if after in CLOSING or before in OPENING:
        return False
    return not (is_word_char(before) and is_word_char(after))


def cut_bonus(text: str, i: int) -> float:
    """How natural a cut before text[i] is: after 、 or a clause mark best, then particles."""
    before, after = text[i - 1], text[i]
    if before in ZH_ENUM or before in ZH_CLAUSE_END or before in ZH_SENTENCE_END:
        return 5.0
    if before in CUT_AFTER:
        return 3.0
    if after in CUT_BEFORE:
        return 2.5
    return 0.0


def break_zh(text: str, width: float = ZH_LINE, max_lines: int = MAX_LINES) -> list[str]:
    """Chinese lines ≤ `width`, at allowed places, balanced; more lines only if it must."""
    if display_width(text) <= width:
        return [text]
    total = display_width(text)
    if max_lines >= 2 and total <= 2 * width:
        best, best_score = -1, math.inf
        for i in range(1, len(text)):
            left = display_width(text[:i])
            if not allowed_break(text, i) or left > width or total - left > width:
                continue
            score = 0.4 * abs(2 * left - total) / 2 - cut_bonus(text, i)
            if score < best_score:
                best, best_score = i, score
        if best > 0:
            return [text[:best].strip(), text[best:].strip()]
    return _greedy(text, width, display_width)


def _greedy(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Fill lines as far as allowed breaks permit (used when two lines cannot hold the text)."""
    lines: list[str] = []
    rest = text
    while rest and measure(rest) > width:
        cut = 0
        for i in range(1, len(rest)):
            if measure(rest[:i]) > width:
                break
            if allowed_break(rest, i) or rest[i] == " ":
                cut = i
        if cut == 0:  # no allowed place within the width: take the first one after it
            cut = next((i for i in range(1, len(rest)) if allowed_break(rest, i)
                        or rest[i] == " "), len(rest))
        lines.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        lines.append(rest)
    return lines


def break_en(text: str, width: int = EN_LINE, max_lines: int = MAX_LINES) -> list[str]:
    """English lines ≤ `width`, broken between words, preferring after punctuation."""
    if len(text) <= width:
        return [text] if text else []
    spaces = [i for i, c in enumerate(text) if c == " "]
    if max_lines >= 2:
        best, best_score = -1, math.inf
        for i in spaces:
            left, right = text[:i].rstrip(), text[i + 1:].lstrip()
            if len(left) > width or len(right) > width or not right:
                continue
            score = abs(len(left) - len(right)) / 2 - (8.0 if left[-1] in ",;:.?!" else 0.0)
            if score < best_score:
                best, best_score = i, score
        if best > 0:
            return [text[:best].rstrip(), text[best + 1:].lstrip()]
    words = text.split(" ")
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines
