"""A loopback HTTP(S) server for media, with Range support and switchable faults.

Serves the offline demo mirror and every network test: real TLS (any `CertSet`), real
Range/ETag/If-Range semantics, and per-resource faults consumed one per request, so a test can
script "503, 503, then success" or "cut the body after 1 MB, then serve the rest". Built on the
standard library's http.server; it binds to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

from archiver.demo.certs import CertSet, SiteCerts

CHUNK = 1 << 20
RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class Fault:
    """One scripted misbehaviour, used for one request (GET or HEAD) of a resource."""

    status: int | None = None          # answer with this status and a short body
    retry_after: str | None = None     # Retry-After header with `status`
    location: str | None = None        # redirect target with a 3xx `status`
    cut_after: int | None = None       # close the connection after this many body bytes
    stall: float = 0.0                 # with cut_after: sleep this long before closing
    declare_extra: int = 0             # announce Content-Length this much larger than sent
    ignore_range: bool = False         # answer 200 with the whole body despite Range
    body: bytes | None = None          # serve these bytes instead (content changed)
    content_type: str | None = None    # override the Content-Type
    endless: bool = False              # never stop sending (no Content-Length)
    rate: int | None = None            # send at most this many bytes per second (a drip)


@dataclass
class Resource:
    """What a path serves: bytes in memory or a file streamed from disk."""

    body: bytes | Path
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    etag: str | None = None
    last_modified: float | None = None
    redirect: str | None = None  # answer every request with a 302 to this URL

    def size(self) -> int:
        return self.body.stat().st_size if isinstance(self.body, Path) else len(self.body)

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """Yield bytes [start, end] (inclusive) in chunks."""
        if isinstance(self.body, Path):
            with open(self.body, "rb") as handle:
                handle.seek(start)
                left = end - start + 1
                while left > 0 and (block := handle.read(min(CHUNK, left))):
                    left -= len(block)
                    yield block
        else:
            for offset in range(start, end + 1, CHUNK):
                yield self.body[offset:min(offset + CHUNK, end + 1)]

    def current_etag(self) -> str:
        if self.etag is None:
            if isinstance(self.body, Path):
                stat = self.body.stat()
                self.etag = f'"{stat.st_size:x}-{int(stat.st_mtime_ns):x}"'
            else:
                self.etag = f'"{hashlib.sha256(self.body).hexdigest()[:16]}"'
        return self.etag


@dataclass
class RequestRecord:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0
    host: str = ""          # the Host header's name (no port), lower case
    tls_host: str | None = None  # whose certificate the connection was given (SNI), if TLS

    @property
    def range(self) -> str | None:
        return self.headers.get("Range")


class _Handler(http.server.BaseHTTPRequestHandler):
    server: MediaServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .requests
        del format, args

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _send_simple(self, status: int, headers: dict[str, str], record: RequestRecord,
                     head: bool) -> None:
        body = b"" if head else f"{status} {self.responses.get(status, ('',))[0]}\n".encode()
        record.status = status
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        context = getattr(self.connection, "context", None)
        record = RequestRecord(self.command, self.path, dict(self.headers.items()), host=host,
                               tls_host=self.server.identity_of(context))
        self.server.requests.append(record)
        resource = self.server.resources_for(host).get(self.path.split("?")[0])
        if resource is None:
            self._send_simple(404, {}, record, head)
            return
        if resource.redirect is not None and not resource.faults:
            self._send_simple(302, {"Location": resource.redirect}, record, head)
            return
        fault = resource.faults.pop(0) if resource.faults else Fault()
        if fault.status is not None:
            extra = {}
            if fault.retry_after is not None:
                extra["Retry-After"] = fault.retry_after
            if fault.location is not None:
                extra["Location"] = fault.location
            self._send_simple(fault.status, extra, record, head)
            return
        self._send_body(resource, fault, record, head)

    def _send_body(self, resource: Resource, fault: Fault, record: RequestRecord,
                   head: bool) -> None:
        body_resource = resource if fault.body is None else Resource(
            fault.body, resource.content_type)
        size = body_resource.size()
        etag = body_resource.current_etag()
        start, end, status = 0, size - 1, 200
        wanted = RANGE.match(self.headers.get("Range", ""))
        if_range = self.headers.get("If-Range")
        if wanted and not fault.ignore_range and (if_range is None or if_range == etag):
            start = int(wanted.group(1))
            end = min(int(wanted.group(2)), size - 1) if wanted.group(2) else size - 1
            if start >= size:
                self._send_simple(416, {"Content-Range": f"bytes */{size}"}, record, head)
                return
            status = 206
        record.status = status
        self.send_response(status)
        self.send_header("Content-Type", fault.content_type or resource.content_type)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        modified = resource.last_modified or self.server.started
        self.send_header("Last-Modified", formatdate(modified, usegmt=True))
        for name, value in resource.headers.items():
            self.send_header(name, value)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        if fault.endless:
            self.send_header("Connection", "close")
            self.end_headers()
            self._endless(head)
            return
        self.send_header("Content-Length", str(end - start + 1 + fault.declare_extra))
        if fault.declare_extra:
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        if fault.rate is not None:
            self._drip(body_resource, start, end, fault.rate)
            return
        sent = 0
        for block in body_resource.read(start, end):
            if fault.cut_after is not None and sent + len(block) > fault.cut_after:
                self.wfile.write(block[: fault.cut_after - sent])
                self.wfile.flush()
                time.sleep(fault.stall)
                self._drop()
                return
            self.wfile.write(block)
            sent += len(block)
        if fault.declare_extra:
            self.wfile.flush()
            self._drop()

    def _drip(self, resource: Resource, start: int, end: int, rate: int) -> None:
        """Send the body at `rate` bytes per second, a slice every 0.1 s at most (a server
        that never stalls completely, so read timeouts never fire); bounded: it stops when
        the client goes away or the server stops."""
        step = max(1, rate // 10)
        pause = step / rate
        with contextlib.suppress(OSError):
            for block in resource.read(start, end):
                for offset in range(0, len(block), step):
                    if self.server.stopping:
                        self._drop()
                        return
                    self.wfile.write(block[offset:offset + step])
                    self.wfile.flush()
                    time.sleep(pause)

    def _endless(self, head: bool) -> None:
        block = b"\0" * CHUNK
        deadline = time.monotonic() + 60  # bounded even if the client never stops reading
        with contextlib.suppress(OSError):
            while not head and time.monotonic() < deadline and not self.server.stopping:
                self.wfile.write(block)

    def _drop(self) -> None:
        """Close the connection abruptly (a reset, as a flaky server would)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class MediaServer(http.server.ThreadingHTTPServer):
    """Serve `resources` on 127.0.0.1 over HTTPS (with `certs`) or plain HTTP (without)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, resources: dict[str, Resource], certs: CertSet | None = None,
                 port: int = 0, host: str = "127.0.0.1") -> None:
        self.resources = resources
        self.requests: list[RequestRecord] = []
        self.started = time.time()
        self.stopping = False
        self.ssl_context: ssl.SSLContext | None = None
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)
        if certs is not None:
            self.use_certs(certs)

    def use_certs(self, certs: CertSet) -> None:
        """Serve a new identity from the next connection on (a "certificate swapped" site)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs.chain, certs.key)
        self.ssl_context = context

    def resources_for(self, host: str) -> dict[str, Resource]:
        """The resources a request for `host` sees (one site here; see MultiHostServer)."""
        del host
        return self.resources

    def identity_of(self, context: ssl.SSLContext | None) -> str | None:
        """The host name whose certificate `context` presents (None for one identity)."""
        del context
        return None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.ssl_context is not None:  # handshake happens in the handler thread
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        del request, client_address  # clients that hang up or fail TLS are expected here

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host, port = self.server_address[:2]
        return f"{scheme}://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> MediaServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True, name="media-server")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping = True
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> MediaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MultiHostServer(MediaServer):
    """Several HTTPS sites on one 127.0.0.1 port, as a CDN or a shared host serves them.

    `sites` maps a host name to its resources; the Host header picks the site, and the TLS
    server name (SNI) picks the certificate: `certs` holds one identity per host (see
    `archiver.demo.certs.make_site_certs`), so per-host TLS defects and pins can be tested
    on one server. A client must resolve the names to this address itself (curl's --resolve,
    Chromium's --host-resolver-rules). An unknown SNI name gets the first host's
    certificate and an unknown Host a 404, as a real shared server answers. Every request
    is logged in `requests` with its host and the identity its connection was given.
    """

    def __init__(self, sites: dict[str, dict[str, Resource]], certs: SiteCerts,
                 port: int = 0, address: str = "127.0.0.1") -> None:
        missing = set(sites) - set(certs.hosts)
        if missing:
            raise ValueError(f"no certificate for hosts {sorted(missing)}")
        self.sites = {host.lower(): resources for host, resources in sites.items()}
        self.certs = certs
        self._contexts: dict[str, ssl.SSLContext] = {}
        super().__init__({}, None, port=port, host=address)
        self.use_site_certs(certs)

    def use_site_certs(self, certs: SiteCerts) -> None:
        """Load one TLS context per host; the handshake's SNI callback chooses among them."""
        contexts: dict[str, ssl.SSLContext] = {}
        for host, identity in certs.hosts.items():
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(identity.chain, identity.key)
            contexts[host.lower()] = context
        default = contexts[next(iter(contexts))]
        default.sni_callback = self._choose
        self._contexts = contexts
        self.ssl_context = default

    def _choose(self, sock: ssl.SSLObject | ssl.SSLSocket, name: str | None,
                context: ssl.SSLContext) -> None:
        del context
        chosen = self._contexts.get((name or "").lower())
        if chosen is not None:
            sock.context = chosen

    def resources_for(self, host: str) -> dict[str, Resource]:
        return self.sites.get(host, {})

    def identity_of(self, context: ssl.SSLContext | None) -> str | None:
        return next((host for host, c in self._contexts.items() if c is context), None)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def origin(self, host: str) -> str:
        """https://HOST[:PORT] (the port is left out when it is 443)."""
        return f"https://{host}" if self.port == 443 else f"https://{host}:{self.port}"

    def site_url(self, host: str, path: str) -> str:
        return self.origin(host) + path

    def resolve_map(self) -> dict[str, str]:
        """{"host:port": address} for every host served: what a client's --resolve needs."""
        address = str(self.server_address[0])
        return {f"{host}:{self.port}": address for host in self.sites}

    def requests_to(self, host: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.host == host.lower()]


def free_loopback_address(port: int, tries: int = 32, seed: int | None = None) -> str:
    """A random 127.x.y.z address on which `port` can be bound (Linux routes all of 127/8 to
    loopback), so a test can serve a site on its real port (443, as a site-specific extractor
    requires) without colliding with other tests running at the same time. Raises
    PermissionError when ports below 1024 need privileges this process lacks."""
    rng = random.Random(seed)
    last: OSError | None = None
    for _ in range(tries):
        address = f"127.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
        with socket.socket() as probe:
            try:
                probe.bind((address, port))
            except OSError as exc:
                if isinstance(exc, PermissionError):
                    raise
                last = exc
                continue
        return address
    raise OSError(f"no free loopback address for port {port} after {tries} tries: {last}")
