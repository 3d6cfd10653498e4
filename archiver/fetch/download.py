"""Resumable, hashed, bounded, retried media transfers.

Why it is built this way:
- Hash while streaming (sha256 + sha512 of each chunk as it arrives), so a completed download
  needs no second read. Within one run a retry resumes with the hash objects still in memory:
  zero bytes are read back. hashlib state cannot be persisted, so after an interrupted *run*
  the partial's prefix is re-hashed once (`rehashed_bytes` reports it).
- The partial lives under a stable temporary name per source (`.media.tmp-partial`,
  `.media.tmp-partial-2`, ..., see `partial_name`, each beside a small sidecar `<name>.json`
  holding URL, validator and sizes) so the next run finds it; nothing is ever written under
  a final name here (the stage publishes atomically).
- Resume sends `Range: bytes=N-` with `If-Range: <strong ETag or Last-Modified>`: a server
  whose content changed answers 200 and we restart from zero instead of splicing two
  versions. Without any validator a resume would be a blind splice, so we restart instead.
- Retries (tenacity, exponential backoff, Retry-After honoured) only for `Transient` errors;
  certificate problems and 4xx are final. A retry that made progress does not count against
  the budget: a slow flaky link still finishes, a dead one fails after `retries` attempts.
- Bounded: `max_bytes` caps announced and actual sizes (an endless body stops there).
- Content check: an HTML page (or other text) where media was expected is refused.
- Content-Encoding: a server that ignores our `Accept-Encoding: identity` and sends gzip (or
  deflate, br, zstd) has its body decoded as a browser would (httpx's streaming decoders),
  bounded by --max-bytes on the decoded size; such a body is never resumed (a range of the
  decoded bytes is no range of the served ones). The WARC keeps the exchange as transferred.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from archiver import cancel
from archiver.errors import FetchError, Location
from archiver.fetch.http import Exchange, Session, Transient, parse_retry_after
from archiver.fetch.limits import Stalled, bounded, head_first, read_timeout
from archiver.fetch.rawbody import raw_body
from archiver.fetch.sink import Sink
from archiver.options import FetchOptions
from archiver.store import TEMP_MARK, atomic_write_json

Options = FetchOptions  # the fetch stage's typed, validated options (archiver/options.py)
CHUNK = 1 << 20
HEAD_BYTES = 512  # what check_media_start judges a body by (signatures, an HTML start)
PARTIAL_NAME = f".media{TEMP_MARK}partial"
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
MEDIA_TYPES = ("video/", "audio/", "application/octet-stream", "application/mp4",
               "binary/octet-stream", "application/vnd.apple.mpegurl", "application/x-mpegurl")


@dataclass
class Downloaded:
    """A finished transfer: the partial file (still temporary) and what we know of it."""

    path: Path
    url: str
    bytes: int
    sha256: str
    sha512: str
    content_type: str
    total: int | None
    resumed_from: int = 0
    rehashed_bytes: int = 0
    restarts: int = 0
    attempts: int = 0
    exchanges: list[Exchange] = field(default_factory=list)
    head: builtins.bytes = b""  # first bytes of the payload (to name the file by its real type)


def looks_like_media(first: bytes) -> bool:
    """Magic bytes of the containers lessons come in (MP4/MOV, Matroska/WebM, TS, FLV, ...)."""
    return (first[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
            or first.startswith((b"\x1a\x45\xdf\xa3", b"FLV", b"OggS", b"ID3", b"RIFF",
                                 b"\x00\x00\x01\xba", b"\xff\xf1", b"\xff\xf9", b"\xff\xfb"))
            or (len(first) > 188 and first[0] == 0x47 and first[188] == 0x47))


def looks_like_html(first: bytes) -> bool:
    head = first[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<?xml", b"<"))


def check_media_start(first: bytes, content_type: str, url: str, lesson: str) -> None:
    """Refuse an HTML page or other non-media served where media was expected."""
    kind = content_type.split(";")[0].strip().lower()
    if looks_like_media(first):
        return
    if kind.startswith("text/") or "html" in kind or looks_like_html(first):
        raise FetchError(f"{url}: expected media but the server sent {kind or 'no type'} "
                         f"starting {first[:40]!r} (an error or login page?); not archived",
                         Location(lesson=lesson, key="sources.url"))
    if not kind.startswith(MEDIA_TYPES):
        raise FetchError(f"{url}: expected media but got Content-Type {kind!r} and no known "
                         "media signature; not archived",
                         Location(lesson=lesson, key="sources.url"))


class _Partial:
    """The temporary file and its hashes; survives retries within one run."""

    def __init__(self, folder: Path, name: str = PARTIAL_NAME) -> None:
        self.path = folder / name
        self.sidecar = folder / (name + ".json")
        self.sha256 = hashlib.sha256()
        self.sha512 = hashlib.sha512()
        self.size = 0
        self.validator: str | None = None
        self.url: str | None = None
        self.rehashed = 0
        self.resumed_from = 0
        self.restarts = 0
        self.head = b""

    def load(self, url: str) -> None:
        """Adopt a partial left by an earlier run for the same URL (re-hash its prefix)."""
        try:
            state = json.loads(self.sidecar.read_text("utf-8"))
            size = self.path.stat().st_size
        except (FileNotFoundError, ValueError):
            self.reset()
            return
        if state.get("url") != url or not state.get("validator") or size == 0:
            self.reset()
            return
        with open(self.path, "rb") as handle:
            while block := handle.read(CHUNK):
                self.head = self.head or block[:64]
                self.sha256.update(block)
                self.sha512.update(block)
        self.size = self.rehashed = self.resumed_from = size
        self.validator, self.url = state["validator"], url

    def reset(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "wb"):
            pass
        self.sha256, self.sha512 = hashlib.sha256(), hashlib.sha512()
        self.size = 0
        self.validator = None
        self.head = b""

    def save_state(self, url: str, total: int | None, content_type: str) -> None:
        atomic_write_json(self.sidecar, {"url": url, "validator": self.validator,
                                         "total": total, "content_type": content_type,
                                         "bytes_at_start": self.size})

    def discard(self) -> None:
        for path in (self.path, self.sidecar):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _decoders() -> frozenset[str]:
    """The Content-Encodings httpx decodes here (br and zstd only with their modules)."""
    names = {"gzip", "x-gzip", "deflate"}
    for name, module in (("br", "brotli"), ("zstd", "zstandard")):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        names.add(name)
    return frozenset(names)


DECODED = _decoders()


def _encoding(response: httpx.Response, url: str, where: Location) -> str:
    """The body's Content-Encoding ("" for none); one we cannot decode is refused, since
    its bytes stored as they came would not be the media (httpx passes unknown ones on)."""
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")
               if c.strip() and c.strip().lower() != "identity"]
    unknown = [c for c in codings if c not in DECODED]
    if unknown:
        raise FetchError(f"{url}: Content-Encoding {', '.join(unknown)} cannot be decoded "
                         f"here (known: {', '.join(sorted(DECODED))}); not archived", where)
    return ", ".join(codings)


def _validator(response: httpx.Response) -> str | None:
    etag: str | None = response.headers.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    modified: str | None = response.headers.get("last-modified")
    return modified


def _refuse_status(response: httpx.Response, url: str, part: _Partial, opts: Options,
                   where: Location) -> None:
    """Raise for any status but 200/206: transient ones (429, 408, 5xx, 416) to be retried,
    the rest as final; a 416 means our partial is beyond the real end, so it restarts."""
    status = response.status_code
    if status == 429 or status >= 500 or status == 408:
        wait = parse_retry_after(response.headers.get("retry-after"))
        if wait is not None and wait > opts.retry_after_max:
            raise FetchError(f"{url}: HTTP {status}, Retry-After {wait:.0f} s exceeds the "
                             f"limit of {opts.retry_after_max:.0f} s", where)
        raise Transient(f"{url}: HTTP {status} {response.reason_phrase}", where,
                        retry_after=wait)
    if status == 416:
        part.reset()
        part.restarts += 1
        raise Transient(f"{url}: range not satisfiable; restarting from zero", where)
    if status not in (200, 206):
        raise FetchError(f"{url}: HTTP {status} {response.reason_phrase}", where)


def _span(response: httpx.Response, url: str, part: _Partial, validator: str | None,
          where: Location) -> tuple[int, int | None]:
    """Where this response's body goes in the partial, and the whole size if announced: a
    206 must continue exactly where the partial ends (same validator), a 200 starts over."""
    if response.status_code == 206:
        match = CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if (match is None or int(match.group(1)) != part.size
                or (part.validator and validator and validator != part.validator)):
            part.reset()  # not the continuation we asked for: never splice
            part.restarts += 1
            raise Transient(f"{url}: unexpected partial response; restarting", where)
        return part.size, int(match.group(3)) if match.group(3) != "*" else None
    if part.size > 0:
        part.restarts += 1  # the server sent everything again (content changed?)
    part.reset()
    length = response.headers.get("content-length")
    return 0, int(length) if length and length.isdigit() else None


def _receive(response: httpx.Response, part: _Partial, start: int, total: int | None,
             content_type: str, opts: Options, progress: Callable[[int, int | None], None],
             url: str, lesson: str, where: Location, encoding: str) -> int:
    """Stream the body into the partial at `start`, hashing as it goes; returns the bytes
    this exchange received. A body with a Content-Encoding is decoded as a browser would
    (the WARC keeps what was transferred); every body is bounded by --max-bytes. A cut or a
    stall is Transient (the next attempt resumes); a cancel stops at the next chunk."""
    received = 0
    with open(part.path, "r+b" if start else "wb", buffering=0) as out:
        out.seek(start)
        sink = Sink(out, [part.sha256.update, part.sha512.update])
        try:
            body = response.iter_bytes() if encoding else (
                raw_body(response, read_timeout(opts)) or response.iter_raw())
            for chunk in head_first(bounded(body, opts, url, where, already=part.size,
                                            what="the media (endless or oversized body)"),
                                    HEAD_BYTES):
                if part.size == 0 and received == 0:
                    check_media_start(chunk, content_type, url, lesson)
                    part.head = chunk[:64]
                sink.put(chunk)
                part.size += len(chunk)
                received += len(chunk)
                progress(part.size, total)
        except (httpx.TransportError, OSError) as exc:  # OSError: raw_body's socket
            raise _transfer_error(exc, url, part.size, total, opts, where) from exc
        finally:
            sink.close()  # every queued chunk is written and hashed before we go on
    return received


def _transfer_error(exc: Exception, url: str, size: int, total: int | None, opts: Options,
                    where: Location) -> Exception:
    """What a broken transfer means: interrupted (cancelled: rerun to resume), stalled
    (nothing for --speed-time) or a transient cut; each but the first is resumed."""
    if cancel.cancelled():
        return cancel.Interrupted(f"{url}: transfer stopped after {size} bytes "
                                  "(interrupted); rerun to resume")
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        if opts.speed_time < opts.timeout:  # the read timeout is --speed-time
            return Stalled(f"{url}: transfer stalled: nothing received for --speed-time "
                           f"{opts.speed_time:g} s after {size} bytes; will resume", where)
        why = "the server stalled (read timeout)"
    else:
        why = "the connection was closed early"
    return Transient(f"{url}: {why} after {size} of {total or 'unknown'} bytes "
                     f"({type(exc).__name__}: {exc}); will resume", where)


def _attempt(session: Session, url: str, part: _Partial, opts: Options,
             progress: Callable[[int, int | None], None], lesson: str) -> tuple[str, int | None]:
    """One HTTP exchange appending to the partial; returns (content type, total)."""
    where = Location(lesson=lesson, key="sources.url")
    headers: dict[str, str] = {}
    if part.size > 0 and part.validator:
        headers = {"Range": f"bytes={part.size}-", "If-Range": part.validator}
    elif part.size > 0:
        part.reset()
    with session.get(url, "media", headers) as (response, exchange):
        _refuse_status(response, url, part, opts, where)
        validator = _validator(response)
        start, total = _span(response, url, part, validator, where)
        if total is not None and total > opts.max_bytes:
            raise FetchError(f"{url}: announced size {total} bytes exceeds --max-bytes "
                             f"{opts.max_bytes}", where)
        content_type = response.headers.get("content-type", "")
        encoding = _encoding(response, url, where)
        if encoding:  # decoded as a browser would; a range of the decoded bytes is no
            validator, total = None, None  # range of the served ones: never resumed
            if start:
                part.reset()
                part.restarts += 1
                raise Transient(f"{url}: a partial answer in {encoding} encoding; restarting",
                                where)
        part.validator = validator
        part.save_state(url, total, content_type)
        before = part.size
        try:
            received = _receive(response, part, start, total, content_type, opts, progress,
                                url, lesson, where, encoding)
        finally:
            exchange.bytes = part.size - before
        if total is not None and part.size != total:
            raise Transient(f"{url}: connection closed after {part.size} of {total} bytes",
                            where)
        if received == 0 and part.size == 0:
            raise FetchError(f"{url}: empty response body", where)
        if start == 0:  # this exchange alone carried the whole payload
            exchange.sha256, exchange.sha512 = part.sha256.hexdigest(), part.sha512.hexdigest()
        return content_type, total


def retrying(opts: Options, on_retry: Callable[[str, float], None] | None = None,
             stop: Callable[[RetryCallState], bool] | None = None) -> Retrying:
    """The retry policy of every request of a source (page, playlist, segment, media).

    Only `Transient` errors are retried, with exponential backoff, or the server's
    Retry-After (capped by `retry_after_max`) when it sent one; at most `retries`
    attempts unless `stop` (the media download's progress-aware rule) decides.
    """
    backoff = wait_exponential(multiplier=opts.backoff, max=opts.backoff_max)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), opts.retry_after_max)
        return float(backoff(state))

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry is not None and state.next_action is not None:
            on_retry(str(exc), state.next_action.sleep)

    return Retrying(retry=retry_if_exception_type(Transient),
                    stop=stop or stop_after_attempt(max(1, int(opts.retries))), wait=wait,
                    before_sleep=before_sleep, reraise=True, sleep=cancel.sleep)


def download(session: Session, url: str, folder: Path, opts: Options,
             progress: Callable[[int, int | None], None], lesson: str,
             on_retry: Callable[[str, float], None] | None = None,
             partial: str = PARTIAL_NAME) -> Downloaded:
    """Download `url` into the partial `partial` in `folder` (resuming an earlier run's)."""
    part = _Partial(folder, partial)
    part.load(url)
    attempts = 0
    stalled = 0  # consecutive failed attempts that did not get further than ever before
    high_water = part.size

    def stop(state: RetryCallState) -> bool:
        nonlocal stalled, high_water
        slow = state.outcome is not None and isinstance(state.outcome.exception(), Stalled)
        # a stall counts even when it made progress: a 1 byte/s server always "progresses"
        stalled = 0 if part.size > high_water and not slow else stalled + 1
        high_water = max(high_water, part.size)
        return stalled >= max(1, opts.retries)

    result: tuple[str, int | None] = ("", None)
    try:
        for attempt in retrying(opts, on_retry, stop):
            with attempt:
                attempts += 1
                result = _attempt(session, url, part, opts, progress, lesson)
    except Transient:
        if part.size == 0:
            part.discard()  # nothing received: no empty partial is left to "resume"
        raise  # keep the partial: the next run resumes it
    except FetchError:
        part.discard()  # refused content (HTML, oversized, 4xx, TLS): nothing to resume
        raise
    content_type, total = result
    return Downloaded(path=part.path, url=url, bytes=part.size,
                      sha256=part.sha256.hexdigest(), sha512=part.sha512.hexdigest(),
                      content_type=content_type, total=total, resumed_from=part.resumed_from,
                      rehashed_bytes=part.rehashed, restarts=part.restarts, attempts=attempts,
                      exchanges=[e for e in session.exchanges if e.role == "media"],
                      head=part.head)


def partial_name(index: int) -> str:
    """The partial file name of a lesson's source number `index` (0-based).

    Why one per source: a later source that fails must not truncate the resumable partial
    an earlier source left (the next run resumes it). Source 0 keeps the historical name, so
    partials left by older versions are still resumed.
    """
    return PARTIAL_NAME if index == 0 else f"{PARTIAL_NAME}-{index + 1}"


def discard_partial(folder: Path, name: str = PARTIAL_NAME) -> None:
    """Remove one partial and its sidecar (after publishing or quarantining it)."""
    _Partial(folder, name).discard()


def discard_partials(folder: Path) -> None:
    """Remove every source's partial (once the lesson is complete, none will be resumed)."""
    for path in folder.glob(f"{PARTIAL_NAME}*"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
