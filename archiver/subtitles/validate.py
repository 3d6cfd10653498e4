"""A strict WebVTT checker (W3C WebVTT syntax), independent of our writer and of webvtt-py.

Writing and checking with the same code would hide the same mistake twice; this module
re-reads the bytes and applies the specification's syntax rules: signature line, header,
blank-line separated blocks, exact timestamps, known cue settings, increasing start times,
balanced known tags, valid character references, UTF-8. It returns every problem with its
line number rather than stopping at the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

TIMESTAMP = r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})"
TIMING = re.compile(rf"{TIMESTAMP}[ \t]+-->[ \t]+{TIMESTAMP}((?:[ \t]+\S+)*)[ \t]*")
SETTING = re.compile(r"(vertical:(?:rl|lr)|line:-?\d+(?:\.\d+)?%?(?:,(?:start|center|end))?"
                     r"|position:\d+(?:\.\d+)?%(?:,(?:line-left|center|line-right))?"
                     r"|size:\d+(?:\.\d+)?%|align:(?:start|center|end|left|right)|region:\S+)")
TAG = re.compile(r"<(/?)([a-z]*|\d[\d:.]*)((?:\.[^\s.>]+)*)(?:[ \t]([^>]*))?>")
KNOWN_TAGS = {"c", "i", "b", "u", "ruby", "rt", "v", "lang"}
REFERENCE = re.compile(r"&(?:amp|lt|gt|lrm|rlm|nbsp|#\d+|#x[0-9a-fA-F]+);")


def _seconds(groups: tuple[str | None, ...]) -> float:
    hours, minutes, secs, millis = (int(g) if g else 0 for g in groups)
    return hours * 3600 + minutes * 60 + secs + millis / 1000


def _check_text(line: str, number: int, stack: list[str], problems: list[str]) -> None:
    pos = 0
    while pos < len(line):
        char = line[pos]
        if char == "<":
            match = TAG.match(line, pos)
            if not match:
                problems.append(f"line {number}: unescaped '<' or malformed tag")
                return
            closing, name = match.group(1), match.group(2)
            if name and name[0].isdigit():
                pos = match.end()
                continue
            if name not in KNOWN_TAGS:
                problems.append(f"line {number}: unknown tag <{closing}{name}>")
            elif closing:
                if not stack or stack[-1] != name:
                    problems.append(f"line {number}: </{name}> does not close an open <{name}>")
                else:
                    stack.pop()
            else:
                if name in ("lang", "v") and not (match.group(4) or "").strip():
                    problems.append(f"line {number}: <{name}> needs an annotation")
                stack.append(name)
            pos = match.end()
        elif char == "&":
            if not REFERENCE.match(line, pos):
                problems.append(f"line {number}: unescaped '&'")
            pos += 1
        elif char == ">":
            problems.append(f"line {number}: unescaped '>' (write &gt;)")
            pos += 1
        else:
            pos += 1


def _decoded_lines(data: bytes) -> list[str] | str:
    """The file's lines (BOM dropped, any newline convention), or why it cannot be read."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte {exc.start}: not UTF-8"
    text = text.removeprefix("\ufeff")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.split("\n")


def _check_header(lines: list[str], problems: list[str]) -> int:
    """Check the header lines after the signature; returns the index of the first line after."""
    number = 1
    if number < len(lines) and lines[number] != "":
        # what the W3C parser reports as "No blank line after the signature"
        problems.append(f"line {number + 1}: no blank line after the signature (header lines "
                        "are not WebVTT: put metadata in a NOTE block)")
        while number < len(lines) and lines[number] != "":
            number += 1
    return number


def _blocks(lines: list[str], number: int) -> Iterator[tuple[int, list[str]]]:
    """The blank-line separated blocks from index `number` on, each with its first index."""
    while number < len(lines):
        while number < len(lines) and lines[number] == "":
            number += 1
        block_start = number
        block: list[str] = []
        while number < len(lines) and lines[number] != "":
            block.append(lines[number])
            number += 1
        if not block:
            return
        yield block_start, block


def _check_payload(payload: list[str], line_no: int, problems: list[str]) -> None:
    """A cue's text lines: no -->, known balanced tags, escaped characters, not empty."""
    stack: list[str] = []
    for offset, line in enumerate(payload, start=1):
        if "-->" in line:
            problems.append(f"line {line_no + offset}: cue text contains -->")
        _check_text(line, line_no + offset, stack, problems)
    if stack:
        problems.append(f"line {line_no}: unclosed tag(s) {stack}")
    if not any(line.strip() for line in payload):
        problems.append(f"line {line_no}: cue without text")


def _check_cue(block_start: int, block: list[str], previous_start: float,
               problems: list[str]) -> float | None:
    """Check one cue block; returns its start time, or None when it is not a (readable) cue."""
    timing_index = 0 if "-->" in block[0] else 1
    if timing_index >= len(block) or "-->" not in block[timing_index]:
        problems.append(f"line {block_start + 1}: block without cue timings")
        return None
    line_no = block_start + timing_index + 1
    match = TIMING.fullmatch(block[timing_index])
    if not match:
        problems.append(f"line {line_no}: malformed cue timings {block[timing_index]!r}")
        return None
    start, end = _seconds(match.groups()[0:4]), _seconds(match.groups()[4:8])
    if end <= start:
        problems.append(f"line {line_no}: cue ends at or before its start")
    if start < previous_start:
        problems.append(f"line {line_no}: cue starts before the previous cue")
    for setting in (match.group(9) or "").split():
        if not SETTING.fullmatch(setting):
            problems.append(f"line {line_no}: unknown cue setting {setting!r}")
    _check_payload(block[timing_index + 1:], line_no, problems)
    return start


def check_vtt(data: bytes) -> list[str]:
    """Every syntax problem of a WebVTT file; an empty list means valid."""
    lines = _decoded_lines(data)
    if isinstance(lines, str):
        return [lines]
    if not re.fullmatch(r"WEBVTT(?:[ \t].*)?", lines[0]):
        return ["line 1: the file must start with WEBVTT"]
    problems: list[str] = []
    previous_start = -1.0
    cues = 0
    for block_start, block in _blocks(lines, _check_header(lines, problems)):
        if block[0].startswith("NOTE") and block[0][4:5] in ("", " ", "\t"):
            if any("-->" in line for line in block):
                problems.append(f"line {block_start + 1}: a NOTE must not contain -->")
            continue
        start = _check_cue(block_start, block, previous_start, problems)
        if start is not None:
            previous_start = start
            cues += 1
    if cues == 0:
        problems.append("the file has no cues")
    return problems
