"""Contract of archiver.adapters.ytdlp with the installed yt-dlp.

The one private step (the YoutubeDL attribute that holds the request director) is checked
as it is, and a release without it is simulated by deleting it from the installed class
(that release cannot exist here): the adapter must refuse before any request. Real
extraction runs over real loopback servers; every handler yt-dlp ships is booby-trapped, so a
single request that left through yt-dlp's own networking fails the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from test_fetch_support import hls_resources, page, policy
from yt_dlp import YoutubeDL

from archiver.adapters.contract import ContractBroken
from archiver.adapters.ytdlp import extract, transport
from archiver.demo.server import MediaServer, Resource
from archiver.errors import NoMediaError, TlsError
from archiver.fetch.http import Session
from archiver.fetch.resolve import resolve

Serve = Callable[..., MediaServer]
VERSION = f"yt-dlp {metadata.version('yt-dlp')}"


@pytest.fixture(autouse=True)
def own_handlers_refuse(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every RequestHandler yt-dlp registers fails the test if it is ever asked to send."""
    used: list[str] = []
    own = transport.own_handler_classes()
    assert own, "yt-dlp registers no handlers: the trap is empty"
    for handler in own:
        def trapped(self: Any, request: Any, name: str = handler.RH_KEY) -> Any:
            used.append(f"{name}: {request.url}")
            raise AssertionError(f"a request left through yt-dlp's {name} handler")
        monkeypatch.setattr(handler, "_send", trapped)
    yield used
    assert used == []


def _session(url: str, tls: str = "verify") -> Session:
    return Session(policy(tls), "l1", 10.0, url)


def test_the_director_attribute_is_where_install_puts_it() -> None:
    transport.check_contract()  # raises ContractBroken naming the attribute otherwise
    with YoutubeDL({"quiet": True}) as ydl, _session("http://127.0.0.1/") as session:
        handler = transport.install(ydl, session, 1 << 20)
        assert [type(h) for h in transport.director_handlers(ydl)] == [transport.SessionRH]
        assert handler.session is session


def test_a_release_without_the_attribute_is_refused_naming_it(
        monkeypatch: pytest.MonkeyPatch, serve: Serve) -> None:
    server = serve({"/lesson": Resource(page("a.mp4"), "text/html")})
    monkeypatch.delattr(YoutubeDL, "_request_director")
    with _session(server.url("/lesson")) as session, pytest.raises(ContractBroken) as caught:
        extract.extract(session, server.url("/lesson"), timeout=5, body_limit=1 << 20)
    assert "YoutubeDL._request_director" in str(caught.value) and VERSION in str(caught.value)
    assert server.requests == []


def test_generic_extraction_of_a_page_goes_through_the_session(serve: Serve,
                                                               tiny_media: Path) -> None:
    server = serve({"/lesson": Resource(page("media/a.mp4"), "text/html; charset=utf-8"),
                    "/media/a.mp4": Resource(tiny_media, "video/mp4")})
    with _session(server.url("/lesson")) as session:
        res = resolve(session, server.url("/lesson"))
        exchanges = [(e.role, e.requested_url, e.status) for e in session.exchanges]
        payload = session.exchanges[0].warc_payload
    assert (res.kind, res.media_url, res.extractor) == ("page", server.url("/media/a.mp4"),
                                                        "HTML5MediaEmbed")
    assert res.tracks == {"zh-Hans": [server.url("/zh.vtt")]}
    assert exchanges == [("page", server.url("/lesson"), 200)]
    assert payload == page("media/a.mp4")  # kept whole for the WARC
    assert [r.path for r in server.requests] == ["/lesson"]


def test_hls_master_variant_and_playlists_are_read_through_the_session(
        serve: Serve, tiny_media: Path, tmp_path: Path) -> None:
    resources = hls_resources(tmp_path / "hls", tiny_media)
    html = page("hls/master.m3u8").replace(b'type="video/mp4"', b'type="application/x-mpegURL"')
    server = serve({**resources, "/lesson": Resource(html, "text/html")})
    with _session(server.url("/lesson")) as session:
        res = resolve(session, server.url("/lesson"))
        roles = [(e.role, e.requested_url) for e in session.exchanges]
    assert (res.protocol, res.media_url) == ("m3u8", server.url("/hls/low/index.m3u8"))
    assert roles[:2] == [("page", server.url("/lesson")),
                         ("playlist", server.url("/hls/master.m3u8"))]
    assert {r.path for r in server.requests} == {"/lesson", "/hls/master.m3u8"}


def test_a_page_without_media_names_yt_dlp_s_verdict(serve: Serve) -> None:
    server = serve({"/lesson": Resource(b"<html><body><p>nothing</p></body></html>",
                                        "text/html")})
    with _session(server.url("/lesson")) as session, pytest.raises(NoMediaError) as caught:
        resolve(session, server.url("/lesson"))
    assert "Unsupported URL" in str(caught.value) and server.url("/lesson") in str(caught.value)


def test_a_pin_mismatch_surfaces_as_the_tls_refusal(serve: Serve, cert_factory: Any) -> None:
    certs = cert_factory("valid")
    server = serve({"/lesson": Resource(page("a.mp4"), "text/html")}, certs)
    with _session(server.url("/lesson"), "pin:sha256:" + "0" * 64) as session, \
            pytest.raises(TlsError) as caught:
        resolve(session, server.url("/lesson"))
    assert "does not match the pin" in str(caught.value)
    assert server.requests == []  # refused at the handshake: no request was sent


def test_an_extractor_body_is_bounded(serve: Serve) -> None:
    server = serve({"/lesson": Resource(b"<html>" + b"x" * 4096 + b"</html>", "text/html")})
    with _session(server.url("/lesson")) as session, pytest.raises(Exception) as caught:
        extract.extract(session, server.url("/lesson"), timeout=5, body_limit=1024)
    assert "larger than 1024 bytes" in str(caught.value)
