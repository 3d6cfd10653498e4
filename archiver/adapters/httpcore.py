"""httpx/httpcore/h11 internals: the handshake-check hook and the raw-body reader's h11 state.

Two things archiver needs are not reachable through public API:

1. **A network backend for httpx's transport** (the handshake check, archiver.fetch.handshake).
   httpcore documents `ConnectionPool(network_backend=…)`, but httpx's `HTTPTransport` takes
   no backend argument; the transport keeps its pool in the private `HTTPTransport._pool`,
   which we replace with a pool built from the same arguments plus our backend.
   `transport_with_backend` raises `ContractBroken` when `_pool` is not an httpcore
   `ConnectionPool`; archiver.fetch decides what that means (under `pin:` it refuses to fetch).
2. **The h11 connection behind a streamed response** (archiver.fetch.rawbody): reached through
   `response.stream._stream._httpcore_stream._stream._connection._h11_state`, every step but
   the first private to httpx or httpcore. `h11_state` returns None on any surprise (the raw
   reader is only a speed-up, httpx's own reading then takes over); `trace_h11_state` says which
   step broke, for the contract test.

Contract test: tests/test_adapters_httpcore.py.
"""

from __future__ import annotations

import ssl
from typing import Any

import h11
import httpcore
import httpx

from archiver.adapters.contract import ContractBroken, Internal

LIBRARIES = ("httpx", "httpcore", "h11")
# httpx's own defaults (httpx.DEFAULT_LIMITS), stated here so the rebuilt pool matches them
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)

POOL = Internal("httpx.HTTPTransport._pool", "an httpcore.ConnectionPool", LIBRARIES)
# each step from a streamed httpx.Response to its h11.Connection: (attribute, expected)
H11_STEPS: tuple[tuple[str, str], ...] = (
    ("stream", "httpx's BoundSyncStream"),
    ("_stream", "httpx's ResponseStream"),
    ("_httpcore_stream", "httpcore's PoolByteStream"),
    ("_stream", "httpcore's HTTP11ConnectionByteStream"),
    ("_connection", "httpcore's HTTP11Connection"),
    ("_h11_state", "an h11.Connection"),
)
H11_PATH = "httpx.Response." + ".".join(name for name, _ in H11_STEPS)


def pool_replaceable(transport: httpx.HTTPTransport) -> bool:
    """Whether this httpx keeps the transport's connection pool where we replace it."""
    return isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool)


def transport_with_backend(ssl_context: ssl.SSLContext,
                           backend: httpcore.NetworkBackend) -> httpx.HTTPTransport:
    """An httpx transport whose connections are opened by `backend` (HTTP/1.1, no proxy).

    Raises ContractBroken when the installed httpx no longer has `HTTPTransport._pool`.
    """
    transport = httpx.HTTPTransport(verify=ssl_context, trust_env=False, limits=LIMITS)
    if not pool_replaceable(transport):
        found = getattr(transport, "_pool", None)
        raise ContractBroken(POOL, "is missing" if found is None
                             else f"is a {type(found).__module__}.{type(found).__qualname__}")
    transport._pool = httpcore.ConnectionPool(
        ssl_context=ssl_context, network_backend=backend,
        max_connections=LIMITS.max_connections,
        max_keepalive_connections=LIMITS.max_keepalive_connections,
        keepalive_expiry=LIMITS.keepalive_expiry, http1=True, http2=False, retries=0)
    return transport


def trace_h11_state(response: httpx.Response) -> h11.Connection:
    """The h11.Connection behind a streamed HTTP/1.1 response; ContractBroken names the step
    of `H11_PATH` that is missing."""
    current: Any = response
    reached = "httpx.Response"
    for name, expected in H11_STEPS:
        if not hasattr(current, name):
            step = Internal(f"{reached}.{name}", expected, LIBRARIES)
            raise ContractBroken(step, f"is missing on {type(current).__qualname__} "
                                 f"(path {H11_PATH})")
        current = getattr(current, name)
        reached = f"{reached}.{name}"
    if not isinstance(current, h11.Connection):
        step = Internal(H11_PATH, H11_STEPS[-1][1], LIBRARIES)
        raise ContractBroken(step, f"is a {type(current).__qualname__}")
    return current


def h11_state(response: httpx.Response) -> h11.Connection | None:
    """The h11.Connection behind a streamed response, or None when it cannot be reached."""
    try:
        return trace_h11_state(response)
    except ContractBroken:
        return None
