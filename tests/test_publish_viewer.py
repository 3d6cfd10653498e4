"""The site's IIIF AV viewer (site/viewer/, Samvera Ramp built by `make viewer`) in Chromium.

It is a real third-party client of our IIIF manifests: the test drives its own interface (the
Video.js play button, its captions menu, Ramp's chapter list) the way a person would, and
checks what it shows against our files: the video plays (currentTime advances), each of the
three subtitle tracks can be chosen from the captions menu and then shows that track's cue,
the chapters are listed with the titles of chapters.json and a click seeks to the chapter.
The viewer loads nothing from any other host (every request is checked).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from publish_support import AUDIO, add_audio_lesson, audio_clip, served_site
from test_publish_site import BOTH_CUES, EN_CUES, LESSON, ZH_CUES, build_archive

from archiver.publish.check import launch
from archiver.publish.viewer import bundle

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(bundle() is None, reason="viewer not built: run make viewer")]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("viewer")
    output, manifest = build_archive(root)
    add_audio_lesson(output, manifest, audio_clip(root / "corpus"))
    with served_site(output, manifest) as server:
        yield {"url": server.url, "site": output / "site"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


@pytest.fixture
def viewer(browser: Any, site: dict[str, Any]) -> Iterator[Any]:
    def open_viewer(lesson: str) -> Any:
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{site['url']}viewer/index.html?manifest=../iiif/{lesson}/manifest.json")
        page.wait_for_selector(".ramp--structured-nav__section", timeout=30_000)
        page.wait_for_function("() => { const v = document.querySelector('video');"
                               " return v && v.readyState >= 1; }", timeout=30_000)
        return page

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    yield open_viewer
    context.close()
    assert problems == []  # no script error, no CSP violation
    assert requests and all(url.startswith(site["url"]) for url in requests), requests


def _play(page: Any) -> None:
    page.evaluate("document.querySelector('video').muted = true")
    page.locator(".vjs-control-bar .vjs-play-control").click()  # audio has no big button
    page.wait_for_function("() => document.querySelector('video').currentTime > 0.5",
                           timeout=30_000)


def _caption_menu(page: Any) -> list[str]:
    """Open Video.js's captions menu; the labels of its items, as written (not as styled)."""
    page.locator(".vjs-subs-caps-button button").first.click()
    return list(page.evaluate("""() => Array.from(document.querySelectorAll(
      '.vjs-subs-caps-button .vjs-menu-item .vjs-menu-item-text')).map(e => e.textContent)"""))


def _choose(page: Any, label: str) -> None:
    _caption_menu(page)
    items = page.locator(".vjs-subs-caps-button .vjs-menu-item")
    for i in range(items.count()):
        if items.nth(i).locator(".vjs-menu-item-text").text_content() == label:
            items.nth(i).click()
            return
    raise AssertionError(f"no captions menu item {label!r}")


def _shown_cue(page: Any, at: float) -> str:
    page.evaluate(f"""() => {{ const v = document.querySelector('video');
      v.currentTime = {at}; }}""")
    page.wait_for_function(f"""() => {{
      const v = document.querySelector('video');
      const d = document.querySelector('.vjs-text-track-display');
      return v.currentTime >= {at} && d && d.innerText.trim().length > 0; }}""",
                           timeout=20_000)
    return str(page.locator(".vjs-text-track-display").inner_text()).strip()


def test_video_plays_each_track_selectable_chapters_listed(viewer: Any,
                                                           site: dict[str, Any]) -> None:
    page = viewer(LESSON)
    _play(page)
    start = page.evaluate("document.querySelector('video').currentTime")
    page.wait_for_function(f"() => document.querySelector('video').currentTime > {start + 0.5}",
                           timeout=20_000)
    # chapters: Ramp lists the manifest's structures, titled as chapters.json titles them
    chapters = json.loads((site["site"] / "media" / LESSON / "chapters.json")
                          .read_text("utf-8"))
    items = page.locator(".ramp--structured-nav__list-item")
    listed = [items.nth(i).inner_text() for i in range(items.count())]
    assert len(listed) == len(chapters)
    for text, chapter in zip(listed, chapters, strict=True):
        assert chapter["title"]["en"] in text
    items.nth(1).locator("a, button, span").first.click()
    page.wait_for_function("() => Math.abs(document.querySelector('video').currentTime - 8)"
                           " < 1.0", timeout=20_000)
    # subtitles: every track of the manifest is in the captions menu; choosing one shows it
    menu = _caption_menu(page)
    for label in ("中文", "English", "中文 + English"):
        assert label in menu, menu
    page.keyboard.press("Escape")
    expected = {"中文": ZH_CUES, "English": EN_CUES, "中文 + English": BOTH_CUES}
    for label, cues in expected.items():
        _choose(page, label)
        shown = _shown_cue(page, 8.3)
        text = next(t for s, e, t in cues if s <= 8.3 < e)
        plain = text.replace("<lang en>", "").replace("</lang>", "").replace("&lt;", "<")
        assert [line.strip() for line in shown.splitlines()] == plain.split("\n"), label
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-ramp-lesson.png"), full_page=True)


def test_audio_only_lesson_in_the_viewer(viewer: Any) -> None:
    """Ramp plays a Sound canvas with an audio player (no captions button, as Video.js's audio
    mode has none) and offers the three tracks in its transcript panel instead: each can be
    chosen there and shows that track's text, and the chapters are listed."""
    page = viewer(AUDIO)
    _play(page)
    labels = page.locator(".ramp--structured-nav__list-item")
    assert [labels.nth(i).inner_text() for i in range(labels.count())] and \
        "Digital China" in labels.nth(0).inner_text() and "Together" in labels.nth(1).inner_text()
    choice = page.locator("select", has=page.locator("option", has_text="中文 + English"))
    options = choice.locator("option")
    assert [options.nth(i).inner_text() for i in range(options.count())] == [
        "中文", "English", "中文 + English"]
    for label, first in (("English", ["Digital China."]), ("中文", ["数字中国。"]),
                         ("中文 + English", ["数字中国。", "Digital China."])):
        choice.select_option(label=label)
        page.wait_for_function(f"""() => {{
          const items = Array.from(document.querySelectorAll('.ramp--transcript_item'));
          const want = {json.dumps(first)};
          return items.length === 2 && want.every(w => items[0].textContent.includes(w))
            && (want.length > 1 || !items[0].textContent.includes(
                  want[0] === 'Digital China.' ? '数字' : 'Digital'));
        }}""", timeout=20_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "viewer-ramp-audio.png"), full_page=True)


def test_viewer_refuses_manifests_of_other_sites(browser: Any, site: dict[str, Any]) -> None:
    context = browser.new_context()
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{site['url']}viewer/index.html?manifest=https://elsewhere.example/m.json")
    page.wait_for_function("() => document.body.innerText.includes('No IIIF manifest')")
    assert all(url.startswith(site["url"]) for url in requests), requests
    context.close()
