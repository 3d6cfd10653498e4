"""Word-aware lines (issue 11 item 6): jieba's words and the manifest's terms are never split
across Chinese lines or cues, nothing breaks before closing punctuation, English breaks at
phrase boundaries, and quality.json counts `mid_word_breaks` (lesson 13: 0)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from archiver.manifest import load_manifest
from archiver.model.timed import Cue as TrackCue
from archiver.subtitles import build_subtitles
from archiver.subtitles.lines import PHRASE_OPENERS, allowed_break, break_en, break_zh
from archiver.subtitles.quality import zh_breaks
from archiver.subtitles.segment import soft_split
from archiver.subtitles.words import boundaries, inside_word, lesson_terms, split_words

ROOT = Path(__file__).resolve().parent.parent
LESSON13 = ROOT / "manifests" / "transcripts" / "digital-china-13.txt"


def test_jieba_words_are_never_split() -> None:
    # the three words the issue found split (资本垄/断, 办/公室, 博/览会)
    assert split_words("坚持资本垄断和办公室博览会") == ["坚持", "资本", "垄断", "和", "办公室",
                                                  "博览会"]
    text = "要防止资本垄断"
    assert inside_word(text, 6) and not allowed_break(text, 6)  # 资本垄/断
    assert not inside_word(text, 5)  # 资本/垄断 is between two words
    assert not inside_word("A办", 1)  # only Han–Han pairs are jieba's business


@pytest.mark.parametrize("text", [
    "各地积极推进数字中国建设办公室博览会资本垄断等工作取得进展",
    "国家数据局联合有关部门共同举办首届数字中国建设峰会和博览会",
    "营造全社会共同关注、积极参与数字中国建设的良好氛围",
])
def test_lines_and_units_break_only_between_words(text: str) -> None:
    cuts = boundaries(text)
    lines = break_zh(text)
    assert len(lines) > 1 and "".join(lines) == text
    offset = 0
    for line in lines[:-1]:
        offset += len(line)
        assert offset in cuts, (lines, split_words(text))
    pieces = soft_split(text, 10.0)
    offset = 0
    for piece in pieces[:-1]:
        offset += len(piece)
        assert offset in cuts, (pieces, split_words(text))


def test_manifest_terms_are_user_words() -> None:
    text = "坚持党总揽全局协调各方"
    assert split_words(text)[:3] != ["坚持", "党总揽全局"]  # jieba alone splits the term
    with lesson_terms(["党总揽全局"]):
        assert split_words(text)[:2] == ["坚持", "党总揽全局"]
        assert not any(allowed_break(text, i) for i in range(3, 7))
    assert split_words(text)[:2] != ["坚持", "党总揽全局"]  # only within the build's block


def test_nothing_breaks_before_closing_punctuation() -> None:
    text = "数字中国建设取得显著成效（第一阶段）”，继续推进数字政府建设。"
    for i, char in enumerate(text):
        if char in "）”，。":
            assert not allowed_break(text, i)


def test_english_breaks_at_phrase_boundaries() -> None:
    # balanced would be "... strengthen the | organizational ...": never after "the"
    lines = break_en("It is necessary to strengthen the organizational leadership firmly")
    assert len(lines) == 2
    assert lines[0].rsplit(" ", 1)[-1] not in PHRASE_OPENERS, lines
    # after a comma is still the best place, and a line may begin with "and"
    assert break_en("We must build the national system well, and then advance all of it") == [
        "We must build the national system well,", "and then advance all of it"]


def test_quality_counts_mid_word_breaks() -> None:
    cues = [TrackCue(0.0, 2.0, ("推进办", "公室建设")), TrackCue(2.1, 4.0, ("博",)),
            TrackCue(4.1, 6.0, ("览会",))]
    report = zh_breaks(cues, "zh-Hans")
    assert report["line_breaks"] == 1 and report["cue_breaks"] == 2
    assert [(c["cue"], c["where"], c["word"]) for c in report["mid_word"]] == [
        (1, "line", "办/公室"), (2, "cue end", "博/览会")]
    # a cue that ended with a dropped 。 does not join the next one's text
    assert zh_breaks(cues, "zh-Hans", ["", "。", ""])["cue_breaks"] == 1


def test_lesson13_has_no_mid_word_break() -> None:
    lesson = next(x for x in load_manifest(ROOT / "manifests" / "digital-china.toml").lessons
                  if x.id == "digital-china-13")
    build = build_subtitles(lesson.id, LESSON13, None, 643.0, footnotes=7,
                            terms=[t.zh for t in lesson.terminology])
    for key in ("zh-Hans", "zh-Hans-en"):
        track = build.quality["tracks"][key]
        assert track["mid_word_breaks"] == 0, track["zh_breaks"]["mid_word"]
        assert track["zh_breaks"]["line_breaks"] > 5
    assert "inside a word: 0" in build.files["quality.txt"].decode()


def test_jieba_starts_quietly_and_caches_in_tmpdir(tmp_path: Path) -> None:
    code = ("from archiver.subtitles.words import split_words; "
            "assert split_words('办公室博览会') == ['办公室', '博览会']")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    for run in range(2):
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "" and proc.stderr == "", (run, proc.stderr)
        cache = tmp_path / "jieba.cache"
        assert cache.is_file()
        if run == 0:
            first = cache.stat().st_mtime_ns
    assert cache.stat().st_mtime_ns == first  # the second start loaded it, did not rebuild
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jieba.cache"]
