"""Events and progress for people and machines.

One `EventLog` per run. With `--json-log` every event is one JSON object per line on stderr
(time, level, lesson, stage, event, fields); otherwise events are short human lines, and long
transfers show rich progress bars when stderr is a terminal (plain periodic lines when not).
Thread-safe: lessons run concurrently.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO, Any

from archiver.model import utcnow

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
MIN_ETA_ELAPSED = 2.0  # seconds of a transfer before its rate says anything about its end
MAX_ETA = 7 * 86400.0  # an ETA beyond a week means a crawl (or a stall), not a forecast


class EventLog:
    def __init__(self, json_lines: bool = False, debug: bool = False,
                 stream: IO[str] | None = None, progress: bool | None = None) -> None:
        self.json_lines = json_lines
        self.debug_enabled = debug
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()
        is_tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.show_bars = (is_tty and not json_lines) if progress is None else progress
        self._bars: Any = None
        self._tasks: dict[str, Any] = {}
        self._last_plain: dict[str, float] = {}
        self._started: dict[str, tuple[float, int]] = {}

    # -- events -------------------------------------------------------------------------------
    def event(self, level: str, event: str, lesson: str | None = None,
              stage: str | None = None, **fields: Any) -> None:
        if LEVELS[level] < LEVELS["info"] and not self.debug_enabled:
            return
        with self._lock:
            if self.json_lines:
                record = {"time": utcnow(), "level": level, "lesson": lesson, "stage": stage,
                          "event": event, "fields": fields}
                line = json.dumps(record, ensure_ascii=False, default=str)
            else:
                where = "/".join(p for p in (lesson, stage) if p)
                extra = " ".join(f"{k}={v}" for k, v in fields.items() if k != "message")
                message = fields.get("message", "")
                prefix = "" if level == "info" else f"{level.upper()}:"
                shown = "" if event == "error" and message else event  # "ERROR: <message>"
                line = " ".join(p for p in (prefix, f"[{where}]" if where else "", shown,
                                            message, extra) if p)
            if self._bars is not None:
                self._bars.console.print(line, markup=False, highlight=False)
            else:
                print(line, file=self.stream, flush=True)

    def info(self, event: str, **kw: Any) -> None:
        self.event("info", event, **kw)

    def warning(self, event: str, **kw: Any) -> None:
        self.event("warning", event, **kw)

    def error(self, event: str, **kw: Any) -> None:
        self.event("error", event, **kw)

    def debug(self, event: str, **kw: Any) -> None:
        self.event("debug", event, **kw)

    # -- progress -------------------------------------------------------------------------------
    def start_progress(self) -> None:
        if not self.show_bars or self._bars is not None:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )
        self._bars = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                              TransferSpeedColumn(), eta_column(),
                              console=Console(file=self.stream), transient=False)
        self._bars.start()

    def stop_progress(self) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None
            self._tasks.clear()

    def progress(self, lesson: str, stage: str, done: int, total: int | None) -> None:
        """Report bytes done of total for one lesson's long step (rate-limited when plain)."""
        key = f"{lesson}/{stage}"
        if self._bars is not None:
            with self._lock:
                task = self._tasks.get(key)
                if task is None:
                    task = self._tasks[key] = self._bars.add_task(key, total=total)
                self._bars.update(task, completed=done, total=total)
            return
        now = time.monotonic()
        start_time, start_done = self._started.setdefault(key, (now, done))
        finished = total is not None and done >= total
        if not finished and now - self._last_plain.get(key, start_time) < 5.0:
            return
        self._last_plain[key] = now
        elapsed = now - start_time
        rate = (done - start_done) / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if total is not None and rate > 0 else None
        if elapsed < MIN_ETA_ELAPSED or (eta is not None and eta > MAX_ETA):
            eta = None  # too early to tell, or a crawl: a number would only mislead
        self.event("info", "progress", lesson=lesson, stage=stage, bytes=done, total=total,
                   rate=f"{rate / 1e6:.1f}MB/s",
                   eta="-" if eta is None else f"{eta:.0f}s")


def eta_column() -> Any:
    """rich's ETA column, hidden while it means nothing (too early, or a crawl)."""
    from rich.progress import TimeRemainingColumn
    from rich.text import Text

    class Eta(TimeRemainingColumn):
        def render(self, task: Any) -> Text:
            remaining = task.time_remaining
            if remaining is None or remaining > MAX_ETA or \
                    (task.elapsed or 0.0) < MIN_ETA_ELAPSED:
                return Text("-:--:--", style="progress.remaining")
            return super().render(task)

    return Eta()
