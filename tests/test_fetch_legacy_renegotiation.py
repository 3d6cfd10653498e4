"""Legacy TLS renegotiation is an explicit per-source opt-in, tested against a real server.

The server is GnuTLS (tests/gnutls_server.py) with `%DISABLE_SAFE_RENEGOTIATION`: it really
omits RFC 5746's renegotiation_info extension, which the server itself reports per connection
(`gnutls_safe_renegotiation_status`). The same server with GnuTLS's default priority is the
control: it shows that the only reason OpenSSL 3's client refuses the first is the missing
extension, not GnuTLS, TLS 1.2 or the certificate.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gnutls_server import LEGACY_PRIORITY, SAFE_PRIORITY, GnuTLSMediaServer
from test_fetch_support import capture, context, page

from archiver.demo.certs import CertSet
from archiver.demo.manifest import render_manifest
from archiver.demo.server import Resource
from archiver.errors import ManifestError, TlsError
from archiver.fetch import tls
from archiver.fetch.capture import source_json
from archiver.fetch.stage import run
from archiver.manifest import load_manifest, parse_tls
from archiver.model import Bilingual, Lesson, Source, TlsPolicy
from archiver.model.jsonio import dump

Certs = Callable[[str], CertSet]
Gnutls = Callable[[str], GnuTLSMediaServer]
KEY = "sources[0].legacy_renegotiation"


@pytest.fixture
def gnutls_site(cert_factory: Certs, tiny_media: Path) -> Iterator[Gnutls]:
    """Start GnuTLS lesson sites (page + media, certificate "valid") with a priority."""
    servers: list[GnuTLSMediaServer] = []

    def start(priority: str) -> GnuTLSMediaServer:
        resources = {"/lesson": Resource(page("media/a.mp4"), "text/html; charset=utf-8"),
                     "/media/a.mp4": Resource(tiny_media, "video/mp4")}
        server = GnuTLSMediaServer(resources, cert_factory("valid"), priority)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def _lesson(url: str, policy: TlsPolicy, legacy: bool) -> Lesson:
    return Lesson(id="l1", number=1, title=Bilingual("t", "题"),
                  sources=(Source(url=url, tls=policy, legacy_renegotiation=legacy),))


def _ca(cert_factory: Certs) -> TlsPolicy:
    return TlsPolicy("ca", ca_bundle=cert_factory("valid").ca)


def test_control_a_server_with_secure_renegotiation_needs_no_opt_in(
        gnutls_site: Gnutls, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    server = gnutls_site(SAFE_PRIORITY)
    ctx, _log = context(tmp_path, [])
    result = run(_lesson(server.url("/lesson"), _ca(cert_factory), False), ctx)
    assert result.details is not None
    assert result.details.sha256 == hashlib.sha256(tiny_media.read_bytes()).hexdigest()
    assert result.details.tls is not None
    assert result.details.tls["legacy_renegotiation"] is False
    assert "legacy_renegotiation" not in dump(result.details.source)
    assert server.handshakes and all(h.safe_renegotiation for h in server.handshakes)


def test_without_the_opt_in_the_handshake_is_refused_naming_the_key(
        gnutls_site: Gnutls, cert_factory: Certs, tmp_path: Path) -> None:
    server = gnutls_site(LEGACY_PRIORITY)
    ctx, _log = context(tmp_path, [])
    with pytest.raises(TlsError) as caught:
        run(_lesson(server.url("/lesson"), _ca(cert_factory), False), ctx)
    error = caught.value
    assert error.where.key == KEY and error.where.lesson == "l1"
    assert "legacy_renegotiation = true" in error.message
    assert "RFC 5746" in error.message
    assert error.openssl_message == "UNSAFE_LEGACY_RENEGOTIATION_DISABLED"
    assert server.requests == []  # not one HTTP request reached the server
    assert server.handshakes == []  # OpenSSL aborted the handshake at the ServerHello
    fetch_dir = ctx.store.stage_dir("l1", "fetch")
    assert not list(fetch_dir.glob("original*"))
    failure = json.loads((fetch_dir / "last-failure.json").read_text("utf-8"))
    assert failure["attempts"][0]["error"] == "TlsError"
    assert KEY in failure["attempts"][0]["message"]


def test_with_the_opt_in_the_lesson_is_archived_and_the_evidence_says_so(
        gnutls_site: Gnutls, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    server = gnutls_site(LEGACY_PRIORITY)
    ctx, _log = context(tmp_path, [])
    result = run(_lesson(server.url("/lesson"), _ca(cert_factory), True), ctx)
    assert result.details is not None
    media = ctx.store.lesson_dir("l1") / result.details.media
    assert media.read_bytes() == tiny_media.read_bytes()
    evidence = capture(ctx, "l1")["tls"]
    assert evidence == result.details.tls
    assert evidence["legacy_renegotiation"] is True
    assert (evidence["outcome"], evidence["verified"]) == ("trusted-by-ca-bundle", True)
    assert evidence["protocol"] == "TLSv1.2"
    assert evidence["sha256_fingerprint"] == cert_factory("valid").fingerprint
    assert capture(ctx, "l1")["source"]["legacy_renegotiation"] is True
    assert result.details.source.legacy_renegotiation is True
    # every connection of the run really went without secure renegotiation
    assert server.handshakes and not any(h.safe_renegotiation for h in server.handshakes)
    assert {h.protocol for h in server.handshakes} == {"TLS1.2"}
    assert next(r.path for r in server.requests if r.method == "GET") == "/lesson"


def test_the_opt_in_reaches_the_verification_probe_under_pin(
        gnutls_site: Gnutls, cert_factory: Certs, tmp_path: Path) -> None:
    """Under pin the evidence carries what verification would have said: that probe is a
    handshake of its own and must use the opt-in too (else: "probe failed")."""
    server = gnutls_site(LEGACY_PRIORITY)
    certs = cert_factory("valid")
    ctx, _log = context(tmp_path, [])
    result = run(_lesson(server.url("/lesson"),
                         TlsPolicy("pin", pin_sha256=certs.fingerprint), True), ctx)
    assert result.details is not None
    evidence = result.details.tls
    assert evidence is not None
    assert (evidence["outcome"], evidence["pin_matched"]) == ("pinned", True)
    assert evidence["legacy_renegotiation"] is True
    assert evidence["openssl_code"] == 20  # the test CA is not in the system store
    assert "probe failed" not in str(evidence["openssl_message"])


def test_the_flag_is_set_only_for_a_source_that_opts_in(cert_factory: Certs) -> None:
    """Every context a source's requests and probes use, under every policy."""
    policies = [TlsPolicy("verify"), _ca(cert_factory), TlsPolicy("insecure"),
                TlsPolicy("pin", pin_sha256="0" * 64)]
    for policy in policies:
        assert not tls.client_context(policy).options & tls.OP_LEGACY_SERVER_CONNECT, policy
        opted = tls.client_context(policy, legacy_renegotiation=True)
        assert opted.options & tls.OP_LEGACY_SERVER_CONNECT, policy


def _write_manifest(path: Path, url: str, ca: Path, legacy: object | None) -> Path:
    source: dict[str, object] = {"url": url, "tls": f"ca:{ca}"}
    if legacy is not None:
        source["legacy_renegotiation"] = legacy
    path.write_text(render_manifest([{"id": "old-site", "sources": [source]}]), "utf-8")
    return path


def _fetch(manifest: Path, output: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "archiver", "fetch", "--manifest", str(manifest), "--output",
         str(output), "--retries", "1", "--timeout", "5"],
        capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow  # `archiver fetch` in child processes
def test_cli_refuses_then_archives_once_the_manifest_opts_in(
        gnutls_site: Gnutls, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    """The whole path: manifest key → Source → session, in a real `archiver fetch`."""
    server = gnutls_site(LEGACY_PRIORITY)
    ca = cert_factory("valid").ca
    output = tmp_path / "out"
    refused = _fetch(_write_manifest(tmp_path / "m.toml", server.url("/lesson"), ca, None),
                     output)
    assert refused.returncode == 1, refused.stderr
    assert KEY in refused.stderr + refused.stdout
    assert "legacy_renegotiation = true" in refused.stderr + refused.stdout
    assert server.requests == []
    opted = _fetch(_write_manifest(tmp_path / "m.toml", server.url("/lesson"), ca, True), output)
    assert opted.returncode == 0, opted.stderr
    state = json.loads((output / "lessons/old-site/state/fetch.json").read_text("utf-8"))
    assert state["details"]["tls"]["legacy_renegotiation"] is True
    assert state["details"]["source"]["legacy_renegotiation"] is True
    archived = output / "lessons/old-site" / state["details"]["media"]
    assert archived.read_bytes() == tiny_media.read_bytes()


def test_manifest_key_must_be_a_boolean(tmp_path: Path) -> None:
    manifest = _write_manifest(tmp_path / "m.toml", "https://old.example/lesson",
                               tmp_path / "ca.pem", "yes")
    (tmp_path / "ca.pem").write_text("", "utf-8")
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest)
    assert caught.value.where.key == KEY
    assert caught.value.where.line is not None
    assert "expected true or false" in caught.value.message


def test_source_json_keeps_its_old_shape_without_the_opt_in(tmp_path: Path) -> None:
    """A source without the key records (and fingerprints) exactly as before it existed, so
    upgrading re-fetches nothing; an opted-in source records it."""
    policy = parse_tls("verify", tmp_path)
    plain = source_json(Source(url="https://a.example/l", tls=policy))
    assert plain == {"url": "https://a.example/l", "kind": "original", "tls": "verify",
                     "description": ""}
    opted = source_json(Source(url="https://a.example/l", tls=policy,
                               legacy_renegotiation=True))
    assert opted == {**plain, "legacy_renegotiation": True}
