"""Resolve a source URL to the media to download: an HTML5 page, a direct file, an HLS playlist.

Choice (why yt-dlp never touches the network here): the TLS policy must apply to every
request of a source, and yt-dlp has its own networking (certifi, its own redirect handling,
`nocheckcertificate` all or nothing). So we fetch the page ourselves with the source's
`Session` (which also records it for the WARC) and hand the HTML to yt-dlp's generic
extractor's HTML5 parser (the code behind its `HTML5MediaEmbed` handling of
`<video>`/`<audio>`/`<source>`/`<track>`), with its own manifest downloads disabled; a master
playlist is parsed with yt-dlp's m3u8 parser. Both are yt-dlp internals, so they come from
archiver.adapters.ytdlp (which refuses rather than let yt-dlp fetch anything itself).
A direct media URL or a playlist URL is recognised by extension, else by sniffing the
response (Content-Type and magic bytes), as yt-dlp's generic extractor does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from archiver.adapters.ytdlp import html5_media_entries, m3u8_master_formats
from archiver.errors import FetchError, Location, NoMediaError
from archiver.fetch.download import check_media_start, looks_like_html
from archiver.fetch.http import Session, Transient, parse_retry_after
from archiver.fetch.limits import decode_small, small_body

PAGE_LIMIT = 16 << 20  # a lesson page (or playlist) larger than this is not a page
MEDIA_EXTS = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".ts", ".flv", ".ogv", ".mp3", ".m4a")
HLS_EXTS = (".m3u8",)


@dataclass
class Resolution:
    """What a source points at."""

    kind: str  # "page" (HTML5 embed), "direct" (media URL), "hls" (playlist)
    media_url: str
    page_url: str | None = None
    protocol: str = "http"  # "http" or "m3u8"
    tracks: dict[str, list[str]] = field(default_factory=dict)  # srclang -> URLs on the page
    poster: str | None = None
    playlist: bytes | None = None  # an HLS playlist already read while resolving


def _ext(url: str) -> str:
    path = urlsplit(url).path.lower()
    return path[path.rfind("."):] if "." in path.rsplit("/", 1)[-1] else ""


def _read_body(chunks_in: Iterator[bytes], exchange: Any, url: str, role: str, lesson: str,
               first: bytes = b"") -> bytes:
    """Read a page or playlist completely (bounded) and keep it for the WARC."""
    chunks = [first] if first else []
    size = len(first)
    for chunk in chunks_in:
        size += len(chunk)
        if size > PAGE_LIMIT:
            raise FetchError(f"{url}: {role} larger than {PAGE_LIMIT} bytes",
                             Location(lesson=lesson, key="sources.url"))
        chunks.append(chunk)
    body = b"".join(chunks)
    exchange.role = role
    exchange.bytes = len(body)
    exchange.sha256 = hashlib.sha256(body).hexdigest()
    exchange.sha512 = hashlib.sha512(body).hexdigest()
    exchange.warc_payload = body  # as transferred; parsed decoded, as a browser would
    return decode_small(body, exchange.headers.get("content-encoding"), PAGE_LIMIT, url,
                        Location(lesson=lesson, key="sources.url"))


def check_status(response: Any, url: str, lesson: str) -> None:
    where = Location(lesson=lesson, key="sources.url")
    status = response.status_code
    if status == 429 or status >= 500 or status == 408:
        raise Transient(f"{url}: HTTP {status} {response.reason_phrase}", where,
                        retry_after=parse_retry_after(response.headers.get("retry-after")))
    if status != 200:
        raise FetchError(f"{url}: HTTP {status} {response.reason_phrase}", where)


def read_small(session: Session, url: str, role: str) -> tuple[bytes, str, str]:
    """GET a page or playlist completely (bounded); returns (body, content type, final URL)."""
    with session.get(url, role) as (response, exchange):
        check_status(response, url, session.lesson)
        body = _read_body(small_body(session, response.iter_raw(), url, role,
                                     PAGE_LIMIT), exchange, url, role, session.lesson)
        return body, response.headers.get("content-type", ""), str(response.url)


def _open_unknown(session: Session, url: str) -> tuple[str, bytes, str, str]:
    """One GET of a URL of unknown kind: (kind, body for page/playlist, type, final URL).

    A page or playlist is read completely; for media only the first chunk is looked at and
    the connection closed (the download proper then requests it with resume support).
    """
    with session.get(url, "probe") as (response, exchange):
        check_status(response, url, session.lesson)
        content_type = response.headers.get("content-type", "")
        kind = content_type.split(";")[0].strip().lower()
        stream = small_body(session, response.iter_raw(), url, "page", PAGE_LIMIT)
        first = next(stream, b"")
        final = str(response.url)
        if kind.endswith("mpegurl") or first.lstrip().startswith(b"#EXTM3U"):
            body = _read_body(stream, exchange, url, "playlist", session.lesson, first)
            return "hls", body, content_type, final
        if "html" in kind or (kind.startswith("text/") and b"<" in first[:512]) or (
                not kind.startswith(("video/", "audio/")) and looks_like_html(first)):
            body = _read_body(stream, exchange, url, "page", session.lesson, first)
            return "page", body, content_type, final
        exchange.bytes = len(first)
        exchange.outcome = "probed (body not read)"
    check_media_start(first, kind, url, session.lesson)
    return "direct", b"", content_type, final


def resolve(session: Session, url: str, known_direct: bool = False) -> Resolution:
    """Decide what `url` is and, for a page, which media it embeds."""
    ext = _ext(url)
    if known_direct or ext in MEDIA_EXTS:
        return Resolution("direct", url)
    if ext in HLS_EXTS:
        return Resolution("hls", url, protocol="m3u8")
    kind, body, content_type, final_url = _open_unknown(session, url)
    if kind == "hls":
        return Resolution("hls", final_url, protocol="m3u8", playlist=body)
    if kind == "direct":
        return Resolution("direct", final_url)
    charset = "utf-8"
    if "charset=" in content_type:
        charset = content_type.split("charset=", 1)[1].split(";")[0].strip() or "utf-8"
    try:
        html = body.decode(charset, errors="replace")
    except LookupError:
        html = body.decode("utf-8", errors="replace")
    entries = html5_media_entries(final_url, html)
    formats = [f for entry in entries for f in entry.get("formats", [])]
    if not formats:
        raise NoMediaError(
            f"{url}: the page has no media: yt-dlp's HTML5 extractor found no "
            "<video>/<audio>/<source> with a URL (a page built by JavaScript is not supported)",
            Location(lesson=session.lesson, key="sources.url"))
    plain = [f for f in formats if f.get("protocol") is None]
    pool = plain or formats
    best = max(pool, key=lambda f: (f.get("height") or 0, f.get("tbr") or 0, -pool.index(f)))
    tracks: dict[str, list[str]] = {}
    for entry in entries:
        for lang, subs in (entry.get("subtitles") or {}).items():
            tracks.setdefault(str(lang), []).extend(s["url"] for s in subs)
    is_hls = best.get("protocol") == "m3u8_native"
    return Resolution("page", best["url"], page_url=final_url,
                      protocol="m3u8" if is_hls else "http", tracks=tracks,
                      poster=next((e.get("thumbnail") for e in entries if e.get("thumbnail")),
                                  None))


def best_variant(session: Session, playlist: bytes, url: str) -> str | None:
    """For a master playlist, the URL of the best variant (None for a media playlist)."""
    text = playlist.decode("utf-8", errors="replace")
    if "#EXT-X-STREAM-INF" not in text:
        return None
    formats = m3u8_master_formats(text, url)
    video = [f for f in formats if f.get("vcodec") != "none"] or formats
    if not video:
        raise NoMediaError(f"{url}: master playlist lists no variant",
                           Location(lesson=session.lesson, key="sources.url"))
    best = max(video, key=lambda f: (f.get("height") or 0, f.get("tbr") or 0))
    return str(best["url"])
