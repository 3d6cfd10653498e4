"""The subtitle stage: `run(lesson, ctx) -> StageResult` (contract in docs/DESIGN.md).

Reads the lesson's transcript and the fetched media (for its duration and pauses), writes the
tracks and reports to `lessons/<id>/subtitles/`. `ctx.options["pause_method"]` may choose the
pause detector ("levels", the default, or "silencedetect"; see `audio.py`).
Idempotent: the fingerprint covers the transcript bytes, the media digest, the pause method
and `CODE_VERSION`, so a rerun with the same inputs does no work. Every file is written
atomically and only after the whole build succeeded, so a failed run (a malformed transcript,
say) leaves the previous tracks exactly as they were.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

from archiver.errors import Location, SubtitleError, UsageError
from archiver.model import Lesson, Output, StageResult, utcnow
from archiver.pipeline import Context
from archiver.store import fingerprint, sha256_file
from archiver.subtitles.audio import Method
from archiver.subtitles.build import build_subtitles, write_outputs

STAGE = "subtitles"
# Bump when the output for the same inputs changes (segmentation, timing, style, writers).
CODE_VERSION = "subtitles/2"


def _media(lesson: Lesson, ctx: Context) -> tuple[Path | None, str | None, str]:
    """(media path, its sha256, why there is none) from the fetch stage's record."""
    fetched = ctx.store.load_result(lesson.id, "fetch")
    if fetched is None or fetched.status not in ("ok", "unchanged"):
        return None, None, "the lesson has not been fetched"
    media = fetched.details.get("media")
    if not media:
        return None, None, "the fetch result names no media"
    path = ctx.store.lesson_dir(lesson.id) / media
    if not path.is_file():
        return None, None, f"the fetched media {media} is missing"
    digest = fetched.details.get("sha256") or sha256_file(path)
    return path, str(digest), ""


def _ffmpeg_version() -> str:
    try:
        out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True,
                             check=False).stdout
    except OSError:
        return "unavailable"
    return out.split("\n", 1)[0].removeprefix("ffmpeg version ").split(" ")[0]


def run(lesson: Lesson, ctx: Context) -> StageResult:
    started = utcnow()
    if lesson.transcript is None:
        result = StageResult(stage=STAGE, lesson=lesson.id, status="skipped", started=started,
                             ended=utcnow(), warnings=["no transcript"])
        ctx.log.warning("skipped", lesson=lesson.id, stage=STAGE, message="no transcript")
        ctx.store.save_result(result)
        return result
    option = ctx.options.get("pause_method") or "levels"
    if option not in ("levels", "silencedetect"):
        raise UsageError(f"unknown pause method {option!r} (levels or silencedetect)")
    method: Method = "silencedetect" if option == "silencedetect" else "levels"
    media, media_sha, why = _media(lesson, ctx)
    transcript_sha = hashlib.sha256(lesson.transcript.read_bytes()).hexdigest() \
        if lesson.transcript.is_file() else "missing"
    fp = fingerprint(STAGE, CODE_VERSION, transcript_sha, media_sha, lesson.duration,
                     len(lesson.footnotes), method)
    if not ctx.force and (previous := ctx.store.reusable(lesson.id, STAGE, fp)) is not None:
        previous.status = "unchanged"
        ctx.log.info("unchanged", lesson=lesson.id, stage=STAGE)
        return previous
    began = time.monotonic()
    build = build_subtitles(lesson.id, lesson.transcript, media, lesson.duration_seconds,
                            footnotes=len(lesson.footnotes), media_note=why, method=method)
    folder = ctx.store.stage_dir(lesson.id, STAGE)
    try:
        written = write_outputs(build, folder)
    except OSError as exc:  # disk full, file too large, permissions: a clean, located error
        raise SubtitleError(f"cannot write the subtitles: {exc.strerror or exc}",
                            Location(file=exc.filename or folder, lesson=lesson.id)) from None
    base = ctx.store.lesson_dir(lesson.id)
    outputs = [Output(path=str(p.relative_to(base)), bytes=p.stat().st_size,
                      sha256=hashlib.sha256(build.files[p.name]).hexdigest()) for p in written]
    timing = build.quality["timing"]
    result = StageResult(
        stage=STAGE, lesson=lesson.id, status="ok", fingerprint=fp, outputs=outputs,
        commands=build.commands,
        tool_versions={"archiver-subtitles": CODE_VERSION,
                       **({"ffmpeg": _ffmpeg_version()} if build.commands else {})},
        started=started, ended=utcnow(), warnings=build.warnings,
        details={
            "source_transcript": str(lesson.transcript), "transcript_sha256": transcript_sha,
            "transcript_format": build.transcript_format,
            "media": str(media.relative_to(base)) if media else None,
            "timing": timing["source"], "timing_reason": timing["reason"],
            "pause_method": timing["pause_method"],
            "cues": {name: data["cues"] for name, data in build.quality["tracks"].items()},
            "violations": {name: data["violations"]
                           for name, data in build.quality["tracks"].items()},
            "tracks": {"zh-Hans": f"{STAGE}/{lesson.id}.zh-Hans.vtt",
                       "en": f"{STAGE}/{lesson.id}.en.vtt",
                       "zh-Hans-en": f"{STAGE}/{lesson.id}.zh-Hans-en.vtt"},
            "srt": {"zh-Hans": f"{STAGE}/{lesson.id}.zh-Hans.srt",
                    "en": f"{STAGE}/{lesson.id}.en.srt"},
            "transcript_json": f"{STAGE}/transcript.json",
            "chapters": f"{STAGE}/chapters.json",
            "quality": f"{STAGE}/quality.json",
            "seconds": round(time.monotonic() - began, 3),
        },
    )
    ctx.store.save_result(result)
    ctx.log.info("subtitles", lesson=lesson.id, stage=STAGE, timing=timing["source"],
                 cues=result.details["cues"]["zh-Hans"])
    return result
