"""Bounds on everything a source serves: bytes, time, speed, segments (one typed API).

Why one module: every path that fetches (pages, playlists, segments, media, and the yt-dlp
request handler) must apply the same bounds with the same messages, each naming the flag that
raises it. A hostile or broken server can otherwise hold a worker forever: `--timeout` is per
read, so a server dripping one byte per second never times out.

- `Stalled` (a `Transient`, so the partial is kept and the next run resumes): slower than
  `--speed-limit` bytes/s over `--speed-time` seconds, curl's meaning of the two options.
  A silent server is caught by the read timeout, which is at most `--speed-time`
  (`read_timeout`).
- Bodies are read with `iter_raw()` (as the network delivers them): httpx's sized
  `iter_raw(n)` holds everything until n bytes arrived, hiding a drip from every check.
- `bounded(chunks, ...)`: wraps any body iterator with the stall detector, the byte bound,
  an optional deadline (`--max-time`, for pages and playlists) and the cancel check, so the
  transfer stops at the next chunk when the run is interrupted.
"""

from __future__ import annotations

import collections
import time
import zlib
from collections.abc import Callable, Iterable, Iterator

from archiver import cancel
from archiver.errors import FetchError, Location
from archiver.fetch.http import Session, Stalled
from archiver.options import FetchOptions

__all__ = ["SpeedMeter", "Stalled", "TooLarge", "TooSlow", "bounded", "decode_small",
           "head_first", "read_timeout", "small_body"]


class TooLarge(FetchError):
    """A body, a playlist or the sum of a playlist's segments over its bound (not retried)."""


class TooSlow(FetchError):
    """A page or playlist not read completely within --max-time seconds."""


def read_timeout(opts: FetchOptions) -> float:
    """The socket read timeout: a silent server is stalled after --speed-time seconds."""
    return min(opts.timeout, opts.speed_time)


class SpeedMeter:
    """curl's `--speed-limit`/`--speed-time`: stalled when the bytes received in the last
    `window` seconds are fewer than `limit * window` (judged once `window` seconds passed)."""

    def __init__(self, limit: int, window: float, url: str, where: Location,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.url, self.where, self.clock = limit, window, url, where, clock
        self.started = clock()
        self.samples: collections.deque[tuple[float, int]] = collections.deque()
        self.recent = 0

    def feed(self, count: int) -> None:
        """Account `count` bytes received now; raise `Stalled` when too slow for too long."""
        now = self.clock()
        self.samples.append((now, count))
        self.recent += count
        while self.samples and self.samples[0][0] < now - self.window:
            self.recent -= self.samples.popleft()[1]
        if now - self.started >= self.window and self.recent < self.limit * self.window:
            rate = self.recent / self.window
            raise Stalled(f"{self.url}: transfer stalled: {rate:.0f} bytes/s over the last "
                          f"{self.window:g} s, below --speed-limit {self.limit} (raise "
                          "--speed-time or lower --speed-limit for a slow server); will resume",
                          self.where)


def bounded(chunks: Iterable[bytes], opts: FetchOptions, url: str, where: Location, *,
            max_bytes: int | None = None, what: str = "body", max_time: float | None = None,
            already: int = 0, hint: str = "raise --max-bytes if this is expected"
            ) -> Iterator[bytes]:
    """`chunks` under every bound: stall, size (`max_bytes`, default --max-bytes, counting
    `already` bytes received before), time (`max_time` seconds) and the run's cancel."""
    limit = opts.max_bytes if max_bytes is None else max_bytes
    meter = SpeedMeter(opts.speed_limit, opts.speed_time, url, where)
    deadline = None if max_time is None else time.monotonic() + max_time
    size = already
    for chunk in chunks:
        cancel.check(f"transfer of {url}")
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"{url}: {what} larger than {limit} bytes; stopped ({hint})", where)
        if deadline is not None and time.monotonic() > deadline:
            raise TooSlow(f"{url}: {what} not read within --max-time {max_time:g} s "
                          f"({size} bytes so far)", where)
        meter.feed(len(chunk))
        yield chunk
    cancel.check(f"transfer of {url}")


def head_first(chunks: Iterable[bytes], size: int = 4096) -> Iterator[bytes]:
    """`chunks` with the first `size` bytes (or all, if fewer) in the first chunk.

    Why: bodies are read as the network delivers them (`iter_raw()` without a size, so that
    the stall and cancel checks see every read; httpx re-chunks a sized `iter_raw` and holds
    everything until the size is reached), so the first read may be a few bytes; whoever
    judges a body by its start (media signature, HTML, #EXTM3U) needs enough of it.
    """
    head = b""
    iterator = iter(chunks)
    for chunk in iterator:
        head += chunk
        if len(head) >= size:
            break
    if head:
        yield head
    yield from iterator


def small_body(session: Session, chunks: Iterable[bytes], url: str, role: str,
               limit: int) -> Iterator[bytes]:
    """A page or playlist body under its bounds: `limit` bytes, --max-time, the stall
    detector and the cancel check (the session carries the run's options)."""
    where = Location(lesson=session.lesson, key="sources.url")
    return head_first(bounded(chunks, session.options, url, where, max_bytes=limit, what=role,
                              max_time=session.options.max_time,
                              hint="a page or playlist is never this large"))


def decode_small(raw: bytes, encoding: str | None, limit: int, url: str, where: Location
                 ) -> bytes:
    """A page or playlist body decoded as a browser would (gzip, x-gzip, deflate), at most
    `limit` decoded bytes (a small compressed body may expand a thousandfold).

    The caller keeps `raw` for the WARC, which records the exchange as transferred.
    """
    codings = [c.strip().lower() for c in (encoding or "").split(",")
               if c.strip() and c.strip().lower() != "identity"]
    body = raw
    for coding in reversed(codings):  # the last applied is undone first (RFC 9110 8.4)
        if coding in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            decoder = zlib.decompressobj(zlib.MAX_WBITS if body[:1] == b"\x78"
                                         else -zlib.MAX_WBITS)  # zlib-wrapped or raw
        else:
            raise FetchError(f"{url}: Content-Encoding {coding} of a page or playlist cannot "
                             "be decoded here (gzip, deflate); not archived", where)
        try:
            decoded = decoder.decompress(body, limit + 1)
        except zlib.error as exc:
            raise FetchError(f"{url}: the {coding} body cannot be decoded ({exc})",
                             where) from exc
        if len(decoded) > limit:
            raise TooLarge(f"{url}: the {coding} body decodes to more than {limit} bytes; "
                           "a page or playlist is never this large", where)
        body = decoded
    return body
