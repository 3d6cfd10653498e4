"""Sentences, clauses and English–Chinese alignment, on hand-checked lesson-13 pairs."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from archiver.subtitles.segment import (
    align,
    en_sentences,
    paragraph_units,
    soft_split,
    zh_clauses,
    zh_sentences,
)
from archiver.subtitles.text import display_width, normalize_zh, spoken_count, squash
from archiver.subtitles.transcript import read_transcript

LESSON13 = Path(__file__).resolve().parent.parent / "manifests/transcripts/digital-china-13.txt"


@pytest.fixture(scope="module")
def paras():  # type: ignore[no-untyped-def]
    return read_transcript(LESSON13)[1]


def test_zh_sentences_and_clauses_with_half_width_marks() -> None:
    text = "建设数字中国是引擎,是支撑。推进建设前景广阔,意义重大,任务艰巨。"
    assert zh_sentences(text) == ["建设数字中国是引擎,是支撑。",
                                  "推进建设前景广阔,意义重大,任务艰巨。"]
    assert zh_clauses("推进建设前景广阔,意义重大,任务艰巨。") == [
        "推进建设前景广阔,", "意义重大,", "任务艰巨。"]


def test_closing_quote_stays_with_its_clause_and_numbers_keep_separators() -> None:
    text = "发布 “数字中国发展报告2022,” 系统总结了成效。共1,000项,时间10:30。"
    sentences = zh_sentences(normalize_zh(text))
    assert zh_clauses(sentences[0]) == ["发布“数字中国发展报告2022,”", "系统总结了成效。"]
    assert zh_clauses(sentences[1]) == ["共1,000项,", "时间10:30。"]


def test_en_sentences_handles_missing_space_and_abbreviations() -> None:
    text = ("Third, ensure financial support.The capital market plays a role. It needs social "
            "(i.e. private) capital. The U.S. Congress met. Done!")
    assert en_sentences(text) == [
        "Third, ensure financial support.", "The capital market plays a role.",
        "It needs social (i.e. private) capital.", "The U.S. Congress met.", "Done!"]


@pytest.mark.parametrize("index, beads", [
    # 00:22: the third Chinese sentence is rendered by two English sentences.
    (0, [([0], [0]), ([1], [1]), ([2], [2, 3])]),
    # 01:50: "一是加强组织领导。" = "First, ..."; one long Chinese sentence = three English.
    (3, [([0], [0]), ([1], [1, 2, 3])]),
    # 04:47 (the third Chinese sentence = the last two English ones).
    (9, [([0], [0]), ([1], [1]), ([2], [2, 3])]),
    # 06:46: two Chinese sentences, one English sentence.
    (14, [([0, 1], [0])]),
    (19, [([0], [0])]),
])
def test_alignment_on_hand_checked_pairs(paras, index: int, beads) -> None:  # type: ignore[no-untyped-def]
    para = paras[index]
    zh = [spoken_count(s) for s in zh_sentences(para.zh)]
    en = [len(s.replace(" ", "")) for s in en_sentences(para.en)]
    assert align(zh, en) == beads


def test_alignment_merges_and_handles_untranslated() -> None:
    assert align([20, 30, 25], [90, 250]) == [([0], [0]), ([1, 2], [1])]  # 2-1
    assert align([20, 30, 25], [90, 135, 112]) == [([0], [0]), ([1], [1]), ([2], [2])]
    assert align([20, 25], [90, 8, 112]) == [([0], [0]), ([1], [1, 2])]  # 1-2
    assert align([20, 25], []) == [([0], []), ([1], [])]  # 1-0: no English at all


def test_untranslated_english_sentence_still_shown() -> None:
    units = paragraph_units(0, "Extra words first. Then the real sentence here.", "一句话。")
    assert squash("".join(u.en for u in units)) == squash(
        "Extra words first. Then the real sentence here.")


def test_units_keep_both_texts_in_order(paras) -> None:  # type: ignore[no-untyped-def]
    for index, para in enumerate(paras):
        units = paragraph_units(index, para.en, para.zh)
        assert squash("".join(u.zh for u in units)) == squash(para.zh)
        assert squash("".join(u.en for u in units)) == squash(para.en)
        assert all(display_width(u.zh) <= 16 for u in units)
        assert units[0].boundary == "paragraph"
    first = paragraph_units(3, paras[3].en, paras[3].zh)[0]
    assert (first.zh, first.en) == ("一是加强组织领导。",
                                    "First, strengthen organizational leadership.")


def test_soft_split_never_cuts_words_or_numbers() -> None:
    text = "国家正式发布的法律部门规章以及配套规范文件就达2022项ABC测试"
    pieces = soft_split(text)
    assert "".join(pieces) == text
    assert all(display_width(p) <= 16 for p in pieces)
    for left, right in itertools.pairwise(pieces):
        assert not (left[-1].isascii() and left[-1].isalnum()
                    and right[0].isascii() and right[0].isalnum())
