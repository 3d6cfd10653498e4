"""Character classes shared by the segmenter, the timer and the style rules.

The seed transcripts mix half-width punctuation (`,` `:` `(` `)`) into Chinese text, so every
rule here treats a half-width mark like its full-width twin when it stands in Chinese text;
the characters themselves are never rewritten (the tracks must preserve the transcript).
"""

from __future__ import annotations

import unicodedata

# Marks that end a Chinese sentence / a clause. Half-width twins count the same.
ZH_SENTENCE_END = frozenset("。！？!?…")
ZH_CLAUSE_END = frozenset("，,；;：:")
ZH_ENUM = frozenset("、")
# Netflix/BBC: a line may not start with closing punctuation nor end with opening punctuation.
CLOSING = frozenset("，。、；：？！）》」』】〕〉”’,.;:?!)]}%…")
OPENING = frozenset("《「『【（〔〈“‘([{")
# At a cue's end, Chinese subtitles conventionally drop a full stop or comma (nothing else).
DROPPABLE_AT_CUE_END = frozenset("。，,")


def is_cjk(char: str) -> bool:
    """A Han ideograph (or other wide letter): what 'a Chinese character' means for counting."""
    return unicodedata.east_asian_width(char) in ("W", "F") and unicodedata.category(char)[0] == "L"


def has_cjk(text: str) -> bool:
    return any(is_cjk(c) for c in text)


def display_width(text: str) -> float:
    """Netflix's zh-Hans line measure: a full-width character counts 1, a half-width one 0.5."""
    return sum(1.0 if unicodedata.east_asian_width(c) in ("W", "F") else 0.5 for c in text)


def spoken_count(text: str) -> int:
    """Characters that take speaking time: letters and digits, never punctuation or spaces."""
    return sum(1 for c in text if unicodedata.category(c)[0] in ("L", "N"))


def is_word_char(char: str) -> bool:
    """Latin letters and digits, which must not be split across lines (words, numbers)."""
    return char.isascii() and (char.isalnum() or char in "'-")


def squash(text: str) -> str:
    """The text without any whitespace: what 'preserved, whitespace aside' compares."""
    return "".join(text.split())


def normalize_zh(text: str) -> str:
    """Drop spaces next to CJK characters (kept only between Latin words or numbers).

    The seed has stray spaces around quotes in Chinese (`发布 “数字…`); shown in a subtitle they
    would look like gaps. Preservation compares text with whitespace removed, so this is safe.
    """
    out: list[str] = []
    chars = " ".join(text.split())
    for i, char in enumerate(chars):
        if char == " ":
            before = chars[i - 1] if i else ""
            after = chars[i + 1] if i + 1 < len(chars) else ""
            if not (before and after and before.isascii() and after.isascii()):
                continue
        out.append(char)
    return "".join(out).strip()
