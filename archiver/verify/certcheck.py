"""The certificate a source shows now, against the one recorded at capture.

Reuses the fetch stage's TLS evidence helpers (archiver.fetch.tls): a handshake-only capture of
the peer certificate (no HTTP over it) and a handshake-only verification probe under the
source's policy, then `classify` names every problem of the certificate itself. Verdicts:

- `same`: the leaf's sha256 fingerprint equals the recorded one;
- `changed`: a different leaf (a renewal, a new host, or interception);
- `newly-invalid`: it was valid under the source's policy at capture and is not now
  (whether or not the leaf changed: an expiry keeps the leaf and still breaks it);
- `not-recorded`: no capture evidence for this host; `not-https`; `unavailable` (no handshake).
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509

from archiver.fetch import tls
from archiver.model import TlsPolicy

VALID_OUTCOMES = ("verified", "trusted-by-ca-bundle", "pinned")


def recorded_valid(record: dict[str, Any]) -> bool:
    """Whether the capture's evidence says the certificate was acceptable under its policy."""
    return bool(record.get("verified")) or record.get("outcome") in VALID_OUTCOMES


def valid_now(policy: TlsPolicy, fingerprint: str, code: int | None,
              message: str | None) -> bool:
    if policy.mode == "pin":
        return fingerprint == (policy.pin_sha256 or "").lower()
    return code is None and message is None


def applies(record: dict[str, Any] | None, url: str, source_url: str) -> bool:
    """Whether recorded evidence describes `url`'s host: same host:port as the evidence (or,
    when the evidence names none, as the captured source)."""
    if not record:
        return False
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if record.get("host"):
        return (parts.hostname, port) == (record.get("host"), int(record.get("port") or 443))
    source = urlsplit(source_url)
    return (parts.hostname, port) == (source.hostname, source.port or 443)


def check_certificate(url: str, policy: TlsPolicy,
                      record: dict[str, Any] | None) -> dict[str, Any]:
    """Capture the certificate of `url`'s host now and judge it against `record`."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        return {"status": "not-https"}
    host, port = parts.hostname or "", parts.port or 443
    try:
        der, protocol, _cipher = tls.capture_unverified(host, port)
    except (OSError, ssl.SSLError) as exc:
        return {"status": "unavailable", "error": {"class": exc.__class__.__name__,
                                                   "message": str(exc)},
                "recorded_sha256": (record or {}).get("sha256_fingerprint")}
    code, message = tls.probe(host, port, policy)
    now = tls.fingerprint(der)
    cert = x509.load_der_x509_certificate(der)
    result: dict[str, Any] = {
        "now_sha256": now, "recorded_sha256": None, "valid_now": valid_now(policy, now, code,
                                                                           message),
        "valid_recorded": None, "problems": tls.classify(der, host, code),
        "openssl_code": code, "openssl_message": message, "protocol": protocol,
        "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
        "policy": str(policy),
    }
    if record is None:
        result["status"] = "not-recorded"
        return result
    result["recorded_sha256"] = record.get("sha256_fingerprint")
    result["valid_recorded"] = recorded_valid(record)
    if result["valid_recorded"] and not result["valid_now"]:
        result["status"] = "newly-invalid"
    elif result["recorded_sha256"] and result["recorded_sha256"].lower() != now:
        result["status"] = "changed"
    else:
        result["status"] = "same"
    return result
