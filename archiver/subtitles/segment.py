"""Split paragraphs into sentences and clauses, and pair English with the Chinese it translates.

Chinese is what is spoken, so Chinese clauses become the timed units. English sentences are
aligned to Chinese sentences with Gale & Church's length-based dynamic programming (1993:
"A Program for Aligning Sentences in Bilingual Corpora"), with the English/Chinese length
ratio estimated per paragraph because translations vary in verbosity. Within an aligned group
the English is shared out over the Chinese units in proportion to their spoken length, cut
only between words, so every English piece appears with (roughly) the Chinese it renders.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping

from archiver.subtitles.cues import Boundary, Unit
from archiver.subtitles.lines import (
    MAX_LINES,
    PHRASE_OPENERS,
    allowed_break,
    break_en,
    cut_bonus,
)
from archiver.subtitles.text import (
    CLOSING,
    ZH_CLAUSE_END,
    ZH_SENTENCE_END,
    display_width,
    normalize_zh,
    spoken_count,
)

ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "no", "vs", "etc", "i.e",
                           "e.g", "u.s", "u.k", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
                           "sep", "sept", "oct", "nov", "dec", "inc", "ltd", "co"})
# After . ! ? (and closing quotes/brackets): whitespace then a capital/opening mark, or no
# space at all between a lowercase word and a capital ("support.The" occurs in the seed).
EN_BREAK = re.compile(r"(?<=[.!?])[\"”’)\]]*(?:\s+(?=[\"“‘(\[A-Z0-9])|(?=[A-Z][a-z]))")
UNIT_WIDTH = 16.0  # a unit never exceeds one subtitle line; cues are built from whole units

# Gale & Church's bead priors (1-1, 1-0, 0-1, 2-1, 1-2) and variance per character. Chinese
# writers chain clauses with commas where English starts new sentences, so 1-3 beads occur
# too (lesson 13 at 01:50): added with a small prior.
VARIANCE = 6.8
BEAD_PRIORS: dict[tuple[int, int], float] = {
    (1, 1): 0.89, (1, 0): 0.0099 / 2, (0, 1): 0.0099 / 2, (2, 1): 0.089 / 2, (1, 2): 0.089 / 2,
    (1, 3): 0.005, (3, 1): 0.002,
}



def zh_sentences(text: str) -> list[str]:
    """Chinese sentences, each keeping its end mark and any closing quotes after it."""
    return _split(text, ZH_SENTENCE_END)


def zh_clauses(sentence: str) -> list[str]:
    """Clauses of a sentence, split after ，；：(and half-width , ; : outside numbers)."""
    return _split(sentence, ZH_CLAUSE_END)


def _split(text: str, marks: frozenset[str]) -> list[str]:
    pieces: list[str] = []
    begin = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char in marks and not _inside_number(text, i):
            j = i + 1
            while j < len(text) and (text[j] in CLOSING or text[j].isspace()):
                j += 1
            if text[begin:j].strip():
                pieces.append(text[begin:j])
            begin = i = j
            continue
        i += 1
    if text[begin:].strip():
        pieces.append(text[begin:])
    # a piece of punctuation only (a stray leading "，") takes no time: join it to a neighbour
    merged: list[str] = []
    for piece in pieces:
        if merged and (not spoken_count(piece) or not spoken_count(merged[-1])):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def _inside_number(text: str, i: int) -> bool:
    """`1,000`, `10:30` and `2.5` keep their half-width separator."""
    return (text[i] in ",.:" and 0 < i < len(text) - 1
            and text[i - 1].isdigit() and text[i + 1].isdigit())


def en_sentences(text: str) -> list[str]:
    """English sentences; abbreviations such as `i.e.` or `U.S.` do not end one."""
    sentences: list[str] = []
    begin = 0
    for match in EN_BREAK.finditer(text):
        candidate = text[begin:match.start()].strip()
        last_word = (candidate.rstrip(".!?\"”’)]").split()[-1].lower().lstrip("(\"“‘[")
                     if candidate else "")
        if last_word.rstrip(".") in ABBREVIATIONS or re.fullmatch(r"[a-z]", last_word):
            continue
        sentences.append(text[begin:match.end()].strip())
        begin = match.end()
    if text[begin:].strip():
        sentences.append(text[begin:].strip())
    return sentences


def soft_split(clause: str, width: float = UNIT_WIDTH,
               pairs: Mapping[str, int] | None = None) -> list[str]:
    """Cut a clause wider than one line into pieces, at natural places near the middle."""
    if display_width(clause) <= width:
        return [clause]
    total = display_width(clause)
    best, best_score = -1, math.inf
    for i in range(1, len(clause)):
        if not allowed_break(clause, i) or clause[i].isspace():
            continue
        left = display_width(clause[:i])
        if total <= 2 * width and (left > width or total - left > width):
            continue
        score = 0.4 * abs(left - total / 2) - cut_bonus(clause, i, pairs)
        if score < best_score:
            best, best_score = i, score
    if best < 0 and total <= 2 * width:  # two lines cannot hold it: cut anywhere allowed
        return soft_split(clause, total / 2 - 0.5, pairs) if total / 2 - 0.5 >= 1 else [clause]
    if best < 0:
        return [clause]
    return soft_split(clause[:best], width, pairs) + soft_split(clause[best:], width, pairs)


def _bead_cost(zh_len: int, en_len: int, ratio: float, prior: float) -> float:
    mean = (zh_len + en_len / ratio) / 2
    if mean <= 0:
        return math.inf
    delta = (en_len - ratio * zh_len) / math.sqrt(mean * VARIANCE * ratio)
    tail = math.erfc(abs(delta) / math.sqrt(2))  # 2 * (1 - Phi(|delta|))
    return -math.log(prior) - math.log(max(tail, 1e-300))


BAND = 24  # sentences either side of the length-proportional diagonal the alignment explores


def _band(n: int, m: int, width: int) -> list[tuple[int, int]]:
    """Per row i (zh sentences consumed), the range of j (en sentences) the DP keeps.

    Rows follow the diagonal j ≈ i·m/n, each reaching from the previous row's diagonal to the
    next one's, plus `width` either side: consecutive rows always overlap, so every cell stays
    reachable through 1-0/0-1 beads, and (0, 0) and (n, m) are always inside. The total number
    of cells is O(n·width + m): linear, where the full table was n×m."""
    rows = []
    for i in range(n + 1):
        lo = (max(i - 1, 0) * m) // n if n else 0
        hi = -(-(min(i + 1, n) * m) // n) if n else m
        rows.append((max(0, lo - width), min(m, hi + width)))
    return rows


# Beads in the order the previous full-table DP (which pushed costs forward in row order)
# settled ties: from the earliest source cell first.
_PULL_ORDER = sorted(BEAD_PRIORS.items(), key=lambda bead: (-bead[0][0], -bead[0][1]))


def align(zh_lengths: list[int], en_lengths: list[int],
          band: int = BAND) -> list[tuple[list[int], list[int]]]:
    """Gale–Church alignment of sentence lengths: a list of beads (zh indices, en indices).

    A banded DP (`_band`): memory and time linear in the number of sentences (a 65 MB
    transcript's full n×m table took 24 GB). Inside the band it gives exactly what the full
    table gave; paths leaving the band (one language running more than `band` sentences
    ahead of the length-proportional diagonal) are not considered."""
    n, m = len(zh_lengths), len(en_lengths)
    ratio = (sum(en_lengths) / sum(zh_lengths)) if sum(zh_lengths) and sum(en_lengths) else 1.0
    zh_sum = [0, *itertools.accumulate(zh_lengths)]
    en_sum = [0, *itertools.accumulate(en_lengths)]
    rows = _band(n, m, band)
    costs: list[list[float]] = []  # only the last few rows are kept alive (beads reach 3 back)
    back: list[bytearray] = []  # per row, the bead taken into each cell, as 4·di + dj
    inf = math.inf
    for i, (lo, hi) in enumerate(rows):
        row_cost = [inf] * (hi - lo + 1)
        row_back = bytearray(hi - lo + 1)
        if i == 0 and lo == 0:
            row_cost[0] = 0.0
        for j in range(lo, hi + 1):
            best, how = row_cost[j - lo], 0
            for (di, dj), prior in _PULL_ORDER:
                si, sj = i - di, j - dj
                if si < 0 or sj < 0:
                    continue
                if di:
                    s_lo, s_hi = rows[si]
                    if not s_lo <= sj <= s_hi:
                        continue
                    source = costs[si][sj - s_lo]
                else:
                    if sj < lo:
                        continue
                    source = row_cost[sj - lo]
                if source == inf:
                    continue
                total = source + _bead_cost(zh_sum[i] - zh_sum[si], en_sum[j] - en_sum[sj],
                                            ratio, prior)
                if total < best:
                    best, how = total, 4 * di + dj
            row_cost[j - lo], row_back[j - lo] = best, how
        costs.append(row_cost)
        back.append(row_back)
        if i >= 3:
            costs[i - 3] = []
    return _trace(back, rows, n, m)


def _trace(back: list[bytearray], rows: list[tuple[int, int]], n: int,
           m: int) -> list[tuple[list[int], list[int]]]:
    """Follow the beads back from (n, m) to (0, 0): the alignment, in order."""
    beads: list[tuple[list[int], list[int]]] = []
    i, j = n, m
    while i or j:
        how = back[i][j - rows[i][0]]
        di, dj = divmod(how, 4)
        if not how:
            raise AssertionError(f"alignment: no path to ({i}, {j})")  # the band is connected
        beads.append((list(range(i - di, i)), list(range(j - dj, j))))
        i, j = i - di, j - dj
    return beads[::-1]


def _share_english(text: str, weights: list[int]) -> list[str]:
    """Cut `text` between words into len(weights) pieces sized like `weights`."""
    if len(weights) <= 1 or not text:
        return [text] + [""] * (len(weights) - 1) if weights else []
    spaces = [i for i, c in enumerate(text) if c == " "]
    total = sum(weights) or 1
    piece = len(text) / len(weights)
    # Cut preferably where the English pauses too: after a sentence, then after a comma.
    bonus = {".": 0.5 * piece, "?": 0.5 * piece, "!": 0.5 * piece,
             ",": 0.25 * piece, ";": 0.3 * piece, ":": 0.3 * piece}
    pieces: list[str] = []
    begin = 0
    acc = 0
    for weight in weights[:-1]:
        acc += weight
        target = len(text) * acc / total
        best, best_score = begin, math.inf
        for pos in spaces:
            if pos < begin:
                continue
            score = abs(pos - target) - bonus.get(text[pos - 1].strip("\"”’)"), 0.0)
            last = text[text.rfind(" ", 0, pos) + 1:pos].strip("\"“”‘’(").lower()
            if last in PHRASE_OPENERS:  # never end a piece on "the", "of", "and"
                score += 0.5 * piece
            if score < best_score:
                best, best_score = pos, score
        pieces.append(text[begin:best].strip())
        begin = best
    pieces.append(text[begin:].strip())
    return pieces


class TooManySentences(ValueError):
    """A paragraph over `max_sentences` in one language (`--max-paragraph-sentences`)."""

    def __init__(self, language: str, count: int, limit: int) -> None:
        super().__init__(f"{count} {language} sentences, more than {limit}")
        self.language, self.count, self.limit = language, count, limit


def paragraph_units(index: int, en: str, zh: str,
                    pairs: Mapping[str, int] | None = None,
                    max_sentences: int | None = None) -> list[Unit]:
    """The timed units of one paragraph, English attached, in speaking order.

    `pairs`: the lesson's character-pair counts (`lines.cohesion`), to avoid cutting words.
    `max_sentences`: more sentences than this in either language raise `TooManySentences`."""
    sentences = zh_sentences(normalize_zh(zh))
    english = en_sentences(" ".join(en.split()))
    if max_sentences is not None:
        for language, found in (("Chinese", sentences), ("English", english)):
            if len(found) > max_sentences:
                raise TooManySentences(language, len(found), max_sentences)
    sentence_units: list[list[Unit]] = []
    for s_index, sentence in enumerate(sentences):
        units: list[Unit] = []
        for c_index, clause in enumerate(zh_clauses(sentence)):
            for p_index, piece in enumerate(soft_split(clause, UNIT_WIDTH, pairs)):
                kind: Boundary = ("soft" if p_index else "clause" if c_index
                                  else "sentence" if s_index else "paragraph")
                units.append(Unit(zh=piece, weight=spoken_count(piece), paragraph=index,
                                  boundary=kind))
        sentence_units.append(units)
    beads = align([sum(u.weight for u in us) for us in sentence_units],
                  [len(s.replace(" ", "")) for s in english])
    # An English sentence with no Chinese (0-1 bead) joins its neighbour's English.
    groups: list[tuple[list[int], list[str]]] = []
    pending: list[str] = []
    for zh_idx, en_idx in beads:
        texts = [english[k] for k in en_idx]
        if not zh_idx:
            if groups:
                groups[-1][1].extend(texts)
            else:
                pending.extend(texts)
            continue
        groups.append((zh_idx, pending + texts))
        pending = []
    for zh_idx, texts in groups:
        units = [u for k in zh_idx for u in sentence_units[k]]
        shares = _share_english(" ".join(texts), [max(u.weight, 1) for u in units])
        for unit, share in zip(units, shares, strict=True):
            unit.en = share
    return [piece for us in sentence_units for u in us for piece in _fit_english(u, pairs)]


def _fit_english(unit: Unit, pairs: Mapping[str, int] | None) -> list[Unit]:
    """Halve a unit whose English share would not fit two subtitle lines (verbose passages),
    so the Chinese and its English still appear together in cues that respect line limits."""
    if len(break_en(unit.en)) <= MAX_LINES or display_width(unit.zh) < 2:
        return [unit]
    halves = soft_split(unit.zh, display_width(unit.zh) / 2 + 0.5, pairs)
    if len(halves) < 2:
        return [unit]
    first, rest = halves[0], "".join(halves[1:])
    shares = _share_english(unit.en, [max(spoken_count(first), 1), max(spoken_count(rest), 1)])
    a = Unit(zh=first, weight=spoken_count(first), paragraph=unit.paragraph,
             boundary=unit.boundary, en=shares[0])
    b = Unit(zh=rest, weight=spoken_count(rest), paragraph=unit.paragraph, boundary="soft",
             en=shares[1])
    return _fit_english(a, pairs) + _fit_english(b, pairs)
