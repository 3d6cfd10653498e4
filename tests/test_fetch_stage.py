"""The fetch stage as a whole: sources, fallback, pin, idempotency, evidence files, HLS."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clients import warcio_check
from test_fetch_support import capture, context, fake_mp4, hls_resources, lesson, page
from warcio.archiveiterator import ArchiveIterator

from archiver.batch import run_stages
from archiver.demo.certs import CertSet
from archiver.demo.server import Fault, MediaServer, Resource
from archiver.errors import ChecksumMismatch, FetchError, NoMediaError
from archiver.fetch.stage import run
from archiver.fetch.warc import sha256_label
from archiver.model import FetchDetails, SourceRecord
from archiver.store import TEMP_MARK

Serve = Callable[..., MediaServer]
Certs = Callable[[str], CertSet]


POSTER = b"\xff\xd8\xff\xe0 a poster, as bytes"
TRACK = "WEBVTT\n\n00:00.000 --> 00:01.000\n数字中国\n".encode()


def _site(serve: Serve, certs: CertSet, media: Path | bytes) -> MediaServer:
    return serve({"/lesson": Resource(page("media/a.mp4"), "text/html; charset=utf-8"),
                  "/poster.jpg": Resource(POSTER, "image/jpeg"),
                  "/zh.vtt": Resource(TRACK, "text/vtt; charset=utf-8"),
                  "/media/a.mp4": Resource(media, "video/mp4")}, certs)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_page_is_resolved_and_evidence_files_are_complete(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    certs = cert_factory("untrusted")
    server = _site(serve, certs, tiny_media)
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", (server.url("/lesson"), f"pin:sha256:{certs.fingerprint}")), ctx)
    body = tiny_media.read_bytes()
    d = result.details
    assert d is not None and d.media == "fetch/original.mp4"
    assert (d.bytes, d.sha256) == (len(body), _sha(body))
    assert d.sha512 == hashlib.sha512(body).hexdigest()
    assert d.page_url == server.url("/lesson")
    assert d.media_url == server.url("/media/a.mp4")
    assert d.content_type == "video/mp4"
    assert (d.capture, d.warc) == ("fetch/capture.json", "fetch/capture.warc.gz")
    assert d.source == SourceRecord(url=server.url("/lesson"), kind="original",
                                    tls=f"pin:sha256:{certs.fingerprint}", description="")
    assert d.resolution is not None
    assert d.resolution.tracks == {"zh-Hans": [server.url("/zh.vtt")]}
    state = json.loads((ctx.store.lesson_dir("l1") / "state" / "fetch.json").read_text())
    assert state["details"]["source"] == {"url": server.url("/lesson"), "kind": "original",
                                          "tls": f"pin:sha256:{certs.fingerprint}",
                                          "description": ""}  # the documented JSON fields
    assert {o.path for o in result.outputs} == {
        "fetch/original.mp4", "fetch/capture.json", "fetch/capture.warc.gz",
        "fetch/capture-media.warc"}
    assert d.warc_media == "fetch/capture-media.warc"
    record = capture(ctx, "l1")
    assert record["lesson"] == "l1" and record["source_index"] == 0
    assert record["attempts"][0]["outcome"] == "ok"
    assert set(record["tools"]) >= {"archiver", "yt-dlp", "httpx", "openssl", "python"}
    assert record["tools"]["openssl"].startswith("OpenSSL")
    assert record["media"] == {"path": "fetch/original.mp4", "bytes": len(body),
                               "sha256": _sha(body), "sha512": d.sha512,
                               "content_type": "video/mp4"}
    assert record["tls"]["sha256_fingerprint"] == certs.fingerprint
    roles = [e["role"] for e in record["exchanges"]]
    assert roles == ["page", "poster", "track", "media"]
    page_x = record["exchanges"][0]
    assert page_x["status"] == 200 and page_x["sha256"] == _sha(page("media/a.mp4"))
    for exchange in record["exchanges"]:
        assert exchange["started"] and exchange["ended"] and exchange["headers"]
    # WARC: readable, full responses at real URLs, requests concurrent to them, metadata
    # records only at urn: targets; the media uncompressed in its own WARC, digest recorded
    folder = ctx.store.stage_dir("l1", "fetch")
    records = _records(folder / "capture.warc.gz")
    assert records[0][0] == "warcinfo"
    page_body = next(b for t, u, b, _h in records
                     if t == "response" and u == server.url("/lesson"))
    assert page_body == page("media/a.mp4")
    responses = {u: b for t, u, b, _h in records if t == "response"}
    assert responses == {server.url("/lesson"): page("media/a.mp4"),
                         server.url("/poster.jpg"): POSTER, server.url("/zh.vtt"): TRACK}
    requests = [h.get_header("WARC-Concurrent-To") for t, _u, _b, h in records
                if t == "request"]
    assert sorted(requests) == sorted(h.get_header("WARC-Record-ID")
                                      for t, _u, _b, h in records if t == "response")
    assert {u for t, u, _b, _h in records if t == "metadata"} == {"urn:lesson-archiver:l1:tls"}
    tls_meta = next(b for t, _u, b, _h in records if t == "metadata")
    assert json.loads(tls_meta)["tls"]["sha256_fingerprint"] == certs.fingerprint
    assert not [t for t, _u, _b, _h in records if t == "revisit"]
    media_records = _records(folder / "capture-media.warc")
    assert [(t, u) for t, u, _b, _h in media_records] == [
        ("warcinfo", None), ("response", server.url("/media/a.mp4")),
        ("request", server.url("/media/a.mp4"))]
    _t, _u, media_body, headers = media_records[1]
    assert media_body == body
    assert headers.get_header("WARC-Payload-Digest") == sha256_label(_sha(body))
    assert media_records[2][3].get_header("WARC-Concurrent-To") == \
        headers.get_header("WARC-Record-ID")
    for out in result.outputs:  # recorded digests are the files' (no re-read later)
        assert out.sha256 == _sha((ctx.store.lesson_dir("l1") / out.path).read_bytes())
    for warc in (folder / "capture.warc.gz", folder / "capture-media.warc"):
        verdict = warcio_check(warc)
        assert verdict.ok, verdict.output


def _records(path: Path) -> list[tuple[str, str | None, bytes, Any]]:
    with open(path, "rb") as handle:
        return [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"),
                 r.content_stream().read(), r.rec_headers) for r in ArchiveIterator(handle)]


def test_rerun_of_a_completed_lesson_makes_no_request(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    server = _site(serve, cert_factory("self-signed"), tiny_media)
    ctx, _log = context(tmp_path, [])
    the_lesson = lesson("l1", (server.url("/lesson"), "insecure"))
    first = run(the_lesson, ctx)
    seen = len(server.requests)
    again = run(the_lesson, ctx)
    assert again.status == "unchanged" and len(server.requests) == seen
    assert again.details is not None and first.details is not None
    assert again.details.sha256 == first.details.sha256
    # a changed input (here: a pin) means fetching again
    changed = lesson("l1", (server.url("/lesson"), "insecure"), sha256=first.details.sha256)
    assert run(changed, ctx).status == "ok" and len(server.requests) > seen


def test_no_source_is_skipped_with_a_warning(tmp_path: Path) -> None:
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1"), ctx)
    assert result.status == "skipped" and result.warnings == ["no source known"]
    assert ctx.store.load_result("l1", "fetch") is not None


def test_page_without_media_is_a_clear_error(serve: Serve, cert_factory: Certs,
                                             tmp_path: Path) -> None:
    html = b"<!doctype html><html><body><p>The video was removed.</p></body></html>"
    server = serve({"/lesson": Resource(html, "text/html")}, cert_factory("self-signed"))
    ctx, _log = context(tmp_path, [])
    with pytest.raises(NoMediaError, match="the page has no media"):
        run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)


def test_falls_back_to_the_next_source_and_records_every_attempt(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    broken = _site(serve, cert_factory("expired"), tiny_media)
    mirror = _site(serve, cert_factory("self-signed"), tiny_media)
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", (broken.url("/lesson"), "verify"),
                        (mirror.url("/lesson"), "insecure")), ctx)
    assert result.details is not None
    assert result.details.source_index == 1
    assert result.details.source.url == mirror.url("/lesson")
    attempts = capture(ctx, "l1")["attempts"]
    assert [a["outcome"] for a in attempts] == ["failed", "ok"]
    assert attempts[0]["error"] == "TlsError"
    assert "expired" in attempts[0]["tls_evidence"]["problems"]
    assert result.warnings and "TlsError" in result.warnings[0]


def test_pin_mismatch_quarantines_and_keeps_the_earlier_copy(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    good = tiny_media.read_bytes()
    server = _site(serve, cert_factory("self-signed"), tiny_media)
    ctx, _log = context(tmp_path, [])
    pinned = lesson("l1", (server.url("/lesson"), "insecure"), sha256=_sha(good))
    run(pinned, ctx)
    folder = ctx.store.stage_dir("l1", "fetch")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    tampered = good[:1000] + b"\xff" * 16 + good[1016:]
    server.resources["/media/a.mp4"].faults.append(Fault(body=tampered))
    ctx.force = True  # the source changed: fetch again on purpose
    with pytest.raises(ChecksumMismatch, match="does not match the manifest pin") as caught:
        run(pinned, ctx)
    assert caught.value.where.key == "sha256" and caught.value.where.lesson == "l1"
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert "ChecksumMismatch" in after.pop("last-failure.json")[0].decode()
    assert after == before  # earlier good copy and its evidence untouched, no partial left
    quarantined = sorted(ctx.store.quarantine_dir("l1").iterdir())
    media = [p for p in quarantined if p.name.endswith("-original.mp4")]
    assert len(media) == 1 and media[0].read_bytes() == tampered
    record = json.loads(next(p for p in quarantined if p.suffix == ".json").read_text())
    assert record["media"]["sha256"] == _sha(tampered)
    assert record["attempts"][-1]["outcome"] == "quarantined"


def test_two_lessons_in_parallel_and_a_failing_one(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    big = fake_mp4(2 << 20)  # real media (ffprobe must find its streams), then noise
    resources = {"/a": Resource(page("a.mp4"), "text/html"),
                 "/b": Resource(page("b.mp4"), "text/html"),
                 "/a.mp4": Resource(tiny_media, "video/mp4",
                                    faults=[Fault(cut_after=30000)]),
                 "/b.mp4": Resource(big, "video/mp4", faults=[Fault(status=503)])}
    server = serve(resources, cert_factory("self-signed"))
    lessons = [lesson("la", (server.url("/a"), "insecure")),
               lesson("lb", (server.url("/b"), "insecure")),
               lesson("lc", (server.url("/missing"), "insecure"))]
    ctx, _log = context(tmp_path, lessons)
    ctx.jobs = 2
    outcomes = run_stages(lessons, ["fetch"], ctx)
    assert [r.status for r in outcomes["la"]] == ["ok"]
    assert [r.status for r in outcomes["lb"]] == ["ok"]
    assert outcomes["lc"][0].status == "failed" and "404" in (outcomes["lc"][0].error or "")
    first, second = (outcomes[k][0].typed(FetchDetails).details for k in ("la", "lb"))
    assert first is not None and first.sha256 == _sha(tiny_media.read_bytes())
    assert second is not None and second.sha256 == _sha(big)
    for path in ctx.output.rglob("*"):  # nothing temporary left behind by the good lessons
        assert TEMP_MARK not in path.name or "lc" in path.parts


_hls = hls_resources


def test_hls_playlist_on_a_page_is_downloaded_segment_by_segment(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    resources = _hls(tmp_path / "hls", tiny_media)
    html = (b'<html><body><video><source src="hls/master.m3u8" '
            b'type="application/x-mpegURL"></video></body></html>')
    resources["/lesson"] = Resource(html, "text/html")
    resources["/hls/low/seg1.ts"].faults.append(Fault(status=503))
    server = serve(resources, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [])
    result = run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
    segments = sorted((tmp_path / "hls").glob("seg*.ts"), key=lambda p: int(p.stem[3:]))
    joined = b"".join(p.read_bytes() for p in segments)
    assert len(segments) >= 2
    assert result.details is not None
    assert result.details.media == "fetch/original.ts"
    assert result.details.sha256 == _sha(joined)
    assert (ctx.store.lesson_dir("l1") / "fetch/original.ts").read_bytes() == joined
    roles = [e["role"] for e in capture(ctx, "l1")["exchanges"]]
    assert roles[:3] == ["page", "playlist", "playlist"] and roles.count("segment") >= 3


def test_interrupted_hls_resumes_at_the_first_missing_segment(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    resources = _hls(tmp_path / "hls", tiny_media)
    resources["/hls/low/seg1.ts"].faults.extend([Fault(status=503)] * 3)
    server = serve(resources, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [], retries=3)
    the_lesson = lesson("l1", (server.url("/hls/master.m3u8"), "insecure"))
    with pytest.raises(FetchError, match="503"):
        run(the_lesson, ctx)
    seen = len(server.requests)
    result = run(the_lesson, ctx)
    again = [r.path for r in server.requests[seen:]]
    assert "/hls/low/seg0.ts" not in again and "/hls/low/seg1.ts" in again
    segments = sorted((tmp_path / "hls").glob("seg*.ts"), key=lambda p: int(p.stem[3:]))
    joined = b"".join(p.read_bytes() for p in segments)
    assert result.details is not None
    assert result.details.sha256 == _sha(joined)
    assert result.details.transfer is not None
    assert result.details.transfer.rehashed_bytes == segments[0].stat().st_size
