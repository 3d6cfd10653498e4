"""What the package stage reads: the fetch and subtitles records and the files they name.

The package stage never re-derives anything the earlier stages recorded: the original's
digests come from the fetch record (and are re-checked when the bag is hashed), the track
files are the ones DESIGN.md fixes under `lessons/<id>/subtitles/`. The fingerprint covers
every input that can change a byte of the package (media digest, each subtitle/capture file's
digest, the manifest's metadata and the package format version) and nothing time-dependent,
so an unchanged rerun is recognised without any work.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archiver.errors import Location, PackageError
from archiver.model import Lesson, Series, StageResult
from archiver.store import Store, fingerprint, sha256_file

# Bump when the package layout or muxing changes so that old fingerprints stop matching.
PACKAGE_FORMAT = "lesson-archiver/package/1"


@dataclass(frozen=True)
class TrackSpec:
    """One subtitle track as it appears in the containers (fixed by issue 4)."""

    key: str  # catalog key and file-name language tag
    language: str  # ISO 639-2 code written into the containers
    title: str  # human title (MKV title, MP4 handler_name)
    default: bool
    languages: tuple[str, ...]  # BCP 47 tags of the text (for schema.org and sites)


TRACK_SPECS = (
    TrackSpec("zh-Hans", "chi", "中文", True, ("zh-Hans",)),
    TrackSpec("en", "eng", "English", False, ("en",)),
    TrackSpec("zh-Hans-en", "mul", "中文 + English", False, ("zh-Hans", "en")),
)


@dataclass(frozen=True)
class Track:
    spec: TrackSpec
    path: Path  # the .vtt file


@dataclass(frozen=True)
class Chapter:
    start: float
    end: float
    en: str
    zh: str

    @property
    def title(self) -> str:
        """The chapter title shown by players: Chinese first (the original), then English."""
        return " / ".join(t for t in (self.zh, self.en) if t) or "Chapter"


@dataclass
class PackageInputs:
    lesson: Lesson
    series: Series
    fetch: StageResult
    subtitles: StageResult | None
    media: Path
    media_sha256: str
    media_sha512: str
    media_bytes: int
    capture_json: Path | None
    warc: Path | None
    tracks: list[Track] = field(default_factory=list)
    subtitle_files: list[Path] = field(default_factory=list)  # copied to data/subtitles/
    chapters: list[Chapter] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def source(self) -> dict[str, Any]:
        return dict(self.fetch.details.get("source") or {})

    @property
    def source_url(self) -> str:
        return str(self.source.get("url") or self.fetch.details.get("page_url") or "")


def usable(result: StageResult | None) -> bool:
    return result is not None and result.status in ("ok", "unchanged")


def _in_lesson(store: Store, lesson_id: str, rel: str, key: str) -> Path:
    path = (store.lesson_dir(lesson_id) / rel).resolve()
    if not path.is_file():
        raise PackageError(f"file {path} named by the fetch record does not exist",
                           Location(store.lesson_dir(lesson_id) / "state" / "fetch.json",
                                    lesson=lesson_id, key=key))
    return path


def load_chapters(path: Path, lesson_id: str) -> list[Chapter]:
    """Read `chapters.json` ([{start, end, title: {en, zh}}]); malformed entries are errors."""
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise PackageError(f"cannot read chapters: {exc}", Location(path, lesson=lesson_id)) \
            from None
    if not isinstance(raw, list):
        raise PackageError("expected a list of chapters", Location(path, lesson=lesson_id))
    chapters = []
    for i, item in enumerate(raw):
        try:
            title = item.get("title") or {}
            chapter = Chapter(float(item["start"]), float(item["end"]),
                              str(title.get("en", "")), str(title.get("zh", "")))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PackageError(f"chapter {i} needs numeric start, end and a title {{en, zh}}",
                               Location(path, lesson=lesson_id, key=f"[{i}]")) from None
        if chapter.end == chapter.start:
            continue  # an empty chapter (e.g. a heading at the very end) shows nothing
        if chapter.end < chapter.start:
            raise PackageError(f"chapter {i} ends ({chapter.end}) before it starts "
                               f"({chapter.start})", Location(path, lesson=lesson_id,
                                                              key=f"[{i}]"))
        chapters.append(chapter)
    return chapters


def gather(lesson: Lesson, series: Series, store: Store) -> PackageInputs | None:
    """The package inputs of `lesson`, or None when fetch produced no media."""
    fetch = store.load_result(lesson.id, "fetch")
    if not usable(fetch) or not fetch or not fetch.details.get("media"):
        return None
    details = fetch.details
    for key in ("sha256", "sha512", "bytes"):
        if not details.get(key):
            raise PackageError("fetch record lacks the original's digest/size",
                               Location(store.lesson_dir(lesson.id) / "state" / "fetch.json",
                                        lesson=lesson.id, key=key))
    media = _in_lesson(store, lesson.id, details["media"], "media")
    capture = _in_lesson(store, lesson.id, details["capture"], "capture") \
        if details.get("capture") else None
    warc = _in_lesson(store, lesson.id, details["warc"], "warc") if details.get("warc") else None
    inputs = PackageInputs(lesson=lesson, series=series, fetch=fetch, subtitles=None,
                           media=media, media_sha256=str(details["sha256"]),
                           media_sha512=str(details["sha512"]), media_bytes=int(details["bytes"]),
                           capture_json=capture, warc=warc)
    subtitles = store.load_result(lesson.id, "subtitles")
    if usable(subtitles) and subtitles is not None and subtitles.status != "skipped":
        inputs.subtitles = subtitles
        sub_dir = store.stage_dir(lesson.id, "subtitles")
        for spec in TRACK_SPECS:
            path = sub_dir / f"{lesson.id}.{spec.key}.vtt"
            if not path.is_file():
                raise PackageError(f"subtitles are recorded as done but {path.name} is missing",
                                   Location(path, lesson=lesson.id))
            inputs.tracks.append(Track(spec, path))
        names = [f"{lesson.id}.{s.key}.vtt" for s in TRACK_SPECS] + [
            f"{lesson.id}.zh-Hans.srt", f"{lesson.id}.en.srt", "transcript.json",
            "chapters.json", "quality.json", "quality.txt"]
        inputs.subtitle_files = [sub_dir / n for n in names if (sub_dir / n).is_file()]
        if (sub_dir / "chapters.json").is_file():
            inputs.chapters = load_chapters(sub_dir / "chapters.json", lesson.id)
    inputs.fingerprint = compute_fingerprint(inputs)
    return inputs


def compute_fingerprint(inputs: PackageInputs) -> str:
    """Digest of everything that determines the package (no timestamps)."""
    files = {p.name: sha256_file(p) for p in inputs.subtitle_files}
    for extra in (inputs.capture_json, inputs.warc):
        if extra is not None:
            files[f"capture/{extra.name}"] = sha256_file(extra)
    lesson, series = inputs.lesson, inputs.series
    metadata = [lesson.id, lesson.number, asdict(lesson.title), lesson.released,
                lesson.duration, asdict(lesson.speaker),
                asdict(lesson.synopsis) if lesson.synopsis else None, lesson.page,
                series.id, asdict(series.title), asdict(series.publisher)]
    return fingerprint(PACKAGE_FORMAT, inputs.media_sha256, inputs.media_sha512,
                       inputs.media.suffix, files, metadata,
                       inputs.fetch.details.get("source"), inputs.fetch.details.get("tls"))
