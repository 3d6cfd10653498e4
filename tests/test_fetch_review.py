"""Regression tests for defects a review found in the fetch stage (one test group per fix).

Each test reproduces the defect against the real loopback server (HTTPS with real
certificates, or plain HTTP where the defect is about plain HTTP) and would fail without its fix.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from clients import warcio_check
from test_fetch_support import (
    MB,
    capture,
    context,
    events,
    fake_mp4,
    hls_resources,
    hls_segments,
    lesson,
    page,
)
from warcio.archiveiterator import ArchiveIterator

from archiver.demo.certs import CertSet
from archiver.demo.server import Fault, MediaServer, Resource
from archiver.errors import FetchError, TlsError, UsageError
from archiver.fetch.stage import run
from archiver.options import FetchOptions, Options
from archiver.store import TEMP_MARK

Serve = Callable[..., MediaServer]
Certs = Callable[[str], CertSet]



def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _partials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if TEMP_MARK in p.name and "partial" in p.name and p.suffix != ".json")


# 1. HLS resume hashes exactly the bytes it keeps ------------------------------------------

def test_hls_resume_after_a_kill_between_segment_and_sidecar_hashes_the_kept_bytes(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    resources = hls_resources(tmp_path / "hls", tiny_media)
    resources["/hls/low/seg1.ts"].faults.extend([Fault(status=503)] * 2)
    server = serve(resources, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [], retries=2)
    the_lesson = lesson("l1", (server.url("/hls/master.m3u8"), "insecure"))
    with pytest.raises(FetchError, match="503"):
        run(the_lesson, ctx)
    segments = hls_segments(tmp_path / "hls")
    [partial] = _partials(ctx.store.stage_dir("l1", "fetch"))
    assert partial.read_bytes() == segments[0].read_bytes()  # sidecar: 1 segment done
    # killed after half of seg1 was written, before the sidecar update
    with open(partial, "ab") as handle:
        handle.write(segments[1].read_bytes()[: segments[1].stat().st_size // 2])
    result = run(the_lesson, ctx)
    joined = b"".join(p.read_bytes() for p in segments)
    assert result.details is not None
    stored = (ctx.store.lesson_dir("l1") / result.details.media).read_bytes()
    assert stored == joined
    assert result.details.sha256 == _sha(joined) == _sha(stored)
    assert result.details.sha512 == hashlib.sha512(joined).hexdigest()
    assert result.details.transfer is not None
    assert result.details.transfer.rehashed_bytes == segments[0].stat().st_size


# 2. No silent downgrade from an https source to plain http ---------------------------------

def test_pinned_https_page_embedding_plain_http_media_is_refused(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    plain = serve({"/media/a.mp4": Resource(fake_mp4(MB), "video/mp4")})
    certs = cert_factory("self-signed")
    site = serve({"/lesson": Resource(page(plain.url("/media/a.mp4")), "text/html")}, certs)
    ctx, _log = context(tmp_path, [])
    with pytest.raises(TlsError, match=r"downgrade to plain http refused under tls=pin"):
        run(lesson("l1", (site.url("/lesson"), f"pin:sha256:{certs.fingerprint}")), ctx)
    assert plain.requests == []  # not a single byte over the unprotected hop
    folder = ctx.store.stage_dir("l1", "fetch")
    assert not list(folder.glob("original*")) and not _partials(folder)
    failure = json.loads((folder / "last-failure.json").read_text("utf-8"))
    assert failure["attempts"][0]["error"] == "TlsError"


def test_redirect_from_https_to_plain_http_is_refused(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    plain = serve({"/v/a.mp4": Resource(fake_mp4(MB), "video/mp4")})
    certs = cert_factory("valid")
    site = serve({"/v/a.mp4": Resource(b"", faults=[
        Fault(status=302, location=plain.url("/v/a.mp4"))])}, certs)
    ctx, _log = context(tmp_path, [])
    with pytest.raises(TlsError, match=r"downgrade to plain http refused under tls=ca:"):
        run(lesson("l1", (site.url("/v/a.mp4"), f"ca:{certs.ca}")), ctx)
    assert plain.requests == []
    assert not list(ctx.store.stage_dir("l1", "fetch").glob("original*"))


def test_insecure_https_source_may_still_follow_plain_http(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    body = fake_mp4(MB)
    plain = serve({"/v/a.mp4": Resource(body, "video/mp4")})
    site = serve({"/v/a.mp4": Resource(b"", faults=[
        Fault(status=302, location=plain.url("/v/a.mp4"))])}, cert_factory("self-signed"))
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", (site.url("/v/a.mp4"), "insecure")), ctx)
    assert result.details is not None
    assert result.details.sha256 == _sha(body)


# 3. Transient errors while resolving (page, playlist) are retried --------------------------

def test_503_on_the_lesson_page_is_retried(serve: Serve, cert_factory: Certs,
                                           tmp_path: Path) -> None:
    body = fake_mp4(MB)
    server = serve({"/lesson": Resource(page("media/a.mp4"), "text/html",
                                        faults=[Fault(status=503)]),
                    "/media/a.mp4": Resource(body, "video/mp4")}, cert_factory("self-signed"))
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
    assert result.details is not None
    assert result.status == "ok" and result.details.sha256 == _sha(body)
    assert [r.status for r in server.requests if r.path == "/lesson"] == [503, 200]
    roles = [(e["role"], e["status"]) for e in capture(ctx, "l1")["exchanges"]]
    assert roles[:2] == [("extractor", 503), ("page", 200)]  # yt-dlp asked; the 503 is no page


def test_429_with_retry_after_on_a_playlist_is_retried(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    resources = hls_resources(tmp_path / "hls", tiny_media)
    resources["/hls/low/index.m3u8"].faults.append(Fault(status=429, retry_after="1"))
    server = serve(resources, cert_factory("self-signed"))
    ctx, log = context(tmp_path / "run", [])  # backoff 0.01 s: only Retry-After explains 1 s
    started = time.monotonic()
    result = run(lesson("l1", (server.url("/hls/master.m3u8"), "insecure")), ctx)
    assert [e["fields"]["wait"] for e in events(log) if e["event"] == "retry"] == [1.0]
    assert time.monotonic() - started >= 1.0  # a lower bound: it really slept, not a budget
    assert [r.status for r in server.requests
            if r.path == "/hls/low/index.m3u8"] == [429, 200]
    joined = b"".join(p.read_bytes() for p in hls_segments(tmp_path / "hls"))
    assert result.details is not None
    assert result.details.sha256 == _sha(joined)


# 4. WARC-Payload-Range is each exchange's own range ----------------------------------------

def test_warc_payload_ranges_follow_each_exchange(serve: Serve, cert_factory: Certs,
                                                  tmp_path: Path) -> None:
    old, new = fake_mp4(3 * MB, seed=1), fake_mp4(3 * MB, seed=2)
    # old content cut at 1 MB; content changed: If-Range fails, 200 with new content cut at
    # 0.5 MB; 206 from 0.5 MB cut after 0.5 MB more; 206 from 1 MB completes
    server = serve({"/v/a.mp4": Resource(new, "video/mp4", faults=[
        Fault(body=old, cut_after=MB), Fault(cut_after=MB // 2), Fault(cut_after=MB // 2)])},
        cert_factory("self-signed"))
    ctx, _log = context(tmp_path, [], retries=5)
    result = run(lesson("l1", (server.url("/v/a.mp4"), "insecure")), ctx)
    assert result.details is not None
    assert result.details.sha256 == _sha(new)
    assert [r.status for r in server.requests] == [200, 200, 206, 206]
    media = [e for e in capture(ctx, "l1")["exchanges"] if e["role"] == "media"]
    assert [e["bytes"] for e in media[:3]] == [MB, MB // 2, MB // 2]
    folder = ctx.store.stage_dir("l1", "fetch")
    ranges = []
    with open(folder / "capture.warc.gz", "rb") as handle:
        for record in ArchiveIterator(handle):
            value = record.rec_headers.get_header("WARC-Payload-Range")
            if value:
                ranges.append(value)
    assert ranges == [f"bytes 0-{MB - 1}", f"bytes 0-{MB // 2 - 1}",
                      f"bytes {MB // 2}-{MB - 1}", f"bytes {MB}-{3 * MB - 1}"]
    # the pieces are metadata about exchanges; the replayable record is the assembled
    # whole (new content only), under the 200's headers
    with open(folder / "capture-media.warc", "rb") as handle:
        full = [(r.rec_headers, r.http_headers, r.content_stream().read())
                for r in ArchiveIterator(handle) if r.rec_type == "response"]
    assert len(full) == 1
    warc_headers, http, payload = full[0]
    assert payload == new and http.get_statuscode() == "200"
    assert http.get_header("Content-Length") == str(len(new))
    assert warc_headers.get_header("WARC-Lesson-Archiver-Assembled").startswith("4 exchanges")
    assert warcio_check(folder / "capture-media.warc").ok


# 5. Each source keeps its own resumable partial ---------------------------------------------

def test_a_failing_second_source_keeps_the_first_sources_partial(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    body = fake_mp4(3 * MB)
    server = serve({"/v/a.mp4": Resource(body, "video/mp4", faults=[
        Fault(cut_after=MB), Fault(status=503), Fault(status=503)]),
        "/v/b.mp4": Resource(body, "video/mp4", faults=[Fault(status=404)])},
        cert_factory("self-signed"))
    ctx, _log = context(tmp_path, [], retries=2)
    the_lesson = lesson("l1", (server.url("/v/a.mp4"), "insecure"),
                        (server.url("/v/b.mp4"), "insecure"))
    with pytest.raises(FetchError, match="all 2 sources failed"):
        run(the_lesson, ctx)
    folder = ctx.store.stage_dir("l1", "fetch")
    kept = [p.stat().st_size for p in _partials(folder)]
    assert MB in kept
    assert all(TEMP_MARK in p.name for p in folder.iterdir() if p.name != "last-failure.json")
    seen = len(server.requests)
    result = run(the_lesson, ctx)  # the next run resumes source 1
    again = [(r.path, r.headers.get("Range"), r.status) for r in server.requests[seen:]]
    assert again == [("/v/a.mp4", f"bytes={MB}-", 206)]
    assert result.details is not None
    assert result.details.sha256 == _sha(body) and result.details.source_index == 0
    assert result.details.transfer is not None
    assert result.details.transfer.resumed_from == MB
    assert sorted(p.name for p in folder.iterdir()) == [
        "capture-media.warc", "capture.json", "capture.warc.gz", "original.mp4"]


# 6. Nonsensical transfer options are a usage error -----------------------------------------

@pytest.mark.parametrize(("option", "value", "flag"), [
    ("timeout", 0, "--timeout"), ("timeout", -1.5, "--timeout"),
    ("max_bytes", 0, "--max-bytes"), ("max_bytes", -5, "--max-bytes"),
    ("retries", 0, "--retries"), ("retries", -1, "--retries")])
def test_non_positive_transfer_options_are_refused(option: str, value: float, flag: str,
                                                   serve: Serve, tmp_path: Path) -> None:
    """Options made in code (no argparse) are checked when made: no stage can start with
    them, so nothing is requested."""
    server = serve({"/v/a.mp4": Resource(fake_mp4(MB), "video/mp4")})
    ctx, _log = context(tmp_path, [])
    with pytest.raises(UsageError, match=f"{flag} must be"):
        ctx.options = Options(fetch=FetchOptions(**{option: value}))  # type: ignore[arg-type]
        run(lesson("l1", (server.url("/v/a.mp4"), "verify")), ctx)
    assert server.requests == []
