"""Where a file's streams really begin and end, read from its packets (issue 10, item 5).

ffprobe's stream fields do not say enough to check a mux, or to say "within one frame":
- FLV gives no per-stream duration and MPEG-TS only an estimate from the bit rate;
- a stream's `start_time` is its first *presented* sample, but AAC, MP3 and Opus begin with
  priming samples (1024 for ffmpeg's AAC: 23 ms at 44.1 kHz, 64 ms at 16 kHz, 128 ms at
  8 kHz). MP4 hides them behind an edit list (their packets have negative timestamps);
  Matroska has no edit list for AAC, so a remux moves every stream, subtitles included, later
  by that much. How much is a property of the media, not a constant;
- a frame's length is one audio frame at the stream's sample rate (1024/16000 s for AAC at
  16 kHz, 1152/22050 s for MP3 at 22.05 kHz) or the longest video frame (variable frame
  rate: the average says nothing).

So one ffprobe pass over the packets gives, per stream, the first and last timestamps, the
longest packet and the time base; `Timeline` derives from them the origin (the container's
start, 0 on the player's timeline), the lead (how far priming packets reach before it), and
the tolerances the self-check uses (`probe.py`): never a constant, and never so tight that a
correct mux is rejected (the container rounds every timestamp to its time base).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from archiver import cancel
from archiver.errors import Location, MuxError

WEBVTT_TICK = 0.001  # WebVTT and SRT timestamps have millisecond precision


@dataclass(frozen=True)
class StreamSpan:
    """One stream as its packets place it (seconds, on the file's own timeline)."""

    index: int
    kind: str          # ffprobe codec_type
    first: float       # earliest packet pts (negative for MP4's priming packets)
    end: float         # latest pts + duration
    longest: float     # the longest packet: one audio frame, or the longest video frame
    tick: float        # the stream's time base, in seconds
    packets: int


@dataclass
class Timeline:
    """A file's streams from its packets, with the facts and tolerances derived from them."""

    origin: float                     # the container's start time: 0 on the player's timeline
    spans: dict[int, StreamSpan] = field(default_factory=dict)

    def av(self) -> list[StreamSpan]:
        return [s for s in self.spans.values() if s.kind in ("video", "audio")]

    @property
    def lead(self) -> float:
        """How far the earliest packet lies before the origin (priming kept by an edit list)
        or before 0 (priming kept by a codec delay: Opus in WebM starts at -6.5 ms); a
        container without either moves everything later by this much, and a muxer that keeps
        the codec delay may still move the other streams by it."""
        firsts = [s.first for s in self.av()]
        return max(0.0, self.origin - min(firsts), -min(firsts)) if firsts else 0.0

    @property
    def audio_frame(self) -> float:
        """The longest audio frame of any audio stream (0 without audio)."""
        return max((s.longest for s in self.av() if s.kind == "audio"), default=0.0)

    @property
    def video_frame(self) -> float:
        """The longest video frame (variable frame rate: not the average)."""
        return max((s.longest for s in self.av() if s.kind == "video"), default=0.0)

    @property
    def tick(self) -> float:
        """The coarsest time base of its streams: every timestamp is rounded to it."""
        return max((s.tick for s in self.spans.values()), default=WEBVTT_TICK)

    def frame(self, kind: str) -> float:
        return self.video_frame if kind == "video" else self.audio_frame

    def relative_end(self, index: int) -> float | None:
        """A stream's end on the player's timeline (after the origin)."""
        span = self.spans.get(index)
        return None if span is None else span.end - self.origin

    def absolute_end(self, index: int) -> float | None:
        """A stream's end on the file's own timeline."""
        span = self.spans.get(index)
        return None if span is None else span.end

    def duration(self) -> float:
        """From the origin to the end of the last packet (ffprobe has none for some FLVs)."""
        ends = [s.end for s in self.av()] or [s.end for s in self.spans.values()]
        return max(0.0, max(ends, default=self.origin) - self.origin)


def shift_limit(original: Timeline, output: Timeline) -> float:
    """The largest timeline shift a correct stream copy can show: the original's priming lead
    (a container without edit lists moves everything by it) plus one audio frame (a muxer may
    drop or keep a partly primed frame) plus one timestamp tick of either file."""
    return original.lead + max(original.audio_frame, output.audio_frame) + \
        max(original.tick, output.tick)


def _tick(time_base: str | None) -> float:
    try:
        return float(Fraction(time_base or "1/1000"))
    except (ValueError, ZeroDivisionError):
        return WEBVTT_TICK


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "N/A"


PACKET_ENTRIES = "packet=stream_index,pts_time,dts_time,duration_time"


def read(path: Path, info: dict[str, Any], report_commands: list[list[str]] | None = None
         ) -> Timeline:
    """The timeline of `path` (whose ffprobe -show_streams/-show_format is `info`), by one
    more ffprobe pass; `probe.ffprobe(exact=True)` gets both in a single run instead."""
    argv = ["ffprobe", "-v", "error", "-show_entries", PACKET_ENTRIES, "-of", "json", str(path)]
    if report_commands is not None:
        report_commands.append(argv)
    proc = cancel.run(argv, capture_output=True, text=True, errors="replace", check=False,
                      timeout=3600)
    if proc.returncode != 0:
        raise MuxError(f"ffprobe cannot list the packets of {path.name}: "
                       f"{proc.stderr.strip()[-300:]}", Location(path))
    return from_packets(json.loads(proc.stdout or "{}").get("packets", []), info)


def from_packets(packets: list[dict[str, Any]], info: dict[str, Any]) -> Timeline:
    """The timeline of a file from ffprobe's packet entries (`PACKET_ENTRIES`) and its
    -show_streams/-show_format."""
    kinds = {s["index"]: s.get("codec_type", "") for s in info.get("streams", [])}
    ticks = {s["index"]: _tick(s.get("time_base")) for s in info.get("streams", [])}
    firsts: dict[int, float] = {}
    ends: dict[int, float] = {}
    longest: dict[int, float] = {}
    counts: dict[int, int] = {}
    for packet in packets:
        index = packet.get("stream_index")
        if not isinstance(index, int):
            continue
        at = _number(str(packet.get("pts_time", "N/A")))
        if at is None:
            at = _number(str(packet.get("dts_time", "N/A")))  # no pts: dts is the best guess
        if at is None:
            continue
        length = _number(str(packet.get("duration_time", "N/A"))) or 0.0
        firsts[index] = min(at, firsts.get(index, at))
        ends[index] = max(at + length, ends.get(index, at + length))
        longest[index] = max(length, longest.get(index, 0.0))
        counts[index] = counts.get(index, 0) + 1
    fmt_start = _number(str(info.get("format", {}).get("start_time", "N/A")))
    spans = {i: StreamSpan(i, kinds.get(i, ""), firsts[i], ends[i], longest[i],
                           ticks.get(i, WEBVTT_TICK), counts[i]) for i in firsts}
    if fmt_start is None:
        fmt_start = min((s.first for s in spans.values()), default=0.0)
    return Timeline(fmt_start, spans)
