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
from archiver.model import (
    TRACKS,
    Bilingual,
    Chapter,
    Lesson,
    Manifest,
    Paragraph,
    Term,
    read_chapters_json,
    read_transcript_json,
)
from archiver.store import safe_id

CATALOG_SCHEMA = "lesson-archiver/catalog/1"
# our key -> (key path in the catalog's `files`, fallback path inside packages/<id>/data/)
DATA_FILES: dict[str, tuple[tuple[str, ...], str]] = {
    "access": (("access",), "access/{id}.mp4"),
    "transcript": (("transcript",), "subtitles/transcript.json"),
    "chapters": (("chapters",), "subtitles/chapters.json"),
    "provenance": (("provenance",), "provenance.json"),
    "videoobject": (("videoobject",), "videoobject.json"),
    "capture": (("capture_record",), "capture/capture.json"),  # `capture` is the WARC
    **{f"track:{t.key}": (("tracks", t.key), f"subtitles/{{id}}.{t.suffix}.vtt") for t in TRACKS},
}
# an audio-only lesson's access copy is an M4A (docs/package.md); the catalog names it, this is
# only the fallback when it does not
ACCESS_FALLBACKS = ("access/{id}.mp4", "access/{id}.m4a")
# a lesson packaged before its transcript exists has no tracks, transcript or chapters yet
REQUIRED = {"access", "provenance"}
TAG_FILES = ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")


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
        """The keys of the subtitle tracks this lesson has, in the track table's order."""
        return [t.key for t in TRACKS if f"track:{t.key}" in self.files]


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
        if key == "access" and not path.is_file():
            path = next((candidate for f in ACCESS_FALLBACKS
                         if (candidate := package / "data" / f.format(id=lid)).is_file()), path)
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
        data.paragraphs = read_transcript_json(data.files["transcript"], lid, PublishError)
    if "chapters" in data.files:
        data.chapters = read_chapters_json(data.files["chapters"], lid, PublishError)
    if "capture" in data.files:
        capture = read_json(data.files["capture"], lid)
        data.capture = capture if isinstance(capture, dict) else {}
    if "videoobject" in data.files:
        video = read_json(data.files["videoobject"], lid)
        data.videoobject = video if isinstance(video, dict) else {}
    read_json(data.files["provenance"], lid)  # must at least be valid JSON(-LD)
    return data
