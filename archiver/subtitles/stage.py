"""The subtitle stage (`SUBTITLES`; contract in docs/DESIGN.md).

Reads the lesson's transcript and the fetched media (for its duration and pauses), writes the
tracks and reports to `lessons/<id>/subtitles/`. `--pause-method` (`SubtitlesOptions`) chooses
the pause detector ("levels", the default, or "silencedetect"; see `audio.py`).
Idempotent: the fingerprint covers the transcript bytes, the media digest, the pause method
and `CODE_VERSION`, so a rerun with the same inputs does no work (the runner checks it).
Every file is written atomically and only after the whole build succeeded, so a failed run
(a malformed transcript, say) leaves the previous tracks exactly as they were.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from archiver.errors import Location, SubtitleError
from archiver.model import (
    DEFAULT_TRACK,
    TRACKS,
    FetchDetails,
    Lesson,
    Output,
    StageResult,
    SubtitlesDetails,
)
from archiver.options import PauseMethod
from archiver.pipeline import Context, Done, LessonStage, Plan, Skip, run_stage
from archiver.store import fingerprint, sha256_file
from archiver.subtitles.build import SubtitleBuild, build_subtitles, write_outputs

STAGE = "subtitles"
# Bump when the output for the same inputs changes (segmentation, timing, style, writers).
CODE_VERSION = "subtitles/3"  # 3: NOTE header, word-aware breaks, en cues of their own


@dataclass(frozen=True)
class SubtitleInputs:
    """What the plan found: the transcript, the fetched media (or why there is none)."""

    transcript: Path
    transcript_sha256: str
    media: Path | None
    media_sha256: str | None
    media_note: str
    method: PauseMethod


def _media(lesson: Lesson, ctx: Context) -> tuple[Path | None, str | None, str]:
    """(media path, its sha256, why there is none) from the fetch stage's record."""
    fetched = ctx.store.load_details(lesson.id, FetchDetails)
    if fetched is None or not fetched.succeeded or fetched.details is None:
        return None, None, "the lesson has not been fetched"
    media = fetched.details.media
    path = ctx.store.lesson_dir(lesson.id) / media
    if not path.is_file():
        return None, None, f"the fetched media {media} is missing"
    return path, fetched.details.sha256 or sha256_file(path), ""


def _details(lesson: Lesson, inputs: SubtitleInputs, build: SubtitleBuild, base: Path,
             seconds: float) -> SubtitlesDetails:
    timing = build.quality["timing"]
    tracks = build.quality["tracks"]
    return SubtitlesDetails(
        source_transcript=str(inputs.transcript), transcript_sha256=inputs.transcript_sha256,
        transcript_format=build.transcript_format,
        media=str(inputs.media.relative_to(base)) if inputs.media else None,
        timing=timing["source"], timing_reason=timing["reason"],
        pause_method=timing["pause_method"],
        cues={name: data["cues"] for name, data in tracks.items()},
        violations={name: data["violations"] for name, data in tracks.items()},
        tracks={spec.key: f"{STAGE}/{spec.vtt_name(lesson.id)}" for spec in TRACKS},
        srt={spec.key: f"{STAGE}/{name}" for spec in TRACKS
             if (name := spec.srt_name(lesson.id)) is not None},
        transcript_json=f"{STAGE}/transcript.json", chapters=f"{STAGE}/chapters.json",
        quality=f"{STAGE}/quality.json", seconds=round(seconds, 3))


class SubtitlesStage(LessonStage[SubtitlesDetails, SubtitleInputs]):
    """Transcript (+ fetched media) in, tracks and reports out."""

    name = STAGE
    tools = ("ffmpeg",)

    def plan(self, lesson: Lesson, ctx: Context) -> Plan[SubtitleInputs]:
        if lesson.transcript is None:
            return Plan(skip=Skip("no transcript"))
        method = ctx.options.subtitles.pause_method
        media, media_sha, why = _media(lesson, ctx)
        transcript_sha = sha256_file(lesson.transcript) \
            if lesson.transcript.is_file() else "missing"  # streamed: the file may be huge
        fp = fingerprint(STAGE, CODE_VERSION, transcript_sha, media_sha, lesson.duration,
                         len(lesson.footnotes), method,
                         "\n".join(term.zh for term in lesson.terminology))
        return Plan(fp, SubtitleInputs(lesson.transcript, transcript_sha, media, media_sha,
                                       why, method))

    def work(self, lesson: Lesson, ctx: Context,
             plan: Plan[SubtitleInputs]) -> Done[SubtitlesDetails]:
        inputs = plan.ready
        began = time.monotonic()
        build = build_subtitles(lesson.id, inputs.transcript, inputs.media,
                                lesson.duration_seconds, footnotes=len(lesson.footnotes),
                                media_note=inputs.media_note, method=inputs.method,
                                limits=ctx.options.subtitles,
                                terms=[term.zh for term in lesson.terminology])
        folder = ctx.store.stage_dir(lesson.id, STAGE)
        try:
            written = write_outputs(build, folder)
        except OSError as exc:  # disk full, file too large, permissions: a clean, located error
            raise SubtitleError(f"cannot write the subtitles: {exc.strerror or exc}",
                                Location(file=exc.filename or folder, lesson=lesson.id)) from None
        base = ctx.store.lesson_dir(lesson.id)
        outputs = [Output(path=str(p.relative_to(base)), bytes=p.stat().st_size,
                          sha256=hashlib.sha256(build.files[p.name]).hexdigest())
                   for p in written]
        details = _details(lesson, inputs, build, base, time.monotonic() - began)
        ctx.log.info("subtitles", lesson=lesson.id, stage=STAGE, timing=details.timing,
                     cues=details.cues[DEFAULT_TRACK.key])
        return Done(details, outputs, build.commands, build.warnings,
                    tools=self.tools if build.commands else (),
                    versions={"archiver-subtitles": CODE_VERSION})


SUBTITLES = SubtitlesStage()


def run(lesson: Lesson, ctx: Context) -> StageResult[SubtitlesDetails]:
    """Make one lesson's subtitles through the runner; raises on failure."""
    return run_stage(SUBTITLES, lesson, ctx)
