"""Transcript readers: the seed's timestamped paragraphs, WebVTT and SRT, into one model.

Like pysubs2, formats live in a table (`READERS`) of a detector and a parser each, so a new
format is one entry. Every reader returns the model's `Paragraph`s (a start, an optional
end, the English and Chinese text, the source line) and every problem is a `SubtitleError`
naming file and line: a transcript is data somebody typed, and they need to find the mistake.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from archiver.errors import Location, SubtitleError
from archiver.model.timed import Paragraph
from archiver.subtitles.text import has_cjk

SEED_TIME = re.compile(r"(?:(\d{1,2}):)?(\d{1,2}):(\d{2})")
TIME_LIKE = re.compile(r"[\d:.,]+")  # a line of only digits and separators is meant as a time
VTT_TIME = re.compile(r"(?:(\d{2,}):)?(\d{2}):(\d{2})\.(\d{3})")
SRT_TIME = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})[,.](\d{3})")
TAG = re.compile(r"<[^>]*>")
LANG_EN = re.compile(r"<lang en[^>]*>(.*?)</lang>", re.DOTALL)


def format_clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60:02d}:{whole % 60:02d}"


def _fail(path: Path | str, line: int, message: str) -> SubtitleError:
    return SubtitleError(message, Location(file=path, line=line))


def _join(lines: list[str], zh: bool) -> str:
    return ("" if zh else " ").join(part.strip() for part in lines).strip()


def _seed_time(line: str, path: Path | str, number: int) -> float:
    """The seconds of a seed timestamp line (`mm:ss` or `hh:mm:ss`), or a located error."""
    match = SEED_TIME.fullmatch(line)
    if not match or int(match.group(3)) >= 60 or (
            match.group(1) is not None and int(match.group(2)) >= 60):
        raise _fail(path, number, f"malformed timestamp {line!r} "
                    "(expected mm:ss or hh:mm:ss)")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def parse_seed(text: str, path: Path | str = "<transcript>") -> list[Paragraph]:
    """The seed's layout: a `mm:ss`/`hh:mm:ss` line, then the paragraph in either language order.

    Blank lines are ignored; a language may span several lines (joined); a line counts as
    Chinese when it holds any Han character.
    """
    paragraphs: list[Paragraph] = []
    current: tuple[float, int] | None = None
    en_lines: list[str] = []
    zh_lines: list[str] = []

    def close(end_line: int) -> None:
        if current is None:
            return
        start, line = current
        en, zh = _join(en_lines, False), _join(zh_lines, True)
        where = f"paragraph at {format_clock(start)}"
        if not en and not zh:
            raise _fail(path, line, f"{where} has empty text")
        if not zh:
            raise _fail(path, line, f"{where} has no Chinese text (lines {line}-{end_line})")
        if not en:
            raise _fail(path, line, f"{where} has no English text (lines {line}-{end_line})")
        paragraphs.append(Paragraph(start=start, en=en, zh=zh, line=line))

    lines = text.lstrip("\ufeff").splitlines()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if TIME_LIKE.fullmatch(line):
            start = _seed_time(line, path, number)
            close(number - 1)
            if paragraphs and start <= paragraphs[-1].start:
                raise _fail(path, number, f"timestamp {line} is not after the previous one "
                            f"({format_clock(paragraphs[-1].start)}, line "
                            f"{paragraphs[-1].line})")
            current, en_lines, zh_lines = (start, number), [], []
            continue
        if current is None:
            raise _fail(path, number, "text before the first timestamp "
                        "(each paragraph starts with a mm:ss line)")
        (zh_lines if has_cjk(line) else en_lines).append(line)
    close(len(lines))
    if not paragraphs:
        raise _fail(path, 1, "no timestamped paragraphs found")
    return paragraphs


def _cue_text(payload: list[str], vtt: bool) -> tuple[str, str]:
    """Split a cue's payload into (en, zh): `<lang en>` spans and non-Han lines are English."""
    joined = "\n".join(payload)
    en_parts = [m.group(1) for m in LANG_EN.finditer(joined)] if vtt else []
    rest = LANG_EN.sub("\n", joined) if vtt else joined
    zh_lines: list[str] = []
    for line in rest.splitlines():
        (zh_lines if has_cjk(TAG.sub("", line)) else en_parts).append(line)
    en = " ".join(" ".join(TAG.sub("", p).split()) for p in en_parts if p.strip())
    zh = "".join(TAG.sub("", line).strip() for line in zh_lines)
    if vtt:
        en, zh = _unescape(en), _unescape(zh)
    return en, zh


def _unescape(text: str) -> str:
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&nbsp;", "\u00a0"), ("&lrm;", "\u200e"),
                         ("&rlm;", "\u200f"), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


def _text_blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """The blank-line separated blocks of `lines`, each with the number of its first line."""
    blocks: list[tuple[int, list[str]]] = []
    block: list[str] = []
    first = 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if not block:
                first = number
            block.append(line.rstrip())
        elif block:
            blocks.append((first, block))
            block = []
    if block:
        blocks.append((first, block))
    return blocks


def _cue_times(timing: str, pattern: re.Pattern[str], path: Path | str,
               number: int) -> tuple[float, float]:
    """Start and end (seconds) of a `start --> end` line, or a located error."""
    left, _, right = timing.partition("-->")
    right_time = right.split()[0] if right.split() else ""
    times = []
    for part in (left.strip(), right_time):
        match = pattern.fullmatch(part)
        if not match:
            raise _fail(path, number, f"malformed timestamp {part!r}")
        groups = [int(g) if g else 0 for g in match.groups()]
        if groups[-2] >= 60 or groups[-3] >= 60:
            raise _fail(path, number, f"malformed timestamp {part!r}")
        times.append(groups[0] * 3600 + groups[1] * 60 + groups[2] + groups[3] / 1000)
    return times[0], times[1]


def _cue_paragraphs(text: str, path: Path | str, vtt: bool) -> list[Paragraph]:
    lines = text.lstrip("\ufeff").splitlines()
    if vtt and (not lines or not re.fullmatch(r"WEBVTT(?:[ \t].*)?", lines[0])):
        raise _fail(path, 1, "not a WebVTT file (the first line must be WEBVTT)")
    blocks = _text_blocks(lines)
    if vtt:
        blocks = blocks[1:]  # the header block
    paragraphs: list[Paragraph] = []
    pattern = VTT_TIME if vtt else SRT_TIME
    for first, block in blocks:
        if vtt and block[0].split()[0] in ("NOTE", "STYLE", "REGION"):
            continue
        index = 0 if "-->" in block[0] else 1
        if index >= len(block) or "-->" not in block[index]:
            raise _fail(path, first, "cue without a timing line (start --> end)")
        number = first + index
        start, end = _cue_times(block[index], pattern, path, number)
        if end <= start:
            raise _fail(path, number, "cue ends before it starts")
        if paragraphs and start < paragraphs[-1].start:
            raise _fail(path, number, "cue starts before the previous cue (not monotonic)")
        en, zh = _cue_text(block[index + 1:], vtt)
        if not en and not zh:
            raise _fail(path, number, "cue has empty text")
        paragraphs.append(Paragraph(start=start, end=end, en=en, zh=zh, line=number))
    if not paragraphs:
        raise _fail(path, 1, "no cues found")
    return paragraphs


def parse_vtt(text: str, path: Path | str = "<vtt>") -> list[Paragraph]:
    return _cue_paragraphs(text, path, vtt=True)


def parse_srt(text: str, path: Path | str = "<srt>") -> list[Paragraph]:
    return _cue_paragraphs(text, path, vtt=False)


Detector = Callable[[Path, str], bool]
Parser = Callable[[str, "Path | str"], list[Paragraph]]

READERS: dict[str, tuple[Detector, Parser]] = {
    "vtt": (lambda p, t: p.suffix.lower() == ".vtt" or t.lstrip("\ufeff").startswith("WEBVTT"),
            parse_vtt),
    "srt": (lambda p, t: p.suffix.lower() == ".srt"
            or bool(re.match(r"\s*\d+\s*\n\s*\d{1,2}:\d{2}:\d{2},\d{3}\s*-->", t)), parse_srt),
    "seed": (lambda p, t: True, parse_seed),
}


MAX_BYTES_FLAG = "--max-transcript-bytes"


def _read_bounded(path: Path, max_bytes: int | None) -> str:
    """The file's text, read no further than `max_bytes` + 1: a transcript over the bound is
    refused before it is held in memory (the size is checked on what is read, not on a stat
    that a growing file or a FIFO would not honour)."""
    with path.open("rb") as handle:
        data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise SubtitleError(f"transcript is larger than {max_bytes} bytes ({MAX_BYTES_FLAG}; "
                            "raise it to accept a longer transcript)",
                            Location(file=path, key=MAX_BYTES_FLAG))
    return data.decode("utf-8")


def read_transcript(path: Path, duration: float | None = None,
                    require_both: bool = True,
                    max_bytes: int | None = None) -> tuple[str, list[Paragraph]]:
    """Read any supported transcript; returns (format name, paragraphs).

    `duration` (media or published length) bounds the timestamps; `require_both` demands both
    languages in every paragraph (the seed always; cue files unless told otherwise);
    `max_bytes` bounds the file (`--max-transcript-bytes`).
    """
    try:
        text = _read_bounded(path, max_bytes)
    except UnicodeDecodeError as exc:
        raise SubtitleError(f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                            Location(file=path)) from None
    except OSError as exc:
        raise SubtitleError(f"cannot read transcript: {exc.strerror}",
                            Location(file=path)) from None
    name = next(n for n, (detect, _) in READERS.items() if detect(path, text))
    paragraphs = READERS[name][1](text, path)
    for para in paragraphs:
        if duration is not None and para.start >= duration:
            raise _fail(path, para.line, f"timestamp {format_clock(para.start)} is beyond the "
                        f"media's duration ({format_clock(duration)})")
        if require_both and not para.zh:
            raise _fail(path, para.line, "cue has no Chinese text")
        if require_both and not para.en:
            raise _fail(path, para.line, "cue has no English text")
    return name, paragraphs
