"""What publish needs to know about, and make from, a lesson's access copy (ffprobe, ffmpeg).

The access copy is an MP4 with video, or (audio-only lessons) an M4A/MP4 with sound only; the
site tells them apart by what ffprobe finds in the file, not by its name, so a package layout
change cannot turn a lecture into the wrong kind of page. An audio-only lesson still needs a
picture: browsers render subtitle cues only inside a `<video>` element, over its poster, and
cards, oEmbed and IIIF want a thumbnail. Its poster is the waveform of the sound itself
(ffmpeg's `showwavespic`), never an invented image.

Thumbnails for oEmbed come in a few widths: the oEmbed spec requires the thumbnail to respect
a consumer's `maxwidth`/`maxheight`, so the endpoint picks the largest that fits.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archiver import cancel
from archiver.errors import Location, PublishError
from archiver.store import publish_file, temp_path_for

AUDIO_POSTER = (1280, 720)       # the box an audio-only lesson's <video> shows
THUMBNAIL_WIDTHS = (640, 320, 160)


@dataclass(frozen=True)
class MediaInfo:
    """The access copy as ffprobe reads it."""

    has_video: bool
    width: int      # of the video, or of the audio poster
    height: int
    duration: float

    @property
    def audio_only(self) -> bool:
        return not self.has_video

    @property
    def mime_type(self) -> str:
        """The MIME type of the access copy (MP4 with video, or MPEG-4 audio)."""
        return "video/mp4" if self.has_video else "audio/mp4"


@dataclass(frozen=True)
class Thumbnail:
    """One picture of a lesson: its URL relative to the site and its size in pixels."""

    url: str
    width: int
    height: int


def _run(cmd: list[str], commands: list[list[str]]) -> subprocess.CompletedProcess[str]:
    commands.append(cmd)
    return cancel.run(cmd, capture_output=True, text=True, check=False)


def _picture_stream(stream: dict[str, Any]) -> bool:
    """A video stream that is a cover picture (an MP3's or M4A's artwork), not a video."""
    disposition = stream.get("disposition") or {}
    return bool(disposition.get("attached_pic"))


def probe(path: Path, lesson: str, commands: list[list[str]]) -> MediaInfo:
    """Kind, size and duration of the access copy."""
    cmd = ["ffprobe", "-v", "error", "-show_entries",
           "stream=codec_type,width,height:stream_disposition=attached_pic:format=duration",
           "-of", "json", str(path)]
    proc = _run(cmd, commands)
    try:
        info = json.loads(proc.stdout)
        streams = info.get("streams") or []
        duration = float(info["format"]["duration"])
        videos = [s for s in streams
                  if s.get("codec_type") == "video" and not _picture_stream(s)]
        if videos:
            return MediaInfo(True, int(videos[0]["width"]), int(videos[0]["height"]), duration)
        if any(s.get("codec_type") == "audio" for s in streams):
            return MediaInfo(False, *AUDIO_POSTER, duration)
    except (ValueError, KeyError, IndexError, TypeError):
        pass
    reason = proc.stderr.strip()[:300] or "no audio or video stream"
    raise PublishError(f"ffprobe cannot read the access copy: {reason}",
                       Location(path, lesson=lesson))


def poster(media: Path, info: MediaInfo, dest: Path, lesson: str,
           commands: list[list[str]]) -> None:
    """The poster JPEG: a frame 10 % in (at most 30 s) of a video, the waveform of a sound."""
    tmp = temp_path_for(dest)
    if info.has_video:
        at = min(info.duration * 0.1, 30.0)
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-ss", f"{at:.3f}", "-i", str(media), "-frames:v", "1", "-update", "1",
               "-q:v", "3", "-f", "image2", str(tmp)]
    else:
        w, h = AUDIO_POSTER
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-i", str(media), "-filter_complex",
               f"[0:a:0]aformat=channel_layouts=mono,showwavespic=s={w}x{h // 2}:"
               f"colors=0xe8a33d[w];color=c=0x1b1f24:s={w}x{h}[bg];"
               f"[bg][w]overlay=0:{h // 4}:format=auto,format=yuvj420p",
               "-frames:v", "1", "-update", "1", "-q:v", "3", "-f", "image2", str(tmp)]
    proc = _run(cmd, commands)
    if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        what = "a poster frame" if info.has_video else "the waveform poster"
        raise PublishError(f"ffmpeg could not make {what}: {proc.stderr.strip()[:300]}",
                           Location(media, lesson=lesson))
    publish_file(tmp, dest)


def thumbnails(poster_path: Path, rel_folder: str, info: MediaInfo, lesson: str,
               commands: list[list[str]]) -> list[Thumbnail]:
    """The poster plus smaller copies (`thumb-<width>.jpg`), largest first, in one ffmpeg run."""
    rel_poster = rel_folder + poster_path.name
    out = [Thumbnail(rel_poster, info.width, info.height)]
    widths = [w for w in THUMBNAIL_WIDTHS if w < info.width]
    if not widths:
        return out
    graph = f"[0:v]split={len(widths)}" + "".join(f"[s{i}]" for i in range(len(widths)))
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-i", str(poster_path), "-filter_complex",
           graph + ";" + ";".join(f"[s{i}]scale={w}:-2[o{i}]" for i, w in enumerate(widths))]
    temps: list[tuple[Path, Path]] = []
    for i, width in enumerate(widths):
        dest = poster_path.with_name(f"thumb-{width}.jpg")
        tmp = temp_path_for(dest)
        temps.append((tmp, dest))
        cmd += ["-map", f"[o{i}]", "-frames:v", "1", "-update", "1", "-q:v", "4",
                "-f", "image2", str(tmp)]
    proc = _run(cmd, commands)
    if proc.returncode != 0:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
        raise PublishError(f"ffmpeg could not scale the thumbnails: "
                           f"{proc.stderr.strip()[:300]}", Location(poster_path, lesson=lesson))
    for (tmp, dest), width in zip(temps, widths, strict=True):
        publish_file(tmp, dest)
        height = round(info.height * width / info.width / 2) * 2  # what scale=W:-2 makes
        out.append(Thumbnail(rel_folder + dest.name, width, height))
    return out
