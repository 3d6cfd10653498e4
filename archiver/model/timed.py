"""Timed text that crosses stage boundaries: paragraphs, chapters and track cues.

Defined once here, with the one reader and writer of each hand-off file:
- `transcript.json`: `[{start, end, en, zh}]`, the lesson's paragraphs with their times in
  seconds (the subtitles stage writes it; package copies it and quotes it in the VideoObject;
  publish shows it as the interactive transcript);
- `chapters.json`: `[{start, end, title: {en, zh}}]`, the lesson's parts (subtitles writes
  it; package turns it into container chapters; publish lists it).

One set of validation rules: a list of objects; times are numbers ≥ 0 (not booleans), an
end is never before its start; texts are strings. Every problem names the file, the lesson
and the entry (`[3].end`). Readers raise the caller's error class (`PackageError`,
`PublishError`…) so each stage reports in its own terms; the rules are the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archiver.errors import ArchiverError, Location, RecordError
from archiver.model.manifest import Bilingual


@dataclass(frozen=True)
class Paragraph:
    """One timestamped block of the transcript: English translation and Chinese original.

    `line` is where it starts in the source transcript (1-based; 0 when read back from
    transcript.json); `end` is known for cue-based inputs and once the paragraph is timed.
    """

    start: float
    en: str
    zh: str
    line: int = 0
    end: float | None = None

    @property
    def stop(self) -> float:
        """The end when known, else the start (a paragraph without a known length)."""
        return self.end if self.end is not None else self.start


@dataclass(frozen=True)
class Chapter:
    """One part of a lesson, with its title in both languages."""

    start: float
    end: float
    title: Bilingual

    @property
    def label(self) -> str:
        """The title players show: Chinese first (the original), then English."""
        return " / ".join(t for t in (self.title.zh, self.title.en) if t) or "Chapter"

    @property
    def empty(self) -> bool:
        """A chapter without length (e.g. a heading at the very end): players show nothing."""
        return self.end == self.start


@dataclass(frozen=True)
class Cue:
    """One cue of one track as written: times in seconds, lines of plain text.

    `en_lines` holds the English of a bilingual track's cue (shown after `lines`, marked
    `<lang en>` in WebVTT); other tracks leave it empty.
    """

    start: float
    end: float
    lines: tuple[str, ...]
    en_lines: tuple[str, ...] = ()


# -- writers -----------------------------------------------------------------------------
def transcript_json(paragraphs: Sequence[Paragraph]) -> list[dict[str, Any]]:
    """transcript.json's content: times rounded to milliseconds, text as written."""
    return [{"start": round(p.start, 3), "end": round(p.stop, 3), "en": p.en, "zh": p.zh}
            for p in paragraphs]


def chapters_json(chapters: Sequence[Chapter]) -> list[dict[str, Any]]:
    """chapters.json's content: times rounded to milliseconds."""
    return [{"start": round(c.start, 3), "end": round(c.end, 3),
             "title": {"en": c.title.en, "zh": c.title.zh}} for c in chapters]


def json_bytes(data: Any) -> bytes:
    """How the hand-off files are written: UTF-8, indented, CJK as is, a final newline."""
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode()


# -- readers -----------------------------------------------------------------------------
class _Reader:
    """Validation of one file's entries, raising `error` with file, lesson and key."""

    def __init__(self, path: Path, lesson: str | None, error: type[ArchiverError]) -> None:
        self.path, self.lesson, self.error = path, lesson, error

    def fail(self, message: str, key: str | None = None, line: int | None = None
             ) -> ArchiverError:
        return self.error(message, Location(self.path, line, self.lesson, key))

    def objects(self, shape: str) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            raise self.fail("file not found") from None
        except UnicodeDecodeError as exc:
            raise self.fail(f"not UTF-8: {exc}") from None
        except json.JSONDecodeError as exc:
            raise self.fail(f"not valid JSON: {exc.msg} (column {exc.colno})",
                            line=exc.lineno) from None
        except OSError as exc:
            raise self.fail(f"cannot read: {exc.strerror or exc}") from None
        if not isinstance(data, list):
            raise self.fail(f"expected a list of {shape}")
        for i, item in enumerate(data):
            if not isinstance(item, dict):
                raise self.fail("expected an object", f"[{i}]")
        return data

    def seconds(self, item: dict[str, Any], name: str, i: int) -> float:
        value = item.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail(f"expected a time in seconds ≥ 0, got {value!r}", f"[{i}].{name}")
        return float(value)

    def span(self, item: dict[str, Any], i: int) -> tuple[float, float]:
        start, end = self.seconds(item, "start", i), self.seconds(item, "end", i)
        if end < start:
            raise self.fail(f"end {end:g} is before start {start:g}", f"[{i}].end")
        return start, end

    def text(self, item: dict[str, Any], name: str, key: str) -> str:
        value = item.get(name, "")
        if not isinstance(value, str):
            raise self.fail(f"expected a string, got {value!r}", key)
        return value


def read_transcript_json(path: Path, lesson: str | None = None,
                         error: type[ArchiverError] = RecordError) -> list[Paragraph]:
    """The paragraphs of a transcript.json (see the module docstring for the rules)."""
    reader = _Reader(path, lesson, error)
    paragraphs = []
    for i, item in enumerate(reader.objects("{start, end, en, zh}")):
        start, end = reader.span(item, i)
        paragraphs.append(Paragraph(start=start, end=end,
                                    en=reader.text(item, "en", f"[{i}].en"),
                                    zh=reader.text(item, "zh", f"[{i}].zh")))
    return paragraphs


def read_chapters_json(path: Path, lesson: str | None = None,
                       error: type[ArchiverError] = RecordError) -> list[Chapter]:
    """The chapters of a chapters.json (see the module docstring for the rules)."""
    reader = _Reader(path, lesson, error)
    chapters = []
    for i, item in enumerate(reader.objects("{start, end, title: {en, zh}}")):
        start, end = reader.span(item, i)
        title = item.get("title", {})
        if not isinstance(title, dict):
            raise reader.fail(f"expected a title {{en, zh}}, got {title!r}", f"[{i}].title")
        chapters.append(Chapter(start, end, Bilingual(
            en=reader.text(title, "en", f"[{i}].title.en"),
            zh=reader.text(title, "zh", f"[{i}].title.zh"))))
    return chapters
