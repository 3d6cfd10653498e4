"""Where lines (and units) may break: the line breakers for Chinese and English.

A Chinese line may break between two words (jieba's, `words`), never inside a Latin word or a
number, before closing punctuation or after opening punctuation; among the word boundaries, the
natural places are after a pause mark or a particle (的, 了) or before a conjunction or
preposition (和, 与, 对, 在). English lines break only at spaces, preferably after
punctuation, balanced.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from archiver.subtitles.text import (
    CLOSING,
    OPENING,
    ZH_CLAUSE_END,
    ZH_ENUM,
    ZH_SENTENCE_END,
    display_width,
    is_cjk,
    is_word_char,
)
from archiver.subtitles.words import inside_word

ZH_LINE = 16.0
EN_LINE = 42
MAX_LINES = 2
# Places where a Chinese line or unit may be cut without a punctuation mark: after these
# particles, or before these conjunctions/prepositions. Only characters that rarely sit
# inside a word qualify (地 is also 地区, 在 also 存在, 及 also 以及: left out).
CUT_AFTER = frozenset("的了")
CUT_BEFORE = frozenset("和与并将把从向而或等让被")


def allowed_break(text: str, i: int) -> bool:
    """May a line (or a unit) end before text[i]? Never inside a Chinese word (jieba, with the
    lesson's terms: `words`), a Latin word or a number, never before closing punctuation, never
    after opening punctuation."""
    if i <= 0 or i >= len(text):
        return False
    before, after = text[i - 1], text[i]
    if after in CLOSING or before in OPENING:
        return False
    if is_word_char(before) and is_word_char(after):
        return False
    return not inside_word(text, i)


def cohesion(texts: Iterable[str]) -> Counter[str]:
    """How often each pair of adjacent Han characters occurs in the lesson's own text.

    A pair that recurs (数字, 整合, 推进) is very likely one word; a rare pair is likely a word
    boundary. Counting the transcript itself gives a dictionary-free, topic-aware measure.
    """
    pairs: Counter[str] = Counter()
    for text in texts:
        pairs.update(text[i:i + 2] for i in range(len(text) - 1)
                     if is_cjk(text[i]) and is_cjk(text[i + 1]))
    return pairs


def cut_bonus(text: str, i: int, pairs: Mapping[str, int] | None = None) -> float:
    """How natural a cut before text[i] is: after 、 or a clause mark best, then particles;
    cutting a pair of characters that recurs in the lesson (likely a word) is penalised."""
    before, after = text[i - 1], text[i]
    if before in ZH_ENUM or before in ZH_CLAUSE_END or before in ZH_SENTENCE_END:
        return 5.0
    bonus = 3.0 if before in CUT_AFTER else 2.0 if after in CUT_BEFORE else 0.0
    if pairs:
        bonus -= 1.5 * math.log1p(max(pairs.get(before + after, 0) - 1, 0))
    return bonus


def break_zh(text: str, width: float = ZH_LINE, max_lines: int = MAX_LINES,
             pairs: Mapping[str, int] | None = None) -> list[str]:
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
            score = 0.4 * abs(2 * left - total) / 2 - cut_bonus(text, i, pairs)
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


# Words that begin a phrase: a line (or cue) must not end on one of them, since it leaves the
# reader holding "the", "of" or "and" without what they introduce (BBC guidelines: break at
# phrase boundaries, never between an article or a preposition and its noun).
PHRASE_OPENERS = frozenset((
    "a", "an", "the", "this", "that", "these", "those", "its", "their", "our", "his", "her",
    "my", "your", "of", "in", "on", "at", "to", "for", "from", "with", "by", "as", "into",
    "onto", "upon", "about", "over", "under", "between", "among", "through", "across",
    "after", "before", "during", "without", "within", "against", "toward", "towards", "via",
    "per", "than", "like", "and", "or", "but", "nor", "so", "yet", "if", "whether", "because",
    "while", "when", "where", "which", "who", "whom", "whose"
))
# ... and the preferred places: after punctuation, or before a conjunction or a preposition.
PHRASE_STARTS = frozenset((
    "and", "or", "but", "which", "that", "who", "where", "when", "while", "because", "with",
    "for", "to", "of", "in", "on", "by", "from", "as", "through"
))


def en_break_cost(left: str, right: str) -> float:
    """How bad a break between `left` and `right` is, in characters of imbalance: punctuation
    at the end of `left` is best, a phrase opener there is worst (`PHRASE_OPENERS`)."""
    if not left or not right:
        return 0.0
    if left[-1] in ",;:.?!" or (left[-1] in "”\")" and left[-2:-1] in ",;:.?!"):
        return -8.0
    last = left.rsplit(" ", 1)[-1].strip("\"“”‘’(").lower()
    if last in PHRASE_OPENERS:
        return 12.0
    first = right.split(" ", 1)[0].strip("\"“”‘’(").lower()
    return -3.0 if first in PHRASE_STARTS else 0.0


def break_en(text: str, width: int = EN_LINE, max_lines: int = MAX_LINES) -> list[str]:
    """English lines ≤ `width`, broken between words at phrase boundaries (`en_break_cost`)."""
    if len(text) <= width:
        return [text] if text else []
    spaces = [i for i, c in enumerate(text) if c == " "]
    if max_lines >= 2 and len(text) <= 2 * width + 1:  # else two lines cannot hold it
        best, best_score = -1, math.inf
        for i in spaces:
            left, right = text[:i].rstrip(), text[i + 1:].lstrip()
            if len(left) > width or len(right) > width or not right:
                continue
            score = abs(len(left) - len(right)) / 2 + en_break_cost(left, right)
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
    # a greedy line ending on a phrase opener hands that word to the next line when it fits
    for k in range(len(lines) - 1):
        head, _, last = lines[k].rpartition(" ")
        if head and last.lower() in PHRASE_OPENERS and len(last) + 1 + len(lines[k + 1]) <= width:
            lines[k], lines[k + 1] = head, f"{last} {lines[k + 1]}"
    return lines
