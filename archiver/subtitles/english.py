"""The English-only track's cues: whole English sentences, timed by the Chinese they translate.

The translation is denser than the speech (lesson 13: about 19 English characters per second
of Mandarin), so English cut at the Chinese cue boundaries is shown in slices that end with a
Chinese clause: too fast to read in a quarter of the cues. An English viewer reads sentences,
not clauses, so this track groups its sentences into cues on its own (issue 11 item 7):

- the atoms are English sentences; one too long for two lines is cut into pieces at phrase
  boundaries (`lines.en_break_cost`: after punctuation, never after "the" or "of");
- each sentence is timed by the Chinese speech it translates, from the alignment
  (`segment`): it starts where the first clause it covers starts and ends where the last one
  ends; a piece of a sentence, or a sentence sharing a clause with its neighbour, is placed
  inside the clause by its share of the clause's English;
- a dynamic programme groups consecutive atoms into cues of ≤ 2 lines of 42 characters,
  preferring cues that end at a sentence end, last about 3.5 s and can be read at
  ≤ 20 characters/s counting the silence up to the next speech (`style.display_timing` lets an
  English cue stay on into it, up to 2 frames before the next cue).

The bilingual track keeps the Chinese timing and grouping (`style.make_cues`).
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

from archiver.subtitles.cues import Cue, Unit
from archiver.subtitles.lines import EN_LINE, MAX_LINES, break_en, en_break_cost
from archiver.subtitles.segment import en_sentences
from archiver.subtitles.style import EN_CPS, MAX_DURATION, MIN_GAP

MAX_ATOMS = 4  # sentences (or pieces) per cue at most
FIT = MAX_LINES * EN_LINE
# Sentences are cut into phrases of at most one line, which the grouping then joins into cues
# of up to two lines: finer atoms let a cue end where the speech leaves time (measured on
# lesson 13 over generated speech: 42 gave 26 % of cues over 20 characters/s, 84 gave 32 %).
PIECE = EN_LINE
MID_SENTENCE = 6.0  # cost of a cue that ends inside a sentence (at a phrase boundary)
CPS_WEIGHT = 4.0  # cost per character/s over the limit


@dataclass
class Atom:
    """A sentence or a piece of one, with the speech time it covers."""

    text: str
    start: float
    end: float
    sentence_end: bool  # the atom ends its sentence (a good place to end a cue)
    first: Unit  # the unit its first character comes from (snapping flags for the cue)
    zh_start: int  # where in the paragraph's Chinese its speech starts


def _fits(text: str) -> bool:
    return len(text) <= FIT and len(break_en(text)) <= MAX_LINES


def split_sentence(sentence: str, fit: int = FIT) -> list[str]:
    """A sentence cut at phrase boundaries into pieces that each fit `fit` characters and two
    lines (balanced halves, recursively)."""
    if len(sentence) <= fit and _fits(sentence):
        return [sentence]
    spaces = [i for i, c in enumerate(sentence) if c == " "]
    if not spaces:
        return [sentence]
    middle = len(sentence) / 2
    best = min(spaces, key=lambda i: abs(i - middle) / 4
               + en_break_cost(sentence[:i].rstrip(), sentence[i + 1:].lstrip()))
    return (split_sentence(sentence[:best].strip(), fit)
            + split_sentence(sentence[best:].strip(), fit))


class _Clock:
    """Maps a character offset of a paragraph's English (its units' shares joined with single
    spaces) to the time the Chinese carrying that character is spoken."""

    def __init__(self, units: list[Unit]) -> None:
        self.units: list[Unit] = []
        self.begins: list[int] = []
        self.zh_begins: list[int] = []  # where each unit's Chinese starts in the paragraph's
        self.zh = "".join(u.zh for u in units)
        parts: list[str] = []
        offset = zh_offset = 0
        for unit in units:
            if unit.en:
                self.units.append(unit)
                self.begins.append(offset)
                self.zh_begins.append(zh_offset)
                parts.append(unit.en)
                offset += len(unit.en) + 1
            zh_offset += len(unit.zh)
        self.text = " ".join(parts)

    def zh_at(self, offset: int) -> int:
        """The position in the paragraph's Chinese spoken with the English at `offset` (by
        share inside its clause): which Chinese an English cue is shown over."""
        k = self.unit_index(offset)
        unit, begin = self.units[k], self.begins[k]
        share = min(max(offset - begin, 0), len(unit.en)) / max(len(unit.en), 1)
        return self.zh_begins[k] + round(share * len(unit.zh))

    def unit_index(self, offset: int) -> int:
        return max(0, bisect.bisect_right(self.begins, offset) - 1)

    def at(self, offset: int, edge: str) -> float:
        """The time of the character at `offset`: a clause's own start (or end) when the
        offset is where its English starts (or ends), else inside the clause by share."""
        k = self.unit_index(offset if edge == "start" else max(offset - 1, 0))
        unit, begin = self.units[k], self.begins[k]
        length = max(len(unit.en), 1)
        share = min(max(offset - begin, 0), length) / length
        if edge == "start" and share <= 0.0:
            return unit.start
        if edge == "end" and share >= 1.0:
            return unit.end
        return unit.start + share * (unit.end - unit.start)


def _split_timed(clock: _Clock, begin: int, end: int) -> list[tuple[int, int]]:
    """Spans of `clock.text[begin:end]` (one sentence) that each fit PIECE and two lines, cut
    at phrase boundaries where the two sides' reading speeds come out most even: a piece
    never gets a sliver of time for a long text because the cut fell at the wrong word."""
    text = clock.text[begin:end]
    if len(text) <= PIECE and _fits(text):
        return [(begin, end)]
    spaces = [begin + i for i, c in enumerate(text) if c == " "]
    if not spaces:
        return [(begin, end)]
    start, stop = clock.at(begin, "start"), clock.at(end, "end")

    def score(pos: int) -> float:
        middle = clock.at(pos, "end")
        left, right = pos - begin, end - pos - 1
        speed = max(left / max(middle - start, 0.05), right / max(stop - middle, 0.05))
        return (speed + abs(left - right) / 8
                + en_break_cost(clock.text[begin:pos], clock.text[pos + 1:end]))

    best = min(spaces, key=score)
    return _split_timed(clock, begin, best) + _split_timed(clock, best + 1, end)


def atoms(units: list[Unit]) -> list[Atom]:
    """One paragraph's English atoms, timed (see the module docstring)."""
    clock = _Clock(units)
    if not clock.units:
        return []
    out: list[Atom] = []
    position = 0
    for sentence in en_sentences(clock.text):
        start = clock.text.find(sentence, position)
        if start < 0:  # en_sentences only strips: never happens, but never lose text
            start = position
        spans = _split_timed(clock, start, start + len(sentence))
        for n, (begin, end) in enumerate(spans):
            piece = clock.text[begin:end]
            first = clock.units[clock.unit_index(begin)]
            out.append(Atom(piece, clock.at(begin, "start"), clock.at(end, "end"),
                            n + 1 == len(spans), first, clock.zh_at(begin)))
            start = end
        position = start
    for a, b in itertools.pairwise(out):  # a clause shared by two atoms: never overlap
        if a.end > b.start:
            a.end = b.start = (a.end + b.start) / 2
    for atom in out:
        atom.end = max(atom.end, atom.start + 0.01)
    return out


def _cost(group: list[Atom], following: Atom | None) -> float:
    text = " ".join(a.text for a in group)
    if len(group) > 1 and not _fits(text):
        return math.inf
    speech = max(group[-1].end - group[0].start, 0.01)
    # the cue may stay into the silence after it, up to the next speech
    room = (following.start - MIN_GAP) - group[-1].end if following is not None else 1.0
    shown = min(speech + max(room, 0.0), max(speech, MAX_DURATION))
    cost = 3.0 + 0.3 * abs(speech - 3.5)
    cost += CPS_WEIGHT * max(0.0, len(text) / shown - EN_CPS)
    if len(group) > 1 and speech > MAX_DURATION:
        cost += 100 + 50 * (speech - MAX_DURATION)
    if not group[-1].sentence_end:
        cost += MID_SENTENCE
    return cost


def group_atoms(items: list[Atom]) -> list[list[Atom]]:
    """Best split of one paragraph's atoms into cues (dynamic programming over cut points)."""
    n = len(items)
    best = [0.0] + [math.inf] * n
    back = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(max(0, j - MAX_ATOMS), j):
            if best[i] == math.inf:
                continue
            cost = best[i] + _cost(items[i:j], items[j] if j < n else None)
            if cost < best[j]:
                best[j], back[j] = cost, i
    groups: list[list[Atom]] = []
    j = n
    while j > 0:
        groups.append(items[back[j]:j])
        j = back[j]
    return groups[::-1]


def english_cues(paragraph_units: list[list[Unit]]) -> list[Cue]:
    """The English-only track's cues for every paragraph, in order (speech times: display
    timing and smoothing are applied afterwards, as for every track)."""
    cues: list[Cue] = []
    for index, units in enumerate(paragraph_units):
        chinese = "".join(u.zh for u in units)
        groups = group_atoms(atoms(units))
        if not groups and units:  # no English at all: a cue without text keeps its Chinese
            cues.append(Cue(start=units[0].start, end=units[-1].end, zh=chinese, en="",
                            paragraph=units[0].paragraph))
        for k, group in enumerate(groups):
            text = " ".join(a.text for a in group)
            first = group[0].first
            since = group[0].zh_start if k else 0
            until = groups[k + 1][0].zh_start if k + 1 < len(groups) else len(chinese)
            # `zh`: the Chinese spoken while the cue is up (not written: the track is English
            # only), so a cue can be measured against the speech it is timed by
            cues.append(Cue(start=group[0].start, end=group[-1].end,
                            zh=chinese[since:until], en=text,
                            paragraph=units[0].paragraph if units else index,
                            en_lines=break_en(text), snapped=first.snapped,
                            proportional_start=first.proportional_start))
    return cues
