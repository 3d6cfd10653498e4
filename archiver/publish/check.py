"""Open a built site in real Chromium and report what a viewer sees at a given time.

`check_cue(site, lesson, at, screenshot)` serves the site on loopback, opens the lesson page,
plays the video (muted) from `at`, and returns the active Chinese cue, the highlighted
transcript passage and a screenshot. The tests use the same functions, and the lead runs it on
the demo output:

    .venv/bin/python -m archiver.publish.check output/demo/site digital-china-13 03:20 \
        test-artifacts/lesson-13-0320.png
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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
    zh: cueText('track-zh-Hans'), en: cueText('track-en'), both: cueText('track-zh-Hans-en'),
    showing: Array.from(v.textTracks).filter(t => t.mode === 'showing').map(t => t.label),
    paragraphStart: cur ? parseFloat(cur.dataset.start) : null,
    paragraphZh: cur ? cur.querySelector('p[lang="zh-Hans"]').textContent : null,
  };
}"""


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
    screenshot: str


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
    page.wait_for_function("""(at) => {
      const v = document.querySelector('video[data-lesson]');
      const t = document.getElementById('track-zh-Hans').track;
      return !v.paused && v.currentTime > at + 0.2 && t.activeCues && t.activeCues.length > 0;
    }""", arg=at, timeout=timeout_ms)
    # two animation frames: the cue box is painted before the screenshot
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return dict(page.evaluate(STATE_JS))


def check_cue(site: Path, lesson: str, at: float, screenshot: Path,
              width: int = 1280, height: int = 900) -> CueCheck:
    """Serve `site`, open `<lesson>.html`, play from `at`; return the cue and a screenshot."""
    from playwright.sync_api import sync_playwright

    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with SiteServer(site) as server, sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(f"{server.url}{lesson}.html")
            state = play_at(page, at)
            page.locator("video").scroll_into_view_if_needed()
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    return CueCheck(lesson=lesson, at=at, current_time=state["currentTime"],
                    duration=state["duration"], playing=not state["paused"], zh_cue=state["zh"],
                    showing=state["showing"], paragraph_start=state["paragraphStart"],
                    paragraph_zh=state["paragraphZh"], screenshot=str(screenshot))


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
    args = parser.parse_args(argv)
    result = check_cue(args.site, args.lesson, args.at, args.screenshot)
    json.dump(asdict(result), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
