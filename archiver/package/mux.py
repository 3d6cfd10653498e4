"""Build and run the ffmpeg muxes (the master's A/V part, the MP4 access copy) with ffmpeg-python.

Both read the original and the .vtt files, never the master: ffmpeg 5.1 cannot read the
master's `S_TEXT/WEBVTT` tracks. `kind="mkv"` writes the A/V-only Matroska file (tags and
chapters from the ffmetadata, no subtitles, no attachment) that `master.py` hands to mkvmerge.

ffmpeg-python builds the argument list (never a shell string). Its quirks, checked by
`tests/test_package_mux.py` against `get_args()`:
- output options come from a sorted dict, so a key cannot repeat: the language of subtitle N
  goes under `metadata:s:s:N` and its title/handler_name under `metadata:s:<absolute index>`
  (two spellings of the same stream), the attachment's mimetype under `metadata:s:t`;
- an input appears only if one of its streams is mapped, so the ffmetadata input is mapped as
  `N:s?` (it has no streams; `?` makes that a no-op) and its index N is read back from the
  compiled argument list instead of assumed;
- `global_args()` would land after the output, where ffmpeg ignores it, so the global flags
  are prepended to `get_args()` here.
Nothing is re-encoded except the subtitles of the MP4 (MP4 cannot hold WebVTT, so they become
`mov_text`) and, in the access copy only, streams no browser plays from MP4 (`access.py` puts
their encoder options in `MuxJob.extra`).
ffmpeg writes to a temporary name beside the final one, which is published only on success:
a failed mux leaves ffmpeg's 0-byte or partial output under no final name.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import ffmpeg

from archiver import cancel
from archiver.errors import Location, MuxError
from archiver.model import Track
from archiver.store import publish_file, temp_path_for

THREAD_QUEUE = 1024  # packets; bounds memory at ~1024 video/audio packets
GLOBAL_FLAGS = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]


@dataclass
class MuxJob:
    kind: Literal["mkv", "mp4"]
    original: Path
    av_streams: int  # video (not cover art) + audio streams of the original (mapped first)
    tracks: list[Track]
    metadata: Path  # ffmetadata file: global tags + chapters
    output: Path  # final name
    lesson: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _output_options(job: MuxJob) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if job.kind == "mkv":
        options.update({"f": "matroska", "c": "copy"})
        name_key = "title"
    else:
        options.update({"f": "mp4", "c:v": "copy", "c:a": "copy", "c:s": "mov_text",
                        "movflags": "+faststart+use_metadata_tags"})
        name_key = "handler_name"
    for n, track in enumerate(job.tracks):
        options[f"metadata:s:s:{n}"] = f"language={track.spec.iso639_2}"
        options[f"metadata:s:{job.av_streams + n}"] = f"{name_key}={track.spec.label}"
        options[f"disposition:s:{n}"] = "default" if track.spec.default else "0"
    options.update(job.extra)
    return options


def build(job: MuxJob, target: Path) -> Any:
    """The ffmpeg-python output node writing `target` (inputs: original, tracks, metadata)."""
    # ffmpeg 5.1 reads each input on its own thread once there are several inputs; the
    # default 8-packet queue makes the reader and the muxer wake each other for every packet
    # (measured: 0.224 s -> 0.157 s for the 10:43 demo lesson; 2 streams alone: 0.134 s).
    original = ffmpeg.input(str(job.original), thread_queue_size=THREAD_QUEUE)
    # `V`: video that is not an attached picture (cover art would become an MKV attachment);
    # `?`: an audio-only lesson has none (its master is an MKA, its access copy an M4A)
    streams = [original["V?"], original["a?"]]
    streams += [ffmpeg.input(str(t.path), f="webvtt")["s"] for t in job.tracks]
    meta = ffmpeg.input(str(job.metadata), f="ffmetadata")
    streams.append(meta["s?"])
    options = _output_options(job)
    probe = ffmpeg.output(*streams, str(target), **options).get_args()
    inputs = [probe[i + 1] for i, a in enumerate(probe) if a == "-i"]
    expected = [str(job.original), *(str(t.path) for t in job.tracks), str(job.metadata)]
    if inputs != expected:  # subtitle/metadata indices below rely on this order
        raise MuxError(f"ffmpeg-python ordered the inputs unexpectedly: {inputs}",
                       Location(lesson=job.lesson or None))
    index = inputs.index(str(job.metadata))
    options.update({"map_metadata": index, "map_chapters": index})
    return ffmpeg.output(*streams, str(target), **options)


def command(job: MuxJob, target: Path) -> list[str]:
    return [*GLOBAL_FLAGS, *build(job, target).get_args()]


def failure(job: MuxJob, returncode: int, stderr: str, written: int) -> str:
    """Why ffmpeg failed, in words: the signal that killed it (a negative return code; e.g.
    SIGXFSZ when a file size limit is hit, since subprocess restores that signal's default
    action in children), or its exit status, with the last lines of its stderr either way."""
    what = f"{job.original.name} ({job.kind})"
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        meaning = signal.strsignal(number) or ""
        meaning = meaning[:1].lower() + meaning[1:]
        message = f"ffmpeg was killed by {name}{': ' + meaning if meaning else ''} " \
                  f"while muxing {what} ({written} bytes written)"
    elif returncode != 0:
        message = f"ffmpeg failed to mux {what}: exit status {returncode}"
    else:
        message = f"ffmpeg failed to mux {what}: it exited normally but wrote nothing"
    tail = " | ".join(line.strip() for line in stderr.strip().splitlines()[-3:]
                      if line.strip())
    return f"{message}; ffmpeg said: {tail}" if tail else message


def run(job: MuxJob, timeout: float = 3600.0) -> list[str]:
    """Mux `job` to a temporary name, then publish it under `job.output`; return the argv.

    Raises MuxError (with ffmpeg's last error lines) and leaves no file under the final name
    when ffmpeg fails or produces nothing.
    """
    tmp = temp_path_for(job.output)
    argv = command(job, tmp)
    try:
        try:
            proc = cancel.run(argv, capture_output=True, text=True, timeout=timeout,
                              check=False)
        except subprocess.TimeoutExpired:
            raise MuxError(f"ffmpeg did not finish within {timeout:.0f} s",
                           Location(job.output, lesson=job.lesson or None)) from None
        if proc.returncode != 0 or tmp.stat().st_size == 0:
            raise MuxError(failure(job, proc.returncode, proc.stderr, tmp.stat().st_size),
                           Location(job.output, lesson=job.lesson or None))
        publish_file(tmp, job.output)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return argv
