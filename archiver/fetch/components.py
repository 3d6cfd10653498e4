"""Never lose the sound: download every served component, keep each as served, merge losslessly.

Why: when a site serves video and audio separately (DASH adaptation sets, HLS EXT-X-MEDIA
audio renditions), the best video format has no sound; archiving it alone is silent data
loss. "original" keeps meaning the bytes exactly as served, so each component is published
as its own original (`original.video.<ext>`, `original.audio.<ext>`, segments concatenated in
order), and the lossless `ffmpeg -c copy` merge is a *derivative*, recorded with its command,
that the later stages (subtitles, package) use as the lesson's media.

ffprobe (`mediacheck.Probe.streams`) settles what yt-dlp could not know (formats without codec
information): the stage records `audio: none` for media that truly has no sound, and fails
a lesson whose page offered audio when the archive has none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from archiver import cancel
from archiver.errors import FetchError, Location
from archiver.fetch.download import Downloaded, Options, check_media_start, download, retrying
from archiver.fetch.hls import download_hls
from archiver.fetch.http import Exchange, Session, Transient
from archiver.fetch.resolve import Component, check_status
from archiver.store import atomic_write_json

SEGMENT_LIMIT = 256 << 20
MERGED = "merged.mp4"  # the derivative's name (MP4 holds H.264/HEVC/AV1 with AAC/Opus)
PROBE_TIMEOUT = 120


def _fragment(session: Session, url: str, opts: Options) -> tuple[bytes, str, Exchange]:
    where = Location(lesson=session.lesson, key="sources.url")
    with session.get(url, "segment") as (response, exchange):
        check_status(response, url, session.lesson)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw(1 << 20):
            size += len(chunk)
            if size > min(SEGMENT_LIMIT, opts.max_bytes):
                raise FetchError(f"{url}: segment larger than {SEGMENT_LIMIT} bytes", where)
            chunks.append(chunk)
        body = b"".join(chunks)
        exchange.bytes = len(body)
        exchange.sha256 = hashlib.sha256(body).hexdigest()
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) != len(body):
            raise Transient(f"{url}: {len(body)} of {length} bytes", where)
        return body, response.headers.get("content-type", ""), exchange


def download_fragments(session: Session, component: Component, folder: Path, opts: Options,
                       progress: Callable[[int, int | None], None], partial: str,
                       on_retry: Callable[[str, float], None] | None = None) -> Downloaded:
    """A DASH representation: its segments (initialization first) concatenated in order."""
    path = folder / partial
    sha256, sha512 = hashlib.sha256(), hashlib.sha512()
    size = attempts = 0
    head = b""
    with open(path, "wb") as out:
        for index, url in enumerate(component.fragments):
            for attempt in retrying(opts, on_retry):
                with attempt:
                    attempts += 1
                    data, kind, exchange = _fragment(session, url, opts)
            if index == 0:
                check_media_start(data, kind, url, session.lesson)
                head = data[:64]
            exchange.stored_at = size  # its media WARC record is this slice of the file
            out.write(data)
            sha256.update(data)
            sha512.update(data)
            size += len(data)
            if size > opts.max_bytes:
                raise FetchError(f"{component.url}: more than --max-bytes {opts.max_bytes} "
                                 "bytes", Location(lesson=session.lesson, key="sources.url"))
            progress(size, None)
        out.flush()
    atomic_write_json(folder / (partial + ".json"), {"kind": "dash", "url": component.url,
                                                       "bytes": size})
    kind = "audio/mp4" if component.role == "audio" else "video/mp4"
    return Downloaded(path=path, url=component.url, bytes=size, sha256=sha256.hexdigest(),
                      sha512=sha512.hexdigest(), content_type=kind, total=size,
                      attempts=attempts, head=head)


def fetch_component(session: Session, component: Component, folder: Path, opts: Options,
                    progress: Callable[[int, int | None], None], partial: str,
                    on_retry: Callable[[str, float], None] | None = None,
                    playlist: bytes | None = None) -> Downloaded:
    """Download one component as served (file, HLS media playlist or DASH segments)."""
    if component.protocol == "dash":
        return download_fragments(session, component, folder, opts, progress, partial,
                                  on_retry)
    if component.protocol == "m3u8":
        return download_hls(session, component.url, folder, opts, progress, playlist,
                            partial=partial, on_retry=on_retry)
    return download(session, component.url, folder, opts, progress, session.lesson, on_retry,
                    partial)


def component_extension(component: Component, got: Downloaded) -> str:
    """The served container's extension: TS stays .ts, fMP4/MP4 audio is .m4a."""
    if got.content_type == "video/mp2t" or got.head[:1] == b"\x47":
        return ".ts"
    if got.head.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm"
    return ".m4a" if component.role == "audio" else ".mp4"


def merge_command(video: Path, audio: Path, output: Path) -> list[str]:
    """The lossless merge: every video stream of the one, every audio stream of the other."""
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-i", str(video), "-i", str(audio), "-map", "0:v", "-map", "1:a", "-c", "copy",
            "-movflags", "+faststart", str(output)]


def merge(video: Path, audio: Path, folder: Path, lesson: str) -> tuple[Path, list[str]]:
    """Merge into `folder/merged.mp4` (temp name, then rename); returns it and the command
    as recorded (file names relative to the lesson's fetch folder)."""
    temp = folder / f".{MERGED}.tmp.mp4"
    command = merge_command(video, audio, temp)
    done = cancel.run(command, capture_output=True, text=True, timeout=PROBE_TIMEOUT * 5,
                      check=False)
    if done.returncode != 0:
        temp.unlink(missing_ok=True)
        raise FetchError(f"ffmpeg could not merge {video.name} and {audio.name} losslessly: "
                         f"{done.stderr.strip()[-400:]}", Location(lesson=lesson))
    final = folder / MERGED
    temp.replace(final)
    recorded = merge_command(Path(video.name), Path(audio.name), Path(MERGED))
    return final, recorded
