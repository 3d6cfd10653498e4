"""`archiver check-sources` against the real loopback HTTPS server with real certificates.

The capture record is made the way the fetch stage makes it: real requests to the server,
headers as received, TLS evidence from archiver.fetch.tls. Then the site changes under us.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from archiver.cli import main
from archiver.demo.certs import CertSet
from archiver.demo.manifest import render_manifest
from archiver.demo.server import Fault, MediaServer, Resource
from archiver.fetch import tls
from archiver.manifest import parse_tls
from archiver.store import atomic_write_json, sha256_file

LESSON = "demo-01"
MODIFIED = 1_700_000_000.0
PAGE = b"<html><body><video src='/media/clip.mp4'></video></body></html>"


def resources(media: Path) -> dict[str, Resource]:
    return {"/lesson.html": Resource(PAGE, "text/html", last_modified=MODIFIED),
            "/media/clip.mp4": Resource(media, "video/mp4", last_modified=MODIFIED)}


def record_capture(server: MediaServer, certs: CertSet, media: Path, target: Path,
                   policy: str) -> dict[str, Any]:
    """A capture.json as the fetch stage would write it after fetching page and media."""
    context = ssl.create_default_context(cafile=str(certs.ca))
    pinned = policy.startswith("pin:")
    if pinned:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    exchanges = []
    with httpx.Client(verify=context, headers={"Accept-Encoding": "identity"}) as client:
        for role, path in (("page", "/lesson.html"), ("media", "/media/clip.mp4")):
            response = client.get(server.url(path))
            exchanges.append({"role": role, "requested_url": server.url(path),
                              "final_url": str(response.url), "status": response.status_code,
                              "headers": dict(response.headers.items()),
                              "bytes": len(response.content)})
    host, port = server.server_address[:2]
    der, protocol, cipher = tls.capture_unverified(str(host), int(port))
    evidence = tls.evidence(parse_tls(policy, target.parent), der, protocol, cipher,
                            str(host), int(port), verified=not pinned,
                            outcome="pinned" if pinned else "trusted-by-ca-bundle", code=None,
                            message=None)
    capture = {"lesson": LESSON, "source": {"url": server.url("/lesson.html"),
                                            "kind": "original", "tls": policy},
               "source_index": 0, "exchanges": exchanges, "tls": evidence,
               "media": {"path": "fetch/original.mp4", "bytes": media.stat().st_size,
                         "sha256": sha256_file(media), "content_type": "video/mp4"}}
    atomic_write_json(target, capture)
    return capture


def write_manifest(path: Path, url: str, policy: str) -> Path:
    path.write_text(render_manifest([{"id": LESSON, "sources": [
        {"url": url, "kind": "original", "tls": policy}]}], series_id="demo"), "utf-8")
    return path


class Site:
    """A served lesson with its manifest and capture; `check()` runs check-sources."""

    def __init__(self, tmp: Path, server: MediaServer, certs: CertSet, media: Path,
                 trust: list[Path], in_package: bool = False, policy: str | None = None) -> None:
        self.tmp, self.server, self.media = tmp, server, media
        bundle = tmp / "trusted.pem"
        bundle.write_bytes(b"".join(p.read_bytes() for p in trust))
        policy = policy or f"ca:{bundle}"
        self.output = tmp / "output"
        folder = (self.output / "packages" / LESSON / "data" / "capture" if in_package
                  else self.output / "lessons" / LESSON / "fetch")
        self.capture = record_capture(server, certs, media, folder / "capture.json", policy)
        self.manifest = write_manifest(tmp / "series.toml", server.url("/lesson.html"), policy)

    def check(self, *extra: str) -> tuple[int, dict[str, Any]]:
        report = self.tmp / "sources.json"
        self.server.requests.clear()
        code = main(["check-sources", "--manifest", str(self.manifest), "--output",
                     str(self.output), "--json", str(report), "--timeout", "10", *extra])
        return code, json.loads(report.read_text("utf-8"))


def by_role(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["role"]: c for c in report["lessons"][0]["checks"]}


@pytest.fixture
def site(tmp_path: Path, tiny_media: Path, cert_factory: Callable[[str], CertSet],
         serve: Callable[..., MediaServer]) -> Site:
    certs = cert_factory("valid")
    server = serve(resources(tiny_media), certs)
    return Site(tmp_path, server, certs, tiny_media, [certs.ca])


def test_unchanged_source_is_ok_with_head_requests_only(site: Site) -> None:
    code, report = site.check()
    assert code == 0, report
    assert report["schema"] == "lesson-archiver/check-sources/1"
    assert report["summary"] == {"lessons": 1, "urls": 2, "ok": 2, "problems": 0, "unsafe": 0}
    checks = by_role(report)
    for check in checks.values():
        assert check["outcome"] == "ok"
        assert check["request"]["method"] == "HEAD" and check["request"]["status"] == 200
        assert check["certificate"]["status"] == "same"
        assert check["certificate"]["valid_now"] is True
        assert check["drift"]["status"] == "same"
    media = checks["media"]
    assert media["drift"]["fields"]["content-length"]["now"] == str(site.media.stat().st_size)
    assert media["drift"]["fields"]["etag"]["same"] is True
    assert {r.method for r in site.server.requests} == {"HEAD"}
    assert report["lessons"][0]["capture"] == f"lessons/{LESSON}/fetch/capture.json"
    assert list((site.output / "reports").glob("check-sources-*.json"))


def leaf_of(ca: trustme.CA, folder: Path) -> CertSet:
    """A new server identity for 127.0.0.1 issued by `ca` (same issuer, different leaf)."""
    folder.mkdir(parents=True)
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    chain, key, bundle = folder / "chain.pem", folder / "key.pem", folder / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(chain))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(bundle))
    der = ssl.PEM_cert_to_DER_cert(chain.read_text())
    return CertSet(chain=chain, key=key, ca=bundle, fingerprint=hashlib.sha256(der).hexdigest())


def test_swapped_certificate_from_a_trusted_issuer_is_changed(
        tmp_path: Path, tiny_media: Path, serve: Callable[..., MediaServer]) -> None:
    ca = trustme.CA()
    first = leaf_of(ca, tmp_path / "first")
    second = leaf_of(ca, tmp_path / "second")  # a renewal: same trusted issuer, new leaf
    server = serve(resources(tiny_media), first)
    site = Site(tmp_path, server, first, tiny_media, [first.ca], in_package=True)
    server.use_certs(second)
    code, report = site.check()
    assert code == 1
    cert = by_role(report)["page"]["certificate"]
    assert cert["status"] == "changed"
    assert cert["recorded_sha256"] == first.fingerprint
    assert cert["now_sha256"] == second.fingerprint
    assert cert["valid_now"] is True
    assert by_role(report)["page"]["outcome"] == "changed"
    assert report["lessons"][0]["capture"] == f"packages/{LESSON}/data/capture/capture.json"


def test_swapped_to_an_expired_certificate_is_newly_invalid(
        site: Site, cert_factory: Callable[[str], CertSet]) -> None:
    expired = cert_factory("expired")
    site.server.use_certs(expired)
    code, report = site.check()
    assert code == 1
    cert = by_role(report)["media"]["certificate"]
    assert cert["status"] == "newly-invalid"
    assert cert["valid_recorded"] is True and cert["valid_now"] is False
    assert cert["now_sha256"] == expired.fingerprint
    assert "expired" in cert["problems"]
    # still reachable: the check reports the status even though the certificate is bad
    assert by_role(report)["media"]["request"]["status"] == 200


def test_missing_media_is_unreachable_404(site: Site) -> None:
    del site.server.resources["/media/clip.mp4"]
    code, report = site.check()
    assert code == 1
    media = by_role(report)["media"]
    assert media["outcome"] == "unreachable"
    assert media["request"]["status"] == 404 and media["request"]["reachable"] is False
    assert [a["method"] for a in media["request"]["attempts"]] == ["HEAD", "GET"]
    assert by_role(report)["page"]["outcome"] == "ok"


def test_content_length_change_is_drift(site: Site) -> None:
    old = site.server.resources["/media/clip.mp4"]
    site.server.resources["/media/clip.mp4"] = Resource(
        site.media.read_bytes() + b"\0" * 100, "video/mp4", etag=old.current_etag(),
        last_modified=MODIFIED)
    code, report = site.check()
    assert code == 1
    media = by_role(report)["media"]
    assert media["outcome"] == "changed"
    assert media["drift"]["changed"] == ["content-length"]
    field = media["drift"]["fields"]["content-length"]
    assert int(field["now"]) == int(field["recorded"]) + 100
    assert media["certificate"]["status"] == "same"


def test_head_refused_falls_back_to_a_one_byte_range(site: Site) -> None:
    site.server.resources["/media/clip.mp4"].faults.append(Fault(status=405))
    code, report = site.check()
    assert code == 0
    media = by_role(report)["media"]
    assert media["request"]["method"] == "GET" and media["request"]["status"] == 206
    assert media["request"]["length"] == site.media.stat().st_size
    ranged = [r for r in site.server.requests if r.method == "GET"]
    assert len(ranged) == 1 and ranged[0].headers.get("Range") == "bytes=0-0"


def test_rehash_downloads_and_compares_sha256(site: Site) -> None:
    code, report = site.check("--rehash")
    assert code == 0
    rehashed = by_role(report)["media"]["rehash"]
    assert rehashed["match"] is True and rehashed["actual"] == sha256_file(site.media)
    assert by_role(report)["page"]["rehash"] is None
    site.server.resources["/media/clip.mp4"].faults.extend(
        [Fault(), Fault(body=b"\0" * site.media.stat().st_size)])  # HEAD ok, GET other bytes
    code, report = site.check("--rehash")
    assert code == 1
    assert by_role(report)["media"]["rehash"]["match"] is False


def test_unreachable_server_reports_the_error_class(site: Site) -> None:
    site.server.stop()
    code, report = site.check()
    assert code == 1
    page = by_role(report)["page"]
    assert page["outcome"] == "unreachable"
    assert page["request"]["error"]["class"] == "ConnectError"
    assert page["certificate"]["status"] == "unavailable"


def test_unknown_lesson_is_a_usage_error(site: Site) -> None:
    assert main(["check-sources", "--manifest", str(site.manifest), "--output",
                 str(site.output), "--only", "nope"]) == 2


def test_pinned_broken_certificate_same_then_swapped(
        tmp_path: Path, tiny_media: Path, cert_factory: Callable[[str], CertSet],
        serve: Callable[..., MediaServer]) -> None:
    """The real sites' case: an expired certificate from an unknown issuer, accepted by pin."""
    broken = cert_factory("expired-untrusted")
    server = serve(resources(tiny_media), broken)
    site = Site(tmp_path, server, broken, tiny_media, [broken.ca],
                policy=f"pin:sha256:{broken.fingerprint}")
    code, report = site.check()
    assert code == 0, report
    cert = by_role(report)["page"]["certificate"]
    assert cert["status"] == "same" and cert["valid_now"] is True
    assert set(cert["problems"]) >= {"expired", "untrusted-issuer"}
    server.use_certs(cert_factory("valid"))  # a "better" certificate, but not the pinned one
    code, report = site.check()
    assert code == 1
    assert by_role(report)["page"]["certificate"]["status"] == "newly-invalid"


def test_rehash_reads_bytes_only_under_the_source_policy(
        tmp_path: Path, tiny_media: Path, cert_factory: Callable[[str], CertSet],
        serve: Callable[..., MediaServer]) -> None:
    """A pinned source whose certificate was swapped: the probes report it, and --rehash
    refuses to read the media over the unpinned connection instead of hashing it."""
    broken = cert_factory("expired-untrusted")
    server = serve(resources(tiny_media), broken)
    site = Site(tmp_path, server, broken, tiny_media, [broken.ca],
                policy=f"pin:sha256:{broken.fingerprint}")
    code, report = site.check("--rehash")
    assert code == 0 and by_role(report)["media"]["rehash"]["match"] is True
    server.use_certs(cert_factory("untrusted"))
    code, report = site.check("--rehash")
    rehashed = by_role(report)["media"]["rehash"]
    assert code == 1 and rehashed["match"] is False and rehashed["actual"] is None
    assert "does not match the pin" in rehashed["error"]
    assert rehashed["bytes"] == 0  # refused before a single body byte was read


def test_symlinked_capture_record_is_reported_not_followed(
        tmp_path: Path, tiny_media: Path, cert_factory: Callable[[str], CertSet],
        serve: Callable[..., MediaServer]) -> None:
    """A package whose capture.json is a link to a record someone planted outside the bag:
    check-sources must not read it (it would send requests to the URLs it names)."""
    certs = cert_factory("valid")
    server = serve(resources(tiny_media), certs)
    site = Site(tmp_path, server, certs, tiny_media, [certs.ca], in_package=True)
    record = site.output / "packages" / LESSON / "data" / "capture" / "capture.json"
    planted = tmp_path / "planted.json"
    capture = json.loads(record.read_text("utf-8"))
    for exchange in capture["exchanges"]:
        if exchange["role"] == "media":
            exchange["final_url"] = exchange["requested_url"] = server.url("/planted")
    planted.write_text(json.dumps(capture), "utf-8")
    record.unlink()
    record.symlink_to(planted)
    code, report = site.check()
    assert "/planted" not in {r.path for r in site.server.requests}  # nothing it names is asked
    assert code == 1
    lesson = report["lessons"][0]
    assert lesson["capture"] is None
    assert lesson["unsafe"] == [{"path": f"packages/{LESSON}/data/capture/capture.json",
                                 "kind": "symlink"}]
    assert report["outcome"] == "failed" and report["summary"]["unsafe"] == 1
    assert record.is_symlink()
