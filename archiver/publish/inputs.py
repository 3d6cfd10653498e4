"""Read what publish needs from the archive: the catalog, each package's data, the manifest.

Everything is validated here so the page code can trust its input; a malformed file raises a
`PublishError` naming the file, the lesson and the key, and the previous site stays in place.
Paths come from the catalog (relative to the output folder) and fall back to the package layout
fixed in docs/DESIGN.md, so a catalog that omits an optional file still publishes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.errors import Location, PublishError
from archiver.model import Bilingual, Lesson, Manifest, Term
from archiver.store import safe_id

CATALOG_SCHEMA = "lesson-archiver/catalog/1"
TRACKS = ("zh-Hans", "en", "zh-Hans-en")
# our key -> (key path in the catalog's `files`, fallback path inside packages/<id>/data/)
DATA_FILES: dict[str, tuple[tuple[str, ...], str]] = {
    "access": (("access",), "access/{id}.mp4"),
    "transcript": (("transcript",), "subtitles/transcript.json"),
    "chapters": (("chapters",), "subtitles/chapters.json"),
    "provenance": (("provenance",), "provenance.json"),
    "videoobject": (("videoobject",), "videoobject.json"),
    "capture": (("capture_record",), "capture/capture.json"),  # `capture` is the WARC
    **{f"track:{lang}": (("tracks", lang), f"subtitles/{{id}}.{lang}.vtt") for lang in TRACKS},
}
# a lesson packaged before its transcript exists has no tracks, transcript or chapters yet
REQUIRED = {"access", "provenance"}
TAG_FILES = ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")


@dataclass(frozen=True)
class Paragraph:
    start: float
    end: float
    en: str
    zh: str


@dataclass(frozen=True)
class Chapter:
    start: float
    end: float
    title: Bilingual


@dataclass
class LessonData:
    """One catalog lesson with its manifest facts and, when archived, its package data."""

    id: str
    number: int
    status: str
    title: Bilingual
    speaker: Bilingual
    synopsis: Bilingual | None
    released: str | None
    duration_published: str | None
    terms: tuple[Term, ...]
    footnotes: tuple[str, ...]
    entry: dict[str, Any]                       # the catalog entry as read
    source: dict[str, Any] = field(default_factory=dict)
    package: Path | None = None                 # absolute packages/<id>
    files: dict[str, Path] = field(default_factory=dict)   # key -> absolute source path
    paragraphs: list[Paragraph] = field(default_factory=list)
    chapters: list[Chapter] = field(default_factory=list)
    capture: dict[str, Any] = field(default_factory=dict)
    videoobject: dict[str, Any] = field(default_factory=dict)

    @property
    def published(self) -> bool:
        """A lesson gets a page when it has a package: archived, or failed with the previous
        intact package still in place (the catalog keeps pointing at it)."""
        return self.status == "archived" or (self.status == "failed"
                                             and isinstance(self.entry.get("package"), str))

    @property
    def tracks(self) -> list[str]:
        """The subtitle languages this lesson has, in TRACKS order."""
        return [lang for lang in TRACKS if f"track:{lang}" in self.files]


def read_json(path: Path, lesson: str | None = None) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise PublishError("file not found", Location(path, lesson=lesson)) from None
    except UnicodeDecodeError as exc:
        raise PublishError(f"not UTF-8: {exc}", Location(path, lesson=lesson)) from None
    except json.JSONDecodeError as exc:
        raise PublishError(f"not valid JSON: {exc.msg} (column {exc.colno})",
                           Location(path, exc.lineno, lesson)) from None


def bilingual(value: Any) -> Bilingual:
    """A catalog text may be a plain string or `{en, zh}`."""
    if isinstance(value, dict):
        return Bilingual(en=str(value.get("en") or ""), zh=str(value.get("zh") or ""))
    if isinstance(value, str):
        return Bilingual(en=value)
    return Bilingual()


def _seconds(value: Any, path: Path, lesson: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PublishError(f"expected a time in seconds ≥ 0, got {value!r}",
                           Location(path, lesson=lesson, key=key))
    return float(value)


def _text(value: Any, path: Path, lesson: str, key: str) -> str:
    if not isinstance(value, str):
        raise PublishError(f"expected a string, got {value!r}",
                           Location(path, lesson=lesson, key=key))
    return value


def _objects(path: Path, lesson: str, shape: str) -> list[dict[str, Any]]:
    """The JSON list of objects in `path`; anything else is a PublishError naming the item."""
    data = read_json(path, lesson)
    if not isinstance(data, list):
        raise PublishError(f"expected a list of {shape}", Location(path, lesson=lesson))
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise PublishError("expected an object", Location(path, lesson=lesson, key=f"[{i}]"))
    return data


def load_paragraphs(path: Path, lesson: str) -> list[Paragraph]:
    out = []
    for i, item in enumerate(_objects(path, lesson, "{start, end, en, zh}")):
        start = _seconds(item.get("start"), path, lesson, f"[{i}].start")
        end = _seconds(item.get("end"), path, lesson, f"[{i}].end")
        if end < start:
            raise PublishError(f"end {end} is before start {start}",
                               Location(path, lesson=lesson, key=f"[{i}].end"))
        out.append(Paragraph(start, end, _text(item.get("en", ""), path, lesson, f"[{i}].en"),
                             _text(item.get("zh", ""), path, lesson, f"[{i}].zh")))
    return out


def load_chapters(path: Path, lesson: str) -> list[Chapter]:
    out = []
    for i, item in enumerate(_objects(path, lesson, "{start, end, title}")):
        out.append(Chapter(_seconds(item.get("start"), path, lesson, f"[{i}].start"),
                           _seconds(item.get("end", item.get("start")), path, lesson,
                                    f"[{i}].end"),
                           bilingual(item.get("title"))))
    return out


def load_catalog(output: Path) -> dict[str, Any]:
    path = output / "catalog.json"
    if not path.is_file():
        raise PublishError("no catalog yet: run `archiver package` (or `archiver archive`) "
                           "before publishing", Location(path))
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("lessons"), list):
        raise PublishError("expected an object with a `lessons` list", Location(path))
    schema = data.get("schema")
    if schema != CATALOG_SCHEMA:
        raise PublishError(f"unknown catalog schema {schema!r} (expected {CATALOG_SCHEMA})",
                           Location(path, key="schema"))
    return data


def _catalog_path(output: Path, entry: dict[str, Any], keys: tuple[str, ...]) -> Path | None:
    node: Any = entry.get("files") or {}
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and isinstance(node.get("path"), str):
        rel = Path(node["path"])
        if rel.is_absolute() or ".." in rel.parts:
            raise PublishError(f"catalog path {node['path']!r} leaves the output folder",
                               Location(output / "catalog.json", lesson=entry.get("id"),
                                        key="files." + ".".join(keys)))
        return output / rel
    return None


def _locate(output: Path, data: LessonData) -> None:
    """Find every file of a packaged lesson; a missing required file is an error."""
    lid = data.id
    package = output / "packages" / lid
    if isinstance(data.entry.get("package"), str):
        package = output / data.entry["package"]
    data.package = package
    for key, (keys, fallback) in DATA_FILES.items():
        path = _catalog_path(output, data.entry, keys) or package / "data" / fallback.format(
            id=lid)
        if path.is_file():
            data.files[key] = path
        elif key in REQUIRED:
            raise PublishError(f"packaged lesson is missing its {key} file",
                               Location(path, lesson=lid))


def load_lessons(output: Path, catalog: dict[str, Any], manifest: Manifest,
                 only: set[str] | None = None) -> list[LessonData]:
    """Every catalog lesson (in catalog order), merged with the manifest's facts."""
    lessons = []
    for index, entry in enumerate(catalog["lessons"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise PublishError("lesson entry without an id",
                               Location(output / "catalog.json", key=f"lessons[{index}]"))
        lid = safe_id(entry["id"])
        if only is not None and lid not in only:
            continue
        try:
            known: Lesson | None = manifest.lesson(lid)
        except KeyError:
            known = None
        lessons.append(_merge(output, entry, known))
    return lessons


def _merge(output: Path, entry: dict[str, Any], known: Lesson | None) -> LessonData:
    lid = entry["id"]
    title = known.title if known and (known.title.en or known.title.zh) else bilingual(
        entry.get("title"))
    speaker = known.speaker if known and (known.speaker.en or known.speaker.zh) else bilingual(
        entry.get("speaker"))
    synopsis = known.synopsis if known and known.synopsis else (
        bilingual(entry["synopsis"]) if entry.get("synopsis") else None)
    released = (known.released.isoformat() if known and known.released
                else (str(entry["released"]) if entry.get("released") else None))
    duration = known.duration if known and known.duration else (
        str(entry["duration"]) if entry.get("duration") else None)
    raw_number = entry.get("number")
    number = raw_number if isinstance(raw_number, int) else (known.number if known else 0)
    raw_source = entry.get("source")
    data = LessonData(
        id=lid, number=number, status=str(entry.get("status") or "not-fetched"), title=title,
        speaker=speaker, synopsis=synopsis, released=released, duration_published=duration,
        terms=known.terminology if known else (), footnotes=known.footnotes if known else (),
        entry=entry, source=raw_source if isinstance(raw_source, dict) else {})
    if not data.published:
        return data
    _locate(output, data)
    if "transcript" in data.files:
        data.paragraphs = load_paragraphs(data.files["transcript"], lid)
    if "chapters" in data.files:
        data.chapters = load_chapters(data.files["chapters"], lid)
    if "capture" in data.files:
        capture = read_json(data.files["capture"], lid)
        data.capture = capture if isinstance(capture, dict) else {}
    if "videoobject" in data.files:
        video = read_json(data.files["videoobject"], lid)
        data.videoobject = video if isinstance(video, dict) else {}
    read_json(data.files["provenance"], lid)  # must at least be valid JSON(-LD)
    return data
