"""HLS: fetch the playlist and its segments ourselves, concatenated into one original file.

Why not yt-dlp's or ffmpeg's HLS downloader: both use their own TLS (ffmpeg verifies nothing
by default), so the source's policy would not hold for segment requests, and neither hashes
while streaming. A VOD media playlist is a list of URLs; concatenating the segments (after
the EXT-X-MAP init segment for fMP4) gives exactly the served bytes in order, a valid MPEG-TS
(or fragmented MP4) file. Each segment is held in memory until complete (segments are a few
MB; bounded by `SEGMENT_LIMIT`), so a retried segment never leaves half a segment in the
hashes. Encrypted (EXT-X-KEY) and byte-range playlists, and live playlists (no
EXT-X-ENDLIST), are refused with a clear error rather than archived wrongly.
An interrupted HLS fetch resumes at the first missing segment on the next run (the sidecar
records segments done and bytes after each whole segment; the prefix is re-hashed once).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin

from archiver.errors import FetchError, Location
from archiver.fetch.download import (
    PARTIAL_NAME,
    Downloaded,
    Options,
    check_media_start,
    discard_partial,
    retrying,
)
from archiver.fetch.http import Session, Transient
from archiver.fetch.resolve import best_variant, check_status, read_small
from archiver.store import atomic_write_json

SEGMENT_LIMIT = 256 << 20


def segments(playlist: str, url: str, lesson: str) -> list[str]:
    """Segment URLs of a VOD media playlist (init segment first)."""
    where = Location(lesson=lesson, key="sources.url")
    urls: list[str] = []
    ended = False
    for raw in playlist.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#EXT-X-KEY") and "METHOD=NONE" not in line:
            raise FetchError(f"{url}: encrypted HLS (EXT-X-KEY) is not archived", where)
        if line.startswith("#EXT-X-BYTERANGE"):
            raise FetchError(f"{url}: byte-range HLS playlists are not supported", where)
        if line.startswith("#EXT-X-MAP"):
            uri = line.split('URI="', 1)[1].split('"', 1)[0] if 'URI="' in line else ""
            if uri:
                urls.append(urljoin(url, uri))
        elif line.startswith("#EXT-X-ENDLIST"):
            ended = True
        elif not line.startswith("#"):
            urls.append(urljoin(url, line))
    if not ended:
        raise FetchError(f"{url}: live HLS playlist (no EXT-X-ENDLIST); only VOD is archived",
                         where)
    if not urls:
        raise FetchError(f"{url}: HLS playlist lists no segments", where)
    return urls


def _resume_point(path: Path, sidecar: Path, url: str, plan: str) -> tuple[int, int, int]:
    """(segments done, bytes, bytes to re-hash) of an earlier run's partial of this playlist.

    Segments are appended whole and the sidecar is updated after each, so the partial is
    valid up to the recorded size (a longer file is cut back to it).
    """
    try:
        state = json.loads(sidecar.read_text("utf-8"))
        actual = path.stat().st_size
    except (FileNotFoundError, ValueError):
        return 0, 0, 0
    if (state.get("kind") != "hls" or state.get("url") != url or state.get("plan") != plan
            or not isinstance(state.get("bytes"), int) or actual < state["bytes"]):
        return 0, 0, 0
    return int(state["segments_done"]), state["bytes"], state["bytes"]


def _segment(session: Session, url: str, opts: Options) -> tuple[bytes, str]:
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
        return body, response.headers.get("content-type", "")


def _playlist(session: Session, url: str, opts: Options,
              on_retry: Callable[[str, float], None] | None) -> tuple[bytes, str]:
    """Read a playlist under the same retry policy as the media (a 503/429 is transient)."""
    for attempt in retrying(opts, on_retry):
        with attempt:
            body, _type, final = read_small(session, url, "playlist")
    return body, final


def download_hls(session: Session, url: str, folder: Path, opts: Options,
                 progress: Callable[[int, int | None], None],
                 playlist: bytes | None = None, *, partial: str = PARTIAL_NAME,
                 on_retry: Callable[[str, float], None] | None = None) -> Downloaded:
    """Download the best variant of the playlist at `url` into the partial file `partial`."""
    if playlist is None:
        body, final = _playlist(session, url, opts, on_retry)
    else:
        body, final = playlist, url
    variant = best_variant(session, body, final)
    if variant is not None:
        body, final = _playlist(session, variant, opts, on_retry)
    urls = segments(body.decode("utf-8", errors="replace"), final, session.lesson)
    path = folder / partial
    sidecar = folder / (partial + ".json")
    folder.mkdir(parents=True, exist_ok=True)
    plan = hashlib.sha256("\n".join(urls).encode("utf-8")).hexdigest()
    done, size, rehashed = _resume_point(path, sidecar, final, plan)
    if done == 0:
        discard_partial(folder, partial)  # never continue another download's bytes
    sha256, sha512 = hashlib.sha256(), hashlib.sha512()
    attempts = 0
    fmp4 = body.find(b"#EXT-X-MAP") >= 0
    content_type = "video/mp4" if fmp4 else "video/mp2t"
    with open(path, "r+b" if size else "wb") as out:
        # Cut back first, then hash exactly the kept prefix: a run killed after writing a
        # segment but before its sidecar update leaves bytes that must be neither kept
        # nor hashed.
        out.truncate(size)
        left = size
        while left and (block := out.read(min(left, 1 << 20))):
            sha256.update(block)
            sha512.update(block)
            left -= len(block)
        if left:
            raise FetchError(f"{path.name}: partial shrank while resuming ({left} bytes "
                             "missing)", Location(lesson=session.lesson))
        out.seek(size)
        for index, segment_url in enumerate(urls[done:], start=done):
            for attempt in retrying(opts, on_retry):
                with attempt:
                    attempts += 1
                    data, seg_type = _segment(session, segment_url, opts)
            if index == 0:
                check_media_start(data, seg_type, segment_url, session.lesson)
            out.write(data)
            out.flush()
            sha256.update(data)
            sha512.update(data)
            size += len(data)
            if size > opts.max_bytes:
                raise FetchError(f"{url}: more than --max-bytes {opts.max_bytes} bytes",
                                 Location(lesson=session.lesson, key="sources.url"))
            atomic_write_json(sidecar, {"kind": "hls", "url": final, "plan": plan,
                                        "segments_done": index + 1, "bytes": size})
            progress(size, None)
    return Downloaded(path=path, url=final, bytes=size, sha256=sha256.hexdigest(),
                      sha512=sha512.hexdigest(), content_type=content_type, total=size,
                      attempts=attempts, resumed_from=rehashed, rehashed_bytes=rehashed,
                      exchanges=[e for e in session.exchanges if e.role == "segment"])
