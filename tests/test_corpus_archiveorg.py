"""The fake archive.org is real enough for yt-dlp's own site extractor (ArchiveOrgIE).

Real yt-dlp runs as a subprocess (`python -m yt_dlp`), its names mapped to the fake's
loopback address with a getaddrinfo hook (curl's --resolve semantics, tests/clients.py) and
the test CA trusted through SSL_CERT_FILE with `--compat-options no-certifi`. TLS is still
checked against the host name: without the CA the same run fails on the certificate. This is
the ground the archiver's own `--resolve` test (issue_10 item 4) stands on.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from clients import ytdlp_client

from archiver.demo.corpus.archiveorg import ARCHIVE, IDENTIFIER, NODE, ORIGINAL, ArchiveSite

pytestmark = pytest.mark.slow


def test_ytdlp_archiveorg_extractor_reads_the_fake(archive_org: ArchiveSite) -> None:
    before = len(archive_org.server.requests)
    run = ytdlp_client(archive_org.item.details_url, "-J", ca=archive_org.certs.ca,
                       resolve=archive_org.resolve_map())
    assert run.returncode == 0, run.stderr
    info = run.json()
    assert info["extractor"] == "archive.org"  # the site extractor, not the generic one
    assert (info["id"], info["title"]) == (IDENTIFIER, archive_org.item.title)
    assert {f["url"] for f in info["formats"]} == set(archive_org.item.formats)
    assert info["thumbnails"], "the Thumbnail file of the metadata becomes a thumbnail"
    log = archive_org.server.requests[before:]
    assert [(r.host, r.tls_host, r.path, r.status) for r in log] == [
        (ARCHIVE, ARCHIVE, path, 200) for path in archive_org.item.requests]


def test_ytdlp_downloads_the_original_through_the_storage_node(archive_org: ArchiveSite,
                                                               tmp_path: Path) -> None:
    before = len(archive_org.server.requests)
    run = ytdlp_client(archive_org.item.details_url, "-o", "%(id)s.%(ext)s",
                       ca=archive_org.certs.ca, resolve=archive_org.resolve_map(), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    (downloaded,) = tmp_path.glob("*.mp4")
    original = Path(archive_org.item.formats[archive_org.item.preferred])
    assert hashlib.sha256(downloaded.read_bytes()).hexdigest() == \
        hashlib.sha256(original.read_bytes()).hexdigest()
    hops = [(r.host, r.tls_host, r.status) for r in archive_org.server.requests[before:]
            if ORIGINAL in r.path]
    assert hops[0] == (ARCHIVE, ARCHIVE, 302)
    assert hops[1:] and all(hop == (NODE, NODE, hops[1][2]) for hop in hops[1:])
    assert hops[1][2] in (200, 206)


def test_without_the_test_ca_the_certificate_is_refused(archive_org: ArchiveSite) -> None:
    run = ytdlp_client(archive_org.item.details_url, "-J", resolve=archive_org.resolve_map())
    assert run.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in run.stderr
