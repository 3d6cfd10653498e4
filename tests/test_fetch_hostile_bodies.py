"""Bodies that lie (issue 15 items 6 and 7): a bad Content-Length is not retried and leaves
no partial; gzip or arbitrary bytes served as video are decoded, probed and quarantined.
Real HTTPS servers on 127.0.0.1, real ffprobe."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_fetch_support import (
    capture,
    context,
    fake_mp4,
    hls_resources,
    hls_segments,
    lesson,
    page,
    real_mp4_head,
)
from warcio.archiveiterator import ArchiveIterator

from archiver.demo.certs import CertSet
from archiver.demo.server import MediaServer, Resource
from archiver.errors import FetchError, NotMediaError
from archiver.fetch.http import Transient
from archiver.fetch.stage import run
from archiver.store import TEMP_MARK

pytestmark = pytest.mark.slow  # hostile servers, each case a full fetch with ffprobe

Serve = Callable[..., MediaServer]
Certs = Callable[[str], CertSet]


def test_a_bad_content_length_is_final_and_leaves_no_partial(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    media = Resource(tiny_media, "video/mp4", headers={"Content-Length": "12abc"})
    server = serve({"/lesson": Resource(page("media/a.mp4"), "text/html"),
                    "/media/a.mp4": media}, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [])
    with pytest.raises(FetchError, match=r"invalid Content-Length.*not retried") as caught:
        run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
    assert not isinstance(caught.value, Transient)
    assert [r.path for r in server.requests].count("/media/a.mp4") == 1
    folder = ctx.store.lesson_dir("l1") / "fetch"
    assert sorted(p.name for p in folder.iterdir()) == ["last-failure.json"]


def _quarantined(ctx: Any, lesson_id: str) -> list[Path]:
    return sorted(ctx.store.quarantine_dir(lesson_id).glob("*-original*"))


@pytest.mark.parametrize("kind", ["gzip-as-video", "random-bytes-as-video"])
def test_bytes_without_a_readable_stream_are_quarantined_with_ffprobes_message(
        serve: Serve, cert_factory: Certs, tmp_path: Path, kind: str) -> None:
    body = gzip.compress(fake_mp4(300_000)) if kind == "gzip-as-video" else \
        b"\x00\x00\x00\x18ftypmp42" + os.urandom(200_000)  # passes the signature check
    server = serve({"/lesson": Resource(page("media/a.mp4"), "text/html"),
                    "/media/a.mp4": Resource(body, "video/mp4")}, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [])
    with pytest.raises(NotMediaError, match=r"ffprobe finds no audio or video stream.*"
                       r"Invalid data found when processing input.*quarantined") as caught:
        run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
    assert str(tmp_path) not in caught.value.message  # names the file, not this machine
    [kept] = _quarantined(ctx, "l1")
    assert kept.read_bytes() == body
    folder = ctx.store.lesson_dir("l1") / "fetch"
    assert not list(folder.glob("original*")) and not list(folder.glob(f"*{TEMP_MARK}*"))
    failure = json.loads((folder / "last-failure.json").read_text("utf-8"))
    assert failure["attempts"][0]["outcome"] == "quarantined"
    assert failure["attempts"][0]["error"] == "NotMediaError"


def test_a_gzip_encoded_media_body_is_decoded_as_a_browser_would(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    media = fake_mp4(400_000)
    served = Resource(gzip.compress(media), "video/mp4", headers={"Content-Encoding": "gzip"})
    server = serve({"/lesson": Resource(page("media/a.mp4"), "text/html"),
                    "/media/a.mp4": served}, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [])
    result = run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
    assert result.details is not None
    assert (ctx.store.lesson_dir("l1") / result.details.media).read_bytes() == media
    assert result.details.sha256 == hashlib.sha256(media).hexdigest()
    # its full WARC record holds the decoded bytes, so it must not claim gzip (a replay tool
    # would gunzip plain MP4): the served header is kept under another name
    assert result.details.warc_media is not None
    with open(ctx.store.lesson_dir("l1") / result.details.warc_media, "rb") as handle:
        records = [(r.http_headers, r.content_stream().read()) for r in ArchiveIterator(handle)
                   if r.rec_type == "response"]
    assert len(records) == 1 and records[0][1] == media
    http = records[0][0]
    assert http.get_header("Content-Encoding") is None
    assert http.get_header("X-Archive-Orig-Content-Encoding") == "gzip"


def test_the_decoded_size_is_bounded_by_max_bytes(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    bomb = gzip.compress(real_mp4_head() + bytes(64 << 20))  # 64 MiB decoded, ~64 KiB sent
    assert len(bomb) < 1 << 20
    served = Resource(bomb, "video/mp4", headers={"Content-Encoding": "gzip"})
    server = serve({"/lesson": Resource(page("media/a.mp4"), "text/html"),
                    "/media/a.mp4": served}, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [], max_bytes=1 << 20)
    with pytest.raises(FetchError, match=r"media \(endless or oversized body\) larger than "
                       r"1048576 bytes"):
        run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
    assert not list((ctx.store.lesson_dir("l1") / "fetch").glob(f"*{TEMP_MARK}*"))


def test_an_unknown_content_encoding_is_refused(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    served = Resource(fake_mp4(100_000), "video/mp4", headers={"Content-Encoding": "x-rot13"})
    server = serve({"/lesson": Resource(page("media/a.mp4"), "text/html"),
                    "/media/a.mp4": served}, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [])
    with pytest.raises(FetchError, match="Content-Encoding x-rot13 cannot be decoded"):
        run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)


def test_a_gzip_page_and_playlist_are_parsed_decoded_and_kept_as_transferred(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    resources = hls_resources(tmp_path / "hls", tiny_media)
    zipped = {"Content-Encoding": "gzip"}
    html = (b'<html><body><video><source src="hls/master.m3u8" '
            b'type="application/x-mpegURL"></video></body></html>')
    resources["/lesson"] = Resource(gzip.compress(html), "text/html", headers=zipped)
    variant = resources["/hls/low/index.m3u8"]
    assert isinstance(variant.body, Path)
    resources["/hls/low/index.m3u8"] = Resource(gzip.compress(variant.body.read_bytes()),
                                                variant.content_type, headers=zipped)
    segment = resources["/hls/low/seg0.ts"]
    assert isinstance(segment.body, Path)
    resources["/hls/low/seg0.ts"] = Resource(gzip.compress(segment.body.read_bytes()),
                                             "video/mp2t", headers=zipped)
    server = serve(resources, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [])
    result = run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
    joined = b"".join(p.read_bytes() for p in hls_segments(tmp_path / "hls"))
    assert result.details is not None
    assert (ctx.store.lesson_dir("l1") / result.details.media).read_bytes() == joined
    page_exchange = capture(ctx, "l1")["exchanges"][0]
    assert page_exchange["role"] == "page"
    page_body = resources["/lesson"].body
    assert isinstance(page_body, bytes)
    assert page_exchange["bytes"] == len(page_body)  # as transferred
    warc = ctx.store.lesson_dir("l1") / "fetch" / "capture.warc.gz"
    with warc.open("rb") as handle:
        payloads = [r.raw_stream.read() for r in ArchiveIterator(handle)
                    if r.rec_type == "response"
                    and r.rec_headers.get_header("WARC-Target-URI").endswith("/lesson")]
    assert payloads == [resources["/lesson"].body]  # the WARC keeps the gzip bytes


def test_a_gzip_bomb_page_is_refused_by_its_decoded_size(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    bomb = gzip.compress(b"<html>" + b" " * (64 << 20))
    server = serve({"/lesson": Resource(bomb, "text/html",
                                        headers={"Content-Encoding": "gzip"})},
                   cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [])
    with pytest.raises(FetchError, match="the gzip body decodes to more than"):
        run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
