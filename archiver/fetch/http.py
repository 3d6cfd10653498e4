"""One source's HTTP session: TLS policy on every response, our own redirects, exchange records.

Why not httpx's `follow_redirects`: each hop must be checked (only http/https targets, a
bounded chain without loops) and recorded for the capture; and every hop's connection must
pass the source's TLS policy before any body byte is read. Errors are mapped here once:
certificate problems (and a server refused for lacking secure renegotiation) become `TlsError`
(never retried), network trouble becomes `Transient` (retried by the caller), everything else
a plain `FetchError`.

Fail closed: a `pin:` source is judged at the handshake (archiver.fetch.handshake). When the
installed httpx offers no way to install that check, the session refuses to exist, so not a
single request leaves; other policies fall back to the per-response check.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import email.utils
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from archiver import __version__, cancel
from archiver.adapters.contract import ContractBroken
from archiver.errors import FetchError, Location, TlsError
from archiver.fetch import tls
from archiver.fetch.handshake import checking_transport
from archiver.fetch.hostmap import HostMap
from archiver.model import TlsPolicy, utcnow
from archiver.options import FetchOptions

MAX_REDIRECTS = 10
USER_AGENT = f"lesson-archiver/{__version__} (+preservation; httpx)"


class Transient(FetchError):
    """A failure worth retrying (connection trouble, timeouts, 5xx, 429, 408)."""

    def __init__(self, message: str, where: Location | None = None,
                 retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, where or Location())


class Stalled(Transient):
    """A transfer slower than --speed-limit for --speed-time seconds, or silent for
    --speed-time seconds (kept and resumable; see archiver.fetch.limits)."""


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


@dataclass
class Exchange:
    """One request and its final response (after redirects), as capture.json records it."""

    role: str
    requested_url: str
    final_url: str = ""
    redirects: list[dict[str, Any]] = field(default_factory=list)
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    bytes: int = 0
    sha256: str | None = None
    sha512: str | None = None
    started: str = field(default_factory=utcnow)
    ended: str = ""
    request_headers: dict[str, str] = field(default_factory=dict)
    http_version: str = ""
    reason: str = ""
    outcome: str = ""
    warc_payload: builtins.bytes | None = None  # kept only for small bodies (pages, playlists)
    # where the bytes this exchange's body gave start in the stored file (HLS segments: the
    # media WARC's records are slices of the original), None when not stored as received
    stored_at: int | None = None
    # raw header lists (order and repeats kept) for the WARC records
    raw_request: list[tuple[str, str]] = field(default_factory=list)
    raw_response: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()
                if k not in ("warc_payload", "raw_request", "raw_response", "stored_at")}


def _wire(headers: httpx.Headers) -> list[tuple[str, str]]:
    """Header lines as sent on the wire (case, order and repeats kept), for the WARC:
    `multi_items()` lower-cases the names, and a WARC records what was exchanged."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers.raw]


def _shut_down(response: httpx.Response) -> None:
    """Wake a thread blocked reading this response (on cancel): its recv returns at once."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _check_scheme(url: str, lesson: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(f"refused redirect to {url!r}: only http and https are fetched",
                         Location(lesson=lesson, key="sources.url"))


class Session:
    """An httpx client bound to one source's TLS policy, recording every exchange.

    `legacy_renegotiation` is the source's manifest opt-in (see archiver.fetch.tls);
    `source_index` its position in the lesson's sources, so errors name `sources[N].<key>`.
    """

    def __init__(self, policy: TlsPolicy, lesson: str, timeout: float,
                 source_url: str | None = None, *, legacy_renegotiation: bool = False,
                 source_index: int | None = None,
                 host_policies: dict[str, TlsPolicy] | None = None,
                 hostmap: HostMap | None = None, max_redirects: int = MAX_REDIRECTS,
                 options: FetchOptions | None = None) -> None:
        self.policy = policy
        self.max_redirects = max_redirects
        self.options = options or FetchOptions()  # the bounds every body is read under
        self.lesson = lesson
        self.legacy_renegotiation = legacy_renegotiation
        self.source_key = "sources" if source_index is None else f"sources[{source_index}]"
        # An https source under a checking policy must stay https on every hop (redirects,
        # embedded media, playlists, segments): a plain http hop has no certificate to
        # check, so the policy (and the evidence naming it) would silently not apply.
        self.https_only = (source_url is not None and policy.mode != "insecure"
                           and urlsplit(source_url).scheme.lower() == "https")
        self.hostmap = hostmap or HostMap()
        # Per-host policies need to know the source's host; without them (tests building a
        # Session by hand, old callers) the source's policy judges every host, as before.
        source_host = urlsplit(source_url).hostname if source_url and host_policies is not None \
            else None
        self.guard = tls.TlsGuard(policy, lesson, legacy_renegotiation=legacy_renegotiation,
                                  source_host=source_host, host_policies=host_policies,
                                  hostmap=self.hostmap)
        self.exchanges: list[Exchange] = []
        context = tls.client_context(policy, legacy_renegotiation=legacy_renegotiation)
        self._contexts: dict[str, ssl.SSLContext] = {str(policy): context}
        per_host = source_host is not None
        # The backend is required where nothing else can do its job: a pin, named per-host
        # policies, `--resolve`. Without it (an httpx release without the hook) other hosts
        # of a `ca:`/`insecure` source share the source's context, as before per-host
        # policies existed; the per-response check still applies each host's policy.
        try:
            transport = checking_transport(
                context, self._check_handshake,
                required=policy.mode == "pin" or bool(host_policies) or bool(self.hostmap),
                connect=self.hostmap.address if self.hostmap else None,
                context_for=self._context_for if per_host else None)
        except ContractBroken as exc:
            raise TlsError(
                f"{source_url or 'this source'}: refused to fetch under tls={policy}: the "
                f"pin must be checked at the TLS handshake, before any request is sent, and "
                f"the installed libraries do not allow that check ({exc.message}). Nothing "
                "was requested. Install the tested versions: pip install -c constraints.txt "
                "-e .", Location(lesson=lesson, key=f"{self.source_key}.tls")) from exc
        self.client = httpx.Client(
            verify=context, timeout=httpx.Timeout(timeout), transport=transport,
            follow_redirects=False, trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})

    def _context_for(self, host: str) -> ssl.SSLContext:
        """The SSLContext of the policy that judges `host` (one per policy, reused)."""
        policy = self.guard.policy_for(host)
        key = str(policy)
        if key not in self._contexts:
            self._contexts[key] = tls.client_context(
                policy, legacy_renegotiation=self.legacy_renegotiation)
        return self._contexts[key]

    def _check_handshake(self, ssl_object: Any, host: str, port: int) -> None:
        """The source's policy, applied before the first request on a new connection."""
        self.guard.check(ssl_object, f"https://{host}:{port}", host, port)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_url(self, url: str) -> None:
        """Refuse a URL this source may not fetch: another scheme, or a TLS downgrade."""
        _check_scheme(url, self.lesson)
        if self.https_only and urlsplit(url).scheme.lower() == "http":
            raise TlsError(f"{url}: downgrade to plain http refused under tls={self.policy} "
                           "(the source is https; its TLS policy must hold on every request)",
                           Location(lesson=self.lesson, key="sources.tls"))

    def _send(self, url: str, headers: dict[str, str], method: str = "GET",
              content: bytes | None = None) -> httpx.Response:
        request = self.client.build_request(method, url, headers=headers, content=content)
        try:
            response = self.client.send(request, stream=True)
        except httpx.InvalidURL as exc:  # httpx parses a redirect's Location eagerly
            raise FetchError(f"{url}: refused an invalid URL or redirect target ({exc}); "
                             "only http and https are fetched",
                             Location(lesson=self.lesson, key="sources.url")) from exc
        except httpx.HTTPError as exc:
            raise self.map_error(exc, url) from exc
        try:
            stream = response.extensions.get("network_stream")
            ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            self.guard.check(ssl_object, url, parts.hostname or "", port)
        except BaseException:
            response.close()
            raise
        return response

    def map_error(self, exc: BaseException, url: str) -> FetchError:
        """Classify an httpx/ssl error: certificate → TlsError, network → Transient."""
        where = Location(lesson=self.lesson, key="sources.url")
        cert = tls.cert_error(exc)
        if cert is not None:
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port or 443
            return tls.refusal(cert, url, host, port, self.guard.policy_for(host), self.lesson,
                               legacy_renegotiation=self.legacy_renegotiation,
                               address=self.hostmap.address(host, port))
        renegotiation = tls.renegotiation_refused(exc)
        if renegotiation is not None and not self.legacy_renegotiation:
            return tls.renegotiation_refusal(renegotiation, url, self.policy, self.lesson,
                                             self.source_key)
        if isinstance(exc, httpx.RemoteProtocolError) and "content-length" in str(exc).lower():
            # the same bytes every time: retrying cannot help, and no body can be trusted
            return FetchError(f"{url}: the server sent an invalid Content-Length ({exc}); "
                              "not retried, nothing stored", where)
        if isinstance(exc, httpx.ReadTimeout) and \
                self.options.speed_time < self.options.timeout:
            return Stalled(f"{url}: transfer stalled: nothing received for --speed-time "
                           f"{self.options.speed_time:g} s (ReadTimeout); will resume", where)
        if isinstance(exc, httpx.TimeoutException):
            return Transient(f"{url}: timed out ({type(exc).__name__})", where)
        if isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError) or (
                isinstance(exc, httpx.ConnectError) and "SSL" in str(exc)):
            return FetchError(f"{url}: TLS handshake failed: {exc}", where)
        if isinstance(exc, httpx.TransportError):
            return Transient(f"{url}: {type(exc).__name__}: {exc}", where)
        return FetchError(f"{url}: {type(exc).__name__}: {exc}", where)

    @contextlib.contextmanager
    def get(self, url: str, role: str, headers: dict[str, str] | None = None, *,
            method: str = "GET", content: bytes | None = None
            ) -> Iterator[tuple[httpx.Response, Exchange]]:
        """GET `url` following redirects by hand; yield the open final response.

        The exchange is appended to `self.exchanges`; the caller fills bytes and digests.
        `method`/`content`: for yt-dlp's extractors (archiver.adapters.ytdlp), which also
        send HEAD and POST; a redirect other than 307/308 continues as GET without a body,
        as browsers do.
        """
        self.check_url(url)
        exchange = Exchange(role=role, requested_url=url)
        self.exchanges.append(exchange)
        seen = {url}
        current = url
        try:
            for _hop in range(self.max_redirects + 1):
                response = self._send(current, headers or {}, method, content)
                if response.is_redirect and "location" in response.headers:
                    if response.status_code not in (307, 308):
                        method, content = ("HEAD" if method == "HEAD" else "GET"), None
                    target = urljoin(current, response.headers["location"])
                    with contextlib.suppress(httpx.HTTPError):
                        response.read()  # small body; keeps the connection reusable
                    response.close()
                    exchange.redirects.append({
                        "url": current, "status": response.status_code, "location": target,
                        "headers": dict(response.headers.items())})
                    self.check_url(target)
                    if target in seen:
                        raise FetchError(f"redirect loop: {target} was already visited "
                                         f"(from {url})",
                                         Location(lesson=self.lesson, key="sources.url"))
                    seen.add(target)
                    current = target
                    continue
                break
            else:
                raise FetchError(f"{url}: more than --max-redirects {self.max_redirects} "
                                 "redirects; not followed",
                                 Location(lesson=self.lesson, key="sources.url"))
            exchange.final_url = str(response.url)
            exchange.status = response.status_code
            exchange.reason = response.reason_phrase
            exchange.http_version = response.http_version
            exchange.headers = dict(response.headers.items())
            exchange.raw_response = _wire(response.headers)
            exchange.request_headers = dict(response.request.headers.items())
            exchange.raw_request = _wire(response.request.headers)
            try:
                with cancel.on_cancel(lambda: _shut_down(response)):
                    yield response, exchange
            except httpx.HTTPError as exc:
                if cancel.cancelled():
                    raise cancel.Interrupted(f"{url}: transfer stopped (interrupted); "
                                             "rerun to resume") from exc
                raise self.map_error(exc, current) from exc
            finally:
                response.close()
        except cancel.Interrupted as exc:
            exchange.outcome = f"Interrupted: {exc.message}"
            raise
        except FetchError as exc:
            exchange.outcome = exchange.outcome or f"{type(exc).__name__}: {exc.message}"
            raise
        finally:
            exchange.ended = utcnow()
            if not exchange.outcome:
                exchange.outcome = "ok"
