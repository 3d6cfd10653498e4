"""Adaptive-streaming renditions of one clip, made by ffmpeg's own muxers.

Real lecture sites serve HLS and DASH as often as files, and both usually keep the sound
apart from the picture: an HLS master whose variant names an `AUDIO` group of `EXT-X-MEDIA`
renditions, and a DASH MPD with separate video and audio adaptation sets. The "best video"
of such a source has no audio, which is how an archive silently loses the sound. Made with
stream copy from one clip of the media corpus, so the truth (bursts, codecs) carries over.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from archiver.errors import ArchiverError
from archiver.store import atomic_write_text, fingerprint

GENERATOR = "lesson-archiver stream corpus 1"
SEGMENT = 2  # seconds


@dataclass(frozen=True)
class Streams:
    """The renditions' folders; each is served as a tree of files."""

    hls_split: Path   # master.m3u8, video/index.m3u8, audio/index.m3u8 (separate audio)
    hls_muxed: Path   # index.m3u8: one media playlist, audio and video in each segment
    dash: Path        # manifest.mpd: adaptation sets 0 (video) and 1 (audio)


def hls_split_command(source: Path, out: Path) -> list[str]:
    return ["-i", str(source), "-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-f", "hls",
            "-hls_time", str(SEGMENT), "-hls_playlist_type", "vod",
            "-hls_segment_filename", str(out / "%v" / "seg-%03d.ts"),
            "-master_pl_name", "master.m3u8",
            "-var_stream_map", "v:0,agroup:audio,name:video a:0,agroup:audio,name:audio,"
            "language:zh,default:yes", str(out / "%v" / "index.m3u8")]


def hls_muxed_command(source: Path, out: Path) -> list[str]:
    return ["-i", str(source), "-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-f", "hls",
            "-hls_time", str(SEGMENT), "-hls_playlist_type", "vod",
            "-hls_segment_filename", str(out / "seg-%03d.ts"), str(out / "index.m3u8")]


def dash_command(source: Path, out: Path) -> list[str]:
    return ["-i", str(source), "-map", "0:v:0", "-map", "0:a:0", "-c", "copy", "-f", "dash",
            "-adaptation_sets", "id=0,streams=v id=1,streams=a", "-seg_duration", str(SEGMENT),
            "-use_template", "1", "-use_timeline", "1",
            "-init_seg_name", "init-$RepresentationID$.m4s",
            "-media_seg_name", "chunk-$RepresentationID$-$Number%05d$.m4s",
            str(out / "manifest.mpd")]


def _run(args: list[str]) -> None:
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    proc = subprocess.run(command, capture_output=True, text=True, errors="replace",
                          timeout=300, check=False)
    if proc.returncode != 0:
        raise ArchiverError(f"ffmpeg could not make a stream rendition: "
                            f"{proc.stderr.strip()[-400:]}")


def build_streams(folder: Path, source: Path) -> Streams:
    """HLS (split and muxed) and DASH renditions of `source` under `folder`, cached by a
    fingerprint of the generator and the source's size and time (built anew otherwise)."""
    stat = source.stat()
    key = fingerprint(GENERATOR, str(source), stat.st_size, stat.st_mtime_ns)
    streams = Streams(folder / "hls-split", folder / "hls-muxed", folder / "dash")
    stamp = folder / "streams.key"
    if stamp.is_file() and stamp.read_text("utf-8").strip() == key:
        return streams
    for path in (streams.hls_split, streams.hls_muxed, streams.dash):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    (streams.hls_split / "video").mkdir()
    (streams.hls_split / "audio").mkdir()
    _run(hls_split_command(source, streams.hls_split))
    _run(hls_muxed_command(source, streams.hls_muxed))
    _run(dash_command(source, streams.dash))
    atomic_write_text(stamp, key + "\n")
    return streams
