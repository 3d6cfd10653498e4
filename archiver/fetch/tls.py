"""Per-source TLS policy and the evidence of every certificate a source showed us.

Why this module exists: the lesson sites have broken certificates, and an archive must say
exactly *what* was wrong and *how* it nevertheless obtained the bytes. OpenSSL stops at the
first problem it meets (an expired certificate from an unknown issuer reports only "unable to
get local issuer certificate"), so `classify` inspects the certificate itself and names every
problem: self-signed, untrusted-issuer, expired, not-yet-valid, hostname-mismatch, other.

Policies (one per source, applied to every request of that source: page, playlist, media):
- `verify`: system trust store; a failure is refused. For evidence only, a second handshake
  *without* verification captures the certificate; no HTTP request is ever sent over it.
- `ca:<bundle>`: the system store plus the bundle.
- `pin:sha256:<hex>`: no chain validation, but every response's connection must present the
  pinned leaf before a single body byte is read (a different certificate may be interception).
- `insecure`: proceeds; the stage logs it loudly and the evidence says `outcome: insecure`.

Under pin and insecure a handshake-only probe with verification records what OpenSSL would
have said (`openssl_code`/`openssl_message`), so the evidence is comparable across policies.

Legacy renegotiation is a separate, explicit per-source opt-in (`legacy_renegotiation = true`
in the manifest): OpenSSL 3 refuses a server that does not support RFC 5746 secure
renegotiation ("unsafe legacy renegotiation disabled"), because such a connection is open to
the 2009 renegotiation prefix-injection attack. Only a source that sets the key gets
`OP_LEGACY_SERVER_CONNECT`, on every context of that source (requests, probes, evidence
captures); the evidence records `legacy_renegotiation` either way, and a handshake refused
for that reason becomes an error that names the key (`renegotiation_refusal`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import socket
import ssl
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from archiver.errors import Location, TlsError
from archiver.fetch.hostmap import HostMap
from archiver.model import TlsPolicy

# ssl.OP_LEGACY_SERVER_CONNECT exists only from Python 3.12; the OpenSSL value is stable.
# Set only for a source with `legacy_renegotiation = true` (as yt-dlp's legacyserverconnect).
OP_LEGACY_SERVER_CONNECT = 0x4
LEGACY_REASON = "UNSAFE_LEGACY_RENEGOTIATION_DISABLED"  # OpenSSL's reason code for the refusal
# OpenSSL X509_V_ERR_* codes -> our problem names
CODE_PROBLEMS = {
    18: "self-signed",
    19: "untrusted-issuer",  # self-signed certificate in chain (root not trusted)
    2: "untrusted-issuer",
    20: "untrusted-issuer",
    21: "untrusted-issuer",
    10: "expired",
    9: "not-yet-valid",
    62: "hostname-mismatch",
    63: "hostname-mismatch",
    64: "hostname-mismatch",
}
PROBE_TIMEOUT = 10.0


def _allow_legacy(context: ssl.SSLContext, legacy_renegotiation: bool) -> ssl.SSLContext:
    """Allow servers without RFC 5746 only when the source opted in; clear it otherwise
    (whatever an OpenSSL build or Python version sets by default)."""
    if legacy_renegotiation:
        context.options |= OP_LEGACY_SERVER_CONNECT
    else:
        context.options &= ~OP_LEGACY_SERVER_CONNECT
    return context


def client_context(policy: TlsPolicy, *, legacy_renegotiation: bool = False) -> ssl.SSLContext:
    """The SSLContext every request of a source uses (see the module docstring)."""
    if policy.mode in ("verify", "ca"):
        context = ssl.create_default_context()
        if policy.mode == "ca" and policy.ca_bundle is not None:
            context.load_verify_locations(cafile=str(policy.ca_bundle))
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return _allow_legacy(context, legacy_renegotiation)


def _verifying_context(policy: TlsPolicy, legacy_renegotiation: bool) -> ssl.SSLContext:
    """What `verify` (plus a `ca:` bundle) would accept: used for probes and classification."""
    context = ssl.create_default_context()
    if policy.mode == "ca" and policy.ca_bundle is not None:
        context.load_verify_locations(cafile=str(policy.ca_bundle))
    return _allow_legacy(context, legacy_renegotiation)


def _server_name(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None  # no SNI for an IP address


def probe(host: str, port: int, policy: TlsPolicy, *,
          legacy_renegotiation: bool = False,
          address: str | None = None) -> tuple[int | None, str | None]:
    """Handshake only (no HTTP) with verification: OpenSSL's verdict as (code, message).

    `address`: where to connect instead of `host` (`--resolve`); SNI and the host-name
    check keep `host`."""
    context = _verifying_context(policy, legacy_renegotiation)
    try:
        with socket.create_connection((address or host, port), timeout=PROBE_TIMEOUT) as raw, \
                context.wrap_socket(raw, server_hostname=host):
            return None, None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_code, exc.verify_message
    except (OSError, ssl.SSLError) as exc:
        return None, f"probe failed: {exc}"


def capture_unverified(host: str, port: int, *, legacy_renegotiation: bool = False,
                       address: str | None = None) -> tuple[bytes, str | None, Any]:
    """Handshake only, without verification, to record the certificate as evidence.

    The socket is closed right after the handshake: nothing is requested or read over it.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _allow_legacy(context, legacy_renegotiation)
    with socket.create_connection((address or host, port), timeout=PROBE_TIMEOUT) as raw, \
            context.wrap_socket(raw, server_hostname=_server_name(host)) as tls:
        der = tls.getpeercert(True)
        if der is None:
            raise ssl.SSLError("the server presented no certificate")
        return der, tls.version(), tls.cipher()


def _host_matches(cert: x509.Certificate, host: str) -> bool:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        return names is not None and address in names.get_values_for_type(x509.IPAddress)
    dns = names.get_values_for_type(x509.DNSName) if names is not None else [
        str(a.value) for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    host = host.lower().rstrip(".")
    for pattern in (d.lower().rstrip(".") for d in dns):
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host and host.split(".", 1)[1] == pattern[2:]:
            return True
    return False


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):  # wrong signature, unsupported key
        return False  # or name mismatch: not provably self-signed
    return True


def classify(der: bytes, host: str, code: int | None,
             now: dt.datetime | None = None) -> list[str]:
    """Every problem of the certificate itself, in a stable order.

    Dates, hostname and self-signature are checked on the certificate; trust of the issuer
    can only come from a verification, so OpenSSL's code decides it (a code that is not an
    issuer error means the chain was built, i.e. the issuer is trusted).
    """
    cert = x509.load_der_x509_certificate(der)
    now = now or dt.datetime.now(dt.UTC)
    found: set[str] = set()
    if code is not None and code in CODE_PROBLEMS:
        found.add(CODE_PROBLEMS[code])
    if _self_signed(cert):
        found.add("self-signed")
        found.discard("untrusted-issuer")
    if now > cert.not_valid_after_utc:
        found.add("expired")
    if now < cert.not_valid_before_utc:
        found.add("not-yet-valid")
    if not _host_matches(cert, host):
        found.add("hostname-mismatch")
    if code is not None and not found:
        found.add("other")
    order = ["self-signed", "untrusted-issuer", "expired", "not-yet-valid",
             "hostname-mismatch", "other"]
    return [p for p in order if p in found]


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def evidence(policy: TlsPolicy, der: bytes, protocol: str | None, cipher: Any, host: str,
             port: int, *, verified: bool, outcome: str, code: int | None,
             message: str | None, legacy_renegotiation: bool = False) -> dict[str, Any]:
    """The TLS evidence record (capture.json `tls`, DESIGN.md field names)."""
    cert = x509.load_der_x509_certificate(der)
    record: dict[str, Any] = {
        "policy": str(policy),
        "host": host,
        "port": port,
        "protocol": protocol,
        "cipher": cipher[0] if isinstance(cipher, tuple) else cipher,
        "peer_certificate_pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": cert.not_valid_before_utc.isoformat().replace("+00:00", "Z"),
        "not_after": cert.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
        "sha256_fingerprint": fingerprint(der),
        "verified": verified,
        "problems": classify(der, host, code),
        "openssl_code": code,
        "openssl_message": message,
        "outcome": outcome,
        "legacy_renegotiation": legacy_renegotiation,
    }
    if policy.mode == "pin":
        record["pin_expected"] = policy.pin_sha256
        record["pin_matched"] = fingerprint(der) == (policy.pin_sha256 or "").lower()
    return record


def cert_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error in an exception's cause chain, if any."""
    seen: BaseException | None = exc
    for _ in range(20):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def renegotiation_refused(exc: BaseException) -> ssl.SSLError | None:
    """OpenSSL's "unsafe legacy renegotiation disabled" in an exception's cause chain."""
    seen: BaseException | None = exc
    for _ in range(20):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError) and (
                seen.reason == LEGACY_REASON or "unsafe legacy renegotiation" in str(seen)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def renegotiation_refusal(exc: ssl.SSLError, url: str, policy: TlsPolicy, lesson: str,
                          source_key: str) -> TlsError:
    """The error for a server refused because it lacks RFC 5746, naming the opt-in key."""
    key = f"{source_key}.legacy_renegotiation"
    return TlsError(
        f"{url}: TLS handshake refused: the server does not support secure renegotiation "
        f"(RFC 5746), which OpenSSL requires by default ({exc.reason or exc}); such a "
        "connection is open to the renegotiation prefix-injection attack (CVE-2009-3555). "
        "If this old server is the only way to the lesson, opt in for this source only with "
        f"`legacy_renegotiation = true` in its [[lessons.sources]] table (manifest key "
        f"{key}); tls={policy} still applies and the evidence records the opt-in",
        Location(lesson=lesson, key=key), openssl_message=str(exc.reason or exc))


def refusal(exc: ssl.SSLCertVerificationError, url: str, host: str, port: int,
            policy: TlsPolicy, lesson: str, *, legacy_renegotiation: bool = False,
            address: str | None = None) -> TlsError:
    """Turn a failed verification into a TlsError naming every problem, with evidence."""
    code, message = exc.verify_code, exc.verify_message
    try:
        der, protocol, cipher = capture_unverified(host, port, address=address,
                                                   legacy_renegotiation=legacy_renegotiation)
    except (OSError, ssl.SSLError) as second:
        return TlsError(
            f"{url}: certificate refused under tls={policy}: {message} (OpenSSL {code}); "
            f"the certificate could not be captured for evidence: {second}",
            Location(lesson=lesson, key="sources.tls"),
            problems=[CODE_PROBLEMS.get(code or -1, "other")], openssl_message=message)
    record = evidence(policy, der, protocol, cipher, host, port, verified=False,
                      outcome="refused", code=code, message=message,
                      legacy_renegotiation=legacy_renegotiation)
    problems = record["problems"]
    return TlsError(
        f"{url}: certificate refused under tls={policy}: {', '.join(problems)} "
        f"(OpenSSL {code}: {message}); certificate sha256 {record['sha256_fingerprint']}",
        Location(lesson=lesson, key="sources.tls"),
        problems=problems, openssl_message=message, evidence=record)


class TlsGuard:
    """Checks every response of one source against its policy and keeps the evidence.

    The source's policy judges its own host (`source_host`; every host when it is None);
    `host_policies` (the manifest's `tls_hosts`) judge the hosts they name, and any other
    host a page leads to is judged by `verify`. `evidence` is the record of the first
    certificate seen (capture.json `tls`, as before); its `hosts` lists one record per host
    and port, each with its own certificate, so every host's certificate is kept.
    `hostmap` (`--resolve`) says where probes connect; a mapping used is recorded.
    """

    def __init__(self, policy: TlsPolicy, lesson: str, *,
                 legacy_renegotiation: bool = False, source_host: str | None = None,
                 host_policies: dict[str, TlsPolicy] | None = None,
                 hostmap: HostMap | None = None) -> None:
        self.policy = policy
        self.lesson = lesson
        self.legacy_renegotiation = legacy_renegotiation
        self.source_host = source_host.lower() if source_host else None
        self.host_policies = {h.lower(): p for h, p in (host_policies or {}).items()}
        self.hostmap = hostmap or HostMap()
        self.evidence: dict[str, Any] | None = None
        self.certificates: set[str] = set()
        self._seen: set[tuple[str, int, str]] = set()

    def policy_for(self, host: str) -> TlsPolicy:
        """The policy that judges `host` (see the class docstring)."""
        wanted = host.lower().rstrip(".")
        if wanted in self.host_policies:
            return self.host_policies[wanted]
        if self.source_host is None or wanted == self.source_host:
            return self.policy
        return TlsPolicy()

    def _record(self, policy: TlsPolicy, der: bytes, ssl_object: Any, host: str, port: int,
                **kwargs: Any) -> dict[str, Any]:
        record = evidence(policy, der, ssl_object.version(), ssl_object.cipher(), host, port,
                          legacy_renegotiation=self.legacy_renegotiation, **kwargs)
        used = self.hostmap.used(host, port)
        if used is not None:
            record["resolved_to"] = used.address
            record["resolve"] = str(used)
        return record

    def check(self, ssl_object: Any, url: str, host: str, port: int) -> None:
        """Called on each response before its body is read; raises TlsError to refuse."""
        if ssl_object is None:  # plain http: nothing to check, nothing to record
            return
        der = ssl_object.getpeercert(True)
        if der is None:
            raise TlsError(f"{url}: the server presented no certificate",
                           Location(lesson=self.lesson, key="sources.tls"))
        digest = fingerprint(der)
        policy = self.policy_for(host)
        address = self.hostmap.address(host, port)
        if policy.mode == "pin" and digest != (policy.pin_sha256 or "").lower():
            code, message = probe(host, port, policy, address=address,
                                  legacy_renegotiation=self.legacy_renegotiation)
            record = self._record(policy, der, ssl_object, host, port, verified=False,
                                  outcome="refused", code=code, message=message)
            raise TlsError(
                f"{url}: certificate sha256 {digest} does not match the pin "
                f"{policy.pin_sha256} (possible interception); refused",
                Location(lesson=self.lesson, key="sources.tls"),
                problems=record["problems"], openssl_message=message, evidence=record)
        if (host, port, digest) in self._seen:
            return
        self._seen.add((host, port, digest))
        if policy.mode in ("verify", "ca"):
            code, message = None, None
            outcome = "verified" if policy.mode == "verify" else "trusted-by-ca-bundle"
            verified = True
        else:
            code, message = probe(host, port, policy, address=address,
                                  legacy_renegotiation=self.legacy_renegotiation)
            outcome = "pinned" if policy.mode == "pin" else "insecure"
            verified = False
        record = self._record(policy, der, ssl_object, host, port, verified=verified,
                              outcome=outcome, code=code, message=message)
        if self.evidence is None:
            self.evidence = dict(record)
            self.evidence["hosts"] = []
        elif digest not in self.certificates:  # a second certificate in one source
            self.evidence.setdefault("other_certificates", []).append(digest)
        self.certificates.add(digest)
        self.evidence["hosts"].append(record)
