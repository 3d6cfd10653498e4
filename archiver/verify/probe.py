"""One bounded look at a URL: HEAD, falling back to a one-byte Range GET; drift; rehash.

Why HEAD first: it costs the server nothing and never carries a body. Some servers refuse HEAD
(405/501) or answer it wrongly (403/404 while GET works), so any HEAD failure is retried once
as `GET` with `Range: bytes=0-0`; the response is closed right after its headers, so even a
server that ignores Range sends us at most what the socket buffered. The full media is read
only for `--rehash`, and then hashed in-stream, never written to disk.

Connections are made without certificate verification on purpose: the certificate is judged
separately (archiver.verify.certcheck) so that a site whose certificate went bad is still
reported as reachable or not, with its status and headers. Nothing secret is sent.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import ssl
from dataclasses import dataclass, field
from typing import Any

import httpx

from archiver import __version__
from archiver.errors import FetchError
from archiver.fetch.http import Session
from archiver.fetch.tls import OP_LEGACY_SERVER_CONNECT
from archiver.model import Source

MAX_REDIRECTS = 5
CONTENT_RANGE = re.compile(r"bytes\s+\d+-\d+/(\d+)")
DRIFT_FIELDS = ("etag", "last-modified", "content-length")


@dataclass
class Probe:
    """What one URL answered now."""

    url: str
    method: str = "HEAD"
    status: int | None = None
    final_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None          # full resource size when the server told us
    error_class: str | None = None
    error_message: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reachable(self) -> bool:
        return self.status is not None and self.status < 400

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "status": self.status, "final_url": self.final_url,
                "reachable": self.reachable, "length": self.length,
                "error": None if self.error_class is None else
                {"class": self.error_class, "message": self.error_message},
                "headers": {k: self.headers[k] for k in DRIFT_FIELDS if k in self.headers},
                "attempts": self.attempts}


def make_client(timeout: float) -> httpx.Client:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.options |= OP_LEGACY_SERVER_CONNECT
    return httpx.Client(verify=context, timeout=httpx.Timeout(timeout), trust_env=False,
                        follow_redirects=True, max_redirects=MAX_REDIRECTS,
                        headers={"User-Agent": f"lesson-archiver/{__version__} (check-sources)",
                                 "Accept-Encoding": "identity"})


def _length(response: httpx.Response) -> int | None:
    if response.status_code == 206:
        match = CONTENT_RANGE.match(response.headers.get("content-range", ""))
        return int(match.group(1)) if match else None
    value = response.headers.get("content-length")
    return int(value) if value and value.isdigit() else None


def _attempt(client: httpx.Client, url: str, method: str, result: Probe) -> bool:
    """One request; fills `result`; True when it answered below 400."""
    headers = {"Range": "bytes=0-0"} if method == "GET" else {}
    try:
        with client.stream(method, url, headers=headers) as response:
            result.method = method
            result.status = response.status_code
            result.final_url = str(response.url)
            result.headers = {k.lower(): v for k, v in response.headers.items()}
            result.length = _length(response)
            result.error_class = result.error_message = None
            result.attempts.append({"method": method, "status": response.status_code})
            # leaving the block closes the response without reading its body
    except httpx.HTTPError as exc:
        result.method = method
        result.status = None
        result.error_class = exc.__class__.__name__
        result.error_message = str(exc) or repr(exc)
        result.attempts.append({"method": method, "error": result.error_class})
        return False
    return result.status is not None and result.status < 400


def probe_url(client: httpx.Client, url: str) -> Probe:
    """HEAD, and on any failure one Range GET: at most two bounded requests."""
    result = Probe(url=url)
    if not _attempt(client, url, "HEAD", result):
        head_status = result.status
        if not _attempt(client, url, "GET", result) and result.status is None and head_status:
            result.status = head_status  # the GET failed to connect: keep what HEAD said
    return result


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def _same(name: str, recorded: str, now: str) -> bool:
    if name == "etag":
        return recorded.removeprefix("W/") == now.removeprefix("W/")
    if name == "last-modified":
        try:
            return email.utils.parsedate_to_datetime(recorded) == \
                email.utils.parsedate_to_datetime(now)
        except (TypeError, ValueError):
            return recorded.strip() == now.strip()
    return recorded.strip() == now.strip()


def drift(recorded_headers: dict[str, Any] | None, recorded_length: int | None,
          probe: Probe) -> dict[str, Any]:
    """Compare ETag, Last-Modified and Content-Length with the capture.

    A field counts as drift only when both the capture and the server now state it and the
    values differ; a server that stopped sending ETag is "unknown", not proof of change.
    """
    if recorded_headers is None:
        return {"status": "not-recorded", "changed": [], "fields": {}}
    fields: dict[str, dict[str, Any]] = {}
    changed: list[str] = []
    for name in DRIFT_FIELDS:
        before: str | None = _header(recorded_headers, name)
        now: str | None = probe.headers.get(name)
        if name == "content-length":
            if recorded_length is not None:
                before = str(recorded_length)
            now = None if probe.length is None else str(probe.length)
        if before is None and now is None:
            continue
        same = None if before is None or now is None else _same(name, before, now)
        fields[name] = {"recorded": before, "now": now, "same": same}
        if same is False:
            changed.append(name)
    if not probe.reachable:
        return {"status": "unknown", "changed": [], "fields": fields}
    return {"status": "changed" if changed else "same", "changed": changed, "fields": fields}


def rehash(source: Source, lesson_id: str, url: str, expected: str | None, max_bytes: int,
           timeout: float) -> dict[str, Any]:
    """Stream the whole resource through sha256 (nothing is written) and compare.

    The bytes are read exactly as fetch reads them: through a session bound to the source's
    TLS policy, so a `verify` or `pin` source is never re-read over a connection its policy
    refuses (the other probes only read headers, and judge the certificate separately).
    """
    digest = hashlib.sha256()
    total = 0
    try:
        with Session(source.tls, lesson_id, timeout, source.url) as session, \
                session.get(url, "rehash") as (response, _exchange):
            if response.status_code >= 400:
                return {"expected": expected, "actual": None, "bytes": 0, "match": False,
                        "error": f"HTTP {response.status_code}"}
            for block in response.iter_raw(1 << 20):
                total += len(block)
                if total > max_bytes:
                    return {"expected": expected, "actual": None, "bytes": total,
                            "match": False, "error": f"larger than {max_bytes} bytes; stopped"}
                digest.update(block)
    except FetchError as exc:
        return {"expected": expected, "actual": None, "bytes": total, "match": False,
                "error": exc.message}
    actual = digest.hexdigest()
    return {"expected": expected, "actual": actual, "bytes": total,
            "match": expected is not None and actual == expected, "error": None}
