"""HLS: fetch the playlist and its segments ourselves, concatenated into one original file.

Why not yt-dlp's or ffmpeg's HLS downloader: both use their own TLS (ffmpeg verifies nothing
by default), so the source's policy would not hold for segment requests, and neither hashes
while streaming. A VOD media playlist is a list of URLs; concatenating the segments (after
the EXT-X-MAP init segment for fMP4) gives exactly the served bytes in order, a valid MPEG-TS
(or fragmented MP4) file. Each segment is held in memory until complete (segments are a few
MB; bounded by `SEGMENT_LIMIT`), so a retried segment never leaves half a segment in the
hashes. Tags are parsed as RFC 8216 attribute lists (a quoted URI may hold commas and
"METHOD=NONE"): encrypted playlists (any EXT-X-KEY or EXT-X-SESSION-KEY whose METHOD is not
NONE) and live playlists (no EXT-X-ENDLIST) are refused with a clear error rather than
archived wrongly; BYTERANGE on segments and EXT-X-MAP is honoured (a Range request, the
answer's Content-Range checked; a server that ignores Range has the range cut out of its
whole answer, bounded). Bounds: `--max-segments` segments, and `--max-bytes` applies to the
sum of the segments (checked while each segment arrives, before it is written).
An interrupted HLS fetch resumes at the first missing segment on the next run (the sidecar
records segments done and bytes after each whole segment; the prefix is re-hashed once).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from archiver import cancel
from archiver.errors import FetchError, Location
from archiver.fetch.download import (
    CONTENT_RANGE,
    DECODED,
    PARTIAL_NAME,
    Downloaded,
    Options,
    check_media_start,
    discard_partial,
    retrying,
)
from archiver.fetch.http import Exchange, Session, Transient
from archiver.fetch.limits import bounded
from archiver.fetch.resolve import best_variant, check_status, read_small
from archiver.store import atomic_write_json

SEGMENT_LIMIT = 256 << 20


ATTRIBUTE = re.compile(r'\s*([A-Z0-9-]+)=("[^"\r\n]*"|[^",]*)\s*(?:,|$)')


@dataclass(frozen=True)
class Part:
    """One resource to fetch: a segment or an init section, whole or a byte range of it."""

    url: str
    length: int | None = None  # BYTERANGE: this many bytes ...
    offset: int = 0            # ... from this offset

    @property
    def range_header(self) -> str | None:
        if self.length is None:
            return None
        return f"bytes={self.offset}-{self.offset + self.length - 1}"

    def plan_line(self) -> str:
        return self.url if self.length is None else f"{self.url}@{self.offset}+{self.length}"


def attributes(text: str, url: str, where: Location) -> dict[str, str]:
    """An RFC 8216 4.2 attribute list: NAME=value pairs, quoted strings may hold commas.

    Why a parser and not substring tests: `METHOD=AES-128,URI="/key?METHOD=NONE"` contains
    "METHOD=NONE"; only the METHOD attribute's own value counts. Quotes are removed.
    """
    found: dict[str, str] = {}
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = ATTRIBUTE.match(text, pos)
        if match is None or match.end() == pos:
            raise FetchError(f"{url}: malformed HLS attribute list {text[:80]!r} (at column "
                             f"{pos + 1}); not archived", where)
        name, value = match.group(1), match.group(2)
        found[name] = value[1:-1] if value.startswith('"') else value.strip()
        pos = match.end()
    return found


def _byterange(value: str, url: str, where: Location) -> tuple[int, int | None]:
    """`<n>[@<o>]` (RFC 8216 4.3.2.2): length and offset (None when not given)."""
    length_text, _, offset_text = value.strip().partition("@")
    if not length_text.isdigit() or (offset_text and not offset_text.isdigit()) \
            or len(length_text) > 18 or len(offset_text) > 18 or int(length_text) == 0:
        raise FetchError(f"{url}: malformed BYTERANGE {value[:40]!r}; not archived", where)
    return int(length_text), int(offset_text) if offset_text else None


def _check_key(tag: str, rest: str, url: str, where: Location) -> None:
    method = attributes(rest, url, where).get("METHOD", "")
    if method != "NONE":
        name = tag.lstrip("#")
        raise FetchError(f"{url}: encrypted HLS ({name} METHOD={method or '(missing)'}) is not "
                         "archived: the segments would be stored as ciphertext", where)


def check_master(playlist: str, url: str, lesson: str) -> None:
    """A master playlist announcing session keys (EXT-X-SESSION-KEY) is encrypted too."""
    where = Location(lesson=lesson, key="sources.url")
    for raw in playlist.splitlines():
        tag, _, rest = raw.strip().partition(":")
        if tag == "#EXT-X-SESSION-KEY":
            _check_key(tag, rest, url, where)


def _init_section(rest: str, url: str, where: Location) -> Part:
    """The init section an EXT-X-MAP names: its URI, whole or the byte range it gives."""
    attrs = attributes(rest, url, where)
    if not attrs.get("URI"):
        raise FetchError(f"{url}: EXT-X-MAP without a URI; not archived", where)
    init = Part(urljoin(url, attrs["URI"]))
    if "BYTERANGE" in attrs:
        length, offset = _byterange(attrs["BYTERANGE"], url, where)
        init = Part(init.url, length, offset or 0)
    return init


def _media_segment(line: str, pending: tuple[int, int | None] | None, previous: Part | None,
             url: str, where: Location) -> Part:
    """A media segment: its URI, with the EXT-X-BYTERANGE before it if there was one (an
    offset left out continues the previous segment's range of the same resource)."""
    segment = Part(urljoin(url, line))
    if pending is None:
        return segment
    length, offset = pending
    if offset is None:
        if previous is None or previous.url != segment.url or previous.length is None:
            raise FetchError(f"{url}: BYTERANGE {length} without an offset does not follow a "
                             "byte range of the same resource (RFC 8216 4.3.2.2); not "
                             "archived", where)
        offset = previous.offset + previous.length
    return Part(segment.url, length, offset)


def parts(playlist: str, url: str, lesson: str, max_segments: int) -> list[Part]:
    """What to fetch for a VOD media playlist, in order: init sections before the segments
    they apply to (EXT-X-MAP), then segments, each whole or the byte range it names.

    Refused with a clear error: any EXT-X-KEY whose METHOD is not NONE, a live playlist (no
    EXT-X-ENDLIST), no segment, more than `max_segments` segments (--max-segments).
    """
    where = Location(lesson=lesson, key="sources.url")
    found: list[Part] = []
    ended = False
    count = 0
    pending: tuple[int, int | None] | None = None  # an EXT-X-BYTERANGE for the next URI
    previous: Part | None = None  # the previous media segment
    current_map: Part | None = None
    for raw in playlist.splitlines():
        line = raw.strip()
        tag, _, rest = line.partition(":")
        if tag == "#EXT-X-KEY":
            _check_key(tag, rest, url, where)
        elif tag == "#EXT-X-BYTERANGE":
            pending = _byterange(rest, url, where)
        elif tag == "#EXT-X-MAP":
            init = _init_section(rest, url, where)
            if init != current_map:  # a repeated identical map is the same init section
                found.append(init)
                current_map = init
        elif tag == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#"):
            previous, pending = _media_segment(line, pending, previous, url, where), None
            found.append(previous)
            count += 1
            if count > max_segments:
                raise FetchError(f"{url}: the HLS playlist lists more than --max-segments "
                                 f"{max_segments} segments; not followed (raise "
                                 "--max-segments if this lesson really is that long)", where)
    if not ended:
        raise FetchError(f"{url}: live HLS playlist (no EXT-X-ENDLIST); only VOD is archived",
                         where)
    if count == 0:
        raise FetchError(f"{url}: HLS playlist lists no segments", where)
    return found


def segments(playlist: str, url: str, lesson: str, max_segments: int = 20_000) -> list[str]:
    """Segment URLs of a VOD media playlist (init segment first); see `parts`."""
    return [part.url for part in parts(playlist, url, lesson, max_segments)]


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


def _segment(session: Session, part: Part, opts: Options, before: int
             ) -> tuple[bytes, str, Exchange | None]:
    """One segment (or init section), whole or its byte range; `before` bytes of earlier
    segments count against --max-bytes, which bounds their sum. Also returns the exchange
    when its whole body is what is stored (not a range: the media WARC's record of it)."""
    where = Location(lesson=session.lesson, key="sources.url")
    url = part.url
    wanted = part.range_header
    limit = SEGMENT_LIMIT
    with session.get(url, "segment", {"Range": wanted} if wanted else None
                     ) as (response, exchange):
        status = response.status_code
        skip = 0
        if wanted and status == 206:
            match = CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if match is None or int(match.group(1)) != part.offset \
                    or int(match.group(2)) != part.offset + (part.length or 0) - 1:
                raise FetchError(f"{url}: asked for {wanted} (BYTERANGE) but the server "
                                 f"answered Content-Range "
                                 f"{response.headers.get('content-range', '(none)')!r}; not "
                                 "archived", where)
        else:
            check_status(response, url, session.lesson)
            if wanted:  # 200: the server ignored Range; cut the range out of the whole body
                skip = part.offset
                if part.offset + (part.length or 0) > SEGMENT_LIMIT:
                    raise FetchError(f"{url}: the server ignored Range {wanted} (BYTERANGE) "
                                     f"and the range ends past {SEGMENT_LIMIT} bytes of its "
                                     "whole answer; not archived", where)
        chunks: list[bytes] = []
        size = 0
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        coded = encoding not in ("", "identity")
        if coded and encoding not in DECODED:
            raise FetchError(f"{url}: Content-Encoding {encoding} cannot be decoded here; "
                             "not archived", where)
        if coded and wanted:
            raise FetchError(f"{url}: a BYTERANGE segment served with Content-Encoding "
                             f"{encoding}; its range cannot be trusted, not archived", where)
        raw = response.iter_bytes() if coded else response.iter_raw()  # decoded as a browser
        total = bounded(raw, opts, url, where, already=before,
                        what="the HLS segments together", hint="--max-bytes bounds their "
                        "sum; raise it if this is expected")
        for chunk in bounded(total, opts, url, where, max_bytes=limit, what="one segment",
                             hint="a single segment is at most this large"):
            size += len(chunk)
            chunks.append(chunk)
            if wanted and status != 206 and size >= skip + (part.length or 0):
                break  # the range is complete; the rest of the resource is not needed
        whole = b"".join(chunks)
        exchange.bytes = len(whole)
        exchange.sha256 = hashlib.sha256(whole).hexdigest()
        length = response.headers.get("content-length")
        if not coded and not (wanted and status != 206) and length and length.isdigit() \
                and int(length) != len(whole):
            raise Transient(f"{url}: {len(whole)} of {length} bytes", where)
        body = whole[skip:skip + (part.length or 0)] if wanted and status != 206 else whole
        if part.length is not None and len(body) != part.length:
            raise Transient(f"{url}: BYTERANGE {part.length}@{part.offset}: got {len(body)} "
                            "bytes", where)
        return body, response.headers.get("content-type", ""), None if wanted else exchange


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
    check_master(body.decode("utf-8", errors="replace"), final, session.lesson)
    variant = best_variant(session, body, final)
    if variant is not None:
        body, final = _playlist(session, variant, opts, on_retry)
    todo = parts(body.decode("utf-8", errors="replace"), final, session.lesson,
                 opts.max_segments)
    path = folder / partial
    sidecar = folder / (partial + ".json")
    folder.mkdir(parents=True, exist_ok=True)
    plan = hashlib.sha256("\n".join(p.plan_line() for p in todo).encode("utf-8")).hexdigest()
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
        for index, part in enumerate(todo[done:], start=done):
            for attempt in retrying(opts, on_retry):
                with attempt:
                    attempts += 1
                    data, seg_type, whole = _segment(session, part, opts, size)
            if index == 0:
                check_media_start(data, seg_type, part.url, session.lesson)
            cancel.check("HLS download")
            if whole is not None:
                whole.stored_at = size
            out.write(data)
            out.flush()
            sha256.update(data)
            sha512.update(data)
            size += len(data)
            atomic_write_json(sidecar, {"kind": "hls", "url": final, "plan": plan,
                                        "segments_done": index + 1, "bytes": size})
            progress(size, None)
    return Downloaded(path=path, url=final, bytes=size, sha256=sha256.hexdigest(),
                      sha512=sha512.hexdigest(), content_type=content_type, total=size,
                      attempts=attempts, resumed_from=rehashed, rehashed_bytes=rehashed,
                      exchanges=[e for e in session.exchanges if e.role == "segment"])
