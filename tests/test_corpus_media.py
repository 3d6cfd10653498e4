"""Self-tests of the media matrix: every clip is what its record says, as ffprobe reads it,
and its speech is heard where the truth puts it.

The corpus exists so that other tests can say "every variant is packaged" and "the first cue
is within 0.1 s of its transcript time"; these tests make sure a variant that silently came
out as something else (ffmpeg fell back to another codec, a start offset was lost, the speech
moved) cannot make those tests meaningless.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from archiver.demo.corpus.media import (
    BURSTS,
    VARIANTS,
    MediaVariant,
    audio_onsets,
    build_media,
    encoders,
)
from archiver.demo.corpus.site import Corpus
from archiver.subtitles.transcript import read_transcript

pytestmark = pytest.mark.slow  # the generated media variants encoded with ffmpeg

IDS = [v.id for v in VARIANTS]
# speech may be heard later than placed by the codec's delay when the container keeps no
# edit list (AAC in TS/FLV/MKV: 1024 samples; MP3: 1105): at most 50 ms at 22.05 kHz here
HEARD_TOLERANCE = 0.06


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of",
                          "json", str(path)], capture_output=True, text=True, check=True).stdout
    data: dict[str, Any] = json.loads(out)
    return data


def _stream(info: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((s for s in info["streams"] if s["codec_type"] == kind), None)


def test_every_variant_was_built(corpus: Corpus) -> None:
    assert corpus.media.missing == {}, "this Debian ffmpeg has every encoder of the matrix"
    assert sorted(corpus.media.variants) == sorted(IDS)
    assert all(re.fullmatch(r"[a-z0-9-]+", vid) for vid in IDS), "usable as lesson ids"
    rates = {v.sample_rate for v in VARIANTS if v.audio == "aac"}
    assert rates >= {8000, 11025, 16000, 22050, 32000, 44100, 48000}
    assert {v.channels for v in VARIANTS if v.has_audio} == {1, 2}
    assert {v.video for v in VARIANTS} >= {"h264", "hevc", "vp8", "vp9", "av1", "mpeg2video",
                                           None}
    assert {v.audio for v in VARIANTS} >= {"aac", "mp3", "opus", "vorbis", None}


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_ffprobe_confirms_the_record(corpus: Corpus, variant: MediaVariant) -> None:
    info = probe(corpus.media[variant.id].path)
    assert variant.format in info["format"]["format_name"].split(",")
    video, audio = _stream(info, "video"), _stream(info, "audio")
    assert (video or {}).get("codec_name") == variant.video
    assert (audio or {}).get("codec_name") == variant.audio
    if audio is not None:
        assert int(audio["sample_rate"]) == variant.sample_rate
        assert int(audio["channels"]) == variant.channels
    start = float(info["format"].get("start_time", 0.0))
    assert abs(start - variant.start) < 0.1, f"container starts at {start}"
    duration = float(info["format"]["duration"])
    assert 4.9 < duration < 5.2
    for stream in info["streams"]:
        has_duration = "duration" in stream or "DURATION" in stream.get("tags", {})
        assert has_duration == variant.stream_duration, stream["codec_type"]


def _frame_durations(path: Path) -> set[float]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts_time", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    times = sorted(float(t) for t in out.split() if t.strip() not in ("", "N/A"))
    return {round(b - a, 3) for a, b in itertools.pairwise(times)}


def test_variable_frame_rate_is_variable(corpus: Corpus) -> None:
    vfr = [v for v in VARIANTS if v.vfr]
    assert vfr
    for variant in vfr:
        assert len(_frame_durations(corpus.media[variant.id].path)) >= 2
    constant = corpus.media["mp4-h264-aac-44100-stereo"].path
    assert _frame_durations(constant) == {0.04}


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.has_audio],
                         ids=[v.id for v in VARIANTS if v.has_audio])
def test_speech_is_heard_where_the_truth_puts_it(corpus: Corpus, variant: MediaVariant) -> None:
    built = corpus.media[variant.id]
    assert built.bursts == BURSTS
    heard = audio_onsets(built.path)
    assert len(heard) == len(BURSTS), heard
    for placed, found in zip(BURSTS, heard, strict=True):
        assert -0.01 <= found - placed <= HEARD_TOLERANCE, heard


def test_silent_variant_has_no_truth(corpus: Corpus) -> None:
    silent = corpus.media["mp4-h264-noaudio"]
    assert silent.bursts == ()
    with pytest.raises(subprocess.CalledProcessError):
        audio_onsets(silent.path)


def test_transcript_reads_as_two_paragraphs_at_the_bursts(corpus: Corpus) -> None:
    built = corpus.media["mp4-h264-aac-16000-mono"]
    fmt, paragraphs = read_transcript(built.transcript)
    assert fmt == "seed"
    assert [p.start for p in paragraphs] == list(BURSTS)
    assert all(p.en and p.zh for p in paragraphs)


def test_build_is_cached_and_fingerprinted(tmp_path: Path) -> None:
    one = [v for v in VARIANTS if v.id == "mp3-44100-mono"]
    first = build_media(tmp_path, one)
    assert first.built and list(first.variants) == ["mp3-44100-mono"]
    again = build_media(tmp_path, one)
    assert not again.built
    assert again["mp3-44100-mono"].path.stat().st_mtime_ns == \
        first["mp3-44100-mono"].path.stat().st_mtime_ns
    other = [v for v in VARIANTS if v.id == "opus-48000-mono"]
    assert build_media(tmp_path, other).built


def test_missing_encoder_is_reported_not_dropped(tmp_path: Path) -> None:
    fake = MediaVariant("mp4-nonesuch", "mp4", "mp4", "h264", "aac", 44100, 2,
                        encode=("-c:v", "libnonesuch", "-c:a", "aac", "-f", "mp4"))
    built = build_media(tmp_path, [fake])
    assert built.missing == {"mp4-nonesuch": "this ffmpeg has no libnonesuch encoder"}
    assert "libx264" in encoders() and "libsvtav1" in encoders()
