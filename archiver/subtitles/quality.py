"""The quality report: every style rule checked on every written track, and the timing story.

Rules are measured on what is written (the `TrackCue`s), not on what the builder intended, so
the report is evidence. A rule that could not be met counts as violated with its worst cases
(cue number, time, value, text), which is what a person needs to judge it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from archiver.model.timed import Cue as TrackCue
from archiver.subtitles.lines import EN_LINE, MAX_LINES, ZH_LINE
from archiver.subtitles.style import EN_CPS, FRAME, MAX_DURATION, MIN_DURATION, MIN_GAP, ZH_CPS
from archiver.subtitles.text import (
    CLOSING,
    OPENING,
    display_width,
    is_cjk,
    spoken_count,
    squash,
)
from archiver.subtitles.words import inside_word, split_words
from archiver.subtitles.writers import vtt_time

SCHEMA = "lesson-archiver/subtitles-quality/1"
WORST = 3
Check = Callable[[int, TrackCue, Sequence[TrackCue]], "tuple[float, float] | None"]


def _zh(cue: TrackCue, language: str) -> list[str]:
    return [] if language == "en" else list(cue.lines)


def _en(cue: TrackCue, language: str) -> list[str]:
    return list(cue.lines) if language == "en" else list(cue.en_lines)


def _text(cue: TrackCue) -> str:
    return " ".join(line for line in (*cue.lines, *cue.en_lines))


def _rules(language: str) -> dict[str, tuple[str, Check]]:
    """name -> (what, check); a check returns (value, limit) or None when not applicable.
    A rule is violated when value > limit (limits are maxima; minima are negated)."""
    def dur(c: TrackCue) -> float:
        return max(c.end - c.start, 1e-3)

    def gap(i: int, c: TrackCue, cues: Sequence[TrackCue]) -> tuple[float, float] | None:
        return (-(cues[i + 1].start - c.end), -MIN_GAP + 1e-6) if i + 1 < len(cues) else None

    def starts_closing(lines: list[str]) -> float:
        return float(sum(1 for line in lines if line and line[0] in CLOSING))

    def ends_opening(lines: list[str]) -> float:
        return float(sum(1 for line in lines if line and line[-1] in OPENING))

    return {
        "zh-line-width": (f"Chinese lines ≤ {ZH_LINE:g} (half-width 0.5)", lambda i, c, a: (
            max(display_width(x) for x in _zh(c, language)), ZH_LINE)
            if _zh(c, language) else None),
        "en-line-width": (f"English lines ≤ {EN_LINE}", lambda i, c, a: (
            max(len(x) for x in _en(c, language)), EN_LINE) if _en(c, language) else None),
        "zh-lines": (f"≤ {MAX_LINES} Chinese lines", lambda i, c, a: (
            len(_zh(c, language)), MAX_LINES) if _zh(c, language) else None),
        "en-lines": (f"≤ {MAX_LINES} English lines", lambda i, c, a: (
            len(_en(c, language)), MAX_LINES) if _en(c, language) else None),
        "min-duration": (f"duration ≥ {MIN_DURATION:.3f} s", lambda i, c, a: (
            -dur(c), -MIN_DURATION + 1e-3)),
        "max-duration": (f"duration ≤ {MAX_DURATION:g} s", lambda i, c, a: (
            dur(c), MAX_DURATION + 1e-3)),
        "gap": (f"≥ 2 frames ({MIN_GAP * 1000:.0f} ms at {1 / FRAME:g} fps) between cues", gap),
        "zh-reading-speed": (f"≤ {ZH_CPS:g} Chinese characters/s", lambda i, c, a: (
            spoken_count("".join(_zh(c, language))) / dur(c), ZH_CPS)
            if _zh(c, language) else None),
        "en-reading-speed": (f"≤ {EN_CPS:g} English characters/s", lambda i, c, a: (
            len(" ".join(_en(c, language))) / dur(c), EN_CPS) if _en(c, language) else None),
        "line-start-closing": ("no line starts with closing punctuation", lambda i, c, a: (
            starts_closing([*c.lines, *c.en_lines]), 0.0)),
        "line-end-opening": ("no line ends with opening punctuation", lambda i, c, a: (
            ends_opening([*c.lines, *c.en_lines]), 0.0)),
        "monotonic": ("starts increase, ends after starts", lambda i, c, a: (
            1.0 if c.end <= c.start or (i and c.start < a[i - 1].start) else 0.0, 0.0)),
    }


def check_track(cues: Sequence[TrackCue], duration: float | None,
                language: str, dropped: Sequence[str] = ()) -> dict[str, Any]:
    """Counts of met/violated rules with the worst cases, for one track.

    `language`: "zh-Hans" or "en" (the cue's lines are in that language) or "zh-Hans-en"
    (lines Chinese, en_lines English). `dropped`: per cue, the 。/，not shown at its end."""
    rules: dict[str, Any] = {}
    for name, (what, check) in _rules(language).items():
        met, bad = 0, []
        for i, cue in enumerate(cues):
            result = check(i, cue, cues)
            if result is None:
                continue
            value, limit = result
            if value > limit:
                bad.append((value - limit, i, abs(value)))
            else:
                met += 1
        bad.sort(reverse=True)
        rules[name] = {"rule": what, "met": met, "violated": len(bad), "worst": [
            {"cue": i + 1, "start": vtt_time(round(cues[i].start * 1000)),
             "value": round(v, 3), "text": _text(cues[i])} for _, i, v in bad[:WORST]]}
    if duration is not None:
        late = [i for i, c in enumerate(cues) if c.end > duration + 1e-3]
        rules["within-media"] = {"rule": f"every cue ends by {duration:.3f} s",
                                 "met": len(cues) - len(late), "violated": len(late),
                                 "worst": [{"cue": i + 1, "start": vtt_time(
                                     round(cues[i].start * 1000)), "value": cues[i].end,
                                     "text": _text(cues[i])} for i in late[:WORST]]}
    breaks = zh_breaks(cues, language, dropped)
    return {"cues": len(cues), "rules": rules,
            "violations": sum(r["violated"] for r in rules.values()),
            "mid_word_breaks": len(breaks["mid_word"]), "zh_breaks": breaks}


def zh_breaks(cues: Sequence[TrackCue], language: str,
              dropped: Sequence[str] = ()) -> dict[str, Any]:
    """Every place the Chinese text is broken between two Han characters, by a line break
    inside a cue or by the end of a cue, and those that split a word (jieba, `words`).

    A break is judged in its local context: the cue's own text for a line break, the two
    cues' adjacent lines for a cue break. `mid_word` lists each case as 资本垄/断 (the words
    around the break, `/` where it fell)."""
    lines_checked, cues_checked, cases = 0, 0, []

    def judge(text: str, at: int, i: int, where: str) -> bool:
        if not (0 < at < len(text) and is_cjk(text[at - 1]) and is_cjk(text[at])):
            return False
        if inside_word(text, at):
            pieces, offset, shown = split_words(text), 0, ""
            for piece in pieces:
                if offset < at < offset + len(piece):
                    shown = f"{piece[:at - offset]}/{piece[at - offset:]}"
                offset += len(piece)
            cases.append({"cue": i + 1, "start": vtt_time(round(cues[i].start * 1000)),
                          "where": where, "word": shown})
        return True

    for i, cue in enumerate(cues):
        zh = _zh(cue, language)
        for k in range(1, len(zh)):
            lines_checked += judge("".join(zh), len("".join(zh[:k])), i, "line")
        following = _zh(cues[i + 1], language) if i + 1 < len(cues) else []
        if zh and following and not (i < len(dropped) and dropped[i]):
            cues_checked += judge(zh[-1] + following[0], len(zh[-1]), i, "cue end")
    return {"line_breaks": lines_checked, "cue_breaks": cues_checked, "mid_word": cases}


def preserved(source: str, shown: Sequence[str], dropped: Sequence[str]) -> bool:
    """Does the track hold the source text exactly once, in order (whitespace aside), given
    the characters dropped at cue ends (one entry per cue, '' when none)?"""
    rebuilt = "".join(squash(text) + d for text, d in zip(shown, dropped, strict=True))
    return rebuilt == squash(source)


def summary(report: dict[str, Any]) -> str:
    """The human version of quality.json."""
    timing = report["timing"]
    lines = [f"Subtitles of {report['lesson']}",
             f"timing: {timing['source']}"
             + (f" ({timing['reason']})" if timing.get("reason") else ""),
             f"  paragraphs {timing['paragraphs']}, boundaries {timing['boundaries']}, "
             f"snapped {timing['snapped']}, snap distance mean {timing['snap_mean']:.2f} s "
             f"max {timing['snap_max']:.2f} s, pauses found {timing['pauses']}"
             + (f" by {timing['pause_method']} {timing['pause_levels']}"
                if timing.get("pause_method") else ""),
             *([f"  reading-speed smoothing: cue edges moved {smoothing['edges_moved']} "
                f"(≤ {smoothing['start_bound']:g} s at starts, ≤ {smoothing['end_bound']:g} s "
                f"at ends)"] if (smoothing := timing.get("smoothing")) else []),
             f"text preserved: zh {report['text']['zh_preserved']}, "
             f"en {report['text']['en_preserved']}; dropped at cue ends: "
             f"{report['text']['dropped_at_cue_end'] or 'nothing'}"]
    for track, data in report["tracks"].items():
        lines.append(f"track {track}: {data['cues']} cues, {data['violations']} rule exceptions")
        if "zh_breaks" in data and data["zh_breaks"]["line_breaks"] + \
                data["zh_breaks"]["cue_breaks"]:
            breaks = data["zh_breaks"]
            lines.append(f"  Chinese breaks between Han characters: {breaks['line_breaks']} "
                         f"line, {breaks['cue_breaks']} cue; inside a word: "
                         f"{data['mid_word_breaks']}"
                         + "".join(f"\n      cue {c['cue']} at {c['start']} ({c['where']}): "
                                   f"{c['word']}" for c in breaks["mid_word"][:10]))
        for name, rule in data["rules"].items():
            status = "ok" if not rule["violated"] else f"{rule['violated']} violated"
            lines.append(f"  {name:<20} {rule['met']:>4} met, {status}  ({rule['rule']})")
            for case in rule["worst"]:
                lines.append(f"      cue {case['cue']} at {case['start']}: {case['value']} "
                             f"{case['text'][:60]!r}")
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"
