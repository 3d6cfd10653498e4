"""What the package stage reads: the fetch and subtitles records and the files they name.

The package stage never re-derives anything the earlier stages recorded: the original's
digests come from the fetch record (and are re-checked when the bag is hashed), the track
files and every other subtitle file are the ones the subtitles record names (its `tracks`,
its `outputs`). Records are read typed (`FetchDetails`, `SubtitlesDetails`): a malformed one
is an error naming the file and the key. The fingerprint covers every input that can change a
byte of the package (media digest, each subtitle/capture file's digest, the manifest's
metadata and the package format version) and nothing time-dependent, so an unchanged rerun is
recognised without any work.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archiver.errors import Location, PackageError
from archiver.model import (
    TRACKS,
    Chapter,
    FetchDetails,
    Lesson,
    Series,
    SourceRecord,
    StageResult,
    SubtitlesDetails,
    Track,
    read_chapters_json,
    spoken_language,
)
from archiver.model.jsonio import dump
from archiver.store import Store, fingerprint, sha256_file

# Bump when the package layout or muxing changes so that old fingerprints stop matching.
# 2: captions in videoobject.json carry the track table's BCP 47 tag (zh-Hans-x-en).
PACKAGE_FORMAT = "lesson-archiver/package/2"


@dataclass
class PackageInputs:
    lesson: Lesson
    series: Series
    fetch: StageResult[FetchDetails]
    fetched: FetchDetails
    subtitles: StageResult[SubtitlesDetails] | None
    media: Path
    capture_json: Path | None
    warc: Path | None
    warc_media: Path | None = None  # the media's full records (fetch's capture-media.warc)
    tracks: list[Track] = field(default_factory=list)
    subtitle_files: list[Path] = field(default_factory=list)  # copied to data/subtitles/
    components: list[Path] = field(default_factory=list)  # served video/audio (fetch/original.*)
    chapters: list[Chapter] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def media_sha256(self) -> str:
        return self.fetched.sha256

    @property
    def media_sha512(self) -> str:
        return self.fetched.sha512

    @property
    def media_bytes(self) -> int:
        return self.fetched.bytes

    @property
    def source(self) -> SourceRecord:
        return self.fetched.source

    @property
    def source_url(self) -> str:
        return self.fetched.source_url


def _in_lesson(store: Store, lesson_id: str, rel: str, stage: str, key: str) -> Path:
    """A file a record names, which must be inside the lesson's folder and exist."""
    base = store.lesson_dir(lesson_id).resolve()
    path = (base / rel).resolve()
    where = Location(store.record_path(lesson_id, stage), lesson=lesson_id, key=key)
    if not path.is_relative_to(base):
        raise PackageError(f"the {stage} record names {rel!r}, outside the lesson's folder",
                           where)
    if not path.is_file():
        raise PackageError(f"file {path} named by the {stage} record does not exist", where)
    return path


def gather(lesson: Lesson, series: Series, store: Store) -> PackageInputs | None:
    """The package inputs of `lesson`, or None when fetch produced no media."""
    fetch = store.load_details(lesson.id, FetchDetails)
    if fetch is None or not fetch.succeeded or fetch.details is None:
        return None
    fetched = fetch.details
    media = _in_lesson(store, lesson.id, fetched.media, "fetch", "media")
    capture = _in_lesson(store, lesson.id, fetched.capture, "fetch", "capture") \
        if fetched.capture else None
    warc = _in_lesson(store, lesson.id, fetched.warc, "fetch", "warc") if fetched.warc else None
    warc_media = _in_lesson(store, lesson.id, fetched.warc_media, "fetch", "warc_media") \
        if fetched.warc_media else None
    inputs = PackageInputs(lesson=lesson, series=series, fetch=fetch, fetched=fetched,
                           subtitles=None, media=media, capture_json=capture, warc=warc,
                           warc_media=warc_media)
    inputs.components = [_in_lesson(store, lesson.id, str(c.get("path")), "fetch",
                                    f"details.components[{i}].path")
                         for i, c in enumerate(fetched.components)]
    subtitles = store.load_details(lesson.id, SubtitlesDetails)
    if subtitles is not None and subtitles.succeeded and subtitles.details is not None:
        _add_subtitles(inputs, store, subtitles, subtitles.details)
    inputs.fingerprint = compute_fingerprint(inputs)
    return inputs


def _add_subtitles(inputs: PackageInputs, store: Store,
                   subtitles: StageResult[SubtitlesDetails], made: SubtitlesDetails) -> None:
    """The tracks, the files and the chapters the subtitles record names."""
    lesson_id = inputs.lesson.id
    inputs.subtitles = subtitles
    for spec in TRACKS:
        rel = made.tracks.get(spec.key)
        if rel is None:
            raise PackageError(f"the subtitles record names no {spec.key} track",
                               Location(store.record_path(lesson_id, "subtitles"),
                                        lesson=lesson_id, key=f"details.tracks.{spec.key}"))
        inputs.tracks.append(Track(spec, _in_lesson(store, lesson_id, rel, "subtitles",
                                                    f"details.tracks.{spec.key}")))
    inputs.subtitle_files = [_in_lesson(store, lesson_id, out.path, "subtitles",
                                        f"outputs[{i}]")
                             for i, out in enumerate(subtitles.outputs)]
    chapters = _in_lesson(store, lesson_id, made.chapters, "subtitles", "details.chapters")
    inputs.chapters = read_chapters_json(chapters, lesson_id, PackageError)


def recorded_sha256(path: Path, result: StageResult[Any] | None) -> str:
    """A file's sha256 as the stage that wrote it recorded it (its `outputs`), when the file
    still has the recorded size; otherwise hashed now.

    Why: an unchanged rerun must be recognised without reading the capture again (the media
    WARC is as large as the media). A file changed behind the records' back with its size
    kept is still caught: the bag of the package is validated in full when it is built, and
    `archiver verify` checks the package's own manifests."""
    if result is not None:
        for out in result.outputs:
            if Path(out.path).name == path.name and path.as_posix().endswith(out.path):
                try:
                    if path.stat().st_size == out.bytes:
                        return out.sha256
                except OSError:
                    break
    return sha256_file(path)


def capture_files(inputs: PackageInputs) -> list[Path]:
    """The capture files the package holds: the WARCs, then capture.json."""
    return [p for p in (inputs.warc, inputs.warc_media, inputs.capture_json) if p is not None]


def compute_fingerprint(inputs: PackageInputs) -> str:
    """Digest of everything that determines the package (no timestamps), from the digests
    the earlier stages recorded (`recorded_sha256`)."""
    files = {p.name: recorded_sha256(p, inputs.subtitles) for p in inputs.subtitle_files}
    for extra in capture_files(inputs):
        files[f"capture/{extra.name}"] = recorded_sha256(extra, inputs.fetch)
    for component in inputs.components:
        files[f"original/{component.name}"] = recorded_sha256(component, inputs.fetch)
    lesson, series = inputs.lesson, inputs.series
    metadata = [lesson.id, lesson.number, asdict(lesson.title), lesson.released,
                lesson.duration, asdict(lesson.speaker),
                asdict(lesson.synopsis) if lesson.synopsis else None, lesson.page,
                series.id, asdict(series.title), asdict(series.publisher),
                spoken_language(lesson, series)]
    return fingerprint(PACKAGE_FORMAT, inputs.media_sha256, inputs.media_sha512,
                       inputs.media.suffix, files, metadata, dump(inputs.source),
                       inputs.fetched.tls)
