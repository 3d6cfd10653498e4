"""Self-tests of the page shapes and the multi-host HTTPS server that serves them.

Every shape's truth must be real: its page is served and parses, the media it names is on
the page (or on the pages of its iframe chain) and is served, the HLS master really keeps
its audio in a separate rendition and the DASH manifest in a separate adaptation set, each
host presents its own certificate, and where a browser plays the page, Chromium really plays
exactly the media the truth names.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import re
import ssl
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from archiver.demo.corpus.pages import CDN, EMBED, HOSTS, PLAYER, SITE, PageShape
from archiver.demo.corpus.site import CorpusSite, serve_corpus
from archiver.publish.check import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow  # the generated page corpus served and fetched

SHAPE_IDS = (
    "video-src", "video-sources", "wp-video-shortcode", "lazy-data-src", "lazy-data-lazy-src",
    "audio-element", "iframe-player", "iframe-depth2", "jsonld-embedurl", "og-video",
    "og-video-secure", "jsonld-contenturl", "jwplayer-file", "jwplayer-playlist",
    "videojs-data-setup", "videojs-element", "ckplayer", "dplayer", "aliplayer",
    "aliplayer-vid-playauth", "tcplayer-sources", "tcplayer-src", "tcplayer-fileid",
    "direct-media", "hls-master-split-audio", "hls-media", "dash-mpd")
MEDIA_TYPES = {"video/mp4", "audio/mp4", "video/webm", "application/vnd.apple.mpegurl",
               "application/dash+xml"}


class _Strict(html.parser.HTMLParser):
    """Counts elements; html.parser raises nothing, so the test checks what it found."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.scripts: list[str] = []
        self._in_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_json = tag == "script" and ("type", "application/ld+json") in attrs

    def handle_data(self, data: str) -> None:
        if self._in_json:
            self.scripts.append(data)
            self._in_json = False


def test_shapes_are_all_there(corpus_site: CorpusSite) -> None:
    assert tuple(corpus_site.shapes) == SHAPE_IDS
    assert {s.error for s in corpus_site.shapes.values() if not s.media} == {"vendor"}


@pytest.mark.parametrize("shape_id", SHAPE_IDS)
def test_page_is_served_parses_and_names_its_media(corpus_site: CorpusSite,
                                                   shape_id: str) -> None:
    shape = corpus_site.shapes[shape_id]
    first = corpus_site.fetch(shape.url)
    assert first.status == 200
    texts = [first.body.decode("utf-8")] if "html" in first.headers["content-type"] else []
    for page in shape.chain[1:]:
        fetched = corpus_site.fetch(page)
        assert fetched.status == 200
        texts.append(fetched.body.decode("utf-8"))
    for text in texts:
        parser = _Strict()
        parser.feed(text)
        assert parser.tags.count("html") == 1 and "body" in parser.tags
        for block in parser.scripts:
            json.loads(block)  # JSON-LD must be valid JSON
    if shape.error is not None:
        assert not any(CDN in t for t in texts), "a vendor-token page must name no media"
        return
    pages = [shape.url, *shape.chain[1:]] if texts else []
    for url in shape.media:
        if texts:  # written out in full, or relative to the page that names it
            relative = [urlsplit(url).path for p in pages if urlsplit(p).netloc ==
                        urlsplit(url).netloc]
            assert any(c in t for c in [url, *relative] for t in texts), url
        head = corpus_site.fetch(url, {"Range": "bytes=0-63"})
        assert head.status == 206 and len(head.body) == 64
        assert head.headers["content-type"] in MEDIA_TYPES


def test_media_behind_pages_is_the_corpus_clip(corpus_site: CorpusSite) -> None:
    mp4 = corpus_site.shapes["direct-media"].media[0]
    served = corpus_site.fetch(mp4).body
    reference = corpus_site.corpus.media["mp4-h264-aac-44100-stereo"].path.read_bytes()
    assert hashlib.sha256(served).digest() == hashlib.sha256(reference).digest()


def _probe_streams(data: bytes, suffix: str) -> list[str]:
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type",
                              "-of", "csv=p=0", handle.name], capture_output=True, text=True,
                             check=True).stdout
    return sorted(set(out.split()))  # TS lists streams again under its program


def test_hls_master_keeps_audio_in_a_separate_rendition(corpus_site: CorpusSite) -> None:
    shape = corpus_site.shapes["hls-master-split-audio"]
    master = corpus_site.fetch(shape.url).body.decode()
    media = re.search(r'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="([^"]+)".*URI="([^"]+)"', master)
    assert media is not None
    variant = re.search(r'#EXT-X-STREAM-INF:.*AUDIO="([^"]+)"\n(\S+)', master)
    assert variant is not None and variant.group(1) == media.group(1)
    assert shape.media == (shape.url.replace("master.m3u8", variant.group(2)),
                           shape.url.replace("master.m3u8", media.group(2)))
    video_segment = corpus_site.fetch(shape.segments["video"][0]).body
    audio_segment = corpus_site.fetch(shape.segments["audio"][0]).body
    assert _probe_streams(video_segment, ".ts") == ["video"]  # the "best video" is silent
    assert _probe_streams(audio_segment, ".ts") == ["audio"]
    assert len(shape.segments["video"]) == len(shape.segments["audio"]) == 3


def test_dash_has_separate_adaptation_sets(corpus_site: CorpusSite) -> None:
    shape = corpus_site.shapes["dash-mpd"]
    mpd = ET.fromstring(corpus_site.fetch(shape.url).body)
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    sets = mpd.findall(".//d:AdaptationSet", ns)
    assert [s.get("contentType") for s in sets] == ["video", "audio"]
    for component in ("video", "audio"):
        joined = b"".join(corpus_site.fetch(u).body for u in shape.segments[component])
        assert _probe_streams(joined, ".mp4") == [component]


def test_hls_media_playlist_segments_carry_both(corpus_site: CorpusSite) -> None:
    shape = corpus_site.shapes["hls-media"]
    segment = corpus_site.fetch(shape.segments["muxed"][0]).body
    assert _probe_streams(segment, ".ts") == ["audio", "video"]


def test_each_host_presents_its_own_certificate(corpus_site: CorpusSite) -> None:
    before = len(corpus_site.server.requests)
    for host in HOSTS:
        fetched = corpus_site.fetch(corpus_site.server.site_url(host, "/nowhere"))
        assert fetched.status == 404
        assert hashlib.sha256(fetched.peer_certificate).hexdigest() == \
            corpus_site.certs[host].fingerprint
    log = corpus_site.server.requests[before:]
    assert [(r.host, r.tls_host, r.path, r.status) for r in log] == [
        (h, h, "/nowhere", 404) for h in HOSTS]


def test_per_host_defect_fails_only_that_host(corpus: Any, tmp_path: Path) -> None:
    with serve_corpus(corpus, tmp_path, {PLAYER: "expired"}) as site:
        assert site.fetch(site.shapes["video-src"].url).status == 200
        with pytest.raises(ssl.SSLCertVerificationError) as failure:
            site.fetch(site.shapes["iframe-player"].chain[1])
        assert failure.value.verify_code == 10  # certificate has expired
        assert {r.host for r in site.server.requests} == {SITE}  # no request reached PLAYER


def test_range_and_request_log_on_the_cdn(corpus_site: CorpusSite) -> None:
    url = corpus_site.shapes["direct-media"].media[0]
    whole = corpus_site.fetch(url).body
    before = len(corpus_site.server.requests)
    part = corpus_site.fetch(url, {"Range": "bytes=1000-1999"})
    assert part.status == 206 and part.body == whole[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(whole)}"
    (record,) = corpus_site.server.requests[before:]
    assert (record.host, record.range, record.status) == (CDN, "bytes=1000-1999", 206)


BROWSER_SHAPES = [s for s in SHAPE_IDS if s in {
    "video-src", "video-sources", "wp-video-shortcode", "lazy-data-src", "lazy-data-lazy-src",
    "audio-element", "iframe-player", "iframe-depth2"}]

PLAY = """async () => {
  const el = document.querySelector('video, audio');
  if (!el) return null;
  el.scrollIntoView(); el.muted = true;
  for (let i = 0; i < 100 && !el.currentSrc; i++) await new Promise(r => setTimeout(r, 50));
  try { await el.play(); } catch (e) { return {error: String(e), src: el.currentSrc}; }
  for (let i = 0; i < 100 && el.currentTime < 0.3; i++) await new Promise(r => setTimeout(r, 50));
  return {src: el.currentSrc, time: el.currentTime, audio: el.tagName === 'AUDIO'};
}"""


@pytest.fixture(scope="module")
def browser(corpus_site: CorpusSite) -> Any:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM,
                                     args=[*CHROMIUM_ARGS, *corpus_site.chromium_args()])
        yield chromium
        chromium.close()


def _played(page: Any) -> dict[str, Any] | None:
    for frame in page.frames:
        result = frame.evaluate(PLAY)
        if result is not None:
            return dict(result)
    return None


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("shape_id", BROWSER_SHAPES)
def test_browser_plays_exactly_the_truth(corpus_site: CorpusSite, browser: Any,
                                         shape_id: str) -> None:
    shape: PageShape = corpus_site.shapes[shape_id]
    assert shape.browser_plays
    page = browser.new_page()
    try:
        page.goto(shape.url, wait_until="load", timeout=30_000)
        if shape.chain:  # the player is in the last frame of the chain
            for _ in range(50):
                if any(f.url == shape.chain[-1] for f in page.frames):
                    break
                page.wait_for_timeout(100)
        result = _played(page)
    finally:
        page.close()
    assert result is not None, "no media element in any frame"
    assert result.get("error") is None, result
    assert result["src"] == shape.media[0]
    assert result["time"] >= 0.3, "playback did not advance"
    assert result["audio"] == (shape.audio == "only")


def test_non_browser_shapes_need_a_player_library(corpus_site: CorpusSite) -> None:
    """Where the truth comes from a player config, the library URL really is absent (404), so
    a browser test there could not pass and is rightly not claimed."""
    for shape_id in ("jwplayer-file", "videojs-data-setup", "ckplayer", "dplayer"):
        text = corpus_site.fetch(corpus_site.shapes[shape_id].url).body.decode()
        script = re.findall(r'<script src="([^"]+)"></script>', text)[-1]
        url = script if script.startswith("https://") else \
            corpus_site.server.site_url(SITE, script)
        if url.startswith(corpus_site.server.origin(PLAYER)) or \
                url.startswith(corpus_site.server.origin(SITE)):
            assert corpus_site.fetch(url).status == 404
        assert not corpus_site.shapes[shape_id].browser_plays
    assert EMBED in corpus_site.shapes["iframe-depth2"].chain[-1]
