"""A generated local mirror of a lesson: video of the published length, Mandarin speech at the
transcript's timestamps, a poster, and an HTML page that embeds it like the write-up pages do.

The real lesson pages cannot be reached offline (and their video is not ours to ship), so the
demo makes a stand-in that exercises every stage for real: yt-dlp's HTML5 extractor finds the
`<video><source>` on the page, fetch downloads 10:43 of H.264 + AAC, and the subtitle stage
aligns cues to real pauses. `truth.json` records where each clause really is, so alignment
accuracy can be measured. The build is cached in `build.json` by a fingerprint of its inputs;
a rerun with the same inputs does no work.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import html
import json
import math
import subprocess
import textwrap
import time
import wave
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archiver.demo import speech
from archiver.errors import ArchiverError, Location
from archiver.model import Lesson
from archiver.store import (
    atomic_open,
    atomic_write_json,
    atomic_write_text,
    fingerprint,
    publish_file,
    temp_path_for,
)
from archiver.subtitles import transcript

GENERATOR = "lesson-archiver demo mirror 3"  # bump when the output would change
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
MONO = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
NOTES = (261.63, 329.63, 392.00, 523.25, 392.00, 329.63)  # a C-major arpeggio, 0.5 s each


@dataclass(frozen=True)
class MirrorSpec:
    """Everything the mirror is made from (its fingerprint is the cache key)."""

    lesson_id: str
    number: int
    title_en: str
    title_zh: str
    duration: float                       # seconds of video and audio
    paragraphs: tuple[tuple[float, str], ...]  # (timestamp, Chinese text)
    size: str = "640x360"
    fps: int = 25
    music: bool = True                    # a tone jingle before the speech and after it
    outro: float = 3.0                    # at least this much time after the last speech

    @property
    def page_name(self) -> str:
        return f"lesson-{self.number}.html"

    @property
    def media_name(self) -> str:
        return f"media/lesson-{self.number}.mp4"


@dataclass
class Mirror:
    """A built mirror: its folder, the files to serve, and whether this call built it."""

    folder: Path
    spec: MirrorSpec
    built: bool
    seconds: float
    files: dict[str, str] = field(default_factory=dict)  # URL path -> content type

    @property
    def page(self) -> Path:
        return self.folder / self.spec.page_name

    @property
    def media(self) -> Path:
        return self.folder / self.spec.media_name

    @property
    def truth(self) -> Path:
        return self.folder / "truth.json"


def read_transcript(path: Path) -> list[tuple[float, str]]:
    """(timestamp, Chinese text) of each paragraph, read by the subtitle stage's own reader
    (so the demo speaks exactly the text the subtitles are made from)."""
    _format, paragraphs = transcript.read_transcript(path)
    return [(para.start, para.zh) for para in paragraphs]


def spec_for_lesson(lesson: Lesson, paragraphs: Sequence[int] | None = None) -> MirrorSpec:
    """The mirror of a manifest lesson: its published length and its transcript."""
    if lesson.duration_seconds is None or lesson.transcript is None:
        raise ArchiverError("the demo needs a lesson with a published duration and a transcript",
                            Location(lesson=lesson.id))
    found = read_transcript(lesson.transcript)
    chosen = [found[i] for i in paragraphs] if paragraphs is not None else found
    return MirrorSpec(lesson_id=lesson.id, number=lesson.number, title_en=lesson.title.en,
                      title_zh=lesson.title.zh, duration=lesson.duration_seconds,
                      paragraphs=tuple(chosen))


def _tone(seconds: float, amplitude: float = 0.18) -> array.array[int]:
    """A soft arpeggio with fades: music-like, clearly not silence, clearly not speech."""
    notes: dict[float, array.array[int]] = {}
    length = speech.RATE // 2
    for freq in set(NOTES):
        wave_ = array.array("h")
        for i in range(length):
            envelope = min(1.0, i / 400, (length - i) / 2000)
            value = math.sin(2 * math.pi * freq * i / speech.RATE)
            value += 0.3 * math.sin(4 * math.pi * freq * i / speech.RATE)
            wave_.append(int(32767 * amplitude * envelope * value / 1.3))
        notes[freq] = wave_
    out = array.array("h")
    total = int(seconds * speech.RATE)
    index = 0
    while len(out) < total:
        out.extend(notes[NOTES[index % len(NOTES)]])
        index += 1
    del out[total:]
    return out


def _music_spans(spec: MirrorSpec, speech_start: float, speech_end: float
                 ) -> list[dict[str, Any]]:
    """Intro jingle up to 2 s before the speech; outro from 1.5 s after it to 0.5 s before the
    end. Spans shorter than 2 s are left silent."""
    if not spec.music:
        return []
    spans: list[dict[str, Any]] = [
        {"kind": "intro", "start": 1.0, "end": speech_start - 2.0},
        {"kind": "outro", "start": speech_end + 1.5, "end": spec.duration - 0.5}]
    return [s for s in spans if s["end"] - s["start"] >= 2.0]


def _render_audio(spec: MirrorSpec, placed: list[speech.PlacedParagraph], wav: Path
                  ) -> tuple[list[dict[str, Any]], float, float]:
    """Write the soundtrack as a WAV; return the music spans and the speech extent."""
    total = round(spec.duration * speech.RATE)
    track = array.array("h", bytes(2 * total))
    for paragraph in placed:
        for clause in paragraph.clauses:
            if clause.end > total:
                raise ArchiverError(f"speech of paragraph {paragraph.index} runs past the end "
                                    f"of the video ({spec.duration:.0f} s)")
            track[clause.start:clause.end] = clause.samples
    speech_start = placed[0].start / speech.RATE
    speech_end = placed[-1].end / speech.RATE
    spans = _music_spans(spec, speech_start, speech_end)
    for span in spans:
        first = round(span["start"] * speech.RATE)
        tone = _tone(span["end"] - span["start"])
        track[first:first + len(tone)] = tone
    with atomic_open(wav) as handle, wave.open(handle, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(speech.RATE)
        writer.writeframes(track.tobytes())
    return spans, speech_start, speech_end


def _ffmpeg(args: list[str], cwd: Path | None = None) -> list[str]:
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=600, cwd=cwd)
    except FileNotFoundError:
        raise ArchiverError("ffmpeg is needed for the demo: apt-get install ffmpeg") from None
    except subprocess.CalledProcessError as exc:
        raise ArchiverError(f"ffmpeg failed ({exc.returncode}): "
                            f"{exc.stderr.decode(errors='replace').strip()[-400:]}") from None
    return command


def _video_filter(spec: MirrorSpec, caption: str) -> str:
    """The lavfi source; `caption` is a bare file name (in ffmpeg's working folder), so the
    output folder's name never needs filtergraph escaping."""
    graph = f"color=c=0x1a3c6e:s={spec.size}:r={spec.fps}:d={spec.duration}"
    if FONT.is_file() and MONO.is_file():  # text is decoration: without the fonts, plain colour
        graph += (f",drawtext=fontfile={FONT}:textfile={caption}:x=32:y=32:fontsize=22:"
                  "fontcolor=white:line_spacing=10"
                  f",drawtext=fontfile={MONO}:text='%{{pts\\:hms}}':x=32:y=h-64:fontsize=30:"
                  "fontcolor=white")
    return graph


def _render_media(spec: MirrorSpec, wav: Path, mp4: Path, poster: Path) -> list[list[str]]:
    caption = temp_path_for(mp4.with_name("caption.txt"))  # mkstemp names need no escaping
    video_tmp, poster_tmp = temp_path_for(mp4).resolve(), temp_path_for(poster).resolve()
    commands = []
    try:
        lines = textwrap.wrap(f"Lesson {spec.number}: {spec.title_en}", 48)
        lines += ["", "Offline demo mirror: generated video,", "espeak-ng Mandarin speech"]
        caption.write_text("\n".join(lines) + "\n", "utf-8")
        commands.append(_ffmpeg([
            "-f", "lavfi", "-i", _video_filter(spec, caption.name), "-i", str(wav.resolve()),
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast",
            "-pix_fmt", "yuv420p", "-crf", "28", "-g", str(2 * spec.fps),
            "-c:a", "aac", "-aac_coder", "fast", "-b:a", "64k", "-ar", "44100",
            "-t", str(spec.duration), "-movflags", "+faststart",
            "-metadata", f"title=Lesson {spec.number}: {spec.title_en}", "-f", "mp4",
            str(video_tmp)], cwd=caption.parent))
        publish_file(video_tmp, mp4)
        commands.append(_ffmpeg(["-ss", "0.5", "-i", str(mp4), "-frames:v", "1", "-q:v", "4",
                                 "-f", "image2", str(poster_tmp)]))
        publish_file(poster_tmp, poster)
    finally:  # published files were renamed away; whatever is left is a failed attempt's
        for leftover in (caption, video_tmp, poster_tmp):
            leftover.unlink(missing_ok=True)
    return commands


def render_page(spec: MirrorSpec) -> str:
    """The lesson page: a static HTML5 `<video>` that yt-dlp's generic extractor understands."""
    title = html.escape(spec.title_zh or spec.title_en)
    return f"""<!DOCTYPE html>
<html lang="zh-Hans">
<head>
<meta charset="utf-8">
<title>{title}</title>
</head>
<body>
<h1>{title}</h1>
<p lang="en">{html.escape(spec.title_en)} (offline demo mirror of lesson {spec.number})</p>
<video controls width="640" poster="media/poster.jpg" preload="metadata">
<source src="{html.escape(spec.media_name)}" type="video/mp4">
</video>
</body>
</html>
"""


def _truth(spec: MirrorSpec, placed: list[speech.PlacedParagraph], spans: list[dict[str, Any]],
           tts: str) -> dict[str, Any]:
    def sec(samples: int) -> float:
        return round(samples / speech.RATE, 4)

    return {
        "schema": "lesson-archiver/demo-truth/1",
        "lesson": spec.lesson_id, "duration": spec.duration, "sample_rate": speech.RATE,
        "tts": tts, "voice": "cmn", "silence_threshold_dbfs": -40,
        "pause_seconds": speech.PAUSES, "lead_in": speech.LEAD_IN,
        "speech": {"start": sec(placed[0].start), "end": sec(placed[-1].end)},
        "music": spans,
        "paragraphs": [{
            "index": p.index, "timestamp": p.timestamp, "speed": p.speed, "zh": p.zh,
            "start": sec(p.start), "end": sec(p.end),
            "clauses": [{"text": c.clause.text, "punct": c.clause.punct,
                         "pause": c.clause.kind, "start": sec(c.start), "end": sec(c.end)}
                        for c in p.clauses],
        } for p in placed],
    }


def _tool_versions() -> dict[str, str]:
    try:
        ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True,
                                check=True).stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        raise ArchiverError("ffmpeg is needed for the demo: apt-get install ffmpeg") from None
    return {"ffmpeg": ffmpeg, "espeak-ng": speech.espeak_version()}


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """Two demos started at once build the mirror one after the other, not interleaved."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".build.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _served(spec: MirrorSpec) -> dict[str, str]:
    return {spec.page_name: "text/html; charset=utf-8", spec.media_name: "video/mp4",
            "media/poster.jpg": "image/jpeg"}


def _cached(folder: Path, fp: str) -> dict[str, Any] | None:
    try:
        record = json.loads((folder / "build.json").read_text("utf-8"))
        if record.get("fingerprint") != fp:
            return None
        for name, size in record["files"].items():
            if (folder / name).stat().st_size != size:
                return None
        return dict(record)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def build_mirror(folder: Path, spec: MirrorSpec, jobs: int = 2, force: bool = False) -> Mirror:
    """Build the mirror in `folder` unless an identical build is already there.

    Files appear atomically; `build.json` is written last, so an interrupted build is simply
    redone on the next call.
    """
    tools = _tool_versions()
    fp = fingerprint(GENERATOR, asdict(spec), tools)
    with _build_lock(folder):
        record = None if force else _cached(folder, fp)
        if record is not None:
            return Mirror(folder, spec, built=False, seconds=0.0, files=_served(spec))
        if not spec.paragraphs:
            raise ArchiverError("the mirror needs at least one transcript paragraph")
        started = time.monotonic()
        phases: dict[str, float] = {}
        placed = speech.plan_speech(spec.paragraphs, spec.duration - spec.outro, jobs)
        phases["speech"] = time.monotonic() - started
        wav = temp_path_for(folder / "media" / "soundtrack.wav")
        try:
            spans, _, _ = _render_audio(spec, placed, wav)
            phases["soundtrack"] = time.monotonic() - started - sum(phases.values())
            commands = _render_media(spec, wav, folder / spec.media_name,
                                     folder / "media" / "poster.jpg")
            phases["encode"] = time.monotonic() - started - sum(phases.values())
        finally:
            wav.unlink(missing_ok=True)
        atomic_write_text(folder / spec.page_name, render_page(spec))
        atomic_write_json(folder / "truth.json", _truth(spec, placed, spans, tools["espeak-ng"]))
        files = {name: (folder / name).stat().st_size for name in [*_served(spec), "truth.json"]}
        seconds = round(time.monotonic() - started, 2)
        atomic_write_json(folder / "build.json", {
            "generator": GENERATOR, "fingerprint": fp, "spec": asdict(spec), "tools": tools,
            "files": files, "commands": commands, "seconds": seconds,
            "phase_seconds": {k: round(v, 2) for k, v in phases.items()}})
        return Mirror(folder, spec, built=True, seconds=seconds, files=_served(spec))
