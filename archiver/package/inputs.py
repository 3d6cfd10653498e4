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

import contextlib
import os
import stat
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


class _LessonFiles:
    """The files a lesson's records name, each checked to be a regular file inside the
    lesson's folder (symlinks resolved), with its size.

    Why a class: a rerun checks ~16 files per lesson. A full `resolve()` lstats every folder up
    to the root for each of them; here one `lstat` per file proves it is not a symlink, and
    each folder between the lesson's folder and the file is checked once per lesson (only a
    symlink, seen in either, falls back to a full resolve). The size is kept so that
    `recorded_sha256` needs no second stat.
    """

    def __init__(self, store: Store, lesson_id: str) -> None:
        self.store, self.lesson_id = store, lesson_id
        self.base = store.lesson_dir(lesson_id).resolve()
        self.sizes: dict[Path, int] = {}
        self._plain_dirs: set[str] = set()

    def _plain(self, rel: str) -> bool:
        """Whether no folder on the way from the lesson's folder to `rel` is a symlink."""
        parts = rel.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder in self._plain_dirs:
                continue
            if not stat.S_ISDIR(os.lstat(f"{self.base}/{folder}").st_mode):
                return False
            self._plain_dirs.add(folder)
        return True

    def get(self, rel: str, stage: str, key: str) -> Path:
        """The file `rel` names, which must be inside the lesson's folder and exist."""
        where = Location(self.store.record_path(self.lesson_id, stage), lesson=self.lesson_id,
                         key=key)
        if "\0" in rel:  # no file has such a name (and os calls refuse it with ValueError)
            raise PackageError(f"the {stage} record names {rel!r}, which no file can be named",
                               where)
        info = None
        with contextlib.suppress(OSError):
            if rel and not rel.startswith("/") and ".." not in rel.split("/") \
                    and self._plain(rel):
                info = os.lstat(f"{self.base}/{rel}")
        if info is not None and stat.S_ISREG(info.st_mode):
            path = self.base / rel
        else:  # a symlink somewhere, a missing file or an odd name: the careful way
            path = (self.base / rel).resolve()
            if not path.is_relative_to(self.base):
                raise PackageError(f"the {stage} record names {rel!r}, outside the lesson's "
                                   "folder", where)
            try:
                info = path.stat()
            except OSError:
                info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            raise PackageError(f"file {path} named by the {stage} record does not exist",
                               where)
        self.sizes[path] = info.st_size
        return path


def gather(lesson: Lesson, series: Series, store: Store) -> PackageInputs | None:
    """The package inputs of `lesson`, or None when fetch produced no media."""
    fetch = store.load_details(lesson.id, FetchDetails)
    if fetch is None or not fetch.succeeded or fetch.details is None:
        return None
    fetched = fetch.details
    files = _LessonFiles(store, lesson.id)
    media = files.get(fetched.media, "fetch", "media")
    capture = files.get(fetched.capture, "fetch", "capture") if fetched.capture else None
    warc = files.get(fetched.warc, "fetch", "warc") if fetched.warc else None
    warc_media = files.get(fetched.warc_media, "fetch", "warc_media") \
        if fetched.warc_media else None
    inputs = PackageInputs(lesson=lesson, series=series, fetch=fetch, fetched=fetched,
                           subtitles=None, media=media, capture_json=capture, warc=warc,
                           warc_media=warc_media)
    inputs.components = [files.get(str(c.get("path")), "fetch", f"details.components[{i}].path")
                         for i, c in enumerate(fetched.components)]
    subtitles = store.load_details(lesson.id, SubtitlesDetails)
    if subtitles is not None and subtitles.succeeded and subtitles.details is not None:
        _add_subtitles(inputs, store, subtitles, subtitles.details, files)
    inputs.fingerprint = compute_fingerprint(inputs, files.sizes)
    return inputs


def _add_subtitles(inputs: PackageInputs, store: Store,
                   subtitles: StageResult[SubtitlesDetails], made: SubtitlesDetails,
                   files: _LessonFiles) -> None:
    """The tracks, the files and the chapters the subtitles record names."""
    lesson_id = inputs.lesson.id
    inputs.subtitles = subtitles
    for spec in TRACKS:
        rel = made.tracks.get(spec.key)
        if rel is None:
            raise PackageError(f"the subtitles record names no {spec.key} track",
                               Location(store.record_path(lesson_id, "subtitles"),
                                        lesson=lesson_id, key=f"details.tracks.{spec.key}"))
        inputs.tracks.append(Track(spec, files.get(rel, "subtitles",
                                                   f"details.tracks.{spec.key}")))
    inputs.subtitle_files = [files.get(out.path, "subtitles", f"outputs[{i}]")
                             for i, out in enumerate(subtitles.outputs)]
    chapters = files.get(made.chapters, "subtitles", "details.chapters")
    inputs.chapters = read_chapters_json(chapters, lesson_id, PackageError)


def recorded_sha256(path: Path, result: StageResult[Any] | None,
                    size: int | None = None) -> str:
    """A file's sha256 as the stage that wrote it recorded it (its `outputs`), when the file
    still has the recorded size (`size`: already known, else stat now); otherwise hashed now.

    Why: an unchanged rerun must be recognised without reading the capture again (the media
    WARC is as large as the media). A file changed behind the records' back with its size
    kept is still caught: the bag of the package is validated in full when it is built, and
    `archiver verify` checks the package's own manifests."""
    if result is not None:
        posix = path.as_posix()
        for out in result.outputs:
            if posix.endswith("/" + out.path):
                try:
                    actual = path.stat().st_size if size is None else size
                except OSError:
                    break
                if actual == out.bytes:
                    return out.sha256
                break
    return sha256_file(path)


def capture_files(inputs: PackageInputs) -> list[Path]:
    """The capture files the package holds: the WARCs, then capture.json."""
    return [p for p in (inputs.warc, inputs.warc_media, inputs.capture_json) if p is not None]


def compute_fingerprint(inputs: PackageInputs, sizes: dict[Path, int] | None = None) -> str:
    """Digest of everything that determines the package (no timestamps), from the digests
    the earlier stages recorded (`recorded_sha256`; `sizes`: the files' sizes, when known)."""
    known = sizes or {}
    files = {p.name: recorded_sha256(p, inputs.subtitles, known.get(p))
             for p in inputs.subtitle_files}
    for extra in capture_files(inputs):
        files[f"capture/{extra.name}"] = recorded_sha256(extra, inputs.fetch, known.get(extra))
    for component in inputs.components:
        files[f"original/{component.name}"] = recorded_sha256(component, inputs.fetch,
                                                              known.get(component))
    lesson, series = inputs.lesson, inputs.series
    metadata = [lesson.id, lesson.number, asdict(lesson.title), lesson.released,
                lesson.duration, asdict(lesson.speaker),
                asdict(lesson.synopsis) if lesson.synopsis else None, lesson.page,
                series.id, asdict(series.title), asdict(series.publisher),
                spoken_language(lesson, series)]
    return fingerprint(PACKAGE_FORMAT, inputs.media_sha256, inputs.media_sha512,
                       inputs.media.suffix, files, metadata, dump(inputs.source),
                       inputs.fetched.tls)
