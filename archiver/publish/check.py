"""Open a built site in real Chromium and report what a viewer sees at a given time.

`check_cue(site, lesson, at, screenshot)` serves the site on loopback, opens the lesson page,
plays the video (muted) from `at`, and returns the active Chinese cue, the highlighted
transcript passage and a screenshot. The tests use the same functions, and the lead runs it on
the demo output:

    .venv/bin/python -m archiver.publish.check output/demo/site digital-china-13 03:20 \
        test-artifacts/lesson-13-0320.png
    .venv/bin/python -m archiver.publish.check --embed output/demo/site digital-china-13 \
        03:20 test-artifacts/lesson-13-embed-0320.png
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from archiver.model import BILINGUAL_TRACK, DEFAULT_TRACK, track
from archiver.publish.serve import SiteServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required"]

# JS: the state of the page's player and transcript, read in one call
STATE_JS = """() => {
  const v = document.querySelector('video[data-lesson]');
  const cueText = (id) => {
    const el = document.getElementById(id);
    if (!el || !el.track.activeCues || el.track.activeCues.length === 0) return null;
    return Array.from(el.track.activeCues).map(c => c.text).join('\\n');
  };
  const cur = document.querySelector('li.para.current');
  return {
    currentTime: v.currentTime, duration: v.duration, paused: v.paused,
    zh: cueText('track-ZH'), en: cueText('track-EN'), both: cueText('track-BOTH'),
    showing: Array.from(v.textTracks).filter(t => t.mode === 'showing').map(t => t.label),
    paragraphStart: cur ? parseFloat(cur.dataset.start) : null,
    paragraphZh: cur ? cur.querySelector('p[lang="zh-Hans"]').textContent : null,
  };
}""".replace("track-ZH", f"track-{DEFAULT_TRACK.key}").replace(
    "track-EN", f"track-{track('en').key}").replace("track-BOTH", f"track-{BILINGUAL_TRACK.key}")


@dataclass
class CueCheck:
    """What the page showed: the cue on screen, the highlighted passage, the screenshot."""

    lesson: str
    at: float
    current_time: float
    duration: float
    playing: bool
    zh_cue: str | None
    showing: list[str]
    paragraph_start: float | None
    paragraph_zh: str | None
    cue_in_paragraph: bool
    screenshot: str
    page_url: str


def _bare(text: str) -> str:
    """Text without whitespace and punctuation: cues drop or move punctuation at line breaks."""
    return re.sub(r"[\W_]+", "", text)


def _result(lesson: str, at: float, state: dict[str, Any], screenshot: Path,
            url: str) -> CueCheck:
    cue, para = state["zh"], state["paragraphZh"]
    return CueCheck(lesson=lesson, at=at, current_time=state["currentTime"],
                    duration=state["duration"], playing=not state["paused"], zh_cue=cue,
                    showing=state["showing"], paragraph_start=state["paragraphStart"],
                    paragraph_zh=para,
                    cue_in_paragraph=bool(cue and para and _bare(cue) in _bare(para)),
                    screenshot=str(screenshot), page_url=url)


def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless, with the flags this closed network needs."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def play_at(page: Any, at: float, timeout_ms: int = 30_000) -> dict[str, Any]:
    """Seek the page's video to `at`, play it muted, wait until a cue at or after `at` is active."""
    page.wait_for_function("() => document.querySelector('video[data-lesson]').readyState >= 1",
                           timeout=timeout_ms)
    page.evaluate("""async (at) => {
      const v = document.querySelector('video[data-lesson]');
      v.muted = true;
      const seeked = new Promise(r => v.addEventListener('seeked', r, {once: true}));
      v.currentTime = at;
      await seeked;
      await v.play();
    }""", at)
    page.wait_for_function("""([at, id]) => {
      const v = document.querySelector('video[data-lesson]');
      const t = document.getElementById(id).track;
      return !v.paused && v.currentTime > at + 0.2 && t.activeCues && t.activeCues.length > 0;
    }""", arg=[at, f"track-{DEFAULT_TRACK.key}"], timeout=timeout_ms)
    # two animation frames: the cue box is painted before the screenshot
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return dict(page.evaluate(STATE_JS))


@contextlib.contextmanager
def _browser(browser: Any | None) -> Iterator[Any]:
    """The caller's browser, or a new one closed afterwards (Playwright allows one sync
    driver per thread, so a caller that already runs one passes its browser in)."""
    if browser is not None:
        yield browser
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        own = launch(p)
        try:
            yield own
        finally:
            own.close()


def check_cue(site: Path, lesson: str, at: float, screenshot: Path,
              browser: Any | None = None) -> CueCheck:
    """Serve `site`, open `<lesson>.html`, play from `at`; return the cue and a screenshot."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with SiteServer(site) as server, _browser(browser) as chromium:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = context.new_page()
            url = f"{server.url}{lesson}.html"
            page.goto(url)
            state = play_at(page, at)
            page.screenshot(path=str(screenshot))
        finally:
            context.close()
    return _result(lesson, at, state, screenshot, url)


def check_embed(site: Path, lesson: str, at: float, screenshot: Path,
                browser: Any | None = None) -> CueCheck:
    """Like `check_cue`, for `embed/<lesson>.html` inside an iframe of a page on another origin
    (a second server on another port). `paragraph_*` stay empty: the embed has no transcript."""
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="archiver-embed-check-") as tmp, \
            SiteServer(site) as server:
        embed = f"{server.url}embed/{lesson}.html"
        Path(tmp, "index.html").write_text(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Another site'
            '</title></head><body><h1>A page on another origin</h1>'
            f'<iframe id="embed" src="{embed}" width="720" height="405" title="lesson" '
            'allow="fullscreen"></iframe></body></html>', "utf-8")
        with SiteServer(Path(tmp)) as other, _browser(browser) as chromium:
            context = chromium.new_context(viewport={"width": 800, "height": 560})
            try:
                page = context.new_page()
                page.goto(other.url)
                frame = page.frame_locator("#embed").locator("video").element_handle()
                state = play_at(frame.owner_frame(), at)
                page.screenshot(path=str(screenshot))
            finally:
                context.close()
    return _result(lesson, at, state, screenshot, f"{other.url} -> {embed}")


def parse_time(text: str) -> float:
    """`200`, `200.5`, `03:20` or `0:03:20` to seconds."""
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archiver.publish.check",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("site", type=Path, help="a built site folder (output/site)")
    parser.add_argument("lesson", help="lesson id, e.g. digital-china-13")
    parser.add_argument("at", type=parse_time, help="time to play from: seconds or mm:ss")
    parser.add_argument("screenshot", type=Path, help="PNG to write")
    parser.add_argument("--embed", action="store_true",
                        help="check the embed page inside a cross-origin iframe instead")
    args = parser.parse_args(argv)
    check = check_embed if args.embed else check_cue
    result = check(args.site, args.lesson, args.at, args.screenshot)
    json.dump(asdict(result), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
