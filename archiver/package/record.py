"""The record of the current package, and how a rerun recognises a package no record names.

One authority for a lesson's package: the package stage's state record
(`lessons/<id>/state/package.json`). Its `PackageDetails` describe the package in
`packages/<id>/` (files, source, version, inputs fingerprint: what the catalog lists); a
failure record keeps that description of the intact package the failure left in place, so
the catalog keeps pointing at it and a rerun with the very inputs of that package recognises
it. The publish journal (publishing.py) is the only other record, and only while a publish
is under way. Archives written before the state record held all of this kept it in
`lessons/<id>/package/current.json`: `current` still reads that file.

The record is written *after* the bag is renamed into place, so a crash in between leaves a
complete package that no record describes. Rather than build an identical second version
(and move the first to `.versions/`), the rerun adopts it: the bag's `bag-info.txt` carries
the inputs fingerprint (`Archiver-Inputs-Fingerprint`), and a bag with the same fingerprint
that validates in full is exactly what a build would make, apart from its time stamps. The
record is rebuilt from the bag itself (its manifest gives every file's sha256, its bag-info
the version and time).

A record is trusted only while it describes the bag in place (same version and Archived-At):
after a crash in a later publish, the record may still describe the version before.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from archiver.errors import Location, PackageError, RecordError
from archiver.model import (
    FileEntry,
    Output,
    PackageDetails,
    PackageFiles,
    PackageSource,
    StageResult,
)
from archiver.model.jsonio import load_record
from archiver.package import bag, chapters, probe
from archiver.package.inputs import PackageInputs
from archiver.pipeline import Context, Done
from archiver.store import Store

STAGE = "package"
LEGACY_RECORD = "current.json"  # written by archivers before the state record held it all


def describes_current(store: Store, lesson_id: str, details: PackageDetails) -> bool:
    """Whether a recorded package is the bag now in `packages/<id>/`."""
    info = bag.info_of(store.package_dir(lesson_id))
    return bool(info) and info.get("Archived-At") == details.archived_at and \
        bag.version_in(info) == details.version


_UNREAD: Any = object()


def current(store: Store, lesson_id: str, loaded: StageResult[Any] | None = _UNREAD
            ) -> tuple[PackageDetails, list[Output]] | None:
    """The recorded description of the package in place (and its files as outputs): from
    the state record (success or failure), else from an older archive's current.json.
    `loaded`: the state record when the caller has already read it (None: there is none)."""
    result = store.load_result(lesson_id, STAGE) if loaded is _UNREAD else loaded
    if result is not None and isinstance(result.details, PackageDetails) and \
            result.details.files is not None:
        return result.details, list(result.outputs)
    return _legacy(store, lesson_id)


def _legacy(store: Store, lesson_id: str) -> tuple[PackageDetails, list[Output]] | None:
    """current.json of an older archive: {package, version, fingerprint, archived_at,
    duration_seconds, previous_versions, files, source, result: <the StageResult>}."""
    path = store.stage_dir(lesson_id, STAGE) / LEGACY_RECORD
    where = Location(path, lesson=lesson_id)
    try:
        saved = json.loads(path.read_text("utf-8"))
        result = StageResult.from_json(saved["result"], where)
        details = result.details
        if not isinstance(details, PackageDetails):
            return None
        details = replace(
            details, fingerprint=str(saved.get("fingerprint") or result.fingerprint),
            duration_seconds=saved.get("duration_seconds"),
            previous_versions=list(saved.get("previous_versions") or []),
            files=load_record(PackageFiles, saved.get("files"), where, "files"),
            source=load_record(PackageSource, saved["source"], where, "source")
            if saved.get("source") else None)
    except (OSError, ValueError, KeyError, TypeError, RecordError):
        return None
    return details, list(result.outputs)


def restored(lesson_id: str, fp: str, details: PackageDetails,
             outputs: list[Output]) -> StageResult[PackageDetails]:
    """A success record for the package in place, rebuilt from a description of it (kept by
    a failure record, or current.json) when these inputs are the ones it was built from."""
    return StageResult(stage=STAGE, lesson=lesson_id, status="ok", fingerprint=fp,
                       outputs=outputs, started=details.archived_at,
                       ended=details.archived_at, details=details)


def adopt(inputs: PackageInputs, ctx: Context) -> Done[PackageDetails] | None:
    """The record of the current package when it was built from these very inputs but no
    record says so (the run that built it was killed before saving it); else None."""
    lesson, store = inputs.lesson, ctx.store
    current_dir = store.package_dir(lesson.id)
    info = bag.info_of(current_dir)
    if not inputs.fingerprint or info.get(bag.FINGERPRINT_FIELD) != inputs.fingerprint:
        return None
    version = bag.version_of(current_dir)
    if version is None or not info.get("Archived-At"):
        return None
    try:
        bag.validate(current_dir, lesson.id)  # in full: after a crash, trust nothing unchecked
    except PackageError as exc:
        ctx.log.warning("not adopted", lesson=lesson.id, stage=STAGE,
                        message=f"the package in place has these inputs but {exc}; rebuilding")
        return None
    files = {rel: {"bytes": (current_dir / "data" / rel).stat().st_size, "sha256": digest}
             for rel, digest in bag.manifest_digests(current_dir).items()}
    report = probe.Report()
    duration = float(probe.ffprobe(inputs.media, report)["format"].get("duration") or 0.0)
    chapter_count = len(chapters.clip_chapters(inputs.chapters, duration))
    return build_result(inputs, ctx, files, report.commands, version,
                        _superseded(current_dir, store, lesson.id), info["Archived-At"],
                        duration, chapter_count,
                        adopted="the package in place was built from these inputs by a run "
                                "that ended before recording it: validated in full, adopted")


def _superseded(current_dir: Path, store: Store, lesson_id: str) -> Path | None:
    """The earlier version the package in place names in its provenance, if it is kept."""
    try:
        doc = json.loads((current_dir / "data" / "provenance.json").read_text("utf-8"))
        supersedes = doc.get("supersedes") if isinstance(doc, dict) else None
    except (OSError, ValueError):
        supersedes = None
    if isinstance(supersedes, str) and "/v" in supersedes:
        candidate = bag.versions_dir(store, lesson_id) / supersedes.rpartition("/")[2]
        return candidate if candidate.is_dir() else None
    return None


def _entries(package: str, files: dict[str, dict[str, Any]], inputs: PackageInputs,
             names: tuple[str, str]) -> PackageFiles:
    def entry(rel: str | None) -> FileEntry | None:
        if rel is None or rel not in files:
            return None
        return FileEntry(f"{package}/data/{rel}", files[rel]["bytes"], files[rel]["sha256"])

    tracks = {t.spec.key: e for t in inputs.tracks
              if (e := entry(f"subtitles/{t.path.name}")) is not None}
    return PackageFiles(
        original=entry(f"original/{inputs.media.name}"),
        master=entry(names[0]), access=entry(names[1]),
        provenance=entry("provenance.json"), videoobject=entry("videoobject.json"),
        capture=entry(f"capture/{inputs.warc.name}" if inputs.warc else None),
        wacz=entry("capture/capture.wacz"),
        capture_record=entry(f"capture/{inputs.capture_json.name}"
                             if inputs.capture_json else None),
        transcript=entry("subtitles/transcript.json"), chapters=entry("subtitles/chapters.json"),
        quality=entry("subtitles/quality.json"), tracks=tracks)


def _names(files: dict[str, dict[str, Any]], lesson_id: str) -> tuple[str, str]:
    """The master and access copy among `files` (an adopted or restored package)."""
    master = next((f"master/{lesson_id}.{s}" for s in ("mkv", "mka")
                   if f"master/{lesson_id}.{s}" in files), f"master/{lesson_id}.mkv")
    access = next((f"access/{lesson_id}.{s}" for s in ("mp4", "m4a")
                   if f"access/{lesson_id}.{s}" in files), f"access/{lesson_id}.mp4")
    return master, access


def _warnings(inputs: PackageInputs, store: Store) -> list[str]:
    warnings = [] if inputs.tracks else ["packaged without subtitle tracks (no subtitles yet)"]
    if inputs.warc is not None and inputs.warc_media is None:
        warnings.append("the capture predates replayable WARCs (the media is a revisit "
                        "record): packaged without a WACZ; `archiver fetch --force` renews it")
    subtitles = store.load_result(inputs.lesson.id, "subtitles")
    if subtitles is not None and subtitles.status == "failed":
        warnings.append(f"the subtitles stage failed ({subtitles.error}); packaged without "
                        "tracks: rerun subtitles, then package, for a version with tracks")
    return warnings


def build_result(inputs: PackageInputs, ctx: Context, files: dict[str, dict[str, Any]],
                 commands: list[list[str]], version: int, moved: Path | None,
                 archived_at: str, duration: float, chapter_count: int,
                 adopted: str | None = None,
                 names: tuple[str, str] | None = None) -> Done[PackageDetails]:
    """What the package stage made (the runner records it) and log it (`packaged`, or
    `adopted` with the reason when a rerun adopted it)."""
    lesson, store = inputs.lesson, ctx.store
    package = f"packages/{lesson.id}"
    # the master's and access copy's payload paths (MKV + MP4, or MKA + M4A when audio-only)
    master_rel, access_rel = names or _names(files, lesson.id)
    outputs = [Output(path=f"{package}/data/{rel}", bytes=info["bytes"], sha256=info["sha256"])
               for rel, info in sorted(files.items())]
    previous_versions = [p.relative_to(store.root).as_posix()
                         for p in sorted(bag.versions_dir(store, lesson.id).glob("v*"))]
    fetch = inputs.fetch
    details = PackageDetails(
        package=package, version=version, archived_at=archived_at,
        previous_version=moved.relative_to(store.root).as_posix() if moved else None,
        master=f"{package}/data/{master_rel}", access=f"{package}/data/{access_rel}",
        provenance=f"{package}/data/provenance.json",
        videoobject=f"{package}/data/videoobject.json",
        premis_events=f"{package}/{bag.PREMIS_FILE}", duration=round(duration, 3),
        chapters=chapter_count, tracks=[t.spec.key for t in inputs.tracks], adopted=adopted,
        fingerprint=inputs.fingerprint, duration_seconds=round(duration, 3),
        previous_versions=previous_versions,
        files=_entries(package, files, inputs, (master_rel, access_rel)),
        source=PackageSource(url=inputs.source_url, kind=inputs.source.kind,
                             captured=fetch.ended or fetch.started,
                             tls=inputs.fetched.tls_summary))
    ctx.log.info("adopted" if adopted else "packaged", lesson=lesson.id, stage=STAGE,
                 version=version, tracks=len(inputs.tracks), chapters=chapter_count)
    return Done(details, outputs, commands, _warnings(inputs, store))
