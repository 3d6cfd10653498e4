"""Bodies that lie (issue 15 items 6 and 7): a bad Content-Length is not retried and leaves
no partial; gzip or arbitrary bytes served as video are decoded, probed and quarantined.
Real HTTPS servers on 127.0.0.1, real ffprobe."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_fetch_support import context, lesson, page

from archiver.demo.certs import CertSet
from archiver.demo.server import MediaServer, Resource
from archiver.errors import FetchError
from archiver.fetch.http import Transient
from archiver.fetch.stage import run

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
