"""The WARC capture of one lesson's HTTP exchanges: replayable by pywb and ReplayWeb.page.

Two files, each starting with a `warcinfo` record (WARC 1.1):
- `fetch/capture.warc.gz` (gzip, one member per record, warcio): every exchange whose body was
  read whole (the page, iframes, the poster, subtitle tracks, playlists: anything with an
  `Exchange.warc_payload`) as a full `response` record at its real URL, with its `request`
  record (`WARC-Concurrent-To` the response); redirect hops as `response` records (their
  headers; the tiny body was not kept: `WARC-Truncated: length`); exchanges that carried no
  complete body (a probe, a connection cut mid-transfer, a 503 before a retry) as `metadata`
  records about the exchange; the TLS evidence as a `metadata` record. Every `metadata`
  record targets a `urn:lesson-archiver:...` URI, never a replayable URL: replay tools index a
  record by its target, and a metadata record at the media URL shadows the media (pywb then
  answers the media URL with JSON).
- `fetch/capture-media.warc` (uncompressed): the media as full `response` records at their
  real URLs, the whole file (direct media) or one record per HLS segment, with `request`
  records. Why uncompressed and apart: video does not compress, and gzip costs ~50 MB/s of CPU
  per level-9 stream (10 MB/s at level 1 on a busy 2-core machine); written plain, the
  payloads are copied by the kernel from the original (`os.copy_file_range`, see
  archiver.fetch.mediacopy), never read back through Python. The payload digest
  (`WARC-Payload-Digest: sha256:`) is the one computed while downloading, so no byte is
  hashed twice for the payload; the file's own sha256 (for the fetch record) is computed on a
  worker thread over the same pieces while they are copied.
  `WARC-Block-Digest` is left out of media records (optional in WARC 1.1): it would cost one
  more full hash for a value that adds nothing to the payload digest.

Why full records and not a `revisit` pointing at `original<.ext>`: no replay tool resolves a
revisit whose original is outside the collection, and they slice Range requests out of a full
record (FIELD-NOTES.md). When the media arrived in pieces (a cut connection resumed with
Range), the complete record is *assembled*: the final bytes (checked with If-Range, hashed as
received) under the full response's headers, status 200 and the full Content-Length, marked
with `WARC-Lesson-Archiver-Assembled` naming the exchanges; each piece's own headers and byte
range stay in a `metadata` record (`WARC-Payload-Range`). HLS segments fetched by an earlier
run that this run resumed are not in this run's exchanges and so not in the WARC (the
original file still holds their bytes).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archiver.fetch.download import CONTENT_RANGE
from archiver.fetch.http import Exchange
from archiver.fetch.mediacopy import Piece, Span, write_pieces
from archiver.store import atomic_open, sha256_file

GZ_NAME = "capture.warc.gz"
MEDIA_NAME = "capture-media.warc"
MEDIA_ROLES = ("media", "segment")
URN = "urn:lesson-archiver"
ASSEMBLED = "WARC-Lesson-Archiver-Assembled"


@dataclass(frozen=True)
class WrittenWarc:
    """A WARC file written by `write_warc`: its name, size and sha256 (for the fetch record,
    so that later stages never re-read it to fingerprint it)."""

    path: Path
    bytes: int
    sha256: str


def sha256_label(hex_digest: str) -> str:
    """A WARC labelled digest (`sha256:` + base32, the form warcio uses for sha1)."""
    return "sha256:" + base64.b32encode(bytes.fromhex(hex_digest)).decode("ascii")


def _urn(lesson: str, *parts: str) -> str:
    return ":".join([URN, quote(lesson, safe="") or "lesson", *parts])


def _warc_date(stamp: str) -> str:
    """WARC-Date (W3C ISO 8601, UTC) of a recorded time; now when it is missing."""
    if stamp:
        return stamp
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _request_line(url: str) -> str:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"GET {target} HTTP/1.1"


def _request_http(url: str, headers: list[tuple[str, str]]) -> StatusAndHeaders:
    return StatusAndHeaders(_request_line(url), list(headers), is_http_request=True)


def _status(code: int, reason: str) -> str:
    return f"{code} {reason}".strip()


def _response_headers(headers: list[tuple[str, str]], length: int | None,
                      decoded: bool = False) -> list[tuple[str, str]]:
    """Headers for a record holding the decoded body: httpx undoes chunked transfer coding,
    so `Transfer-Encoding` is kept under another name and Content-Length states the length
    stored (otherwise a replay tool would try to de-chunk plain bytes). `decoded`: the
    payload is the stored media file, which holds the body after its Content-Encoding was
    undone, so that header is kept under another name too (a replay tool would gunzip
    plain bytes)."""
    out: list[tuple[str, str]] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "transfer-encoding" or (decoded and lower == "content-encoding"):
            out.append((f"X-Archive-Orig-{name}", value))
        elif lower in ("content-length", "content-range") and length is not None:
            continue
        else:
            out.append((name, value))
    if length is not None:
        out.append(("Content-Length", str(length)))
    return out


def _payload_start(exchange: Exchange) -> int:
    """Where this exchange's payload starts in the resource, from the exchange alone.

    Why not a running total over exchanges: a 200 after a cut (the content changed, or the
    server ignored Range) restarts at zero, and a run resumed from an earlier run's partial
    starts with a 206 at that offset; only the response itself says where its bytes belong.
    """
    if exchange.status == 206:
        match = CONTENT_RANGE.match(exchange.headers.get("content-range", ""))
        if match is not None:
            return int(match.group(1))
    return 0


def _url(exchange: Exchange) -> str:
    return exchange.final_url or exchange.requested_url


@dataclass
class _MediaRecord:
    """A full media response to write: headers, where its payload is in the original file."""

    exchange: Exchange
    source: Path
    status: str
    headers: list[tuple[str, str]]
    offset: int
    length: int
    sha256: str | None
    assembled: str | None = None


@dataclass(frozen=True)
class MediaPart:
    """One file of media as served (the original, or one component of a split source: video
    and audio apart) and which of the session's exchanges carried its bytes (`span`: a slice
    of the exchange list; None: all of them). Each becomes full response records of its own."""

    file: Path
    url: str | None
    sha256: str | None
    span: tuple[int, int] | None = None


def _plan_media(exchanges: list[Exchange], part: MediaPart
                ) -> tuple[list[_MediaRecord], set[int]]:
    """The full media records, and the ids of the exchanges they cover.

    Direct media: the exchange that carried every byte, or an assembled record. HLS: one
    record per whole segment stored in this run, at the place the download stored it
    (`Exchange.stored_at`); a byte range (206, or cut out of a 200 that ignored Range) is no
    whole response, so it keeps its metadata record only.
    """
    records: list[_MediaRecord] = []
    covered: set[int] = set()
    if part.span is not None:
        exchanges = exchanges[part.span[0]:part.span[1]]
    source, media_url, media_sha256 = part.file, part.url, part.sha256
    media_size = source.stat().st_size
    if any(e.role == "segment" for e in exchanges):
        for segment in exchanges:
            at = segment.stored_at
            if segment.role == "segment" and segment.outcome == "ok" and \
                    segment.status == 200 and segment.bytes and at is not None and \
                    at + segment.bytes <= media_size:
                records.append(_MediaRecord(
                    segment, source, _status(segment.status, segment.reason),
                    _response_headers(segment.raw_response, segment.bytes, decoded=True),
                    at, segment.bytes, segment.sha256))
                covered.add(id(segment))
        return records, covered
    media = [e for e in exchanges if e.role == "media" and e.status in (200, 206)]
    final = next((e for e in reversed(media) if e.outcome == "ok"), None)
    if final is None or not media_url or not media_size:
        return records, covered
    if final.status == 200 and final.bytes == media_size:
        records.append(_MediaRecord(final, source, _status(final.status, final.reason),
                                    _response_headers(final.raw_response, media_size,
                                                      decoded=True), 0,
                                    media_size, media_sha256))
        covered.add(id(final))
        return records, covered
    # arrived in pieces: the full response's headers (the latest 200, else the final 206)
    # over the complete bytes, marked as assembled; the pieces keep their metadata records
    base = next((e for e in reversed(media) if e.status == 200), final)
    pieces = [e for e in media if e.bytes]
    note = ", ".join(
        f"{e.status} bytes {_payload_start(e)}-{_payload_start(e) + e.bytes - 1} ({e.outcome})"
        for e in pieces)
    records.append(_MediaRecord(base, source, "200 OK", _response_headers(base.raw_response,
                                                                  media_size, decoded=True),
                                0, media_size, media_sha256,
                                assembled=f"{len(pieces)} exchanges: {note}"))
    return records, covered


def _warcinfo(writer: WARCWriter, name: str, tools: dict[str, str], what: str) -> None:
    writer.write_record(writer.create_warcinfo_record(name, {
        "software": f"lesson-archiver {tools.get('archiver', '')} "
                    f"(httpx {tools.get('httpx', '')}, warcio {tools.get('warcio', '')})",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/"
                      "warc-format/warc-1.1/",
        "description": what,
    }))


def _metadata(writer: WARCWriter, target: str, data: dict[str, Any], date: str,
              extra: dict[str, str] | None = None) -> None:
    blob = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    headers = {"WARC-Date": _warc_date(date), **(extra or {})}
    writer.write_record(writer.create_warc_record(
        target, "metadata", payload=io.BytesIO(blob), length=len(blob),
        warc_content_type="application/json", warc_headers_dict=headers))


def _exchange_metadata(writer: WARCWriter, lesson: str, index: int,
                       exchange: Exchange) -> None:
    """An exchange without a complete body, as a record *about* it (not replayable)."""
    extra = {}
    if exchange.role in MEDIA_ROLES and exchange.bytes:
        start = _payload_start(exchange)
        extra["WARC-Payload-Range"] = f"bytes {start}-{start + exchange.bytes - 1}"
    _metadata(writer, _urn(lesson, "exchange", str(index)),
              {"exchange": exchange.to_json(), "url": _url(exchange),
               "why_no_response_record": "the body was not received or not kept whole"},
              exchange.started, extra)


def _write_compressed(path: Path, exchanges: list[Exchange], covered: set[int], *,
                      tls: dict[str, Any] | None, tools: dict[str, str], lesson: str) -> None:
    with atomic_open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        _warcinfo(writer, path.name, tools,
                  "HTTP exchanges of one lesson's fetch: pages, embeds, poster, tracks, "
                  f"playlists; the media's full records are in {MEDIA_NAME}")
        for index, exchange in enumerate(exchanges):
            for hop in exchange.redirects:
                hop_http = StatusAndHeaders(_status(hop["status"], ""),
                                            list(hop["headers"].items()), protocol="HTTP/1.1")
                response = writer.create_warc_record(
                    hop["url"], "response", http_headers=hop_http,
                    warc_headers_dict={"WARC-Truncated": "length",
                                       "WARC-Date": _warc_date(exchange.started)})
                writer.write_record(response)
                _request_record(writer, hop["url"], exchange, response)
            if id(exchange) in covered:
                continue  # a full record in the media WARC
            url = _url(exchange)
            if exchange.status and exchange.warc_payload is not None \
                    and exchange.outcome == "ok":
                body = exchange.warc_payload
                http = StatusAndHeaders(_status(exchange.status, exchange.reason),
                                        _response_headers(exchange.raw_response, len(body)),
                                        protocol="HTTP/1.1")
                response = writer.create_warc_record(
                    url, "response", payload=io.BytesIO(body), length=len(body),
                    http_headers=http,
                    warc_headers_dict={"WARC-Date": _warc_date(exchange.started)})
                writer.write_record(response)
                _request_record(writer, url, exchange, response)
                continue
            if exchange.status:
                writer.write_record(writer.create_warc_record(
                    url, "request", http_headers=_request_http(url, exchange.raw_request),
                    warc_headers_dict={"WARC-Date": _warc_date(exchange.started)}))
            _exchange_metadata(writer, lesson, index, exchange)
        if tls is not None:
            _metadata(writer, _urn(lesson, "tls"), {"tls": tls}, "")


def _request_record(writer: WARCWriter, url: str, exchange: Exchange, response: Any) -> None:
    writer.write_record(writer.create_warc_record(
        url, "request", http_headers=_request_http(url, exchange.raw_request),
        warc_headers_dict={
            "WARC-Date": response.rec_headers.get_header("WARC-Date"),
            "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID")}))


def _record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def _warc_head(fields: list[tuple[str, str]]) -> bytes:
    lines = ["WARC/1.1", *(f"{k}: {v}" for k, v in fields)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _write_media(path: Path, records: list[_MediaRecord], tools: dict[str, str]) -> str:
    """Write the uncompressed media WARC; returns its sha256 (hashed while written, from the
    same pieces: archiver.fetch.mediacopy copies the payloads in the kernel)."""
    info = io.BytesIO()
    _warcinfo(WARCWriter(info, gzip=False, warc_version="1.1"), path.name, tools,
              "the media of one lesson's fetch as full response records (uncompressed)")
    pieces: list[Piece] = [info.getvalue()]
    for record in records:
        pieces += _media_record(record)
    with atomic_open(path, "wb") as handle:
        return write_pieces(handle.fileno(), pieces)


def _media_record(record: _MediaRecord) -> list[Piece]:
    """One media response record and its request record: headers, then the payload as a
    range of the original file (never read here), then the request."""
    exchange = record.exchange
    url = _url(exchange)
    date = _warc_date(exchange.started)
    http = StatusAndHeaders(record.status, record.headers, protocol="HTTP/1.1").to_bytes()
    response_id = _record_id()
    fields = [("WARC-Type", "response"), ("WARC-Record-ID", response_id),
              ("WARC-Date", date), ("WARC-Target-URI", url)]
    if record.sha256:
        fields.append(("WARC-Payload-Digest", sha256_label(record.sha256)))
    if record.assembled:
        fields.append((ASSEMBLED, record.assembled))
    fields += [("Content-Type", "application/http; msgtype=response"),
               ("Content-Length", str(len(http) + record.length))]
    request = _request_http(url, exchange.raw_request).to_bytes()
    request_fields = [("WARC-Type", "request"), ("WARC-Record-ID", _record_id()),
                      ("WARC-Date", date), ("WARC-Target-URI", url),
                      ("WARC-Concurrent-To", response_id),
                      ("WARC-Block-Digest", "sha256:" + base64.b32encode(
                          hashlib.sha256(request).digest()).decode("ascii")),
                      ("Content-Type", "application/http; msgtype=request"),
                      ("Content-Length", str(len(request)))]
    return [_warc_head(fields) + http, Span(record.source, record.offset, record.length),
            b"\r\n\r\n" + _warc_head(request_fields) + request + b"\r\n\r\n"]


def write_warc(path: Path, exchanges: Iterable[Exchange], *, tls: dict[str, Any] | None,
               tools: dict[str, str], media: Sequence[MediaPart] = (),
               lesson: str = "") -> list[WrittenWarc]:
    """Write the capture: `path` (`capture.warc.gz`) and, when there is media, the media WARC
    beside it (`capture-media.warc`); each atomically (temporary name, then rename).

    `media`: the archived original, or each component of a split source (their bytes are the
    media payloads), with the digests computed while downloading. Returns the files written,
    with their sha256.
    """
    exchanges = list(exchanges)
    records: list[_MediaRecord] = []
    covered: set[int] = set()
    for part in media:
        planned, ids = _plan_media(exchanges, part)
        records += planned
        covered |= ids
    _write_compressed(path, exchanges, covered, tls=tls, tools=tools, lesson=lesson)
    written = [WrittenWarc(path, path.stat().st_size, sha256_file(path))]
    media_path = path.with_name(MEDIA_NAME)
    if records:
        digest = _write_media(media_path, records, tools)
        written.append(WrittenWarc(media_path, media_path.stat().st_size, digest))
    else:
        media_path.unlink(missing_ok=True)  # an earlier capture's media must not linger
    return written
