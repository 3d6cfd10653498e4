"""The published site in real Chromium (Debian's, via Playwright), served by `archiver serve`.

One browser and one built site for the whole module. A second server on another port plays the
downstream site: it iframes the embed page and points its own <video crossorigin> at our media
and tracks, which load only because our server sends Access-Control-Allow-Origin.
Screenshots go to test-artifacts/ in the repository root.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_publish_site import CUE_COUNTS, LESSON, PARAGRAPHS, XSS_EN, XSS_ZH, build_archive, context

from archiver.model import TRACKS
from archiver.publish.check import check_cue, check_embed, launch, play_at
from archiver.publish.command import publish_site
from archiver.publish.serve import SiteServer

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
TRACKS_JS = """() => Array.from(document.querySelectorAll('video[data-lesson] track, video track'))
  .map(el => ({id: el.id, srclang: el.srclang, label: el.label, readyState: el.readyState,
               cues: el.track.cues ? el.track.cues.length : -1, mode: el.track.mode}))"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("browser")
    output, manifest = build_archive(root)
    assert publish_site(context(output, manifest)).status == "ok"
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                            "json", str(output / "site" / "media" / LESSON / f"{LESSON}.mp4")],
                           capture_output=True, text=True, check=True)
    with SiteServer(output / "site") as server, \
            SiteServer(output / "site", cors=False) as no_cors:
        other = root / "other"
        other.mkdir()
        media = f"{server.url}media/{LESSON}/{LESSON}"
        bare = f"{no_cors.url}media/{LESSON}/{LESSON}"
        (other / "index.html").write_text(f"""<!doctype html><html lang="en"><head>
<meta charset="utf-8"><title>Downstream site</title></head><body>
<h1>A downstream page on another origin</h1>
<iframe id="embed" src="{server.url}embed/{LESSON}.html" width="640" height="360"
 title="lesson" allow="fullscreen"></iframe>
<video id="direct" crossorigin="anonymous" preload="metadata" src="{media}.mp4" muted>
<track kind="subtitles" srclang="zh-Hans" label="中文" src="{media}.zh-Hans.vtt" default>
<track kind="subtitles" srclang="en" label="English" src="{media}.en.vtt">
</video>
<video id="control" crossorigin="anonymous" preload="metadata" src="{bare}.mp4" muted>
<track kind="subtitles" srclang="zh-Hans" label="中文" src="{bare}.zh-Hans.vtt" default>
</video></body></html>""", "utf-8")
        with SiteServer(other) as downstream:
            yield {"url": server.url, "other": downstream.url, "output": output,
                   "duration": float(json.loads(probe.stdout)["format"]["duration"])}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, site: dict[str, Any]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{site['url']}{LESSON}.html")
    page.wait_for_function("() => document.querySelector('video[data-lesson]').readyState >= 1",
                           timeout=20_000)
    yield page
    context.close()
    assert errors == []  # no script error on the page


def _wait_tracks_loaded(target: Any, count: int = 3) -> list[dict[str, Any]]:
    target.wait_for_function(f"""() => {{
      const els = Array.from(document.querySelectorAll('video track'));
      return els.length >= {count} && els.every(el => el.readyState === 2);
    }}""", timeout=20_000)
    return list(target.evaluate(TRACKS_JS))


def test_video_metadata_and_tracks(page: Any, site: dict[str, Any]) -> None:
    duration = page.evaluate("document.querySelector('video').duration")
    assert abs(duration - site["duration"]) < 0.1
    tracks = {t["id"]: t for t in _wait_tracks_loaded(page)}
    assert {k: t["cues"] for k, t in tracks.items()} == {
        f"track-{lang}": n for lang, n in CUE_COUNTS.items()}
    assert tracks["track-zh-Hans"]["mode"] == "showing"
    assert (tracks["track-en"]["srclang"], tracks["track-en"]["label"]) == ("en", "English")
    assert tracks["track-zh-Hans-en"]["label"] == "中文 + English"
    # three tracks a client tells apart: the bilingual one has its own BCP 47 tag
    assert [tracks[f"track-{t.key}"]["srclang"] for t in TRACKS] == [
        "zh-Hans", "en", "zh-Hans-x-en"]
    # the subtitle switch shows another track
    page.get_by_label("English", exact=True).check()
    showing = page.evaluate("Array.from(document.querySelector('video').textTracks)"
                            ".filter(t => t.mode === 'showing').map(t => t.language)")
    assert showing == ["en"]


def test_cue_at_time_highlight_and_screenshot(page: Any) -> None:
    state = play_at(page, 8.3)
    assert state["zh"] == "二是健全体制机制。"
    assert state["paragraphStart"] == 8.0 and not state["paused"]
    assert state["paragraphZh"] == PARAGRAPHS[2]["zh"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "publish-lesson-page.png"), full_page=True)


def test_transcript_click_and_keyboard_seek(page: Any) -> None:
    page.locator("li.para").nth(1).locator("p[lang=en]").click()
    page.wait_for_function("() => Math.abs(document.querySelector('video').currentTime - 4) < 0.5"
                           " && document.querySelector('li.para.current')?.id === 't1'")
    page.evaluate("document.querySelector('video').pause()")
    button = page.locator("li.para").nth(2).locator("button.ts")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => Math.abs(document.querySelector('video').currentTime - 8) < 0.5")
    assert page.evaluate("document.activeElement.classList.contains('ts')")
    assert page.locator("li.para.current").get_attribute("aria-current") == "true"


def test_xss_probe_stays_text(page: Any) -> None:
    para = page.locator("li.para").nth(1)
    assert para.locator("p[lang=en]").text_content() == XSS_EN
    assert para.locator("p[lang=zh-Hans]").text_content() == XSS_ZH
    assert page.locator("main img").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert "</script>" in page.title()
    snippet = page.locator("#embed-code").input_value()  # the absolute URL of the base URL
    assert snippet.startswith(f'<iframe src="http://127.0.0.1:8000/embed/{LESSON}.html"')
    assert 'title="Lesson &lt;/script&gt;&lt;script&gt;window.__xss=3&lt;/script&gt; &amp; ' \
        'more"' in snippet


def test_embed_in_iframe_from_another_origin(browser: Any, site: dict[str, Any]) -> None:
    context = browser.new_context(viewport={"width": 900, "height": 820})
    page = context.new_page()
    page.goto(site["other"])
    frame = page.frame_locator("#embed")
    inner = next(f for f in page.frames if f.url.endswith(f"embed/{LESSON}.html"))
    assert site["url"] in inner.url and site["other"] not in inner.url
    tracks = _wait_tracks_loaded(inner)
    assert sorted(t["cues"] for t in tracks) == sorted(CUE_COUNTS.values())
    state = play_at(inner, 8.3)
    assert state["zh"] == "二是健全体制机制。"
    assert frame.locator("body.embed video").is_visible()
    # the downstream page's own <video crossorigin> loads our tracks across origins
    page.evaluate("document.querySelectorAll('#direct track')[1].track.mode = 'hidden'")
    page.wait_for_function("""() => {
      const els = Array.from(document.querySelectorAll('#direct track'));
      return els.every(el => el.readyState === 2);
    }""", timeout=20_000)
    direct = page.evaluate("Array.from(document.querySelectorAll('#direct track'))"
                           ".map(el => el.track.cues.length)")
    assert direct == [CUE_COUNTS["zh-Hans"], CUE_COUNTS["en"]]
    # control: the same track from a server without the CORS header fails (readyState 3)
    page.wait_for_function("() => document.querySelector('#control track').readyState === 3",
                           timeout=20_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "publish-embed-cross-origin.png"))
    context.close()


def test_phone_width_and_no_layout_shift(browser: Any, site: dict[str, Any]) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    page.add_init_script("""window.__shift = 0;
      new PerformanceObserver(list => { for (const e of list.getEntries())
        if (!e.hadRecentInput) window.__shift += e.value; })
        .observe({type: 'layout-shift', buffered: true});""")
    page.goto(f"{site['url']}{LESSON}.html")
    box_before = page.locator("video").bounding_box()
    page.wait_for_function("() => document.querySelector('video').readyState >= 1")
    _wait_tracks_loaded(page)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert page.locator("video").bounding_box() == box_before
    assert page.evaluate("window.__shift") < 0.01
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    context.close()


def test_check_tool_reports_cue_paragraph_and_screenshots(
        browser: Any, site: dict[str, Any], tmp_path: Path) -> None:
    site_dir = site["output"] / "site"
    lesson = check_cue(site_dir, LESSON, 8.3, tmp_path / "lesson.png", browser)
    assert lesson.zh_cue == "二是健全体制机制。" and lesson.playing
    assert lesson.paragraph_start == 8.0 and lesson.cue_in_paragraph
    assert (tmp_path / "lesson.png").read_bytes()[:4] == b"\x89PNG"
    embed = check_embed(site_dir, LESSON, 1.0, tmp_path / "embed.png", browser)
    assert embed.zh_cue == "第一段。" and embed.playing
    assert (tmp_path / "embed.png").stat().st_size > 1000
