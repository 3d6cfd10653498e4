"""Resolve a source URL to the media to download, with yt-dlp's real extraction.

Choice: yt-dlp's extractors know how thousands of sites embed video, so every source that is
not plainly a media file goes through `extract_info(download=False)` with every extractor
(generic last) plus archiver's player-family extractors; every request they make goes
through the source's `Session` (archiver.adapters.ytdlp: TLS policy, certificate evidence,
WARC). yt-dlp only resolves; archiver downloads and hashes what it chose.

The choice is the best video *with* audio (`bv*+ba/b`): when the best video has no sound
(DASH adaptation sets, HLS EXT-X-MEDIA renditions) the resolution has two components, video
and audio, each downloaded as served (archiver.fetch.components).
A URL whose extension says it is media (`MEDIA_EXTS`) is downloaded without asking yt-dlp
(that would cost a request and say nothing more).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from archiver.adapters.ytdlp import extract
from archiver.errors import FetchError, Location, NoMediaError
from archiver.fetch.http import Session, Transient, parse_retry_after
from archiver.fetch.limits import decode_small, small_body

PAGE_LIMIT = 16 << 20  # a lesson page, API answer or playlist larger than this is refused
MEDIA_EXTS = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".ts", ".flv", ".ogv", ".mp3", ".m4a")
HLS_EXTS = (".m3u8",)
PROTOCOLS = {"http": "http", "https": "http", "m3u8": "m3u8", "m3u8_native": "m3u8",
             "http_dash_segments": "dash"}


@dataclass
class Component:
    """One served stream to download as is: the muxed media, or its video or audio part."""

    role: str  # "media" (muxed or the only stream), "video", "audio"
    url: str  # the file, the HLS media playlist, or the DASH manifest
    protocol: str = "http"  # "http", "m3u8" or "dash"
    fragments: list[str] = field(default_factory=list)  # DASH: absolute segment URLs in order
    format_id: str = ""
    vcodec: str | None = None
    acodec: str | None = None


@dataclass
class Resolution:
    """What a source points at."""

    kind: str  # "page" (a page yt-dlp read), "direct" (media URL), "hls", "dash" (manifest URL)
    media_url: str
    page_url: str | None = None
    protocol: str = "http"  # of the first component: "http", "m3u8" or "dash"
    tracks: dict[str, list[str]] = field(default_factory=dict)  # language -> subtitle URLs
    poster: str | None = None
    playlist: bytes | None = None  # an HLS playlist already read while resolving
    components: list[Component] = field(default_factory=list)
    extractor: str = ""  # yt-dlp's extractor key ("Generic", "ArchiveOrg", archiver's own)
    audio: str = "unknown"  # "muxed", "separate", "none", "only", "unknown" (decided by ffprobe)
    chain: list[str] = field(default_factory=list)  # pages read on the way (iframes)


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


def _fragments(fmt: dict[str, Any]) -> list[str]:
    base = fmt.get("fragment_base_url") or fmt.get("url") or ""
    urls = []
    for fragment in fmt.get("fragments") or []:
        url = fragment.get("url") or urljoin(base, fragment.get("path") or "")
        urls.append(str(url))
    return urls


def _component(fmt: dict[str, Any], role: str, lesson: str) -> Component:
    protocol = PROTOCOLS.get(str(fmt.get("protocol") or "https"))
    where = Location(lesson=lesson, key="sources.url")
    if protocol is None:
        raise FetchError(f"{fmt.get('url')}: yt-dlp chose a {fmt.get('protocol')} stream, "
                         "which archiver does not download (http, HLS and DASH only)", where)
    url = str(fmt.get("manifest_url") if protocol == "dash" else fmt.get("url"))
    fragments = _fragments(fmt) if protocol == "dash" else []
    if protocol == "dash" and not fragments:
        raise FetchError(f"{url}: DASH representation {fmt.get('format_id')} lists no "
                         "segments", where)
    return Component(role=role, url=url, protocol=protocol, fragments=fragments,
                     format_id=str(fmt.get("format_id") or ""), vcodec=fmt.get("vcodec"),
                     acodec=fmt.get("acodec"))


def _entry(info: dict[str, Any]) -> dict[str, Any]:
    """The lesson's entry: the info itself, or the first entry of a playlist with media."""
    if info.get("_type") == "playlist":
        for entry in info.get("entries") or []:
            if isinstance(entry, dict) and (entry.get("url") or entry.get("requested_formats")):
                return entry
    return info


def choose(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The best video with its audio: one format, or a video-only one plus the best audio.

    yt-dlp sorts `formats` worst to best. Its own `bv*+ba` treats a format of unknown audio
    codec (an HLS variant whose master names no CODECS) as having audio and then drops the
    separate rendition, so the pairing is decided here: a video that says it has no audio,
    or whose audio is unknown while its own manifest lists an audio-only rendition, is
    paired with the best audio-only format (of the same manifest when there is one).
    """
    formats = [f for f in entry.get("formats") or [] if f.get("url")]
    if not formats:
        return list(entry.get("requested_formats") or [entry])
    videos = [f for f in formats if f.get("vcodec") != "none"]
    audios = [f for f in formats if f.get("vcodec") == "none" and f.get("acodec") != "none"]
    if not videos:
        return [audios[-1] if audios else formats[-1]]
    with_audio = [f for f in videos if f.get("acodec") not in (None, "none")]
    best = videos[-1]
    if best.get("acodec") not in (None, "none"):
        return [best]
    manifest = best.get("manifest_url")
    same = [a for a in audios if manifest and a.get("manifest_url") == manifest]
    if best.get("acodec") == "none" and (same or audios):
        return [best, (same or audios)[-1]]
    if best.get("acodec") is None and same:
        return [best, same[-1]]
    if best.get("acodec") == "none" and with_audio:
        return [with_audio[-1]]  # no audio-only format: the best video that has sound
    return [best]


def _audio(chosen: list[dict[str, Any]]) -> str:
    if len(chosen) > 1:
        return "separate"
    vcodec, acodec = chosen[0].get("vcodec"), chosen[0].get("acodec")
    if vcodec == "none":
        return "only"
    if acodec == "none":
        return "none"
    return "muxed" if acodec else "unknown"


def _kind(session: Session, url: str, info: dict[str, Any], protocol: str) -> str:
    if info.get("direct"):
        return "direct"
    first = next((e for e in session.exchanges if e.requested_url == url), None)
    content_type = (first.headers.get("content-type", "") if first else "").lower()
    if "html" in content_type or first is None:
        return "page"
    return {"m3u8": "hls", "dash": "dash"}.get(protocol, "page")


def resolve(session: Session, url: str, known_direct: bool = False, *,
            timeout: float = 30.0, max_bytes: int = PAGE_LIMIT) -> Resolution:
    """Decide what `url` is and, for a page, which media it embeds (see module doc).

    Every body an extractor reads is bounded by the smaller of PAGE_LIMIT and `max_bytes`
    (`--max-bytes`), as every other fetch path is."""
    if known_direct or _ext(url) in MEDIA_EXTS:
        return Resolution("direct", url, components=[Component("media", url)])
    info, handler = extract.extract(session, url, timeout=timeout,
                                    body_limit=min(PAGE_LIMIT, max_bytes))
    entry = _entry(info)
    chosen = choose(entry)
    if not any(f.get("url") for f in chosen):
        raise NoMediaError(f"{url}: yt-dlp found no downloadable format",
                           Location(lesson=session.lesson, key="sources.url"))
    if len(chosen) > 1:
        roles = ["video" if f.get("vcodec") != "none" else "audio" for f in chosen]
    else:
        roles = ["media"]
    components = [_component(f, role, session.lesson) for f, role in zip(chosen, roles,
                                                                          strict=True)]
    tracks: dict[str, list[str]] = {}
    for lang, subs in (entry.get("subtitles") or {}).items():
        tracks.setdefault(str(lang), []).extend(str(s["url"]) for s in subs if s.get("url"))
    first = components[0]
    kind = _kind(session, url, entry, first.protocol)
    pages = [u for u in handler.sent if _is_page(session, u)]
    playlist = None
    if first.protocol == "m3u8":  # already read by yt-dlp (and recorded): not asked again
        playlist = next((e.warc_payload for e in reversed(session.exchanges)
                         if e.requested_url == first.url and e.status == 200
                         and e.warc_payload is not None), None)
    return Resolution(kind, first.url, page_url=entry.get("webpage_url") if kind == "page"
                      else None, protocol=first.protocol, tracks=tracks,
                      poster=entry.get("thumbnail"), components=components,
                      extractor=str(entry.get("extractor_key") or entry.get("extractor") or ""),
                      audio=_audio(chosen), chain=pages, playlist=playlist)


def _is_page(session: Session, url: str) -> bool:
    exchange = next((e for e in session.exchanges if e.requested_url == url), None)
    return exchange is not None and "html" in exchange.headers.get("content-type", "").lower()


STREAM_INF = re.compile(r"#EXT-X-STREAM-INF:(?P<attrs>[^\r\n]*)\r?\n(?P<uri>[^#\r\n][^\r\n]*)")


def best_variant(session: Session, playlist: bytes, url: str) -> str | None:
    """For a master playlist, the URL of the best variant (None for a media playlist).

    Normally yt-dlp has already chosen the variant (and its audio rendition); this covers a
    master playlist reached without it (a known direct URL resumed from an earlier run).
    """
    text = playlist.decode("utf-8", errors="replace")
    if "#EXT-X-STREAM-INF" not in text:
        return None
    best: tuple[int, int, str] | None = None
    for match in STREAM_INF.finditer(text):
        attrs = match.group("attrs")
        size = re.search(r"RESOLUTION=\d+x(\d+)", attrs)
        rate = re.search(r"(?<![-A-Z])BANDWIDTH=(\d+)", attrs)
        key = (int(size.group(1)) if size else 0, int(rate.group(1)) if rate else 0,
               urljoin(url, match.group("uri").strip()))
        best = key if best is None or key[:2] > best[:2] else best
    if best is None:
        raise NoMediaError(f"{url}: master playlist lists no variant",
                           Location(lesson=session.lesson, key="sources.url"))
    return best[2]
