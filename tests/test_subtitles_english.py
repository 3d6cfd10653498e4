"""The English-only track (issue 11 item 7): its own cues of whole sentences, timed by the
aligned Chinese speech, staying into the following silence up to 2 frames before the next
speech; the bilingual track keeps the Chinese timing."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from archiver.subtitles import build_subtitles
from archiver.subtitles.build import SubtitleBuild
from archiver.subtitles.cues import Unit
from archiver.subtitles.english import FIT, atoms, english_cues, split_sentence
from archiver.subtitles.lines import PHRASE_OPENERS, break_en
from archiver.subtitles.segment import en_sentences
from archiver.subtitles.style import EN_CPS, MIN_GAP, display_timing, make_cues
from archiver.subtitles.text import squash

ROOT = Path(__file__).resolve().parent.parent
LESSON13 = ROOT / "manifests" / "transcripts" / "digital-china-13.txt"


def unit(zh: str, en: str, start: float, end: float, boundary: str = "clause") -> Unit:
    return Unit(zh=zh, weight=len(zh), paragraph=0, boundary=boundary,  # type: ignore[arg-type]
                en=en, start=start, end=end)


# Two sentences over three clauses; the second sentence starts inside the second clause's
# English, and the paragraph is followed by 3 s of silence.
UNITS = [unit("第一句话，", "The first sentence is short.", 0.0, 1.0, "paragraph"),
         unit("第二句话", "The second one", 1.2, 2.0),
         unit("很长。", "is longer than that.", 2.2, 3.0)]


def test_sentences_are_timed_by_the_clauses_they_cover() -> None:
    found = atoms(UNITS)
    assert [a.text for a in found] == ["The first sentence is short.",
                                       "The second one is longer than that."]
    assert (found[0].start, found[0].end) == (0.0, 1.0)  # starts with clause 1, ends with it
    assert (found[1].start, found[1].end) == (1.2, 3.0)  # clause 2's start to clause 3's end
    assert all(a.sentence_end for a in found)


def test_en_cues_group_sentences_and_stay_into_the_silence() -> None:
    cues = english_cues([UNITS])
    assert [c.en for c in cues] == [" ".join(u.en for u in UNITS)]  # 64 chars: one cue
    following = unit("下一段。", "Next.", 6.0, 7.0, "paragraph")
    cues = english_cues([UNITS, [following]])
    display_timing(cues, 10.0, "en")
    first, second = cues
    # 64 characters need 3.2 s at 20/s: the cue stays on after the speech ends (3.0 s), into
    # the silence, but not into the next speech's 2-frame gap
    assert first.start == 0.0 and first.end == pytest.approx(3.2)
    assert second.start - first.end >= MIN_GAP - 1e-9
    # with the next speech close, it stops 2 frames before it
    close = english_cues([UNITS, [unit("下一段。", "Next.", 3.15, 4.4, "paragraph")]])
    display_timing(close, 10.0, "en")
    assert close[0].end == pytest.approx(3.15 - MIN_GAP)


def test_a_long_sentence_is_cut_at_phrase_boundaries() -> None:
    sentence = ("Digital China construction must adhere to the overall leadership of the Party "
                "Central Committee, strengthen overall planning and systemic implementation, "
                "and ensure that the construction of the digital infrastructure of the nation "
                "proceeds in an orderly way.")
    pieces = split_sentence(sentence)
    assert len(pieces) >= 3 and " ".join(pieces) == sentence
    for piece in pieces:
        assert len(piece) <= FIT and len(break_en(piece)) <= 2
    for piece in pieces[:-1]:
        assert piece.rsplit(" ", 1)[-1].lower() not in PHRASE_OPENERS, pieces


@pytest.fixture(scope="module")
def build() -> SubtitleBuild:
    return build_subtitles("digital-china-13", LESSON13, None, 643.0, footnotes=7)


def test_lesson13_en_track_is_whole_sentences(build: SubtitleBuild) -> None:
    cues = build.track_cues["en"]
    text = " ".join(c.en for c in cues)
    assert squash(text) == squash(" ".join(p.en for p in build.paragraphs))
    sentences = [s for p in build.paragraphs for s in en_sentences(" ".join(p.en.split()))]
    ends_sentence = 0
    for cue in cues:  # a cue ends a sentence, or inside one at a phrase boundary
        if cue.en[-1] in ".?!”\")":
            ends_sentence += 1
        else:
            tail = cue.en.rsplit(" ", 2)[-2:]
            assert any(" ".join(tail) in s for s in sentences), cue.en
            assert tail[-1].lower() not in PHRASE_OPENERS, cue.en
    assert ends_sentence >= 0.6 * len(sentences)  # most sentences end with their cue (57 of 66)
    for a, b in itertools.pairwise(cues):
        assert b.start >= a.start and b.start - a.end >= MIN_GAP - 1e-6


def test_lesson13_bilingual_keeps_the_chinese_timing(build: SubtitleBuild) -> None:
    bilingual = build.track_cues["zh-Hans-en"]
    zh_units = {round(u.start, 6) for c in build.track_cues["zh-Hans"] for u in [c]}
    # every bilingual cue starts where a Chinese clause starts (its own grouping of them)
    starts = {round(c.start, 6) for c in bilingual}
    assert starts & zh_units
    report = build.quality["tracks"]["en"]["rules"]["en-reading-speed"]
    share = report["violated"] / (report["violated"] + report["met"])
    print(f"\nlesson 13 (no media): en cues over {EN_CPS:g} characters/s: "
          f"{report['violated']} of {report['violated'] + report['met']} ({share:.1%})")
    assert report["violated"] == 0 or report["worst"][0]["value"] > EN_CPS


def test_bilingual_cues_are_the_chinese_units_grouping() -> None:
    both = make_cues([UNITS], "both")
    assert both[0].start == 0.0 and both[-1].end == 3.0
    assert {c.start for c in both} <= {u.start for u in UNITS}
