"""The lesson page on a phone (375×800) and a desktop (1280×800), in Chromium.

The page is lesson 13 with the series' real texts (publish_support.build_lesson13_archive: the
seed transcript, synopsis, terms and footnotes of the repository's manifest), because layout
problems come from real lengths: 20 long bilingual paragraphs, seven footnotes, 64-digit
hashes. What is measured is what Chromium renders:
- cue text: the computed font size of the cue box inside the video's own (user-agent) shadow
  tree, read through the DevTools protocol (page scripts cannot reach it);
- the transcript: its box, its own scrolling, and the spoken passage inside the visible part
  while the video plays on into the next passage;
- provenance: label above value on the phone, side by side on the desktop; hashes inside
  their box;
- the page: under 9,000 px tall on the phone, never wider than the screen.
Screenshots go to test-artifacts/ (phone-375-*.png, desktop-1280-*.png).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from publish_support import (
    AUDIO,
    LESSON13,
    add_audio_lesson,
    audio_clip,
    build_lesson13_archive,
    served_site,
)

from archiver.publish.check import launch, play_at

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PHONE = {"width": 375, "height": 800}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("phone")
    output, manifest = build_lesson13_archive(root)
    # the audio-only lesson beside it (its own manifest: the series' has no such lesson)
    local = root / "series.toml"
    local.write_text(manifest.read_text("utf-8"), "utf-8")
    (root / "transcripts").mkdir()
    (root / "transcripts" / f"{LESSON13}.txt").write_bytes(
        (manifest.parent / "transcripts" / f"{LESSON13}.txt").read_bytes())
    add_audio_lesson(output, local, audio_clip(root / "corpus"))
    with served_site(output, local) as server:
        yield {"url": server.url, "site": output / "site"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


def _open(browser: Any, url: str, viewport: dict[str, int]) -> tuple[Any, Any]:
    context = browser.new_context(viewport=viewport, is_mobile=viewport["width"] < 500,
                                  has_touch=viewport["width"] < 500, device_scale_factor=1)
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("() => document.querySelector('video').readyState >= 1",
                           timeout=20_000)
    return context, page


def _walk(node: dict[str, Any], out: list[tuple[int, str]]) -> None:
    attrs = node.get("attributes") or []
    pseudo = dict(zip(attrs[::2], attrs[1::2], strict=False)).get("pseudo", "")
    out.append((node["nodeId"], pseudo))
    for child in (node.get("children") or []) + (node.get("shadowRoots") or []):
        _walk(child, out)


def _shadow(context: Any, page: Any) -> tuple[Any, list[tuple[int, str]]]:
    cdp = context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    nodes: list[tuple[int, str]] = []
    _walk(cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"], nodes)
    return cdp, nodes


def cue_font_px(context: Any, page: Any) -> float:
    """The font size Chromium renders the active cue with (video paused, cue on screen)."""
    cdp, nodes = _shadow(context, page)
    cues = [nid for nid, pseudo in nodes if pseudo == "cue"]
    assert cues, "no cue box rendered"
    style = cdp.send("CSS.getComputedStyleForNode", {"nodeId": cues[0]})["computedStyle"]
    return float(next(p["value"] for p in style if p["name"] == "font-size").removesuffix("px"))


def cue_and_controls(context: Any, page: Any) -> tuple[float, float]:
    """(bottom of the cue box, top of the player's control panel), in page pixels."""
    cdp, nodes = _shadow(context, page)

    def box(pseudo: str) -> list[float]:
        nid = next(n for n, p in nodes if p == pseudo)
        return list(cdp.send("DOM.getBoxModel", {"nodeId": nid})["model"]["border"])

    return max(box("cue")[1::2]), min(box("-webkit-media-controls-panel")[1::2])


def _paragraph_starts(site: dict[str, Any]) -> list[float]:
    data = json.loads((site["site"] / "media" / LESSON13 / "transcript.json")
                      .read_text("utf-8"))
    return [float(p["start"]) for p in data]


VISIBLE_JS = """() => {
  const list = document.getElementById('transcript');
  const cur = list.querySelector('li.para.current');
  if (!cur) return null;
  const l = list.getBoundingClientRect(), c = cur.getBoundingClientRect();
  return {id: cur.id, top: c.top - l.top, listHeight: l.height,
          visible: c.top >= l.top - 1 && c.top < l.bottom - 24};
}"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone-375", "desktop-1280"])
def test_lesson_page_layout(browser: Any, site: dict[str, Any],
                            viewport: dict[str, int]) -> None:
    context, page = _open(browser, f"{site['url']}{LESSON13}.html", viewport)
    width = viewport["width"]
    starts = _paragraph_starts(site)
    # play from just before passage 15 and let it run into it: the box follows
    play_at(page, starts[15] - 0.6)
    page.wait_for_function("() => document.querySelector('li.para.current')?.id === 't15'",
                           timeout=20_000)
    page.evaluate("document.querySelector('video').pause()")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    # cue text: at least 16 CSS px on the phone, sized to the video (3.4 % of its width,
    # within 16..30 px) everywhere
    video_width = page.evaluate("document.querySelector('video').getBoundingClientRect().width")
    size = cue_font_px(context, page)
    assert size >= 16.0
    assert size == pytest.approx(min(30.0, max(16.0, 0.034 * video_width)), abs=0.6)
    # the transcript: capped, scrolling on its own, the spoken passage in view
    box = page.evaluate("""() => { const l = document.getElementById('transcript');
      return {client: l.clientHeight, scroll: l.scrollHeight, top: l.scrollTop,
              overflow: getComputedStyle(l).overflowY}; }""")
    assert box["overflow"] == "auto" and box["scroll"] > box["client"] > 100
    assert box["client"] <= 0.8 * viewport["height"] + 1 and box["top"] > 0
    where = page.evaluate(VISIBLE_JS)
    assert where is not None and where["visible"], where
    # provenance: label over value on the phone, beside it on the desktop
    rows = page.evaluate("""() => Array.from(document.querySelectorAll('dl.prov .row')).map(r => {
      const t = r.querySelector('dt').getBoundingClientRect();
      const d = r.querySelector('dd').getBoundingClientRect();
      return {dtBottom: t.bottom, dtTop: t.top, dtRight: t.right, ddTop: d.top, ddLeft: d.left,
              ddRight: d.right}; })""")
    assert len(rows) >= 6
    for row in rows:
        if width < 640:
            assert row["dtBottom"] <= row["ddTop"] + 0.5, row
        else:
            assert abs(row["dtTop"] - row["ddTop"]) < 2 and row["dtRight"] <= row["ddLeft"], row
    hashes = page.evaluate("""() => Array.from(document.querySelectorAll('code.hash')).map(c => {
      const r = c.getBoundingClientRect(), lh = parseFloat(getComputedStyle(c).lineHeight);
      return {right: r.right, lines: Math.round(r.height / lh), sw: c.scrollWidth,
              cw: c.clientWidth, text: c.textContent}; })""")
    assert len(hashes) == 2
    for h in hashes:
        assert len(h["text"]) == 64 and h["right"] <= width and h["sw"] <= h["cw"] + 1, h
        assert h["lines"] <= 2, h  # two clean lines at most, never four or five
    # the page: no horizontal overflow; short enough to use on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    height = page.evaluate("document.documentElement.scrollHeight")
    if width < 640:
        assert height < 9000, height
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{'phone' if width < 640 else 'desktop'}-{width}-"
                             "lesson13.png"), full_page=True)
    context.close()


def test_audio_only_lesson_shows_cues_over_its_waveform(browser: Any,
                                                       site: dict[str, Any]) -> None:
    context, page = _open(browser, f"{site['url']}{AUDIO}.html", PHONE)
    assert page.evaluate("document.querySelector('audio')") is None
    video = page.evaluate("""() => { const v = document.querySelector('video');
      return {poster: v.poster, source: v.querySelector('source').type,
              tracks: Array.from(v.querySelectorAll('track')).map(t => t.srclang)}; }""")
    assert video["poster"].endswith(f"media/{AUDIO}/poster.jpg")
    assert video["source"] == "audio/mp4"
    assert video["tracks"] == ["zh-Hans", "en", "zh-Hans-x-en"]
    state = play_at(page, 3.0)
    assert state["zh"] == "共同推进。" and state["paragraphZh"] == "共同推进。"
    page.evaluate("document.querySelector('video').pause()")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert cue_font_px(context, page) >= 16.0
    # Chromium keeps audio controls on screen over the bottom of the box: the cue sits above
    cue_bottom, controls_top = cue_and_controls(context, page)
    assert cue_bottom <= controls_top, (cue_bottom, controls_top)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "phone-375-audio-only.png"), full_page=True)
    context.close()


def test_embed_page_cues_readable_in_a_small_frame(browser: Any, site: dict[str, Any],
                                                   tmp_path: Path) -> None:
    """The embed page at the size of a phone-width iframe (343×193)."""
    context, page = _open(browser, f"{site['url']}embed/{LESSON13}.html",
                          {"width": 343, "height": 193})
    play_at(page, _paragraph_starts(site)[3] + 0.2)
    page.evaluate("document.querySelector('video').pause()")
    assert cue_font_px(context, page) >= 16.0
    assert page.evaluate("document.documentElement.scrollWidth") <= 343
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "phone-343-embed.png"))
    context.close()
