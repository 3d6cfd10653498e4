"""What the access copy is made of: copied streams where it can, H.264/AAC where it must.

The master copies every stream whatever it is (Matroska holds any codec). The access copy
exists to be played by a browser, from an MP4 (or, for an audio-only lesson, an M4A): a
stream is copied only when MP4 can hold it *and* every major browser (Chromium, Firefox,
Safari) plays it from MP4. That is H.264 video and AAC or MP3 audio (MP3 not in an M4A, which
players expect to hold AAC). Anything else is transcoded:

- video: HEVC (Chromium and Firefox play it only with platform decoders), MPEG-2, VP8, VP9,
  AV1 (not in every Safari), Sorenson Spark and other FLV codecs -> H.264 (libx264, CRF 20,
  yuv420p, even dimensions, timestamps passed through so a variable frame rate stays);
- audio: Vorbis, Opus (Safari before 17), MP2, FLV's Nellymoser/Speex/PCM... -> AAC at the
  original's sample rate (from 8 kHz up: AAC has them all) and channel count.

A transcoded access copy is a derivative in its own right: its command is recorded with it
(provenance `access`, the PREMIS normalization event) and docs/package.md says when it
happens. The master's packets stay bit for bit the original's either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BROWSER_VIDEO = frozenset({"h264"})
BROWSER_AUDIO = {"mp4": frozenset({"aac", "mp3"}), "m4a": frozenset({"aac"})}
VIDEO_TARGET, AUDIO_TARGET = "h264", "aac"
VIDEO_OPTIONS: dict[str, Any] = {
    "c:v": "libx264", "preset": "veryfast", "crf": "20", "pix_fmt": "yuv420p",
    "vf": "scale=trunc(iw/2)*2:trunc(ih/2)*2", "fps_mode": "passthrough"}
AUDIO_OPTIONS: dict[str, Any] = {"c:a": "aac", "b:a": "128k"}


@dataclass
class AccessPlan:
    """How the access copy is made from the original."""

    suffix: str                               # "mp4" or "m4a" (audio-only lesson)
    options: dict[str, Any] = field(default_factory=dict)  # ffmpeg output options (MuxJob.extra)
    transcoded: dict[str, str] = field(default_factory=dict)  # codec_type -> new codec
    reasons: list[str] = field(default_factory=list)  # one per transcoded stream type

    @property
    def copies(self) -> bool:
        return not self.transcoded

    def describe(self) -> str:
        """One line for the PREMIS event and the provenance."""
        if self.copies:
            return "original streams copied"
        return "transcoded: " + "; ".join(self.reasons)


def audio_only(av: list[dict[str, Any]]) -> bool:
    """An audio-only lesson: no video stream other than cover art (av_streams drops that)."""
    return bool(av) and all(s["codec_type"] == "audio" for s in av)


def plan(av: list[dict[str, Any]]) -> AccessPlan:
    """The access copy of an original whose video/audio streams are `av` (probe.av_streams)."""
    suffix = "m4a" if audio_only(av) else "mp4"
    result = AccessPlan(suffix)
    videos = {s.get("codec_name") or "unknown" for s in av if s["codec_type"] == "video"}
    audios = {s.get("codec_name") or "unknown" for s in av if s["codec_type"] == "audio"}
    if videos - BROWSER_VIDEO:
        result.transcoded["video"] = VIDEO_TARGET
        result.options.update(VIDEO_OPTIONS)
        result.reasons.append(f"video {', '.join(sorted(videos))} -> H.264 (MP4 in every "
                              "browser plays only H.264)")
    if audios - BROWSER_AUDIO[suffix]:
        result.transcoded["audio"] = AUDIO_TARGET
        result.options.update(AUDIO_OPTIONS)
        container = "an M4A" if suffix == "m4a" else "MP4"
        playable = "/".join(sorted(BROWSER_AUDIO[suffix]))
        result.reasons.append(f"audio {', '.join(sorted(audios))} -> AAC ({container} in "
                              f"every browser plays only {playable})")
    if suffix == "m4a":
        result.options["f"] = "ipod"  # the M4A flavour of ffmpeg's MP4 muxer
    return result
