"""The WARC capture (`fetch/capture.warc.gz`) of one lesson's HTTP exchanges, via warcio.

Records: `warcinfo`; for every exchange a `request` record; for pages, playlists and redirect
hops a `response` record with their body; a `metadata` record with the TLS evidence.

The media payload is *referenced*, not copied (justification): the media bytes are preserved
bit-exactly as `fetch/original<.ext>` and end up in the BagIt package with sha256 and sha512
manifests; copying gigabytes of incompressible video into a gzip WARC would double the storage,
cost a full second read of the file (the fetch stage's target is zero bytes read back per byte
downloaded) and gzip at ~100 MB/s would make the fetch several times slower than the transfer.
So the complete media is a `revisit` record (WARC 1.1 profile identical-payload-digest) with
the final response's HTTP headers, `WARC-Payload-Digest: sha256:<base32>` of the whole payload
and `WARC-Refers-To-Target-URI`, plus the extension field `WARC-Refers-To-File` naming the
archived file; each media exchange that carried part of the payload (a cut connection, a
resumed 206) is a headers-only `response` record with `WARC-Truncated` and its byte range.
`inline_media=True` additionally stores the full payload as a `resource` record (one read).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archiver.fetch.download import CONTENT_RANGE
from archiver.fetch.http import Exchange
from archiver.store import atomic_open

BODY_ROLES = ("page", "playlist")


def sha256_label(hex_digest: str) -> str:
    """A WARC labelled digest (`sha256:` + base32, the form warcio uses for sha1)."""
    return "sha256:" + base64.b32encode(bytes.fromhex(hex_digest)).decode("ascii")


def _request_line(url: str) -> str:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"GET {target} HTTP/1.1"


def _request(writer: WARCWriter, url: str, headers: list[tuple[str, str]]) -> Any:
    http = StatusAndHeaders(_request_line(url), headers, is_http_request=True)
    return writer.create_warc_record(url, "request", http_headers=http)


def _status(code: int, reason: str) -> str:
    return f"{code} {reason}".strip()


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


def write_warc(path: Path, exchanges: Iterable[Exchange], *, tls: dict[str, Any] | None,
               tools: dict[str, str], media_file: str | None, media_url: str | None,
               media_sha256: str | None, inline_media: Path | None = None,
               media_type: str = "application/octet-stream") -> None:
    """Write the whole WARC atomically (temporary name, then rename)."""
    exchanges = list(exchanges)
    with atomic_open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, {
            "software": f"lesson-archiver {tools.get('archiver', '')} "
                        f"(httpx {tools.get('httpx', '')}, yt-dlp {tools.get('yt-dlp', '')})",
            "format": "WARC File Format 1.1",
            "description": "HTTP exchanges of one lesson's fetch; media payload referenced "
                           "by digest (see capture.json)",
        }))
        final_media = next((e for e in reversed(exchanges)
                            if e.role == "media" and e.status in (200, 206)), None)
        for exchange in exchanges:
            for hop in exchange.redirects:
                writer.write_record(_request(writer, hop["url"], exchange.raw_request))
                hop_headers = StatusAndHeaders(_status(hop["status"], ""),
                                               list(hop["headers"].items()), protocol="HTTP/1.1")
                writer.write_record(writer.create_warc_record(
                    hop["url"], "response", http_headers=hop_headers,
                    warc_headers_dict={"WARC-Truncated": "unspecified"}))
            if not exchange.status:
                continue  # failed before any response: nothing was exchanged
            url = exchange.final_url or exchange.requested_url
            writer.write_record(_request(writer, url, exchange.raw_request))
            http = StatusAndHeaders(_status(exchange.status, exchange.reason),
                                    exchange.raw_response, protocol="HTTP/1.1")
            if exchange.role in BODY_ROLES and exchange.warc_payload is not None:
                writer.write_record(writer.create_warc_record(
                    url, "response", payload=io.BytesIO(exchange.warc_payload),
                    length=len(exchange.warc_payload), http_headers=http))
                continue
            extra = {"WARC-Truncated": "length" if exchange.outcome == "ok" else "disconnect"}
            if exchange.role in ("media", "segment") and exchange.bytes:
                start = _payload_start(exchange)
                extra["WARC-Payload-Range"] = f"bytes {start}-{start + exchange.bytes - 1}"
            if exchange is final_media and media_sha256 and media_url:
                continue  # the complete media gets its revisit record below
            writer.write_record(writer.create_warc_record(
                url, "response", http_headers=http, warc_headers_dict=extra))
        if final_media is not None and media_sha256 and media_url:
            http = StatusAndHeaders(_status(final_media.status, final_media.reason),
                                    final_media.raw_response, protocol="HTTP/1.1")
            record = writer.create_revisit_record(
                media_url, sha256_label(media_sha256), media_url, final_media.ended
                or final_media.started, http_headers=http,
                warc_headers_dict={"WARC-Refers-To-File": media_file or ""})
            writer.write_record(record)
        if inline_media is not None and media_url and media_sha256:
            with open(inline_media, "rb") as payload:
                size = inline_media.stat().st_size
                writer.write_record(writer.create_warc_record(
                    media_url, "resource", payload=payload, length=size,
                    warc_content_type=media_type,
                    warc_headers_dict={"WARC-Payload-Digest": sha256_label(media_sha256),
                                       "WARC-Block-Digest": sha256_label(media_sha256)}))
        if tls is not None:
            blob = json.dumps({"tls": tls}, ensure_ascii=False, indent=2).encode("utf-8")
            writer.write_record(writer.create_warc_record(
                media_url or "urn:lesson-archiver:tls", "metadata",
                payload=io.BytesIO(blob), length=len(blob),
                warc_content_type="application/json",
                warc_headers_dict={"WARC-Block-Digest": sha256_label(
                    hashlib.sha256(blob).hexdigest())}))
