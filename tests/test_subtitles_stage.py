"""The subtitle stage under the pipeline: outputs, idempotency, fallbacks, failure safety."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import pytest

from archiver.errors import SubtitleError
from archiver.log import EventLog
from archiver.model import Bilingual, Lesson, Manifest, Series, StageResult
from archiver.pipeline import Context, run_lesson
from archiver.store import TEMP_MARK, Store, sha256_file
from archiver.subtitles import stage

TRANSCRIPT = "00:00\nHello, and welcome.\n你好，欢迎。\n00:01\nGoodbye.\n再见。\n"
FILES = ["lesson-a.zh-Hans.vtt", "lesson-a.en.vtt", "lesson-a.zh-Hans-en.vtt",
         "lesson-a.zh-Hans.srt", "lesson-a.en.srt", "transcript.json", "chapters.json",
         "quality.json", "quality.txt"]


def make_ctx(tmp_path: Path, transcript: str | None = TRANSCRIPT) -> tuple[Lesson, Context]:
    path = None
    if transcript is not None:
        path = tmp_path / "lesson-a.txt"
        path.write_text(transcript, "utf-8")
    lesson = Lesson(id="lesson-a", number=1, title=Bilingual(en="A"), duration="00:03",
                    transcript=path)
    manifest = Manifest(path=tmp_path / "m.toml", series=Series("s", Bilingual(en="S"),
                                                                Bilingual(en="P")),
                        lessons=(lesson,))
    ctx = Context(store=Store(tmp_path / "out"), manifest=manifest,
                  log=EventLog(stream=io.StringIO()))
    return lesson, ctx


def record_fetch(ctx: Context, lesson: Lesson, media: Path) -> None:
    """What the fetch stage leaves behind (DESIGN.md): its media and its StageResult."""
    target = ctx.store.lesson_dir(lesson.id) / "fetch" / "original.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(media, target)
    ctx.store.save_result(StageResult(stage="fetch", lesson=lesson.id, status="ok", details={
        "media": "fetch/original.mp4", "sha256": sha256_file(target)}))


def test_no_transcript_is_skipped(tmp_path: Path) -> None:
    lesson, ctx = make_ctx(tmp_path, transcript=None)
    result = stage.run(lesson, ctx)
    assert (result.status, result.warnings) == ("skipped", ["no transcript"])
    assert ctx.store.load_result(lesson.id, "subtitles") == result


def test_without_fetch_uses_proportional_timing(tmp_path: Path) -> None:
    lesson, ctx = make_ctx(tmp_path)
    result = stage.run(lesson, ctx)
    assert result.status == "ok"
    assert result.details["timing"] == "proportional"
    assert result.details["timing_reason"] == "the lesson has not been fetched"
    assert any("proportional timing" in w for w in result.warnings)
    folder = ctx.store.stage_dir(lesson.id, "subtitles")
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    for out in result.outputs:
        data = (ctx.store.lesson_dir(lesson.id) / out.path).read_bytes()
        assert out.path.startswith("subtitles/")
        assert (len(data), hashlib.sha256(data).hexdigest()) == (out.bytes, out.sha256)


def test_with_fetched_media_snaps_to_audio_and_is_idempotent(tmp_path: Path,
                                                             tiny_media: Path) -> None:
    lesson, ctx = make_ctx(tmp_path)
    record_fetch(ctx, lesson, tiny_media)
    first = stage.run(lesson, ctx)
    assert first.status == "ok" and first.details["timing"] == "audio-snapped"
    assert first.details["media"] == "fetch/original.mp4"
    assert first.commands and first.commands[0][0] == "ffmpeg"
    assert "silencedetect" in " ".join(first.commands[0]) and "ffmpeg" in first.tool_versions
    again = stage.run(lesson, ctx)
    assert again.status == "unchanged" and again.fingerprint == first.fingerprint
    ctx.force = True
    assert stage.run(lesson, ctx).status == "ok"
    ctx.force = False
    lesson.transcript.write_text(TRANSCRIPT.replace("Goodbye.", "Farewell."), "utf-8")  # type: ignore[union-attr]
    changed = stage.run(lesson, ctx)
    assert changed.status == "ok" and changed.fingerprint != first.fingerprint
    vtt = (ctx.store.stage_dir(lesson.id, "subtitles") / "lesson-a.en.vtt").read_text("utf-8")
    assert "Farewell." in vtt


def test_bad_transcript_fails_cleanly_and_keeps_previous_tracks(tmp_path: Path) -> None:
    lesson, ctx = make_ctx(tmp_path)
    assert stage.run(lesson, ctx).status == "ok"
    folder = ctx.store.stage_dir(lesson.id, "subtitles")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    lesson.transcript.write_text("00:00\nHello.\n你好。\n00:61\nBye.\n再见。\n", "utf-8")  # type: ignore[union-attr]
    with pytest.raises(SubtitleError, match=r"lesson-a.txt:4: malformed timestamp"):
        stage.run(lesson, ctx)
    results = run_lesson(lesson, ["subtitles"], ctx)  # the pipeline records the failure
    assert results[0].status == "failed" and "malformed timestamp '00:61'" in results[0].error
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after == before  # nothing damaged, nothing half-written
    assert not any(TEMP_MARK in p.name for p in folder.iterdir())


def test_timestamp_beyond_media_is_an_error(tmp_path: Path, tiny_media: Path) -> None:
    lesson, ctx = make_ctx(tmp_path, "00:00\nA.\n甲。\n00:09\nB.\n乙。\n")
    record_fetch(ctx, lesson, tiny_media)
    with pytest.raises(SubtitleError, match=r"00:09 is beyond the media's duration \(00:03\)"):
        stage.run(lesson, ctx)
