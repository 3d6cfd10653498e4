"""A matrix of short clips shaped like the media real lecture sites serve, made by real ffmpeg.

Each `MediaVariant` is one combination seen in the wild: sample rates from 8 kHz telephone
recordings to 48 kHz, mono and stereo; AAC, MP3, Opus, Vorbis, MP2; H.264, HEVC, VP8, VP9, AV1,
MPEG-2, Sorenson Spark; MP4, MOV, MPEG-TS starting at 1.4 s, FLV (no per-stream duration),
WebM, Matroska; variable frame rate; video without audio; audio only. Every clip carries the
same soundtrack: Mandarin speech by espeak-ng in two bursts whose onsets are placed exactly at
`BURSTS` seconds on the presentation timeline (the timeline a player shows, starting at 0
whatever the container's start time), with faint room noise between them, and the same
two-paragraph transcript whose timestamps are those onsets. So a subtitle stage that aligns
cues to the audio can be checked against truth, clip by clip.

The build is cached in `corpus.json` under a fingerprint of the generator, the variants and
the tools' versions: a rerun with the same inputs does no work.
"""

from __future__ import annotations

import array
import json
import random
import subprocess
import time
import wave
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archiver.demo import speech
from archiver.errors import ArchiverError
from archiver.store import (
    atomic_write_json,
    atomic_write_text,
    fingerprint,
    publish_file,
    temp_path_for,
)

GENERATOR = "lesson-archiver media corpus 1"  # bump when the output would change
DURATION = 5.0       # seconds of every clip
BURSTS = (1.0, 3.0)  # speech onsets on the presentation timeline (s), whole seconds
PHRASES = (("Digital China.", "数字中国。"), ("Advance it together.", "共同推进。"))
SPEED = 240          # espeak-ng words per minute, close to a lecturer
NOISE = 40           # room noise amplitude (about -58 dBFS): real rooms are never silent
SIZE, FPS = "256x144", 25
TS_START = 1.4       # where real MPEG-TS sources start (and ffmpeg's own default)


@dataclass(frozen=True)
class MediaVariant:
    """One clip: what it is made of, what ffprobe must find in it, and why it exists."""

    id: str
    ext: str                        # file suffix, without the dot
    format: str                     # a name in ffprobe's format_name (e.g. "mpegts")
    video: str | None               # ffprobe codec_name of the video stream, None if none
    audio: str | None               # ffprobe codec_name of the audio stream, None if none
    sample_rate: int | None = None  # of the audio stream as ffprobe reports it
    channels: int | None = None
    start: float = 0.0              # the container's start time (format start_time)
    vfr: bool = False               # frames of varying duration
    stream_duration: bool = True    # False where ffprobe gives no per-stream duration (FLV)
    encode: tuple[str, ...] = ()    # ffmpeg output options (codecs, muxer)
    note: str = ""                  # the real-world source this stands for

    @property
    def file_name(self) -> str:
        return f"{self.id}.{self.ext}"

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def has_video(self) -> bool:
        return self.video is not None


X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(FPS))
X265 = ("-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-x265-params", "log-level=error")
VP8 = ("-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "16", "-b:v", "300k")
VP9 = ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
       "-b:v", "300k")
AV1 = ("-c:v", "libsvtav1", "-preset", "12", "-g", str(FPS))
MPEG2 = ("-c:v", "mpeg2video", "-q:v", "5", "-g", "12")
SPARK = ("-c:v", "flv", "-q:v", "5")


def _aac(rate: int, channels: int) -> tuple[str, ...]:
    return ("-c:a", "aac", "-ar", str(rate), "-ac", str(channels))


def _mp3(rate: int, channels: int) -> tuple[str, ...]:
    return ("-c:a", "libmp3lame", "-q:a", "5", "-ar", str(rate), "-ac", str(channels))


OPUS = ("-c:a", "libopus", "-b:a", "48k", "-ar", "48000")
VORBIS = ("-c:a", "libvorbis", "-q:a", "3", "-ar", "44100", "-ac", "2")
MP2 = ("-c:a", "mp2", "-b:a", "128k", "-ar", "48000", "-ac", "2")
MP4 = ("-movflags", "+faststart", "-f", "mp4")
TS = ("-muxdelay", "0", "-muxpreload", "0", "-output_ts_offset", str(TS_START), "-f", "mpegts")


def _aac_mp4(rate: int, channels: int, note: str) -> MediaVariant:
    layout = "mono" if channels == 1 else "stereo"
    return MediaVariant(f"mp4-h264-aac-{rate}-{layout}", "mp4", "mp4", "h264", "aac", rate,
                        channels, encode=(*X264, *_aac(rate, channels), *MP4), note=note)


VARIANTS: tuple[MediaVariant, ...] = (
    _aac_mp4(8000, 1, "telephone-quality recording; AAC priming is 128 ms here"),
    _aac_mp4(11025, 2, "old screen-capture software"),
    _aac_mp4(16000, 1, "the usual lecture-capture rate; AAC priming is 64 ms here"),
    _aac_mp4(16000, 2, "lecture capture, stereo"),
    _aac_mp4(22050, 1, "podcast-style speech encoding"),
    _aac_mp4(32000, 2, "DV / broadcast-derived audio"),
    _aac_mp4(44100, 2, "the common web encode"),
    _aac_mp4(48000, 2, "camera or studio master"),
    MediaVariant("mov-h264-aac-48000-stereo", "mov", "mov", "h264", "aac", 48000, 2,
                 encode=(*X264, *_aac(48000, 2), "-f", "mov"), note="QuickTime upload"),
    MediaVariant("mp4-hevc-aac-48000-stereo", "mp4", "mp4", "hevc", "aac", 48000, 2,
                 encode=(*X265, "-tag:v", "hvc1", *_aac(48000, 2), *MP4),
                 note="phone recording (HEVC); browsers other than Safari rarely play it"),
    MediaVariant("mkv-h264-aac-44100-stereo", "mkv", "matroska", "h264", "aac", 44100, 2,
                 encode=(*X264, *_aac(44100, 2), "-f", "matroska"), note="OBS recording"),
    MediaVariant("webm-vp8-vorbis-44100-stereo", "webm", "webm", "vp8", "vorbis", 44100, 2,
                 encode=(*VP8, *VORBIS, "-f", "webm"), note="early HTML5 video sites"),
    MediaVariant("webm-vp9-opus-48000-stereo", "webm", "webm", "vp9", "opus", 48000, 2,
                 encode=(*VP9, *OPUS, "-ac", "2", "-f", "webm"), note="modern WebM"),
    MediaVariant("mkv-av1-opus-48000-mono", "mkv", "matroska", "av1", "opus", 48000, 1,
                 encode=(*AV1, *OPUS, "-ac", "1", "-f", "matroska"), note="AV1 re-encodes"),
    MediaVariant("ts-h264-aac-44100-stereo-offset", "ts", "mpegts", "h264", "aac", 44100, 2,
                 start=TS_START, encode=(*X264, *_aac(44100, 2), *TS),
                 note="HLS segment or IPTV capture: timestamps start at 1.4 s"),
    MediaVariant("ts-mpeg2-mp2-48000-stereo-offset", "ts", "mpegts", "mpeg2video", "mp2",
                 48000, 2, start=TS_START, encode=(*MPEG2, *MP2, *TS),
                 note="broadcast recording (DVB): MPEG-2 video, MPEG-1 layer II audio"),
    MediaVariant("flv-h264-aac-44100-stereo", "flv", "flv", "h264", "aac", 44100, 2,
                 stream_duration=False, encode=(*X264, *_aac(44100, 2), "-f", "flv"),
                 note="Flash-era lecture archive; ffprobe gives no stream duration"),
    MediaVariant("flv-spark-mp3-22050-mono", "flv", "flv", "flv1", "mp3", 22050, 1,
                 stream_duration=False, encode=(*SPARK, *_mp3(22050, 1), "-f", "flv"),
                 note="the oldest Flash video: Sorenson Spark and MP3"),
    MediaVariant("mp4-h264-mp3-44100-stereo", "mp4", "mp4", "h264", "mp3", 44100, 2,
                 encode=(*X264, *_mp3(44100, 2), *MP4), note="MP3 in MP4 from old encoders"),
    MediaVariant("mp4-h264-vfr-aac-44100-stereo", "mp4", "mp4", "h264", "aac", 44100, 2,
                 vfr=True, encode=("-vf", "select='if(lt(t,2),not(mod(n,2)),1)'",
                                   "-fps_mode", "vfr", *X264, *_aac(44100, 2), *MP4),
                 note="screen recording: frames only when the screen changes"),
    MediaVariant("mp4-h264-noaudio", "mp4", "mp4", "h264", None,
                 encode=(*X264, "-an", *MP4), note="slides-only video, sound never recorded"),
    MediaVariant("m4a-aac-16000-mono", "m4a", "mp4", None, "aac", 16000, 1,
                 encode=("-vn", *_aac(16000, 1), "-movflags", "+faststart", "-f", "ipod"),
                 note="audio-only lecture (podcast feed)"),
    MediaVariant("mp3-44100-mono", "mp3", "mp3", None, "mp3", 44100, 1,
                 encode=("-vn", *_mp3(44100, 1), "-f", "mp3"), note="audio-only lecture"),
    MediaVariant("opus-48000-mono", "opus", "ogg", None, "opus", 48000, 1,
                 encode=("-vn", *OPUS, "-ac", "1", "-f", "ogg"), note="audio-only, Ogg Opus"),
)


@dataclass
class BuiltVariant:
    """A variant made on disk: the clip, its transcript and its truth."""

    variant: MediaVariant
    path: Path
    transcript: Path
    bursts: tuple[float, ...]  # speech onsets placed on the presentation timeline (truth)
    command: list[str] = field(default_factory=list)


@dataclass
class MediaCorpus:
    folder: Path
    variants: dict[str, BuiltVariant]
    built: bool
    seconds: float
    missing: dict[str, str] = field(default_factory=dict)  # variant id -> why it was skipped

    def __getitem__(self, variant_id: str) -> BuiltVariant:
        return self.variants[variant_id]

    def with_video(self) -> list[BuiltVariant]:
        return [v for v in self.variants.values() if v.variant.has_video]


def transcript_text(phrases: Sequence[tuple[str, str]] = PHRASES,
                    bursts: Sequence[float] = BURSTS) -> str:
    """The seed-format transcript (`mm:ss`, English, Chinese) of the corpus soundtrack."""
    blocks = []
    for (en, zh), at in zip(phrases, bursts, strict=True):
        blocks.append(f"{int(at) // 60:02d}:{int(at) % 60:02d}\n{en}\n{zh}\n")
    return "".join(blocks)


def _soundtrack(wav: Path) -> None:
    """Speech bursts at `BURSTS`, room noise elsewhere, DURATION long, espeak-ng's rate."""
    rng = random.Random(13)
    total = round(DURATION * speech.RATE)
    track = array.array("h", (rng.randint(-NOISE, NOISE) for _ in range(total)))
    for (_en, zh), at in zip(PHRASES, BURSTS, strict=True):
        samples = speech.synthesize(zh, SPEED)
        first = round(at * speech.RATE)
        if first + len(samples) > total:
            raise ArchiverError(f"corpus speech {zh!r} runs past {DURATION} s")
        track[first:first + len(samples)] = samples
    tmp = temp_path_for(wav)
    try:
        with wave.open(str(tmp), "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(speech.RATE)
            writer.writeframes(track.tobytes())
        publish_file(tmp, wav)
    finally:
        tmp.unlink(missing_ok=True)


def encode_command(variant: MediaVariant, wav: Path, out: Path) -> list[str]:
    """The ffmpeg command of one variant: a test pattern and the soundtrack, encoded."""
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={FPS}:duration={DURATION}"]
    if variant.vfr:  # a 50 fps source, half the frames dropped in the first 2 s
        inputs = ["-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate=50:duration={DURATION}"]
    maps = ["-map", "0:v"] if variant.has_video else []
    if variant.has_audio:
        inputs += ["-i", str(wav)]
        maps += ["-map", "1:a"]
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *inputs, *maps,
            "-t", str(DURATION), *variant.encode, str(out)]


def _encode(variant: MediaVariant, wav: Path, folder: Path) -> tuple[Path, list[str]]:
    final = folder / variant.file_name
    tmp = temp_path_for(final)
    command = encode_command(variant, wav, tmp)
    try:
        proc = subprocess.run(command, capture_output=True, text=True, errors="replace",
                              timeout=300, check=False)
        if proc.returncode != 0:
            raise ArchiverError(f"ffmpeg could not make corpus variant {variant.id}: "
                                f"{proc.stderr.strip()[-400:]}")
        publish_file(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final, [*command[:-1], final.name]


def encoders() -> set[str]:
    """Names of the encoders this ffmpeg has (`ffmpeg -encoders`)."""
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[1] for line in out.splitlines()
            if len(line.split()) > 1 and line.startswith(" ") and "=" not in line.split()[1]}


def _unavailable(variant: MediaVariant, available: set[str]) -> str | None:
    wanted = [variant.encode[i + 1] for i, opt in enumerate(variant.encode)
              if opt in ("-c:v", "-c:a")]
    missing = [name for name in wanted if name not in available]
    return f"this ffmpeg has no {', '.join(missing)} encoder" if missing else None


def _versions() -> dict[str, str]:
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True,
                            check=True).stdout.splitlines()[0]
    return {"ffmpeg": ffmpeg, "espeak-ng": speech.espeak_version()}


def _reuse(folder: Path, key: str, chosen: Sequence[MediaVariant]) -> MediaCorpus | None:
    try:
        record = json.loads((folder / "corpus.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != key:
        return None
    built: dict[str, BuiltVariant] = {}
    for variant in chosen:
        entry = record["variants"].get(variant.id)
        if entry is None:
            continue
        path = folder / variant.file_name
        if not path.is_file():
            return None
        built[variant.id] = BuiltVariant(variant, path, folder / f"{variant.id}.txt",
                                         tuple(entry["bursts"]), list(entry["command"]))
    return MediaCorpus(folder, built, False, 0.0, dict(record.get("missing", {})))


def build_media(folder: Path, variants: Iterable[MediaVariant] = VARIANTS,
                jobs: int = 2) -> MediaCorpus:
    """Make every variant in `folder` (or reuse the cached build); variants whose encoder this
    ffmpeg lacks are listed in `missing` with the reason, never silently dropped."""
    began = time.monotonic()
    chosen = list(variants)
    key = fingerprint(GENERATOR, [asdict(v) for v in chosen], _versions(), PHRASES, BURSTS)
    folder.mkdir(parents=True, exist_ok=True)
    if (cached := _reuse(folder, key, chosen)) is not None:
        return cached
    available = encoders()
    missing = {v.id: why for v in chosen if (why := _unavailable(v, available)) is not None}
    wav = folder / "soundtrack.wav"
    _soundtrack(wav)
    text = transcript_text()
    todo = [v for v in chosen if v.id not in missing]

    def make(variant: MediaVariant) -> BuiltVariant:
        path, command = _encode(variant, wav, folder)
        transcript = folder / f"{variant.id}.txt"
        atomic_write_text(transcript, text)
        bursts = BURSTS if variant.has_audio else ()
        return BuiltVariant(variant, path, transcript, bursts, command)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        built = {b.variant.id: b for b in pool.map(make, todo)}
    record: dict[str, Any] = {
        "fingerprint": key, "generator": GENERATOR, "missing": missing,
        "variants": {vid: {"file": b.path.name, "bursts": list(b.bursts),
                           "command": b.command}
                     for vid, b in built.items()}}
    atomic_write_json(folder / "corpus.json", record)
    return MediaCorpus(folder, built, True, time.monotonic() - began, missing)


ONSET_DB = -35.0   # a window louder than this is speech (the room noise is about -58 dBFS)
ONSET_WINDOW = 0.005
ONSET_GAP = 0.3    # an onset follows at least this much quiet


def _probe_starts(path: Path) -> tuple[float, float]:
    """(format start_time, first audio stream start_time) as ffprobe reads them."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                          "format=start_time:stream=start_time", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    fmt = float(data.get("format", {}).get("start_time", 0.0) or 0.0)
    streams = data.get("streams") or [{}]
    return fmt, float(streams[0].get("start_time", fmt) or fmt)


def audio_onsets(path: Path, rate: int = 16000) -> list[float]:
    """Speech onsets heard in `path`, in seconds on the presentation timeline.

    Independent of archiver's subtitle stage (a plain loudness threshold, not its pause
    detector): ffmpeg decodes the first audio stream as a player would (edit lists and codec
    delay applied); a sample's time is its index over the rate plus the stream's start
    relative to the container's start, which is where a player's timeline is 0.
    """
    fmt_start, audio_start = _probe_starts(path)
    pcm = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i",
                          str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f",
                          "s16le", "-"], capture_output=True, check=True, timeout=120).stdout
    samples = array.array("h", pcm[: len(pcm) // 2 * 2])
    window = max(1, round(ONSET_WINDOW * rate))
    threshold = 32768 * 10 ** (ONSET_DB / 20)
    onsets: list[float] = []
    quiet_since = 0.0
    for index in range(0, len(samples) - window + 1, window):
        chunk = samples[index:index + window]
        loud = max(abs(s) for s in chunk) >= threshold
        at = index / rate
        if loud and at - quiet_since >= ONSET_GAP:
            onsets.append(round(audio_start - fmt_start + at, 4))
        if loud:
            quiet_since = at + window / rate
    return onsets
