"""The fetch stage's capture, replayed by pywb (a client we did not write) and Chromium.

A real fetch (fetch stage, loopback HTTPS MediaServer) of a lesson page with a poster, a
track and an H.264 video; then pywb 2.x from its own tool venv (`wb-manager add` + `wayback`
on 127.0.0.1, tests/clients.py `pywb_replay`) replays the two WARCs, and the WACZ built
from them: the media byte-identical whole and by Range (206, the right bytes), the poster
and the track as captured, the page itself, and the replayed page's <video> playing in
Debian's Chromium. A capture whose media arrived in pieces (cut, resumed with Range)
replays whole too. `warcio check` and `wacz validate` judge the files.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from clients import pywb_replay, wacz_validate, warcio_check
from test_fetch_support import context, hls_resources, lesson, page
from warcio.archiveiterator import ArchiveIterator

from archiver.demo.certs import CertSet
from archiver.demo.server import Fault, MediaServer, Resource
from archiver.fetch.stage import run
from archiver.package import wacz

pytestmark = pytest.mark.slow  # pywb, warcio and wacz validators on a real capture

POSTER = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
TRACK = "WEBVTT\n\n00:00.000 --> 00:02.000\n数字中国\n".encode()


@dataclass
class Captured:
    folder: Path
    media: bytes
    page_url: str
    media_url: str
    poster_url: str
    track_url: str
    wacz: Path

    @property
    def warcs(self) -> list[Path]:
        return [self.folder / "capture.warc.gz", self.folder / "capture-media.warc"]


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, dict(response.headers.items()), response.read()


def _fetch(server: MediaServer, root: Path) -> Path:
    ctx, _log = context(root, [], retries=5)
    result = run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
    assert result.status == "ok"
    return ctx.store.stage_dir("l1", "fetch")


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory, tiny_media: Path,
             cert_factory: Any) -> Iterator[Captured]:
    certs: CertSet = cert_factory("self-signed")
    server = MediaServer({
        "/lesson": Resource(page("media/a.mp4"), "text/html; charset=utf-8"),
        "/poster.jpg": Resource(POSTER, "image/png"),
        "/zh.vtt": Resource(TRACK, "text/vtt; charset=utf-8"),
        "/media/a.mp4": Resource(tiny_media, "video/mp4")}, certs).start()
    try:
        root = tmp_path_factory.mktemp("replay")
        folder = _fetch(server, root)
        made = root / "capture.wacz"
        wacz.build(made, [folder / "capture.warc.gz", folder / "capture-media.warc"],
                   server.url("/lesson"), "第十三讲", root, "l1")
        yield Captured(folder, tiny_media.read_bytes(), server.url("/lesson"),
                       server.url("/media/a.mp4"), server.url("/poster.jpg"),
                       server.url("/zh.vtt"), made)
    finally:
        server.stop()


def test_warcio_check_and_wacz_validate_pass(captured: Captured) -> None:
    for warc in captured.warcs:
        verdict = warcio_check(warc)
        assert verdict.ok, verdict.output
        assert "digest pass" in verdict.output  # digests were present and checked
    verdict = wacz_validate(captured.wacz)
    assert verdict.ok, verdict.output


@pytest.mark.slow
@pytest.mark.parametrize("form", ["warc", "wacz"])
def test_pywb_replays_media_whole_and_by_range_poster_and_track(captured: Captured,
                                                                form: str) -> None:
    archives = captured.warcs if form == "warc" else [captured.wacz]
    media = captured.media
    with pywb_replay(archives) as base:
        status, headers, body = _get(f"{base}id_/{captured.media_url}")
        assert status == 200 and body == media
        assert {k.lower(): v for k, v in headers.items()}["content-type"] == "video/mp4"
        start, end = 1000, min(len(media) - 1, 70_000)
        status, headers, body = _get(f"{base}id_/{captured.media_url}",
                                     {"Range": f"bytes={start}-{end}"})
        assert status == 206
        assert headers["Content-Range"] == f"bytes {start}-{end}/{len(media)}"
        assert body == media[start:end + 1]
        assert _get(f"{base}id_/{captured.poster_url}")[2] == POSTER
        assert _get(f"{base}id_/{captured.track_url}")[2] == TRACK
        assert _get(f"{base}id_/{captured.page_url}")[2] == page("media/a.mp4")


def _timestamp(warc: Path, url: str) -> str:
    with open(warc, "rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type == "response" and \
                    record.rec_headers.get_header("WARC-Target-URI") == url:
                when = dt.datetime.fromisoformat(record.rec_headers.get_header("WARC-Date"))
                return when.strftime("%Y%m%d%H%M%S")
    raise AssertionError(f"no response record for {url}")


def _replay_frame(tab: Any, url: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in tab.frames:
            if f"mp_/{url}" in frame.url:
                return frame
        tab.wait_for_timeout(200)
    raise AssertionError(f"no replay frame for {url}: {[f.url for f in tab.frames]}")


@pytest.mark.slow
@pytest.mark.browser
def test_replayed_page_video_plays_in_chromium(captured: Captured) -> None:
    from playwright.sync_api import sync_playwright

    from archiver.publish.check import launch

    stamp = _timestamp(captured.warcs[0], captured.page_url)
    with pywb_replay(captured.warcs) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            tab = browser.new_page()
            media_requests: list[str] = []
            tab.on("request", lambda r: media_requests.append(r.url)
                   if "a.mp4" in r.url else None)
            # pywb's framed replay (what a visitor sees): its banner on top, the archived
            # page in the replay frame (`mp_`); wombat sends a top-level `mp_` page there too
            tab.goto(f"{base}{stamp}/{captured.page_url}", timeout=60_000)
            frame = _replay_frame(tab, captured.page_url)
            frame.wait_for_function("() => document.querySelector('video') !== null",
                                    timeout=30_000)
            frame.evaluate("""async () => {
              const v = document.querySelector('video');
              v.muted = true;
              await v.play();
            }""")
            frame.wait_for_function(
                "() => { const v = document.querySelector('video');"
                " return !v.paused && v.currentTime > 0.5; }", timeout=30_000)
            played = frame.evaluate("() => document.querySelector('video').currentTime")
            assert played > 0.5
            assert media_requests and all(u.startswith(base) for u in media_requests), \
                media_requests  # the video came through replay, not from the origin
        finally:
            browser.close()


@pytest.mark.slow
def test_media_that_arrived_in_pieces_replays_whole(tmp_path: Path, cert_factory: Any,
                                                    tiny_media: Path) -> None:
    body = tiny_media.read_bytes()
    cut = len(body) // 3
    server = MediaServer({"/v/a.mp4": Resource(body, "video/mp4", faults=[
        Fault(cut_after=cut), Fault(cut_after=cut)])}, cert_factory("self-signed")).start()
    try:
        ctx, _log = context(tmp_path, [], retries=5)
        result = run(lesson("l1", (server.url("/v/a.mp4"), "insecure")), ctx)
        assert [r.status for r in server.requests][-1] == 206
        folder = ctx.store.stage_dir("l1", "fetch")
        assert result.details is not None and result.details.warc_media
        assert warcio_check(folder / "capture-media.warc").ok
        with pywb_replay([folder / "capture.warc.gz", folder / "capture-media.warc"]) as base:
            status, _headers, replayed = _get(f"{base}id_/{server.url('/v/a.mp4')}")
            assert status == 200 and replayed == body
            status, _headers, tail = _get(f"{base}id_/{server.url('/v/a.mp4')}",
                                          {"Range": f"bytes={cut}-"})
            assert status == 206 and tail == body[cut:]
    finally:
        server.stop()


@pytest.mark.slow
def test_hls_playlists_and_every_segment_replay_as_served(tmp_path: Path, cert_factory: Any,
                                                          tiny_media: Path) -> None:
    resources = hls_resources(tmp_path / "hls", tiny_media)
    resources["/hls/low/seg1.ts"].faults.append(Fault(status=503))  # retried: a 503 first
    server = MediaServer(resources, cert_factory("self-signed")).start()
    try:
        ctx, _log = context(tmp_path, [], retries=5)
        run(lesson("l1", (server.url("/hls/master.m3u8"), "insecure")), ctx)
        folder = ctx.store.stage_dir("l1", "fetch")
        warcs = [folder / "capture.warc.gz", folder / "capture-media.warc"]
        for warc in warcs:
            assert warcio_check(warc).ok
        with pywb_replay(warcs) as base:
            for path, resource in resources.items():
                expected = resource.body if isinstance(resource.body, bytes) \
                    else Path(resource.body).read_bytes()
                status, _headers, body = _get(f"{base}id_/{server.url(path)}")
                assert (status, body) == (200, expected), path  # the 503 is not replayed
    finally:
        server.stop()
