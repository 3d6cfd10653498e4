"""Client -> verdict for one archived lesson: what archivists' tools say of its capture and bag.

    .venv/bin/python tests/tools/capture_report.py OUTPUT LESSON_ID

Runs on an archive folder as `make demo` leaves it (`OUTPUT/lessons/<id>/fetch/`,
`OUTPUT/packages/<id>/`): pywb replays the package's WACZ (unpacked into a temporary
collection), the original is fetched through replay whole and by Range, the replayed lesson
page's <video> is played in Chromium, `warcio check` runs on both WARCs, `wacz validate` on
the WACZ, bagit-python and bagit-utils on the bag. Prints one line per client.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clients import (
    bagit_python_validate,
    bagit_utils_validate,
    pywb_replay,
    wacz_validate,
    warcio_check,
)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, dict(response.headers.items()), response.read()


def _play(base: str, stamp: str, page_url: str) -> str:
    from playwright.sync_api import sync_playwright

    from archiver.publish.check import launch

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            tab = browser.new_page()
            tab.goto(f"{base}{stamp}/{page_url}", timeout=60_000)
            deadline = time.monotonic() + 30
            frame: Any = None
            while frame is None and time.monotonic() < deadline:
                frame = next((f for f in tab.frames if f"mp_/{page_url}" in f.url), None)
                tab.wait_for_timeout(200)
            if frame is None:
                return "FAIL: no replay frame"
            frame.wait_for_function("() => document.querySelector('video') !== null",
                                    timeout=30_000)
            frame.evaluate("async () => { const v = document.querySelector('video');"
                           " v.muted = true; await v.play(); }")
            frame.wait_for_function("() => document.querySelector('video').currentTime > 1",
                                    timeout=60_000)
            at = frame.evaluate("() => document.querySelector('video').currentTime")
            return f"pass (currentTime {at:.2f} s)"
        except Exception as exc:  # noqa: BLE001 - any failure is a verdict, not a crash
            return f"FAIL: {type(exc).__name__}: {str(exc)[:200]}"
        finally:
            browser.close()


def report(output: Path, lesson: str) -> list[tuple[str, str]]:
    fetch = output / "lessons" / lesson / "fetch"
    bag = output / "packages" / lesson
    record = json.loads((output / "lessons" / lesson / "state" / "fetch.json")
                        .read_text("utf-8"))["details"]
    media = (output / "lessons" / lesson / record["media"]).read_bytes()
    page_url = record.get("page_url") or record["media_url"]
    wacz = bag / "data" / "capture" / "capture.wacz"
    rows: list[tuple[str, str]] = []
    with pywb_replay([wacz]) as base:
        status, _h, body = _get(f"{base}id_/{record['media_url']}")
        rows.append(("pywb replay of the WACZ (media whole)",
                     "pass" if status == 200 and body == media else
                     f"FAIL: {status}, {len(body)} of {len(media)} bytes"))
        start, end = len(media) // 3, len(media) // 3 + 999_999
        status, headers, body = _get(f"{base}id_/{record['media_url']}",
                                     {"Range": f"bytes={start}-{end}"})
        rows.append(("pywb Range request", "pass (206, bytes equal)" if status == 206 and
                     body == media[start:end + 1] else f"FAIL: {status} {headers}"))
        stamp = dt.datetime.fromisoformat(
            json.loads((fetch / "capture.json").read_text("utf-8"))["started"]
        ).strftime("%Y%m%d%H%M%S")
        rows.append(("Chromium playback of the replayed page", _play(base, stamp, page_url)))
    for warc in sorted(fetch.glob("capture*.warc*")):
        verdict = warcio_check(warc)
        rows.append((f"warcio check {warc.name}", "pass" if verdict.ok else
                     f"FAIL: {verdict.output[-300:]}"))
    verdict = wacz_validate(wacz)
    rows.append(("wacz validate", "pass" if verdict.ok else f"FAIL: {verdict.output[-300:]}"))
    python = bagit_python_validate(bag)
    rows.append(("bagit-python validate", "pass, no warnings" if python.ok and
                 not python.warnings else f"FAIL: {python.errors} {python.warnings}"))
    utils = bagit_utils_validate(bag)
    rows.append(("bagit-utils validate", "pass, no messages" if utils.ok and
                 not utils.messages else f"FAIL: {utils.messages}"))
    return rows


def main(argv: list[str]) -> int:
    rows = report(Path(argv[0]), argv[1])
    for client, verdict in rows:
        print(f"| {client} | {verdict} |")
    return 0 if all(v.startswith("pass") for _c, v in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
