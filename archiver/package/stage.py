"""The package stage (`PACKAGE`): fetched media and subtitles become a BagIt package.

Steps: gather the fetch/subtitles records (no media: "skipped"); if the fingerprint of the
inputs matches the recorded package in place, the runner returns it ("unchanged", no work at
all; `reuse`); otherwise, in a
staging folder: copy the original, the capture and the subtitle files, write the ffmetadata
(tags + chapters) and the attached provenance, mux the MKV master and the MP4 access copy,
check both (probe.py; any mismatch fails the lesson and the staging folder, with the bad
outputs, is removed), write the package provenance and the VideoObject, make the bag, validate
it, and swap it into `packages/<id>/` (the previous version moves to `.versions`,
publishing.py). A run killed after that swap but before its records were saved is finished by
the next one: `publishing.recover` completes the move, `record.adopt` recognises the bag by the
inputs fingerprint in its bag-info instead of building an identical second version.
Nothing is ever written under a final name before it is complete, so a failure leaves the
previous package exactly as it was, and its failure record keeps the description of that
intact package (`kept`). The catalog is rebuilt after every outcome (`finish`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from archiver.errors import Location, MuxError, PackageError
from archiver.model import (
    Lesson,
    PackageDetails,
    PackageSkip,
    StageResult,
    spoken_language,
    utcnow,
)
from archiver.package import (
    access,
    bag,
    catalog,
    chapters,
    events,
    master,
    mux,
    probe,
    provenance,
    publishing,
    record,
    wacz,
)
from archiver.package.inputs import PackageInputs, gather
from archiver.pipeline import Context, Done, Kept, LessonStage, Plan, Skip, run_stage
from archiver.store import atomic_write_json, atomic_write_text, fsync_dir, sha256_file

STAGE = "package"


@contextlib.contextmanager
def _disk_errors(lesson_id: str) -> Iterator[None]:
    """Disk full, permissions...: a clear PackageError naming the file, not a crash."""
    try:
        yield
    except OSError as exc:
        raise PackageError(f"cannot write the package: {exc.strerror or exc}",
                           Location(exc.filename, lesson=lesson_id)) from exc


class PackageStage(LessonStage[PackageDetails, PackageInputs]):
    """Package one lesson (see the module docstring)."""

    name = STAGE
    tools = ("lesson-archiver", "bagit-python", "wacz", "ffmpeg", "ffprobe", "ffmpeg-python",
             "mkvmerge", "mkvextract", "mkvpropedit")

    def plan(self, lesson: Lesson, ctx: Context) -> Plan[PackageInputs]:
        with _disk_errors(lesson.id):
            # first of all (the run lock is held): finish a publish a crash interrupted,
            # before anything removes the staging folder that may hold the previous version
            moved = publishing.recover(ctx.store, lesson.id)
            if moved is not None:
                ctx.log.info("publish completed", lesson=lesson.id, stage=STAGE,
                             message="an interrupted publish was completed; previous version "
                                     f"in {moved.relative_to(ctx.store.root).as_posix()}")
            inputs = gather(lesson, ctx.manifest.series, ctx.store)
        if inputs is None:
            reason = ("no source is listed in the manifest" if not lesson.sources
                      else "fetch produced no media yet")
            status = "not-fetched" if lesson.sources else "no-source"
            return Plan(skip=Skip(reason, f"not packaged: {reason}", PackageSkip(status)))
        return Plan(inputs.fingerprint, inputs)

    def reuse(self, lesson_id: str, ctx: Context,
              plan: Plan[PackageInputs]) -> StageResult[PackageDetails] | None:
        """The recorded package when the one in place was built from these very inputs.

        Normally the state record says so; after a failed attempt it holds the failure, and
        the description of the intact package it kept is consulted: the same inputs must not
        make a new version just because an attempt in between failed. A record counts only
        while it describes the bag in place (version and Archived-At): a run killed after
        publishing a new version leaves records of the one before.
        """
        store = ctx.store
        if not (store.package_dir(lesson_id) / "bagit.txt").is_file():
            return None
        result = store.reusable(lesson_id, STAGE, plan.fingerprint)
        if result is not None and isinstance(result.details, PackageDetails) and \
                record.describes_current(store, lesson_id, result.details):
            return result.typed(PackageDetails)
        found = record.current(store, lesson_id)
        if found is None:
            return None
        details, outputs = found
        if details.fingerprint != plan.fingerprint or \
                not record.describes_current(store, lesson_id, details) or \
                not store.outputs_intact(lesson_id, outputs):
            return None
        return record.restored(lesson_id, plan.fingerprint, details, outputs)

    def work(self, lesson: Lesson, ctx: Context,
             plan: Plan[PackageInputs]) -> Done[PackageDetails]:
        inputs = plan.ready
        with _disk_errors(lesson.id):
            adopted = None if ctx.force else record.adopt(inputs, ctx)
            return adopted if adopted is not None else _build(inputs, ctx)

    def kept(self, lesson_id: str, ctx: Context) -> Kept | None:
        found = record.current(ctx.store, lesson_id)
        return Kept(*found) if found is not None else None

    def finish(self, lesson_id: str, ctx: Context) -> None:
        del lesson_id
        catalog.rebuild(ctx.store, ctx.manifest)


PACKAGE = PackageStage()


def run(lesson: Lesson, ctx: Context) -> StageResult[PackageDetails]:
    """Package one lesson through the runner; raises on failure."""
    return run_stage(PACKAGE, lesson, ctx)


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _stage_payload(inputs: PackageInputs, staging: Path) -> dict[str, Path]:
    """Copy the inputs into the staging folder; returns payload path -> staged file.

    The media WARC is not copied as a file of its own: its only copy in the package is
    inside the WACZ (`_stage_wacz`), which is what replay tools open."""
    files = {f"original/{inputs.media.name}": inputs.media}
    for component in inputs.components:  # video and audio as served (the media is their merge)
        files[f"original/{component.name}"] = component
    for extra in (inputs.warc, inputs.capture_json):
        if extra is not None:
            files[f"capture/{extra.name}"] = extra
    for path in inputs.subtitle_files:
        files[f"subtitles/{path.name}"] = path
    staged = {}
    for rel, src in files.items():
        _copy(src, staging / rel)
        staged[rel] = staging / rel
    return staged


def _stage_wacz(inputs: PackageInputs, staging: Path, work: Path,
                staged: dict[str, Path]) -> list[list[str]]:
    """Build `capture/capture.wacz` from the fetch WARCs (read where fetch wrote them).

    Only for a replayable capture (one with the media WARC): an older capture holds the media
    as a `revisit` to a file outside any WARC, and a WACZ of it would not replay the lesson
    (the package says so in a warning, record.py)."""
    if inputs.warc is None or inputs.warc_media is None:
        return []
    warcs = [inputs.warc, inputs.warc_media]
    lesson = inputs.lesson
    url = inputs.fetched.page_url or inputs.fetched.media_url
    title = " / ".join(t for t in (lesson.title.zh, lesson.title.en) if t) or lesson.id
    rel = f"capture/{wacz.NAME}"
    (staging / rel).parent.mkdir(parents=True, exist_ok=True)
    argv = wacz.build(staging / rel, warcs, url, title, work, lesson.id)
    staged[rel] = staging / rel
    return [argv]


def _info(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _build(inputs: PackageInputs, ctx: Context) -> Done[PackageDetails]:
    lesson, store = inputs.lesson, ctx.store
    work = store.stage_dir(lesson.id, STAGE)
    staging = bag.new_staging(store, lesson.id)
    try:
        return _build_in(inputs, ctx, utcnow(), work, staging)
    finally:
        # after a success it was renamed away: nothing to remove. While a publish journal
        # exists, the staging folder may hold the *previous version* (swapped out, not yet
        # moved to .versions/): the next run's publishing.recover finishes that move.
        if not publishing.journal_path(store, lesson.id).exists():
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(staging)


def _build_in(inputs: PackageInputs, ctx: Context, started: str, work: Path,
              staging: Path) -> Done[PackageDetails]:
    lesson, store = inputs.lesson, ctx.store
    commands: list[list[str]] = []
    report = probe.Report()
    orig_info = _readable(inputs, report)
    av = probe.av_streams(orig_info)
    if not av:
        found = ", ".join(f"{s.get('codec_type')} ({s.get('codec_name') or 'no codec'})"
                          for s in orig_info["streams"]) or "no stream at all"
        raise MuxError(f"the original {inputs.media.name} has no video or audio stream; "
                       f"ffprobe finds {found} in it "
                       f"({orig_info['format'].get('format_name') or 'unknown format'})",
                       Location(inputs.media, lesson=lesson.id))
    plan = access.plan(av)
    orig_hashes = probe.streamhashes(inputs.media, report)
    identified = utcnow()
    duration = float(orig_info["format"].get("duration") or 0.0)
    staged = _stage_payload(inputs, staging)
    commands += _stage_wacz(inputs, staging, work, staged)
    original_rel = f"original/{inputs.media.name}"
    # the original is not hashed here: the bag manifest (computed from the staged copy) is
    # compared with the fetch record's digest below, before anything is published
    files = {rel: _info(path) for rel, path in staged.items() if rel != original_rel}
    files[original_rel] = {"bytes": staged[original_rel].stat().st_size,
                           "sha256": inputs.media_sha256, "sha512": inputs.media_sha512}
    if files[original_rel]["bytes"] != inputs.media_bytes:
        raise PackageError(f"the original has {files[original_rel]['bytes']} bytes, the fetch "
                           f"record says {inputs.media_bytes}; refetch it",
                           Location(inputs.media, lesson=lesson.id))

    archived_at = started
    chapter_list = chapters.clip_chapters(inputs.chapters, duration)
    tags = chapters.global_tags(inputs, archived_at)
    metadata = work / "metadata.ffmeta"
    atomic_write_text(metadata, chapters.ffmetadata(tags, chapter_list))
    tracks_derived = [provenance.file_id(lesson.id, f"subtitles/{t.path.name}")
                      for t in inputs.tracks]
    history = events.early_events(inputs, orig_info, identified, original_rel)
    attached = work / "provenance.json"
    atomic_write_json(attached,
                      provenance.build(inputs, files, history, ctx.tools.versions(PACKAGE.tools)))

    mux_started = utcnow()
    master_rel, access_rel = output_names(lesson.id, plan)
    language = spoken_language(lesson, inputs.series)
    master_job = master.MasterJob(inputs.media, len(av), inputs.tracks, metadata, attached,
                                  staging / master_rel, language, lesson.id, chapter_list,
                                  orig_info)
    access_job = mux.MuxJob("mp4", inputs.media, len(av), inputs.tracks, metadata,
                            staging / access_rel, lesson=lesson.id, extra=dict(plan.options))
    for path in (master_job.output, access_job.output):
        path.parent.mkdir(parents=True, exist_ok=True)
    commands += master.run(master_job, work)
    access_command = mux.run(access_job)  # from the original and the .vtt files
    commands.append(access_command)
    mux_ended = utcnow()
    outputs: list[tuple[Literal["mkv", "mp4"], Path]] = [("mkv", master_job.output),
                                                         ("mp4", access_job.output)]
    for kind, output in outputs:
        expected = probe.Expected(kind, inputs.tracks, [c.label for c in chapter_list], tags,
                                  attached if kind == "mkv" else None,
                                  plan.transcoded if kind == "mp4" else {})
        checked = probe.check(output, inputs.media, expected, work, orig_info, orig_hashes)
        if kind == "mkv":
            master.readback(output, inputs.tracks, language, len(av), len(chapter_list),
                            attached, work, checked)
        report.commands += checked.commands
        if checked.problems:
            output.unlink(missing_ok=True)
            raise MuxError(f"{output.name} is not what was intended: "
                           + "; ".join(checked.problems), Location(output, lesson=lesson.id))
    checks_done = utcnow()
    commands += report.commands

    files[master_rel] = _info(staging / master_rel)
    files[access_rel] = _info(staging / access_rel)
    attached_info = _info(attached)
    history += events.mux_events(lesson.id, master_rel, access_rel, mux_started, mux_ended,
                          checks_done, attached_info["sha256"], plan.describe())
    derived = {master_rel: [provenance.file_id(lesson.id, original_rel), *tracks_derived,
                            f"urn:sha256:{attached_info['sha256']}"],
               access_rel: [provenance.file_id(lesson.id, original_rel), *tracks_derived]}
    video = provenance.videoobject(inputs, duration, files, master_rel, access_rel)
    atomic_write_json(staging / "videoobject.json", video)
    files["videoobject.json"] = _info(staging / "videoobject.json")
    version = bag.next_version(store, lesson.id)
    previous_dir = store.package_dir(lesson.id)
    supersedes = (f"{lesson.id}/v{bag.version_of(previous_dir) or 1}"
                  if (previous_dir / "bagit.txt").is_file() else None)
    doc = provenance.build(inputs, files, history, ctx.tools.versions(PACKAGE.tools),
                           mux={"started": mux_started, "ended": mux_ended}, derived=derived)
    doc.update({"version": version, "supersedes": supersedes, "archivedAt": archived_at,
                "attachedProvenance": {"path": f"{master_rel}#attachment/provenance.json",
                                       **attached_info},
                "access": access_record(access_rel, plan, access_command)})
    atomic_write_json(staging / "provenance.json", doc)
    files["provenance.json"] = _info(staging / "provenance.json")

    commands.append(bag.make(staging, events.bag_info(inputs, archived_at, version), lesson.id))
    bagged = bag.manifest_digests(staging)[original_rel]
    if bagged != inputs.media_sha256:
        raise PackageError(f"the original's sha256 is {bagged}, the fetch record says "
                           f"{inputs.media_sha256}: it changed since it was fetched; refetch it",
                           Location(inputs.media, lesson=lesson.id))
    bag.append_premis_events(staging, [*history, events.bag_event(lesson.id, "creation",
                                                                    version)])
    bag.validate(staging, lesson.id)
    bag.append_premis_events(staging, [events.bag_event(lesson.id, "validation", version)])
    _finalise_tree(staging)
    moved = publishing.publish(store, lesson.id, staging)
    return record.build_result(inputs, ctx, files, commands, version, moved, archived_at,
                               duration, len(chapter_list), names=(master_rel, access_rel))


def output_names(lesson_id: str, plan: access.AccessPlan) -> tuple[str, str]:
    """The master's and the access copy's paths in the payload: MKV + MP4, or for an
    audio-only lesson MKA + M4A."""
    master = "mka" if plan.suffix == "m4a" else "mkv"
    return f"master/{lesson_id}.{master}", f"access/{lesson_id}.{plan.suffix}"


def access_record(access_rel: str, plan: access.AccessPlan, argv: list[str]) -> dict[str, Any]:
    """The access copy as a derivative: copied or transcoded (what, why) and its command."""
    return {"path": access_rel, "streams": "copied" if plan.copies else "transcoded",
            "transcoded": dict(plan.transcoded), "description": plan.describe(),
            "command": argv}


def _readable(inputs: PackageInputs, report: probe.Report) -> dict[str, Any]:
    """ffprobe's view of the original, or a MuxError that quotes ffprobe, located at the
    lesson and the file: the log and the state record carry it whole, public files only its
    first line without paths (publish/reasons.py)."""
    lesson_id = inputs.lesson.id
    try:
        return probe.ffprobe(inputs.media, report, exact=True)
    except MuxError as exc:
        said = exc.message.split(": ", 1)[-1].replace(str(inputs.media), inputs.media.name)
        said = " | ".join(line.strip() for line in said.splitlines() if line.strip())
        raise MuxError(f"ffmpeg cannot read the original {inputs.media.name}; ffprobe said: "
                       f"{said}", Location(inputs.media, lesson=lesson_id)) from None


def _finalise_tree(root: Path) -> None:
    """Make the finished bag readable by everyone (temporary files are created 0600) and
    durable (every file and folder fsynced) before it is renamed into place."""
    for path in [root, *root.rglob("*")]:
        if path.is_file():
            path.chmod(0o644)
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            path.chmod(0o755)
            fsync_dir(path)
