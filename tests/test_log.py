"""Events and progress: bars for people on a terminal, one JSON object a line for machines."""

from __future__ import annotations

import io
import json

from archiver.log import EventLog


def test_progress_bar_shows_bytes_per_lesson() -> None:
    stream = io.StringIO()
    log = EventLog(stream=stream, progress=True)
    log.start_progress()
    log.progress("lesson-a", "fetch", 5_000_000, 10_000_000)
    log.info("resolved", lesson="lesson-a", stage="fetch")  # printed above the bars
    log.progress("lesson-a", "fetch", 10_000_000, 10_000_000)
    log.stop_progress()
    shown = stream.getvalue()
    assert "lesson-a/fetch" in shown and "10.0/10.0 MB" in shown
    assert "[lesson-a/fetch] resolved" in shown


def test_plain_progress_has_rate_and_eta_and_json_lines_are_objects() -> None:
    stream = io.StringIO()
    log = EventLog(stream=stream, json_lines=True)
    log.progress("lesson-a", "fetch", 0, 100)
    log.progress("lesson-a", "fetch", 100, 100)  # finished: always reported
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [set(line) for line in lines] == [
        {"time", "level", "lesson", "stage", "event", "fields"}] * len(lines)
    final = lines[-1]
    assert final["event"] == "progress" and final["fields"]["bytes"] == 100
    assert {"rate", "eta"} <= set(final["fields"])
