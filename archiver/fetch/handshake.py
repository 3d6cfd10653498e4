"""Judge a source's certificate during the TLS handshake, before any request is sent.

Why: under `pin` (and `insecure`) the SSLContext cannot validate anything itself, so without
this the pin would be checked only when a response arrives: the request line and headers would
already have gone to a server that may be an interceptor. httpcore's documented extension
point, a `NetworkBackend`, lets us wrap `start_tls`: the peer certificate is handed to the
source's `TlsGuard` right after the handshake, and a refusal closes the connection before a
single byte of HTTP is written.

httpx takes no backend argument, so archiver.adapters.httpcore installs it through a private
attribute. If a release removes that attribute, `checking_transport` fails closed when the
caller says the check is `required` (a `pin:` source: no request at all); otherwise it returns
a plain transport and the per-response check in `Session._send` still refuses before any body
is read (`verify`/`ca:` are judged by the SSLContext at the handshake anyway).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

from archiver.adapters.contract import ContractBroken
from archiver.adapters.httpcore import transport_with_backend

Check = Callable[[Any, str, int], None]  # (ssl_object, host, port); raises to refuse
Connect = Callable[[str, int], str]  # (host, port) -> where to connect (`--resolve`)
ContextFor = Callable[[str], ssl.SSLContext]  # host -> its SSLContext (`tls_hosts`)


class _CheckedStream(httpcore.NetworkStream):
    """A TCP stream whose TLS upgrade is followed by the source's certificate check."""

    def __init__(self, inner: httpcore.NetworkStream, host: str, port: int,
                 check: Check, context_for: ContextFor | None = None) -> None:
        self._inner, self._host, self._port, self._check = inner, host, port, check
        self._context_for = context_for

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        if self._context_for is not None:  # this host's own policy (`tls_hosts`)
            ssl_context = self._context_for(self._host)
        upgraded = self._inner.start_tls(ssl_context, server_hostname, timeout)
        try:
            self._check(upgraded.get_extra_info("ssl_object"), self._host, self._port)
        except BaseException:
            upgraded.close()
            raise
        return upgraded


class _CheckingBackend(httpcore.NetworkBackend):
    """Opens TCP connections (to the `--resolve` address, if any) whose TLS is checked."""

    def __init__(self, check: Check, connect: Connect | None = None,
                 context_for: ContextFor | None = None) -> None:
        self._inner = httpcore.SyncBackend()
        self._check = check
        self._connect = connect
        self._context_for = context_for

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        address = self._connect(host, port) if self._connect is not None else host
        stream = self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
        return _CheckedStream(stream, host, port, self._check, self._context_for)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def checking_transport(ssl_context: ssl.SSLContext, check: Check, *, required: bool,
                       connect: Connect | None = None,
                       context_for: ContextFor | None = None) -> httpx.HTTPTransport:
    """An httpx transport whose new TLS connections are judged by `check` at handshake.

    `connect` maps (host, port) to the address to connect to (`--resolve`), `context_for`
    gives each host its SSLContext (`tls_hosts`); both need the backend, so the caller
    passes `required=True` with them. When the installed httpx offers no way to add the
    backend, `required` re-raises the adapter's ContractBroken; otherwise a plain transport
    comes back (per-response check only).
    """
    try:
        return transport_with_backend(ssl_context, _CheckingBackend(check, connect,
                                                                    context_for))
    except ContractBroken:
        if required:
            raise
    return httpx.HTTPTransport(verify=ssl_context, trust_env=False)
