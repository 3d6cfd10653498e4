"""Every corpus page shape resolves to the media a browser plays (issue_10 item 2).

yt-dlp's real extraction with archiver's player-family extractors, over a Session that
reaches the corpus's fake hosts with `--resolve` and judges each host by its `tls_hosts`
policy. The truth is the shape's own (`PageShape.media`, `chain`, `error`); yt-dlp's own
request handlers are booby-trapped, so every request went through the Session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_corpus_pages import SHAPE_IDS
from test_fetch_support import policy

from archiver.adapters.ytdlp import transport
from archiver.demo.corpus.pages import HOSTS
from archiver.demo.corpus.site import CorpusSite
from archiver.demo.server import MediaServer, Resource
from archiver.errors import NoMediaError
from archiver.fetch.hostmap import HostMap, parse_entry
from archiver.fetch.http import Session
from archiver.fetch.resolve import resolve

pytestmark = pytest.mark.slow  # the generated page corpus built and served


@pytest.fixture(autouse=True)
def own_handlers_refuse(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    used: list[str] = []
    for handler in transport.own_handler_classes():
        def trapped(self: Any, request: Any, name: str = handler.RH_KEY) -> Any:
            used.append(f"{name}: {request.url}")
            raise AssertionError(f"a request left through yt-dlp's {name} handler")
        monkeypatch.setattr(handler, "_send", trapped)
    yield
    assert used == []


def _session(site: CorpusSite, url: str) -> Session:
    ca = policy(f"ca:{site.certs.ca}")
    hostmap = HostMap.of([parse_entry(f"{k}:{v}", "--resolve")
                          for k, v in site.resolve_map().items()])
    return Session(ca, "l1", 10.0, url, host_policies={h: ca for h in HOSTS}, hostmap=hostmap)


@pytest.mark.parametrize("shape_id", SHAPE_IDS)
def test_shape_resolves_to_what_a_browser_plays(corpus_site: CorpusSite, shape_id: str) -> None:
    shape = corpus_site.shapes[shape_id]
    with _session(corpus_site, shape.url) as session:
        if shape.error == "vendor":
            with pytest.raises(NoMediaError) as caught:
                resolve(session, shape.url)
            assert "out of scope" in str(caught.value) and "vendor" in str(caught.value)
            return
        res = resolve(session, shape.url)
    got = tuple(dict.fromkeys(c.url for c in res.components))  # DASH: one manifest, twice
    assert got == tuple(shape.media)
    if shape.audio == "separate":
        assert [c.role for c in res.components] == ["video", "audio"]
    if shape.chain:
        assert res.chain == list(shape.chain)


def test_iframes_are_followed_to_depth_two_only(serve: Callable[..., MediaServer]) -> None:
    """page → frame 1 → frame 2 → frame 3 (the video): frame 3 is beyond the limit."""
    def frame(target: str) -> Resource:
        return Resource(f'<html><body><iframe src="{target}"></iframe></body></html>'.encode(),
                        "text/html")
    server = serve({"/page": frame("/f1"), "/f1": frame("/f2"), "/f2": frame("/f3"),
                    "/f3": Resource(b'<html><body><video src="/a.mp4"></video></body></html>',
                                    "text/html")})
    with Session(policy("verify"), "l1", 10.0, server.url("/page")) as session, \
            pytest.raises(NoMediaError):
        resolve(session, server.url("/page"))
    assert "/f3" not in [r.path for r in server.requests]
