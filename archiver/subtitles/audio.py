"""Pauses in the sound track, found by ffmpeg in one decoding pass.

Two detectors, one ffmpeg run each (argument lists, never a shell):

- "levels" (default): ffmpeg measures the RMS level of every 25 ms of the first audio stream
  (`astats` + `ametadata`); the threshold is then set *from this recording*: between its
  noise floor (10th percentile) and its speech level (80th percentile). A fixed threshold
  fails on quiet recordings and on lectures with a music bed under the voice (the bed never
  falls below -35 dB, so no pause is ever "silent"); a relative one still sees the dips.
- "silencedetect": ffmpeg's `silencedetect` with a fixed threshold (-35 dB, 0.2 s), kept for
  comparison and for recordings where the adaptive estimate is wrong.

Both decode only the audio, downmixed to mono at 8 kHz: pauses need no more, and it keeps a
10-minute track well under a second.

Times are on the timeline a player shows, where 0 is the container's start: the decoder's
first sample is at the audio stream's start, which need not be the container's (an MPEG-TS
capture whose audio begins after its video, an MP4 whose audio track starts late), so every
pause is moved by that difference (`audio_offset`, from ffprobe). Codec priming needs no
correction: where the container has an edit list (MP4) the decoder drops the priming
samples, and where it has none (Matroska, FLV, MPEG-TS) the speech really is heard that much
later, as it is in the packaged master.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver import cancel
from archiver.errors import Location, SubtitleError
from archiver.options import PauseMethod

Method = PauseMethod  # the pause detectors, named once in archiver/options.py (--pause-method)
NOISE_DB = -35.0  # silencedetect's fixed threshold
MIN_PAUSE = 0.2  # shorter gaps occur inside words; clause pauses are 0.2-0.8 s
FRAME = 200  # samples at 8 kHz: 25 ms per level
RATE = 8000
FLOOR_PERCENTILE, SPEECH_PERCENTILE = 0.10, 0.80
SPLIT = 0.4  # threshold = floor + SPLIT * (speech - floor), in dB
MIN_CONTRAST = 12.0  # dB between floor and speech below which no pause can be trusted

SILENCE_START = re.compile(r"silence_start: (-?[\d.]+)")
SILENCE_END = re.compile(r"silence_end: (-?[\d.]+)")
DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
LEVEL = re.compile(r"RMS_level=(-?(?:inf|[\d.]+))")


@dataclass(frozen=True)
class Pause:
    start: float
    end: float


@dataclass
class AudioScan:
    """What the sound track told us: its duration, its pauses and how we asked."""

    duration: float | None
    pauses: list[Pause]
    command: list[str]
    seconds: float = 0.0
    method: Method = "levels"
    levels: dict[str, Any] = field(default_factory=dict)  # floor, speech, threshold (dB)


class NoAudio(Exception):
    """The media has no sound track (timing falls back to proportional)."""


def _input(media: Path) -> list[str]:
    return ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-vn", "-sn", "-dn",
            "-i", str(media), "-map", "0:a:0"]


def levels_command(media: Path) -> list[str]:
    return [*_input(media), "-af",
            f"aformat=channel_layouts=mono,aresample={RATE},asetnsamples=n={FRAME}:p=0,"
            "astats=metadata=1:reset=1:measure_perchannel=none:measure_overall=RMS_level,"
            "ametadata=mode=print:key=lavfi.astats.Overall.RMS_level:file=-",
            "-f", "null", "-"]


def silence_command(media: Path, noise_db: float = NOISE_DB,
                    min_pause: float = MIN_PAUSE) -> list[str]:
    return [*_input(media), "-af",
            f"aformat=channel_layouts=mono,aresample={RATE},"
            f"silencedetect=noise={noise_db}dB:d={min_pause}", "-f", "null", "-"]


def _run(command: list[str], media: Path) -> tuple[str, str, float | None]:
    try:
        proc = cancel.run(command, capture_output=True, text=True, errors="replace",
                          check=False)
    except OSError as exc:  # ffmpeg missing or not executable
        raise SubtitleError(f"cannot run ffmpeg: {exc.strerror or exc}",
                            Location(file=media)) from None
    if proc.returncode != 0:
        if "matches no streams" in proc.stderr:
            raise NoAudio(str(media))
        last = [line for line in proc.stderr.splitlines() if line.strip()][-1:] or ["?"]
        raise SubtitleError(f"ffmpeg could not read the sound track: {last[0]}",
                            Location(file=media))
    duration = None
    if match := DURATION.search(proc.stderr):
        h, m, s = match.groups()
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    return proc.stdout, proc.stderr, duration


def audio_offset(media: Path) -> float:
    """Where the first audio stream starts on the player's timeline (its start_time minus
    the container's), by ffprobe. A file ffprobe cannot read is a SubtitleError quoting it."""
    command = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
               "format=start_time:stream=start_time", "-of", "json", str(media)]
    try:
        proc = cancel.run(command, capture_output=True, text=True, errors="replace",
                          check=False, timeout=600)
    except OSError as exc:
        raise SubtitleError(f"cannot run ffprobe: {exc.strerror or exc}",
                            Location(file=media)) from None
    if proc.returncode != 0:
        said = " | ".join(line.strip() for line in proc.stderr.splitlines()[-2:]
                          if line.strip()).replace(str(media), media.name) or "no output"
        raise SubtitleError(f"ffmpeg cannot read {media.name}; ffprobe said: {said}",
                            Location(file=media))
    try:
        data = json.loads(proc.stdout or "{}")
        container = float(data.get("format", {}).get("start_time") or 0.0)
        streams = data.get("streams") or []
        if not streams:
            raise NoAudio(str(media))
        return float(streams[0].get("start_time") or container) - container
    except (ValueError, TypeError, AttributeError):
        return 0.0  # "N/A" start times: the decoder's first sample is the container's start


def _moved(pauses: list[Pause], offset: float) -> list[Pause]:
    if abs(offset) < 0.0005:
        return pauses
    return [Pause(round(max(0.0, p.start + offset), 3), round(max(0.0, p.end + offset), 3))
            for p in pauses]


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pauses_from_levels(levels: list[float], frame: float = FRAME / RATE,
                       min_pause: float = MIN_PAUSE) -> tuple[list[Pause], dict[str, Any]]:
    """Runs of frames below an adaptive threshold, at least `min_pause` long."""
    finite = sorted(max(x, -120.0) for x in levels)
    if not finite:
        return [], {}
    floor = _percentile(finite, FLOOR_PERCENTILE)
    speech = _percentile(finite, SPEECH_PERCENTILE)
    threshold = floor + SPLIT * (speech - floor)
    stats: dict[str, Any] = {"floor_db": round(floor, 1), "speech_db": round(speech, 1),
             "threshold_db": round(threshold, 1)}
    if speech - floor < MIN_CONTRAST:  # noise, music or silence throughout: no usable pauses
        stats["note"] = f"speech only {speech - floor:.1f} dB above the floor"
        return [], stats
    pauses: list[Pause] = []
    run_start: int | None = None
    for i, level in enumerate([*levels, math.inf]):
        if level < threshold:
            if run_start is None:
                run_start = i
        elif run_start is not None:
            if (i - run_start) * frame >= min_pause:
                pauses.append(Pause(round(run_start * frame, 3), round(i * frame, 3)))
            run_start = None
    return pauses, stats


def detect_pauses(media: Path, method: Method = "levels") -> AudioScan:
    """Pauses of the media's first audio stream (see the module docstring for the methods)."""
    began = time.monotonic()
    offset = audio_offset(media)
    if method == "silencedetect":
        command = silence_command(media)
        _, err, duration = _run(command, media)
        pauses: list[Pause] = []
        opened: float | None = None
        for line in err.splitlines():
            if (start := SILENCE_START.search(line)) is not None:
                opened = max(0.0, float(start.group(1)))
            elif (end := SILENCE_END.search(line)) is not None and opened is not None:
                pauses.append(Pause(opened, float(end.group(1))))
                opened = None
        if opened is not None and duration is not None and duration > opened:
            pauses.append(Pause(opened, duration))  # trailing silence up to the end
        return AudioScan(duration, _moved(pauses, offset), command,
                         time.monotonic() - began, method,
                         {"threshold_db": NOISE_DB, "audio_offset": round(offset, 3)})
    command = levels_command(media)
    out, _, duration = _run(command, media)
    levels = [-math.inf if m.group(1) == "-inf" else float(m.group(1))
              for m in LEVEL.finditer(out)]
    pauses, stats = pauses_from_levels(levels)
    stats["audio_offset"] = round(offset, 3)
    return AudioScan(duration, _moved(pauses, offset), command, time.monotonic() - began,
                     method, stats)
