"""The subtitle stage under the pipeline: outputs, idempotency, fallbacks, failure safety."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archiver import store
from archiver.batch import run_lesson
from archiver.errors import SubtitleError, UsageError
from archiver.log import EventLog
from archiver.model import (
    Bilingual,
    FetchDetails,
    Lesson,
    Manifest,
    Series,
    SourceRecord,
    StageResult,
)
from archiver.options import Options, SubtitlesOptions
from archiver.pipeline import Context
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
    lesson = Lesson(id="lesson-a", number=1, title=Bilingual(en="A"), duration="01:00",
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
    ctx.store.save_result(StageResult(stage="fetch", lesson=lesson.id, status="ok",
                                      details=FetchDetails(
        media="fetch/original.mp4", bytes=target.stat().st_size, sha256=sha256_file(target),
        sha512=hashlib.sha512(target.read_bytes()).hexdigest(),
        source=SourceRecord(url="https://127.0.0.1/lesson"), media_url="https://127.0.0.1/a.mp4",
        content_type="video/mp4")))


@pytest.fixture(scope="module")
def bursts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of video with a tone that pauses for 0.4 s every second (pauses to snap to)."""
    path = tmp_path_factory.mktemp("bursts") / "bursts.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=size=64x36:rate=10:duration=3",
                    "-f", "lavfi", "-i",
                    "aevalsrc=0.3*sin(2*PI*440*t)*lt(mod(t\\,1)\\,0.6):s=44100:d=3",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-shortest", str(path)], check=True)
    return path


def test_no_transcript_is_skipped(tmp_path: Path) -> None:
    lesson, ctx = make_ctx(tmp_path, transcript=None)
    result = stage.run(lesson, ctx)
    assert (result.status, result.warnings) == ("skipped", ["no transcript"])
    assert ctx.store.load_result(lesson.id, "subtitles") == result


def test_without_fetch_uses_proportional_timing(tmp_path: Path) -> None:
    lesson, ctx = make_ctx(tmp_path)
    result = stage.run(lesson, ctx)
    assert result.status == "ok"
    assert result.details is not None
    assert result.details.timing == "proportional"
    assert result.details.timing_reason == "the lesson has not been fetched"
    assert any("proportional timing" in w for w in result.warnings)
    folder = ctx.store.stage_dir(lesson.id, "subtitles")
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert folder.stat().st_mode & 0o777 == 0o755  # readable by a web server
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in folder.iterdir())
    for out in result.outputs:
        data = (ctx.store.lesson_dir(lesson.id) / out.path).read_bytes()
        assert out.path.startswith("subtitles/")
        assert (len(data), hashlib.sha256(data).hexdigest()) == (out.bytes, out.sha256)


def test_with_fetched_media_snaps_to_audio_and_is_idempotent(tmp_path: Path,
                                                             bursts: Path) -> None:
    lesson, ctx = make_ctx(tmp_path)
    record_fetch(ctx, lesson, bursts)
    first = stage.run(lesson, ctx)
    assert first.details is not None
    assert first.status == "ok" and first.details.timing == "audio-snapped"
    assert first.details.media == "fetch/original.mp4"
    assert first.commands and first.commands[0][0] == "ffmpeg"
    assert "astats" in " ".join(first.commands[0]) and "ffmpeg" in first.tool_versions
    assert first.details.pause_method == "levels"
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
    assert results[0].status == "failed"
    assert "malformed timestamp '00:61'" in (results[0].error or "")
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after == before  # nothing damaged, nothing half-written
    assert not any(TEMP_MARK in p.name for p in folder.iterdir())


def test_continuous_tone_has_no_pauses_so_timing_is_proportional(tmp_path: Path,
                                                                tiny_media: Path) -> None:
    lesson, ctx = make_ctx(tmp_path)
    record_fetch(ctx, lesson, tiny_media)  # a steady 440 Hz tone: nothing to snap to
    result = stage.run(lesson, ctx)
    assert result.details is not None
    assert result.details.timing == "proportional"
    assert result.details.timing_reason.startswith("no pauses found in the sound track")
    assert any("no pauses found" in w for w in result.warnings)


def test_pause_method_option(tmp_path: Path, bursts: Path) -> None:
    lesson, ctx = make_ctx(tmp_path)
    record_fetch(ctx, lesson, bursts)
    ctx.options = Options(subtitles=SubtitlesOptions(pause_method="silencedetect"))
    result = stage.run(lesson, ctx)
    assert result.details is not None
    assert result.details.pause_method == "silencedetect"
    assert "silencedetect" in " ".join(result.commands[0])
    with pytest.raises(UsageError, match="unknown pause method 'vad'"):
        ctx.options = Options(subtitles=SubtitlesOptions(pause_method="vad"))  # type: ignore[arg-type]
        stage.run(lesson, ctx)


def test_timestamp_beyond_media_is_an_error(tmp_path: Path, tiny_media: Path) -> None:
    lesson, ctx = make_ctx(tmp_path, "00:00\nA.\n甲。\n00:09\nB.\n乙。\n")
    record_fetch(ctx, lesson, tiny_media)
    with pytest.raises(SubtitleError, match=r"00:09 is beyond the media's duration \(00:03\)"):
        stage.run(lesson, ctx)


def test_write_failure_is_a_clean_error_and_keeps_previous_tracks(tmp_path: Path) -> None:
    big = "".join(f"00:{2 * i:02d}\nSentence number {i}, said twice.\n第{i}句话，说两遍。\n"
                  for i in range(25))
    lesson, ctx = make_ctx(tmp_path, big)
    assert stage.run(lesson, ctx).status == "ok"
    folder = ctx.store.stage_dir(lesson.id, "subtitles")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert max(len(b) for b in before.values()) > 3000
    lesson.transcript.write_text(big.replace("twice", "again"), "utf-8")  # type: ignore[union-attr]
    # a real write failure: RLIMIT_FSIZE makes writes past 2000 bytes fail with EFBIG (the
    # tracks are bigger; the pipeline's small failure record still fits)
    code = (
        "import resource, signal, sys, io\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))\n"
        "from pathlib import Path\n"
        "from archiver.log import EventLog\n"
        "from archiver.model import Bilingual, Lesson, Manifest, Series\n"
        "from archiver.pipeline import Context\nfrom archiver.batch import run_lesson\n"
        "from archiver.store import Store\n"
        f"lesson = Lesson(id='lesson-a', number=1, title=Bilingual(en='A'), duration='01:00',"
        f" transcript=Path({str(lesson.transcript)!r}))\n"
        "m = Manifest(Path('m.toml'), Series('s', Bilingual(en='S'), Bilingual(en='P')),"
        " (lesson,))\n"
        f"ctx = Context(Store(Path({str(ctx.store.root)!r})), m, EventLog(stream=io.StringIO()))\n"
        "r = run_lesson(lesson, ['subtitles'], ctx)[0]\n"
        "print(r.status, r.error)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.stdout.startswith("failed "), proc.stdout + proc.stderr
    assert "cannot write the subtitles" in proc.stdout and "internal error" not in proc.stdout
    after = {p.name: p.read_bytes() for p in folder.iterdir()
             if TEMP_MARK not in p.name}
    assert after == before
    assert not any(TEMP_MARK in p.name for p in folder.iterdir())


@pytest.mark.parametrize("exchange", [True, False])
def test_rerun_swaps_the_whole_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      exchange: bool) -> None:
    """With renameat2 (one atomic swap) and without it (two renames, e.g. on NFS)."""

    if not exchange:  # a kernel or file system without RENAME_EXCHANGE cannot exist here
        monkeypatch.setattr(store, "_exchange", lambda a, b: False)
    lesson, ctx = make_ctx(tmp_path)
    stage.run(lesson, ctx)
    lesson.transcript.write_text(TRANSCRIPT.replace("Goodbye.", "Farewell."), "utf-8")  # type: ignore[union-attr]
    assert stage.run(lesson, ctx).status == "ok"
    folder = ctx.store.stage_dir(lesson.id, "subtitles")
    assert "Farewell." in (folder / "lesson-a.en.vtt").read_text("utf-8")
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert not [p for p in folder.parent.iterdir() if TEMP_MARK in p.name]
