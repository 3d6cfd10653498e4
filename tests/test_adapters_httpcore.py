"""Contract of archiver.adapters.httpcore with the installed httpx, httpcore and h11.

Every internal the adapter relies on is driven with real traffic against a loopback server;
when a release changes one, these tests fail with a message that names the attribute and the
installed versions. The fail-closed tests simulate such a release (the thing simulated cannot
exist here) by making the adapter's probe of `HTTPTransport._pool` say no.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import h11
import httpcore
import httpx
import pytest
from test_fetch_support import context, fake_mp4, lesson, page

from archiver.adapters import httpcore as adapter
from archiver.adapters.contract import ContractBroken
from archiver.demo.certs import CertSet
from archiver.demo.server import MediaServer, Resource
from archiver.errors import TlsError
from archiver.fetch.rawbody import raw_body
from archiver.fetch.stage import run

Serve = Callable[..., MediaServer]
Certs = Callable[[str], CertSet]
VERSIONS = ", ".join(f"{name} {metadata.version(name)}" for name in ("httpx", "httpcore", "h11"))
BODY = fake_mp4(3 * (1 << 20) + 7, seed=5)


class _Refused(Exception):
    """What the test's handshake check raises (it reaches the caller unchanged)."""


class _RecordingBackend(httpcore.NetworkBackend):
    """httpcore's own sync backend, noting each connection and the certificate it showed."""

    def __init__(self, refuse: bool = False) -> None:
        self.inner = httpcore.SyncBackend()
        self.refuse = refuse
        self.connections: list[tuple[str, int]] = []
        self.certificates: list[str] = []

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        self.connections.append((host, port))
        stream = self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _RecordingStream(stream, self)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class _RecordingStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, backend: _RecordingBackend) -> None:
        self.inner, self.backend = inner, backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, timeout)

    def close(self) -> None:
        self.inner.close()

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        upgraded = self.inner.start_tls(ssl_context, server_hostname, timeout)
        der = upgraded.get_extra_info("ssl_object").getpeercert(True)
        self.backend.certificates.append(hashlib.sha256(der).hexdigest())
        if self.backend.refuse:
            upgraded.close()
            raise _Refused("refused by the test's handshake check")
        return upgraded


def _trusting(certs: CertSet) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs.ca))


def _transport(context: ssl.SSLContext, backend: httpcore.NetworkBackend) -> httpx.HTTPTransport:
    try:
        return adapter.transport_with_backend(context, backend)
    except ContractBroken as exc:
        pytest.fail(f"the handshake hook cannot be installed: {exc}")


def test_the_installed_httpx_keeps_a_replaceable_connection_pool() -> None:
    transport = httpx.HTTPTransport()
    assert adapter.pool_replaceable(transport), (
        f"{VERSIONS}: httpx.HTTPTransport._pool is not an httpcore.ConnectionPool "
        f"(found {type(getattr(transport, adapter.POOL.attribute.rsplit('.', 1)[1], None))})")


def test_httpx_opens_its_connections_through_the_installed_backend(
        serve: Serve, cert_factory: Certs) -> None:
    """The replaced pool is the one httpx uses: every connection goes through our backend,
    which sees the server's certificate right after the handshake."""
    certs = cert_factory("valid")
    server = serve({"/a": Resource(b"hello", "text/plain")}, certs)
    backend = _RecordingBackend()
    with httpx.Client(transport=_transport(_trusting(certs), backend)) as client:
        first = client.get(server.url("/a"))
        second = client.get(server.url("/a"))  # kept alive: no new connection
    assert (first.content, second.content) == (b"hello", b"hello")
    host, port = server.server_address[:2]
    assert backend.connections == [(str(host), port)], (
        f"{VERSIONS}: httpx did not open its connection through the backend installed in "
        "HTTPTransport._pool")
    assert backend.certificates == [certs.fingerprint]


def test_a_refusal_at_the_handshake_sends_no_request(serve: Serve, cert_factory: Certs) -> None:
    certs = cert_factory("valid")
    server = serve({"/a": Resource(b"hello", "text/plain")}, certs)
    backend = _RecordingBackend(refuse=True)
    with httpx.Client(transport=_transport(_trusting(certs), backend)) as client, \
            pytest.raises(_Refused):
        client.get(server.url("/a"))
    assert backend.certificates == [certs.fingerprint]
    assert server.requests == []


@pytest.mark.parametrize("through_adapter", [True, False])
def test_the_h11_state_of_a_streamed_response_is_reachable(
        through_adapter: bool, serve: Serve, cert_factory: Certs) -> None:
    """Both the transport fetch uses (rebuilt pool) and httpx's stock one, over TLS."""
    certs = cert_factory("valid")
    server = serve({"/m.mp4": Resource(BODY, "video/mp4")}, certs)
    context = _trusting(certs)
    transport = (_transport(context, httpcore.SyncBackend()) if through_adapter
                 else httpx.HTTPTransport(verify=context))
    with httpx.Client(transport=transport) as client, \
            client.stream("GET", server.url("/m.mp4")) as response:
        try:
            state = adapter.trace_h11_state(response)
        except ContractBroken as exc:
            pytest.fail(str(exc))
        assert isinstance(state, h11.Connection)
        assert state.their_role is h11.SERVER and state.their_state is h11.SEND_BODY
        body = raw_body(response, timeout=10.0)
        assert body is not None, f"{VERSIONS}: the raw-body reader fell back to httpx"
        assert b"".join(body) == BODY


def test_a_broken_path_is_named_with_the_installed_versions() -> None:
    """A response that is not streamed from httpcore lacks the path: the error names the
    exact step and the versions, and the lenient form says None (httpx's reader is used)."""
    response = httpx.Response(200, content=b"in memory")
    with pytest.raises(ContractBroken) as caught:
        adapter.trace_h11_state(response)
    message = str(caught.value)
    assert "httpx.Response.stream._stream._httpcore_stream is missing on bytes" in message
    assert VERSIONS in message and adapter.H11_PATH in message
    assert adapter.h11_state(response) is None


def test_a_missing_pool_is_named_with_the_installed_versions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapter, "pool_replaceable", lambda transport: False)
    with pytest.raises(ContractBroken) as caught:
        adapter.transport_with_backend(ssl.create_default_context(), httpcore.SyncBackend())
    assert "httpx.HTTPTransport._pool" in str(caught.value)
    assert VERSIONS in str(caught.value)


def _site(serve: Serve, certs: CertSet, media: Path) -> MediaServer:
    return serve({"/lesson": Resource(page("media/a.mp4"), "text/html; charset=utf-8"),
                  "/media/a.mp4": Resource(media, "video/mp4")}, certs)


def test_pin_fails_closed_when_the_handshake_check_cannot_be_installed(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A future httpx without `_pool`: a pin: source refuses before any connection, even
    though the certificate would match; nothing is downloaded."""
    certs = cert_factory("self-signed")
    server = _site(serve, certs, tiny_media)
    monkeypatch.setattr(adapter, "pool_replaceable", lambda transport: False)
    ctx, _log = context(tmp_path, [])
    with pytest.raises(TlsError) as caught:
        run(lesson("l1", (server.url("/lesson"), f"pin:sha256:{certs.fingerprint}")), ctx)
    error = caught.value
    assert error.where.key == "sources[0].tls"
    assert "checked at the TLS handshake" in error.message and "Nothing was requested" in str(
        error)
    assert "httpx.HTTPTransport._pool" in error.message and VERSIONS in error.message
    assert server.requests == []
    fetch_dir = ctx.store.stage_dir("l1", "fetch")
    assert not list(fetch_dir.glob("original*"))
    assert not list(fetch_dir.glob(".media*"))
    assert "HTTPTransport._pool" in (fetch_dir / "last-failure.json").read_text("utf-8")


@pytest.mark.parametrize("tls", ["ca", "verify"])
def test_verify_and_ca_fall_back_to_the_per_response_check(
        tls: str, serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the hook, `verify`/`ca:` are still judged by the SSLContext at the handshake:
    a trusted certificate archives, an expired one is refused before any request."""
    monkeypatch.setattr(adapter, "pool_replaceable", lambda transport: False)
    valid, expired = cert_factory("valid"), cert_factory("expired")
    good, bad = _site(serve, valid, tiny_media), _site(serve, expired, tiny_media)
    bundle = tmp_path / "both-test-cas.pem"  # each certificate kind has its own test CA
    bundle.write_bytes(valid.ca.read_bytes() + expired.ca.read_bytes())
    policy = f"ca:{bundle}" if tls == "ca" else "verify"
    if tls == "verify":
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    ctx, _log = context(tmp_path, [])
    result = run(lesson("good", (good.url("/lesson"), policy)), ctx)
    assert result.details is not None
    assert result.details.sha256 == hashlib.sha256(tiny_media.read_bytes()).hexdigest()
    assert result.details.tls is not None
    assert result.details.tls["sha256_fingerprint"] == valid.fingerprint
    with pytest.raises(TlsError) as caught:
        run(lesson("bad", (bad.url("/lesson"), policy)), ctx)
    assert caught.value.problems == ["expired"]
    assert bad.requests == []
