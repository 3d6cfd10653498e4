"""`--resolve HOST:PORT:ADDRESS`, manifest `resolve` and per-host `tls_hosts`, end to end.

The fake archive.org (archiver.demo.corpus.archiveorg) is served on 127.x.y.z:443 under its
real host names with a test CA; the fetch stage reaches it only through the manifest's
`resolve` entries, yt-dlp's own ArchiveOrgIE extracts it through the source's Session, and
TLS still checks every certificate against the host name. The multi-host corpus server
proves the per-host policy: the CDN is judged by `verify` unless `tls_hosts` names it.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from test_fetch_support import capture, context, policy

from archiver.demo.corpus.archiveorg import ARCHIVE, NODE, ArchiveSite
from archiver.demo.corpus.pages import CDN, SITE
from archiver.demo.corpus.site import CorpusSite
from archiver.demo.manifest import render_manifest
from archiver.errors import Location, TlsError, UsageError
from archiver.fetch.hostmap import HostMap, parse_entry
from archiver.fetch.stage import run
from archiver.model import Bilingual, Lesson, Source

pytestmark = pytest.mark.slow


def _lesson(source: Source) -> Lesson:
    return Lesson(id="l1", number=1, title=Bilingual("t", "题"), sources=(source,))


def test_entries_parse_as_curl_writes_them() -> None:
    assert str(parse_entry("Lessons.Example.edu:443:[::1]", "--resolve")) == \
        "lessons.example.edu:443:[::1]"
    merged = HostMap.of([parse_entry("a.example:443:127.0.0.2", "--resolve")],
                        [parse_entry("a.example:443:127.0.0.3", "sources[0].resolve")])
    assert merged.address("A.example", 443) == "127.0.0.3"  # the source's entry wins
    assert merged.address("a.example", 8443) == "a.example"  # another port: plain DNS
    for bad, reason in [("a.example:443", "HOST:PORT:ADDRESS"), ("a.example:0:1.2.3.4", "port"),
                        ("a.example:443:cdn.example", "not an IP address")]:
        with pytest.raises(UsageError) as caught:
            parse_entry(bad, "--resolve")
        assert reason in str(caught.value) and caught.value.where == Location(key="--resolve")


def test_archive_org_through_its_own_extractor_and_resolve(archive_org: ArchiveSite,
                                                          tmp_path: Path) -> None:
    ca = f"ca:{archive_org.certs.ca}"
    source = Source(url=archive_org.item.details_url, tls=policy(ca),
                    tls_hosts=((NODE, policy(ca)),),
                    resolve=tuple(f"{k}:{v}" for k, v in archive_org.resolve_map().items()))
    ctx, _log = context(tmp_path, [])
    before = len(archive_org.server.requests)
    result = run(_lesson(source), ctx)
    assert result.status == "ok", result.error
    d = result.details
    assert d is not None and d.resolution is not None
    assert d.resolution.extractor == "ArchiveOrg"  # yt-dlp's site extractor, not generic
    original = Path(archive_org.item.formats[archive_org.item.preferred]).read_bytes()
    assert d.sha256 == hashlib.sha256(original).hexdigest()
    assert d.tls is not None
    hosts = {(h["host"], h["resolved_to"], h["outcome"]) for h in d.tls["hosts"]}
    assert hosts == {(ARCHIVE, archive_org.address, "trusted-by-ca-bundle"),
                     (NODE, archive_org.address, "trusted-by-ca-bundle")}
    log = archive_org.server.requests[before:]
    assert {r.host for r in log} == {ARCHIVE, NODE}
    assert all(r.host == r.tls_host for r in log)  # SNI kept the real host name
    record = capture(ctx, "l1")
    assert record["source"]["resolve"] == list(source.resolve)
    # every request (yt-dlp's and the download's, redirect hops included) is recorded
    assert sum(1 + len(e["redirects"]) for e in record["exchanges"]) == len(log)


def test_cli_resolve_and_the_cdn_judged_by_its_own_policy(corpus_site: CorpusSite,
                                                          tmp_path: Path) -> None:
    ca = policy(f"ca:{corpus_site.certs.ca}")
    shape = corpus_site.shapes["video-sources"]  # the page on the site, the media on the CDN
    resolve = tuple(f"{k}:{v}" for k, v in corpus_site.resolve_map().items())
    ctx, _log = context(tmp_path / "a", [], resolve=resolve)
    result = run(_lesson(Source(url=shape.url, tls=ca, tls_hosts=((CDN, ca),))), ctx)
    assert result.status == "ok", result.error
    assert result.details is not None
    assert urlsplit(result.details.media_url).hostname == CDN
    assert result.details.tls is not None
    hosts = {h["host"]: h for h in result.details.tls["hosts"]}
    assert set(hosts) == {SITE, CDN}
    assert hosts[CDN]["sha256_fingerprint"] == corpus_site.certs[CDN].fingerprint
    assert hosts[SITE]["resolve"].startswith(f"{SITE}:")
    # without tls_hosts the CDN is judged by `verify` (system trust): refused, with evidence
    ctx, _log = context(tmp_path / "b", [], resolve=resolve)
    with pytest.raises(TlsError) as caught:
        run(_lesson(Source(url=shape.url, tls=ca)), ctx)
    assert "tls=verify: untrusted-issuer" in str(caught.value) and CDN in str(caught.value)
    assert caught.value.evidence is not None and caught.value.evidence["host"] == CDN


def test_a_bad_resolve_flag_exits_2_naming_it(tmp_path: Path) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(render_manifest([{"id": "a", "title": {"en": "a"}, "sources": [
        {"url": "https://a.example/x.mp4"}]}]), "utf-8")
    run_ = subprocess.run([sys.executable, "-m", "archiver", "fetch", "--manifest",
                           str(manifest), "--output", str(tmp_path / "out"), "--resolve",
                           "a.example:443:not-an-ip"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert run_.returncode == 2
    assert "--resolve" in run_.stderr and "not an IP address" in run_.stderr
    assert not (tmp_path / "out" / "lessons").exists()  # refused before any download
