"""Audio-aligned timing on generated Mandarin speech whose clause times are known.

The figures the issue asks for (median and 90th-percentile cue-start error, audio-snapped and
proportional) are printed by `test_figures`:

    .venv/bin/pytest tests/test_subtitles_audio.py -s -k figures

or, without pytest, `.venv/bin/python tests/test_subtitles_audio.py`.
"""

from __future__ import annotations

import itertools
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from subtitles_data.speech import Segment, make_track, truth

from archiver.subtitles import build_subtitles
from archiver.subtitles.audio import Pause, detect_pauses, pauses_from_levels
from archiver.subtitles.cues import Cue
from archiver.subtitles.text import spoken_count
from archiver.subtitles.transcript import parse_seed

pytestmark = pytest.mark.slow  # an 11-minute generated speech track through the subtitle stage

ROOT = Path(__file__).resolve().parent.parent
LESSON13 = ROOT / "manifests" / "transcripts" / "digital-china-13.txt"
# (name, random seed, hard, music bed): a clean recording; a noisier, faster one with
# hesitations; the same under a soft music bed (pauses never silent)
VARIANTS = (("clean", 13, False, False), ("hard", 7, True, False), ("music", 11, True, True))


def cue_errors(cues: list[Cue], segments: list[Segment]) -> list[float]:
    """|cue start - true onset of its first character| for every cue of a track."""
    errors: list[float] = []
    offsets: dict[int, int] = {}
    for cue in cues:
        offset = offsets.get(cue.paragraph, 0)
        if cue.zh or cue.en:
            errors.append(abs(cue.start - truth(segments, cue.paragraph, offset)))
        offsets[cue.paragraph] = offset + spoken_count(cue.zh + cue.dropped)
    return errors


def figures(errors: list[float]) -> dict[str, float]:
    ordered = sorted(errors)
    return {"cues": len(ordered), "median": round(statistics.median(ordered), 3),
            "p90": round(ordered[max(0, int(0.9 * len(ordered)) - 1)], 3),
            "within_0.8s": round(sum(e <= 0.8 for e in ordered) / len(ordered), 3),
            "max": round(ordered[-1], 3)}


def make(folder: Path, seed: int, hard: bool, bed: bool) -> tuple[Path, Path, list[Segment]]:
    """The first three paragraphs of lesson 13, spoken: about 105 s of speech."""
    paragraphs = parse_seed(LESSON13.read_text("utf-8"))[:3]
    return make_track(folder, [p.en for p in paragraphs], [p.zh for p in paragraphs], seed,
                      hard, bed)


Tracks = dict[str, tuple[Path, Path, list[Segment]]]


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> Tracks:
    return {name: make(tmp_path_factory.mktemp(f"speech-{name}"), seed, hard, bed)
            for name, seed, hard, bed in VARIANTS}


def measure(media: Path, transcript: Path, segments: list[Segment]) -> dict[str, Any]:
    """Cue-start errors per track, timed with the audio and (same transcript) without."""
    audio = build_subtitles("speech", transcript, media)
    duration = audio.quality["timing"]["media_duration"]
    plain = build_subtitles("speech", transcript, None, duration)
    result: dict[str, Any] = {"last_end": audio.cues[-1].end}
    for name, build in (("audio", audio), ("proportional", plain)):
        result[name] = {track: figures(cue_errors(cues, segments))
                        for track, cues in build.track_cues.items()}
    result["timing"] = audio.quality["timing"]
    return result


def test_figures(tracks: Tracks) -> None:
    """The Done-when of issue 3: median ≤ 0.3 s and 90 % within 0.8 s with audio."""
    for name, (media, transcript, segments) in tracks.items():
        result = measure(media, transcript, segments)
        print(f"\n{name} track, {segments[-1].times[1]:.0f} s of speech, "
              f"{len(segments)} spoken pieces:\n" + json.dumps(result, indent=1))
        assert result["timing"]["source"] == "audio-snapped"
        for track, audio in result["audio"].items():
            plain = result["proportional"][track]
            assert audio["median"] <= 0.3 and audio["within_0.8s"] >= 0.9, track
            assert audio["median"] < plain["median"], track  # what the audio adds
        # the last paragraph ends with its speech (+ reading time), not in the 4 s outro
        speech_end = segments[-1].times[1]
        assert speech_end - 0.3 <= result["last_end"] <= speech_end + 1.05


@pytest.mark.parametrize("name", [v[0] for v in VARIANTS])
def test_pauses_found_where_they_were_made(tracks: Tracks, name: str) -> None:
    media, _, segments = tracks[name]
    scan = detect_pauses(media)
    # the container's duration (the 5 fps video track may run a little longer)
    assert scan.duration == pytest.approx(segments[-1].times[1] + 4.0, abs=1.5)
    # every made silence of ≥ 0.3 s between pieces is found, its edges within 60 ms
    for a, b in itertools.pairwise(segments):
        if b.times[0] - a.times[1] < 0.3:
            continue
        match = [p for p in scan.pauses if p.start < b.times[0] and p.end > a.times[1]]
        assert len(match) == 1, (a, b)
        assert abs(match[0].start - a.times[1]) < 0.06
        assert abs(match[0].end - b.times[0]) < 0.06


def test_fixed_threshold_misses_pauses_under_music_the_adaptive_one_finds(
        tracks: Tracks) -> None:
    """Why "levels" is the default: under a music bed silencedetect (-35 dB) sees no pause."""
    media, transcript, segments = tracks["music"]
    fixed = build_subtitles("speech", transcript, media, method="silencedetect")
    assert fixed.quality["timing"]["source"] == "proportional"
    assert fixed.quality["timing"]["reason"] == "no pauses found in the sound track"
    adaptive = build_subtitles("speech", transcript, media)
    levels = adaptive.quality["timing"]["pause_levels"]
    assert levels["floor_db"] > -45 and levels["threshold_db"] > -35  # the bed is the floor
    assert figures(cue_errors(adaptive.cues, segments))["median"] <= 0.3


def test_adaptive_threshold_needs_contrast() -> None:
    speechy = ([-60.0] * 8 + [-20.0] * 30) * 5  # 0.2 s pauses between 0.75 s of speech
    pauses, stats = pauses_from_levels(speechy)
    assert len(pauses) == 5 and stats["threshold_db"] == pytest.approx(-44.0)
    assert pauses[1] == Pause(0.95, 1.15)
    flat = [-30.0, -28.0, -31.0, -29.0] * 50  # music or noise only: no trustworthy pause
    pauses, stats = pauses_from_levels(flat)
    assert pauses == [] and "dB above the floor" in stats["note"]


def test_media_without_sound_falls_back_to_proportional(tmp_path: Path) -> None:
    silent = tmp_path / "video-only.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f",
                    "lavfi", "-i", "color=c=black:s=64x36:r=5:d=60", "-c:v", "libx264",
                    "-preset", "ultrafast", str(silent)], check=True)
    transcript = tmp_path / "t.txt"
    transcript.write_text("00:02\nHello there.\n你好。\n00:10\nBye.\n再见。\n", "utf-8")
    build = build_subtitles("x", transcript, silent, 60.0)
    assert build.quality["timing"]["source"] == "proportional"
    assert build.quality["timing"]["reason"] == "the media has no sound track"
    assert any("no sound track" in w for w in build.warnings)
    assert "timing: proportional (the media has no sound track)" in build.files[
        "quality.txt"].decode()


def test_ten_minute_track_is_audio_snapped(tmp_path: Path, tracks: Tracks) -> None:
    """Lesson 13's transcript over an 11-minute track (the speech looped by stream copy).
    What it costs is measured by `make bench` (benchmarks/subtitles.py), never asserted here:
    a CPU budget inside a correctness test fails on a loaded machine, not on slow code."""
    media, _, _ = tracks["hard"]
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"file '{media}'\n" for _ in range(6)), "utf-8")
    long = tmp_path / "long.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f",
                    "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(long)],
                   check=True)
    began, cpu_self = time.monotonic(), time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    build = build_subtitles("digital-china-13", LESSON13, long, footnotes=7)
    elapsed = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (time.process_time() - cpu_self + after.ru_utime - children.ru_utime
           + after.ru_stime - children.ru_stime)
    timing = build.quality["timing"]
    print(f"\n{timing['media_duration']:.0f} s track: stage {elapsed:.2f} s wall, {cpu:.2f} s CPU "
          f"(ffmpeg + Python); pause detection {timing['detect_seconds']:.2f} s wall")
    assert timing["media_duration"] > 600 and timing["source"] == "audio-snapped"


if __name__ == "__main__":
    # `--full`: all 23 paragraphs of lesson 13 spoken (about 12 minutes, ~40 s to generate)
    import tempfile

    full = "--full" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        for name, seed, hard, bed in VARIANTS:
            paragraphs = parse_seed(LESSON13.read_text("utf-8"))[:None if full else 3]
            media, transcript, segments = make_track(
                Path(tmp) / name, [p.en for p in paragraphs], [p.zh for p in paragraphs],
                seed, hard, bed)
            began = time.monotonic()
            result = measure(media, transcript, segments)
            print(f"{name} track, {segments[-1].times[1]:.0f} s of speech "
                  f"(measured in {time.monotonic() - began:.1f} s):")
            for timing in ("audio", "proportional"):
                for track, numbers in result[timing].items():
                    print(f"  {timing:<12} {track:<10} {numbers}")
            print("  timing", {k: result["timing"][k] for k in (
                "snapped", "boundaries", "snap_mean", "snap_max", "pauses",
                "pause_levels", "detect_seconds")})
