"""Read a large identity-encoded HTTP/1.1 body straight from the socket, in 1 MiB chunks.

Why: TLS delivers at most 16 KiB per record, and httpx/httpcore/h11 spend ~70 µs of Python per
record on events, timeouts and re-chunking: for a 1 GB lesson that is ~4 s of CPU, the main
reason a Python client lags `curl -o`. Once the response head is parsed (and the TLS policy
checked on this very connection), the body of a `Content-Length` response is just the next N
bytes on the socket, so we `recv_into` a buffer directly (a few µs per record).

A chunk that takes longer than `PATIENCE` to fill is handed over as it is, so on a slow link
the caller's stall detector and cancel check still run several times a second.

Safety: used only when every precondition holds (HTTP/1.1, Content-Length, no
Content-Encoding, no Transfer-Encoding, h11 waiting for exactly that body); bytes h11 already
buffered past the head are taken first (`h11.Connection.trailing_data`, public h11 API). The
h11 connection itself is reached through httpx/httpcore internals, so it comes from
archiver.adapters.httpcore: any surprise there returns None and the caller uses httpx's
ordinary `iter_raw`. The connection is not reused afterwards: h11 never
saw the body, so closing the response closes the connection (httpcore does this itself).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, cast

import h11
import httpx

from archiver.adapters.httpcore import h11_state

CHUNK = 1 << 20
PATIENCE = 0.25  # seconds a chunk may take to fill before what arrived is handed over


def raw_body(response: httpx.Response, timeout: float) -> Iterator[bytes] | None:
    """An iterator over the body in CHUNK-sized pieces, or None when not applicable.

    The iterator raises ConnectionError when the peer closes before Content-Length bytes,
    TimeoutError on a stall and ssl/OS errors as they come; callers map them like httpx's.
    """
    headers = response.headers
    length = headers.get("content-length", "")
    if (response.http_version != "HTTP/1.1" or not length.isdigit()
            or headers.get("content-encoding", "identity").lower() != "identity"
            or "transfer-encoding" in headers):
        return None
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    state = h11_state(response)
    if sock is None or state is None or state.their_state is not h11.SEND_BODY:
        return None
    buffered, closed = state.trailing_data
    total = int(length)
    if len(buffered) > total:
        return None  # pipelined data: not ours to interpret
    return _read(sock, bytes(buffered), total, closed, timeout)


def _read(sock: Any, buffered: bytes, total: int, closed: bool,
          timeout: float) -> Iterator[bytes]:
    sock.settimeout(timeout)
    left = total
    if buffered:
        left -= len(buffered)
        yield buffered
    while left > 0:
        if closed:
            raise ConnectionError(f"peer closed the connection with {left} bytes missing")
        size = min(CHUNK, left)
        buffer = bytearray(size)
        view = memoryview(buffer)
        filled = 0
        began = time.monotonic()
        while filled < size:
            got = sock.recv_into(view[filled:], size - filled)
            if got == 0:
                closed = True
                break
            filled += got
            if time.monotonic() - began > PATIENCE:
                break  # a slow link: hand over what came, so stall and cancel checks run
        left -= filled
        view.release()
        if filled == size:
            # a fresh buffer per chunk, never written again: safe to hand over without a copy
            yield cast(bytes, buffer)
        elif filled:
            yield bytes(buffer[:filled])
