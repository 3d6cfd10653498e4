"""yt-dlp's requests through the source's Session: a RequestHandler and the director hook.

Why: yt-dlp's extractors know how thousands of sites embed video, but its own networking
(urllib/requests, certifi, `nocheckcertificate` all or nothing) knows nothing of a source's
TLS policy, its certificate evidence or its WARC. yt-dlp routes every request of an
extractor (pages, iframes, APIs, playlists, manifests) through `YoutubeDL.urlopen`, which
sends it to the YoutubeDL's *request director*. `SessionRH` is a public
`yt_dlp.networking.common.RequestHandler` that sends through `archiver.fetch.http.Session`;
the director is built from it alone with the public `YoutubeDL.build_request_director`
(`register_rh` would be global and keep urllib as a fallback).

The one private step: the director lives in `YoutubeDL._request_director`, a
`functools.cached_property`; `install` puts ours in its place before yt-dlp builds its own.
`check_contract` refuses (ContractBroken) when that attribute is no longer a cached
property, and `install` verifies afterwards that the YoutubeDL really holds our director,
so a release that moved it fails loudly instead of letting yt-dlp use its own handlers.
Contract test: tests/test_adapters_ytdlp.py.

Bounds (issue 15): a body an extractor reads is a page, an API answer or a playlist, never
the media (archiver downloads that itself), so it is limited to `body_limit` bytes, raw and
decoded, and read under the same stall detector, --max-time and cancel check as every other
page (`archiver.fetch.limits.small_body`). A Content-Encoding the server applied anyway
(gzip, deflate) is undone as a browser would before yt-dlp sees the body; the WARC keeps the
bytes as transferred.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import yt_dlp.networking.common as networking_common
from yt_dlp import YoutubeDL
from yt_dlp.networking.common import Request, RequestHandler, Response
from yt_dlp.networking.exceptions import HTTPError, TransportError, UnsupportedRequest

from archiver.adapters.contract import ContractBroken, Internal
from archiver.errors import FetchError, Location
from archiver.fetch.http import Exchange, Session, Transient, parse_retry_after
from archiver.fetch.limits import small_body

LIBRARIES = ("yt-dlp",)
DIRECTOR = Internal("yt_dlp.YoutubeDL._request_director",
                    "a functools.cached_property holding the RequestDirector that "
                    "YoutubeDL.urlopen sends every request to", LIBRARIES)
DROPPED_HEADERS = ("accept-encoding",)  # the Session reads bodies as transferred (identity)


def role_of(content_type: str) -> str:
    """The capture role of what an extractor read, named by its type (capture.json)."""
    kind = content_type.split(";")[0].strip().lower()
    if "html" in kind:
        return "page"
    if kind.endswith("mpegurl"):
        return "playlist"
    if kind == "application/dash+xml":
        return "manifest"
    return "extractor"  # an API answer (JSON), a probe of a media file...


def check_contract() -> None:
    """Raise ContractBroken unless the director is still where `install` puts ours."""
    found = YoutubeDL.__dict__.get("_request_director")
    if not isinstance(found, functools.cached_property):
        raise ContractBroken(DIRECTOR, "is missing" if found is None
                             else f"is a {type(found).__qualname__}")


def _decoder(encoding: str, url: str, where: Location) -> Any:
    """A streaming decoder for the body's Content-Encoding (None for identity), or a
    FetchError naming a coding no browser-like decoding here knows."""
    codings = [c.strip().lower() for c in encoding.split(",")
               if c.strip() and c.strip().lower() != "identity"]
    if not codings:
        return None
    if codings == ["gzip"] or codings == ["x-gzip"]:
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if codings == ["deflate"]:
        return "deflate"  # zlib-wrapped or raw: `_Body._decode` decides on the first bytes
    raise FetchError(f"{url}: Content-Encoding {encoding} of a page or playlist cannot be "
                     "decoded here (gzip, deflate); not archived", where)


class _Body(io.RawIOBase):
    """The open response body: bounded, hashed as read, kept for the WARC when read whole."""

    def __init__(self, chunks: Iterator[bytes], exchange: Exchange, limit: int,
                 closer: contextlib.ExitStack, lesson: str, failures: list[FetchError],
                 encoding: str = "",
                 map_error: Callable[[httpx.HTTPError], FetchError] | None = None) -> None:
        super().__init__()
        self._map_error = map_error
        self._failures = failures
        self._decoder = _decoder(encoding, exchange.requested_url,
                                 Location(lesson=lesson, key="sources.url"))
        self._decoded = 0
        self._coding = encoding.strip().lower() or "encoded"
        self._chunks, self._exchange, self._limit = chunks, exchange, limit
        self._closer, self._lesson = closer, lesson
        self._buffer = b""
        self._kept: list[bytes] = []
        self._size = 0
        self._ended = False
        self._sha256, self._sha512 = hashlib.sha256(), hashlib.sha512()

    @property
    def decoding(self) -> bool:
        """Whether yt-dlp gets decoded bytes (so the encoding and length headers no longer
        describe them)."""
        return self._decoder is not None

    def readable(self) -> bool:
        return True

    def _fail(self, message: str) -> FetchError:
        error = FetchError(f"{self._exchange.requested_url}: {message}",
                           Location(lesson=self._lesson, key="sources.url"))
        self._failures.append(error)
        return error

    def _more(self) -> bool:
        try:
            chunk = next(self._chunks, None)
        except FetchError as exc:  # stalled, too slow, cancelled: seen by the stage too
            self._failures.append(exc)
            raise
        except httpx.HTTPError as exc:  # a silent server (read timeout = --speed-time), a cut
            if self._map_error is None:
                raise
            error = self._map_error(exc)
            self._failures.append(error)
            raise error from exc
        if chunk is None:
            self._ended = True
            return False
        self._size += len(chunk)
        if self._size > self._limit:
            raise self._fail(f"an extractor's request read more than {self._limit} bytes "
                             "(pages, API answers and playlists are bounded; media is "
                             "downloaded by archiver itself)")
        self._sha256.update(chunk)
        self._sha512.update(chunk)
        self._kept.append(chunk)
        self._buffer += self._decode(chunk)
        return True

    def _decode(self, chunk: bytes) -> bytes:
        """The chunk as the browser would see it, bounded like the raw body."""
        if self._decoder is None:
            return chunk
        if self._decoder == "deflate":  # as limits.decode_small: a zlib header, else raw
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS if chunk[:1] == b"\x78"
                                               else -zlib.MAX_WBITS)
        try:
            data: bytes = self._decoder.decompress(chunk, self._limit + 1 - self._decoded)
        except zlib.error as exc:
            raise self._fail(f"the {self._coding} body cannot be decoded ({exc})") from exc
        self._decoded += len(data)
        if self._decoded > self._limit or self._decoder.unconsumed_tail:
            raise self._fail(f"the {self._coding} body decodes to more than {self._limit} "
                             "bytes; a page or playlist is never this large")
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            while self._more():
                pass
            data, self._buffer = self._buffer, b""
            return data
        while len(self._buffer) < size and not self._ended and self._more():
            pass
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            exchange = self._exchange
            exchange.bytes = self._size
            exchange.sha256 = self._sha256.hexdigest()
            exchange.sha512 = self._sha512.hexdigest()
            exchange.role = role_of(exchange.headers.get("content-type", ""))
            if self._ended:
                exchange.warc_payload = b"".join(self._kept)
            else:
                exchange.outcome = exchange.outcome or \
                    f"ok (extractor read {self._size} bytes, body not read to the end)"
            self._closer.close()
        super().close()


class SessionRH(RequestHandler):  # type: ignore[misc, unused-ignore]  # untyped yt-dlp
    """Sends yt-dlp's requests through one source's Session (see the module docstring)."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = ()
    _SUPPORTED_FEATURES = ()
    RH_NAME = "archiver-session"

    def __init__(self, *, session: Session, body_limit: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.body_limit = body_limit
        self.sent: list[str] = []  # every URL this handler sent (for tests and the log)
        # archiver's own errors (TLS refusals, bounds, transient trouble), in order: an
        # extractor may swallow a failed optional request, the fetch stage must not
        self.failures: list[FetchError] = []

    def _check_extensions(self, extensions: dict[str, Any]) -> None:
        super()._check_extensions(extensions)
        for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
            extensions.pop(name, None)

    def _check_proxies(self, proxies: dict[str, Any]) -> None:
        if any(proxies.values()):
            raise UnsupportedRequest("archiver connects only directly, never through a proxy "
                                     "(use --resolve to reach a host at another address)")

    def _headers(self, request: Request) -> dict[str, str]:
        headers = {k: v for k, v in self._get_headers(request).items()
                   if k.lower() not in DROPPED_HEADERS}
        if not any(k.lower() == "user-agent" for k in request.headers):
            # yt-dlp's default is a browser's; archiver says who it is unless an extractor
            # needs a particular one
            headers = {k: v for k, v in headers.items() if k.lower() != "user-agent"}
        return headers

    def _send(self, request: Request) -> Response:
        data = request.data
        if data is not None and not isinstance(data, bytes):
            data = b"".join(data) if not hasattr(data, "read") else data.read()
        method = request.method or ("POST" if data is not None else "GET")
        self.sent.append(request.url)
        closer = contextlib.ExitStack()
        try:
            response, exchange = closer.enter_context(self.session.get(
                request.url, "extractor", self._headers(request), method=method,
                content=data))
        except FetchError as exc:
            closer.close()
            self.failures.append(exc)
            raise TransportError(exc.message, cause=exc) from exc
        except BaseException:
            closer.close()
            raise
        chunks = small_body(self.session, response.iter_raw(), request.url, "page",
                            self.body_limit)
        try:
            body = _Body(chunks, exchange, self.body_limit, closer, self.session.lesson,
                         self.failures, response.headers.get("content-encoding", ""),
                         lambda exc: self.session.map_error(exc, request.url))
        except FetchError as exc:  # a Content-Encoding we cannot undo: closed and recorded
            closer.close()
            self.failures.append(exc)
            raise TransportError(exc.message, cause=exc) from exc
        headers = {k: v for k, v in response.headers.multi_items()
                   if k not in ("content-encoding", "content-length") or not body.decoding}
        wrapped = Response(io.BufferedReader(body), url=str(response.url), headers=headers,
                           status=response.status_code, reason=response.reason_phrase)
        status = response.status_code
        if status >= 400:
            if status in (408, 429) or status >= 500:
                self.failures.append(Transient(
                    f"{request.url}: HTTP {status} {response.reason_phrase}",
                    Location(lesson=self.session.lesson, key="sources.url"),
                    retry_after=parse_retry_after(response.headers.get("retry-after"))))
            raise HTTPError(wrapped)
        return wrapped


def install(ydl: YoutubeDL, session: Session, body_limit: int) -> SessionRH:
    """Make `ydl` send every request through `session`; returns the handler.

    Raises ContractBroken (before any request) when the installed yt-dlp keeps its director
    elsewhere.
    """
    check_contract()
    if "_request_director" in ydl.__dict__:
        raise ContractBroken(DIRECTOR, "was built before archiver could install its own")
    director = ydl.build_request_director(
        [functools.partial(SessionRH, session=session, body_limit=body_limit)])
    ydl._request_director = director
    handlers = list(director.handlers.values())
    if ydl._request_director is not director or len(handlers) != 1 or \
            not isinstance(handlers[0], SessionRH):
        director.close()
        raise ContractBroken(DIRECTOR, "did not take archiver's director")
    return handlers[0]


def own_handler_classes() -> list[type[RequestHandler]]:
    """The handlers yt-dlp registers for itself (urllib, requests, ...): what `install` keeps
    out of the director. For the contract test, which makes each of them fail if used."""
    return list(networking_common._REQUEST_HANDLERS.values())


def director_handlers(ydl: YoutubeDL) -> list[RequestHandler]:
    """The handlers of the director `ydl` sends through (the attribute `install` set)."""
    return list(ydl._request_director.handlers.values())


def network_cause(exc: BaseException) -> FetchError | None:
    """The archiver error behind a yt-dlp error (TLS refusal, bound, transient), if any."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, FetchError):
            return current
        info = getattr(current, "exc_info", None)
        if isinstance(info, tuple) and len(info) > 1 and isinstance(info[1], BaseException):
            stack.append(info[1])
        for attr in ("cause", "orig_msg"):
            value = getattr(current, attr, None)
            if isinstance(value, BaseException):
                stack.append(value)
        stack.extend([current.__cause__, current.__context__])
    return None


__all__ = ["SessionRH", "TransportError", "check_contract", "install", "network_cause"]
