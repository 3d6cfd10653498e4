"""What runs on a worker: one lesson's chain, with the worker named in every event.

The task is a plain function of picklable values (the lesson, the manifest, the options), run
by a Dask worker process that mounts the same archive folder. It runs the lesson stages
through the same runner as a local run (`batch.run_lesson`), so each stage's reuse check
decides what is redone after a retry: a lesson whose package finished on a worker that died
afterwards is `unchanged` on the next. The per-lesson lock keeps two tasks of the same lesson
apart; the catalog is left to the client (the run's catalog.Book is not used here).

Events are collected and sent back with the result; the client replays them into its own
log with a `worker` field (the worker's address), so `--json-log` lines name the machine.

Cancellation is the local run's own (archiver.cancel), carried across: the client sets the
run's `distributed.Event` on Ctrl-C/SIGTERM, a watcher thread in the task sees it within a
second and cancels the worker process, so transfers stop at the next chunk, child tools'
groups are terminated and the stage ends `interrupted` (nothing recorded: the next run
resumes). The flag is reset when the task ends, so the worker's next task starts clean.
The flag is the worker process's: one task at a time per worker process (the local cluster
runs one thread per worker; docs/scale.md asks the same of remote workers, `--nthreads 1`).
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver import cancel
from archiver.batch import run_lesson
from archiver.childproc import guard_children
from archiver.errors import ArchiverError
from archiver.log import EventLog
from archiver.model import Details, Lesson, Manifest, StageResult
from archiver.options import Options
from archiver.pipeline import Context
from archiver.store import Store

# every worker needs these on its PATH (the stages start them)
REQUIRED_TOOLS = ("ffmpeg", "ffprobe")


class WorkerToolMissing(ArchiverError):
    """A worker lacks a program the stages need (raised, so Dask tries another worker)."""


class CollectingLog(EventLog):
    """An EventLog that keeps events for the client instead of printing them."""

    def __init__(self, debug: bool = False) -> None:
        super().__init__(debug=debug, progress=False)
        self.events: list[dict[str, Any]] = []

    def event(self, level: str, event: str, lesson: str | None = None,
              stage: str | None = None, **fields: Any) -> None:
        if level == "debug" and not self.debug_enabled:
            return
        with self._lock:
            self.events.append({"level": level, "event": event, "lesson": lesson,
                                "stage": stage, "fields": fields})

    def progress(self, lesson: str, stage: str, done: int, total: int | None) -> None:
        del lesson, stage, done, total  # byte progress stays on the worker


@dataclass
class LessonJob:
    """Everything a worker needs for one lesson."""

    lesson: Lesson
    output: Path
    stages: tuple[str, ...]
    options: Options = field(default_factory=Options)
    force: bool = False
    debug: bool = False
    cancel_event: str | None = None  # the run's distributed.Event, set when it is cancelled


@dataclass
class LessonOutcome:
    lesson_id: str
    worker: str
    results: list[StageResult[Details]]
    events: list[dict[str, Any]]


def worker_address() -> str:
    """The address of the worker running this task ("local" outside a worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"


def check_tools(address: str) -> None:
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise WorkerToolMissing(
            f"worker {address} has no {', '.join(missing)} on its PATH: every worker needs "
            "the same tools (install ffmpeg there, or stop that worker)")


@contextlib.contextmanager
def cancelled_by_client(event_name: str | None) -> Iterator[None]:
    """Cancel this worker process (archiver.cancel) when the client sets the run's Event."""
    if not event_name:
        yield
        return
    from distributed import Event, get_client

    client = get_client()
    done = threading.Event()
    if Event(event_name, client=client).is_set():  # type: ignore[no-untyped-call]
        cancel.cancel()  # queued when the run was stopped: start no stage at all

    def watch() -> None:
        event = Event(event_name, client=client)  # type: ignore[no-untyped-call]
        while not done.is_set():
            try:
                if event.wait(timeout=1):  # type: ignore[no-untyped-call]
                    cancel.cancel()
                    return
            except Exception:  # noqa: BLE001 - the client or scheduler went away: the
                return  # task is then cancelled by Dask itself, nothing is left to watch

    watcher = threading.Thread(target=watch, name="archiver-cancel-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(timeout=5)
        cancel.reset()


def run_lesson_job(job: LessonJob, manifest: Manifest) -> LessonOutcome:
    """The Dask task: lock the lesson, run its stages, return results and events."""
    from archiver.cluster.lock import lesson_lock

    address = worker_address()
    check_tools(address)
    guard_children()
    log = CollectingLog(debug=job.debug)
    store = Store(job.output)
    ctx = Context(store=store, manifest=manifest, log=log, jobs=1, force=job.force,
                  options=job.options)
    ctx.run_state["catalog_by_client"] = True
    with lesson_lock(store, job.lesson.id, f"worker {address}"), \
            cancelled_by_client(job.cancel_event):
        results = run_lesson(job.lesson, job.stages, ctx)
    return LessonOutcome(job.lesson.id, address, results, log.events)
