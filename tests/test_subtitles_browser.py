"""Lesson 13's tracks through Chromium's own WebVTT loader (`<track>`), served over HTTP."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archiver.subtitles import build_subtitles, write_outputs

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
LESSON13 = ROOT / "manifests" / "transcripts" / "digital-china-13.txt"
ID = "digital-china-13"
TRACKS = ("zh-Hans", "en", "zh-Hans-en")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    # the base declares extensions_map as an instance attribute: a dict per handler, not shared
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                               ".vtt": "text/vtt; charset=utf-8"}
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory,
           tiny_media: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("tracks")
    build = build_subtitles(ID, LESSON13, None, 643.0)
    write_outputs(build, root)
    (root / "v.mp4").write_bytes(tiny_media.read_bytes())
    tracks = "\n".join(f'<track id="{t}" kind="subtitles" srclang="{t}" label="{t}" '
                       f'src="{ID}.{t}.vtt"{" default" if t == "zh-Hans" else ""}>'
                       for t in TRACKS)
    (root / "index.html").write_text(f'<!doctype html><meta charset="utf-8"><video id="v" '
                                     f'src="v.mp4" preload="auto" muted>{tracks}</video>',
                                     "utf-8")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()


def test_chromium_loads_every_cue(served: tuple[str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    from archiver.publish.check import launch

    url, root = served
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            page.goto(url + "index.html")
            page.evaluate("() => { for (const t of document.querySelectorAll('track'))"
                          " t.track.mode = 'hidden'; }")
            page.wait_for_function("() => Array.from(document.querySelectorAll('track'))"
                                   ".every(t => t.readyState >= 2)", timeout=20_000)
            state = page.evaluate("""() => Array.from(document.querySelectorAll('track'))
                .map(t => ({id: t.id, ready: t.readyState, cues: t.track.cues.length,
                            first: t.track.cues[0].text,
                            html: t.track.cues[0].getCueAsHTML().textContent}))""")
        finally:
            browser.close()
    by_id = {s["id"]: s for s in state}
    for track in TRACKS:
        assert by_id[track]["ready"] == 2, track  # 2 = LOADED (3 would be ERROR)
        text = (root / f"{ID}.{track}.vtt").read_text("utf-8")
        assert by_id[track]["cues"] == text.count(" --> ")  # Chromium dropped no cue
    assert by_id["zh-Hans"]["first"].startswith("建设数字中国")
    assert by_id["zh-Hans-en"]["first"].split("\n")[1].startswith("<lang en>Constructing")
    assert "Constructing Digital China" in by_id["zh-Hans-en"]["html"]
