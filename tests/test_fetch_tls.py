"""Fetch under each TLS policy against real certificates with real defects."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_fetch_support import capture, context, events, lesson, page

from archiver.demo.certs import CertSet
from archiver.demo.server import MediaServer, Resource
from archiver.errors import TlsError
from archiver.fetch.stage import run

Serve = Callable[..., MediaServer]
Certs = Callable[[str], CertSet]


def _site(serve: Serve, certs: CertSet, media: Path) -> MediaServer:
    return serve({"/lesson": Resource(page("media/a.mp4"), "text/html; charset=utf-8"),
                  "/media/a.mp4": Resource(media, "video/mp4")}, certs)


def _media_requests(server: MediaServer) -> list[str]:
    return [r.path for r in server.requests if r.path.startswith("/media/")]


@pytest.mark.parametrize(("kind", "problems", "code"), [
    ("self-signed", ["self-signed"], 18),
    ("untrusted", ["untrusted-issuer"], 20),
    ("expired", ["expired"], 10),
    ("not-yet-valid", ["not-yet-valid"], 9),
    ("wrong-host", ["hostname-mismatch"], 64),
    # OpenSSL names only the issuer here; the evidence must name the expiry too
    ("expired-untrusted", ["untrusted-issuer", "expired"], 20),
])
def test_verify_refuses_and_classifies_every_problem(
        kind: str, problems: list[str], code: int, cert_factory: Certs, serve: Serve,
        tiny_media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    certs = cert_factory(kind)
    # "verify" = the system trust store; make the test CA part of it for this process, so
    # that each defect is the only reason for refusal (untrusted kinds use another CA)
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca))
    server = _site(serve, certs, tiny_media)
    ctx, _log = context(tmp_path, [])
    with pytest.raises(TlsError) as caught:
        run(lesson("l1", (server.url("/lesson"), "verify")), ctx)
    error = caught.value
    assert error.problems == problems
    assert error.evidence is not None
    assert error.evidence["openssl_code"] == code
    assert error.evidence["outcome"] == "refused" and error.evidence["verified"] is False
    assert error.evidence["sha256_fingerprint"] == certs.fingerprint
    assert "BEGIN CERTIFICATE" in str(error.evidence["peer_certificate_pem"])
    for problem in problems:
        assert problem in str(error)
    # no content over an unverified connection: the page's request never completed a
    # handshake, the evidence handshake sends no request at all
    assert server.requests == []
    fetch_dir = ctx.store.stage_dir("l1", "fetch")
    assert not list(fetch_dir.glob("original*"))
    failure: str = (fetch_dir / "last-failure.json").read_text("utf-8")
    assert "TlsError" in failure and certs.fingerprint in failure


def test_verify_accepts_a_trusted_certificate(cert_factory: Certs, serve: Serve,
                                              tiny_media: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    certs = cert_factory("valid")
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca))
    server = _site(serve, certs, tiny_media)
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", (server.url("/lesson"), "verify")), ctx)
    assert result.details is not None
    tls = result.details.tls
    assert tls is not None
    assert (tls["outcome"], tls["verified"], tls["problems"]) == ("verified", True, [])
    assert tls["sha256_fingerprint"] == certs.fingerprint
    assert tls["protocol"].startswith("TLS") and tls["cipher"]


def test_ca_bundle_is_trusted(cert_factory: Certs, serve: Serve, tiny_media: Path,
                              tmp_path: Path) -> None:
    certs = cert_factory("valid")
    server = _site(serve, certs, tiny_media)
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", (server.url("/lesson"), f"ca:{certs.ca}")), ctx)
    assert result.status == "ok"
    assert result.details is not None and result.details.tls is not None
    assert result.details.tls["outcome"] == "trusted-by-ca-bundle"
    assert result.details.tls["verified"] is True
    assert result.details.sha256 == hashlib.sha256(tiny_media.read_bytes()).hexdigest()


def test_ca_bundle_does_not_excuse_an_expired_certificate(
        cert_factory: Certs, serve: Serve, tiny_media: Path, tmp_path: Path) -> None:
    certs = cert_factory("expired")
    server = _site(serve, certs, tiny_media)
    ctx, _log = context(tmp_path, [])
    with pytest.raises(TlsError) as caught:
        run(lesson("l1", (server.url("/lesson"), f"ca:{certs.ca}")), ctx)
    assert caught.value.problems == ["expired"]


def test_pin_match_proceeds_without_chain_validation(
        cert_factory: Certs, serve: Serve, tiny_media: Path, tmp_path: Path) -> None:
    certs = cert_factory("expired-untrusted")
    server = _site(serve, certs, tiny_media)
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", (server.url("/lesson"), f"pin:sha256:{certs.fingerprint}")), ctx)
    assert result.details is not None
    tls = result.details.tls
    assert tls is not None
    assert tls["outcome"] == "pinned" and tls["pin_matched"] is True
    assert tls["verified"] is False
    assert tls["problems"] == ["untrusted-issuer", "expired"]  # recorded, not hidden
    assert tls["openssl_code"] == 20  # what verification would have said (probe)
    media = ctx.store.lesson_dir("l1") / result.details.media
    assert media.read_bytes() == tiny_media.read_bytes()


def test_pin_mismatch_is_refused_at_the_handshake_before_any_request(
        cert_factory: Certs, serve: Serve, tiny_media: Path, tmp_path: Path) -> None:
    """A possible interceptor learns nothing: not even the request line reaches it."""
    pinned = cert_factory("self-signed")
    served = cert_factory("untrusted")  # another certificate: possible interception
    server = _site(serve, served, tiny_media)
    ctx, _log = context(tmp_path, [])
    with pytest.raises(TlsError) as caught:
        run(lesson("l1", (server.url("/lesson"), f"pin:sha256:{pinned.fingerprint}")), ctx)
    assert "does not match the pin" in str(caught.value)
    assert caught.value.evidence is not None
    assert caught.value.evidence["sha256_fingerprint"] == served.fingerprint
    assert caught.value.evidence["pin_matched"] is False
    assert server.requests == []
    assert not list(ctx.store.stage_dir("l1", "fetch").glob("original*"))


def test_pin_is_checked_on_every_request_of_the_source(
        cert_factory: Certs, serve: Serve, tiny_media: Path, tmp_path: Path) -> None:
    """The page comes with the pinned certificate, the media with another: refused."""
    pinned, other = cert_factory("self-signed"), cert_factory("expired")
    server = _site(serve, pinned, tiny_media)
    ctx, _log = context(tmp_path, [])
    original = server.resources["/lesson"]

    class Swap(Resource):
        def read(self, start: int, end: int) -> Iterator[bytes]:
            server.use_certs(other)  # the next connection shows another certificate
            yield from original.read(start, end)

    server.resources["/lesson"] = Swap(original.body, original.content_type,
                                       headers={"Connection": "close"})
    with pytest.raises(TlsError, match="does not match the pin"):
        run(lesson("l1", (server.url("/lesson"), f"pin:sha256:{pinned.fingerprint}")), ctx)
    assert not list(ctx.store.stage_dir("l1", "fetch").glob("original*"))


def test_insecure_proceeds_loudly_with_evidence(cert_factory: Certs, serve: Serve,
                                                tiny_media: Path, tmp_path: Path) -> None:
    certs = cert_factory("self-signed")
    server = _site(serve, certs, tiny_media)
    ctx, log = context(tmp_path, [])
    result = run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
    tls = capture(ctx, "l1")["tls"]
    assert result.details is not None
    assert tls == result.details.tls
    assert (tls["outcome"], tls["verified"], tls["policy"]) == ("insecure", False, "insecure")
    assert tls["problems"] == ["self-signed"]
    assert tls["openssl_message"] == "self-signed certificate"
    loud = [e for e in events(log) if e["event"] == "insecure-tls"]
    assert loud and loud[0]["level"] == "warning"
    assert "CHECKS ARE OFF" in loud[0]["fields"]["message"]
