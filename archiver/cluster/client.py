"""The client side of a cluster run: one task per lesson, then the catalog and the site.

- Key: `lesson-<id>-<fingerprint of its manifest entry>`. The later stages' fingerprints
  depend on earlier outputs and cannot be known when the graph is built; each stage's own
  reuse check runs inside the task. The same key for an unchanged entry lets the scheduler
  recognise a task it already holds (two submissions in one client never run twice).
- Retries (`RETRIES`) cover transient failures: a worker that dies (SIGKILL, OOM, a lost
  machine) or lacks a tool; a stage's own failure is recorded in the archive and returned,
  not retried (a rerun retries it, as in a local run).
- Resources: each task needs `ffmpeg=1`, so a worker started with `--resources ffmpeg=1`
  runs one lesson's muxes at a time, whatever its thread count.
- Long silent subprocesses (a 2-hour mux) do not get a worker dropped: the worker's event
  loop keeps heartbeating while the task thread waits on ffmpeg; the local cluster is also
  given a generous `distributed.scheduler.worker-ttl` (docs/scale.md for remote workers).
- The client replays every event a task sent back with the worker's address and prints the
  same outcome table; it writes catalog.json (catalog.rebuild, once) and the site (the
  publish stage) at the end, under a short exclusive `.site.lock`. The whole run holds
  `.lock` shared (lock.cluster_run_lock): cluster clients together, never with a local run.
- A scheduler that disappears ends the run with a clear error; the next run resumes from the
  archive (every finished stage is `unchanged`).
- Ctrl-C/SIGTERM on the client (archiver.cancel) sets the run's `distributed.Event`: every
  running task watches it (task.cancelled_by_client) and stops within a second, every task
  still queued sees it before its first stage and returns at once. The client waits for all
  of them (it keeps the archive's lock while workers write), so the table shows what each
  lesson really did; the rest is `interrupted`, no site is written, the exit code 130/143.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from archiver import cancel
from archiver.cluster.spec import ClusterSpec
from archiver.cluster.task import LessonJob, LessonOutcome, run_lesson_job
from archiver.errors import ArchiverError, LockError
from archiver.log import EventLog
from archiver.model import Details, Lesson, Manifest, StageResult
from archiver.options import Options
from archiver.pipeline import Context as RunContext
from archiver.pipeline import execute, load_stage
from archiver.store import SITE, Store, fingerprint

RETRIES = 2
WORKER_TTL = "15 minutes"
CONNECT_TIMEOUT = "20s"


class ClusterError(ArchiverError):
    """The cluster itself failed (no scheduler, the scheduler went away)."""


def task_key(lesson: Lesson) -> str:
    """The task's key: lesson id + the fingerprint of its manifest entry."""
    return f"lesson-{lesson.id}-{fingerprint(dataclasses.asdict(lesson))[:16]}"


@contextmanager
def connect(spec: ClusterSpec) -> Iterator[Any]:
    """A Dask client of the scheduler at `spec.scheduler`, or of a new LocalCluster."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.worker-ttl": WORKER_TTL,
                          "distributed.comm.timeouts.connect": CONNECT_TIMEOUT}):
        if spec.scheduler is not None:
            try:
                client = Client(spec.scheduler,  # type: ignore[no-untyped-call]
                                timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                raise ClusterError(f"cannot reach the Dask scheduler at {spec.scheduler}: "
                                   f"{exc}") from None
            with client:
                yield client
            return
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=spec.workers, threads_per_worker=1, processes=True,
            resources={"ffmpeg": 1}, dashboard_address=None, host="127.0.0.1")
        with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
            yield client


def _replay(log: EventLog, outcome: LessonOutcome) -> None:
    for item in outcome.events:
        fields = dict(item["fields"])
        fields["worker"] = outcome.worker
        log.event(item["level"], item["event"], lesson=item["lesson"], stage=item["stage"],
                  **fields)


def _lost(lesson_id: str, error: BaseException) -> list[StageResult[Details]]:
    """The table row of a lesson whose task failed on the cluster (nothing recorded)."""
    message = str(error) or type(error).__name__
    return [StageResult(stage="cluster", lesson=lesson_id, status="failed", error=message,
                        error_class=type(error).__name__)]


def _interrupted(lesson_id: str) -> list[StageResult[Details]]:
    return [StageResult(stage="cluster", lesson=lesson_id, status="interrupted",
                        error="interrupted; rerun to resume")]


def _stop_on_cancel(client: Any) -> Any:
    """The run's cancel Event and the hook that sets it when this client is cancelled (on a
    thread: the hook runs inside a signal handler, and setting the Event is a network call)."""
    from distributed import Event

    event = Event(f"lesson-archiver-cancel-{uuid.uuid4().hex}",  # type: ignore[no-untyped-call]
                  client=client)
    return event, lambda: threading.Thread(target=event.set, daemon=True).start()


def run_on_cluster(spec: ClusterSpec, lessons: Sequence[Lesson], stages: Sequence[str],
                   store: Store, manifest: Manifest, log: EventLog, options: Options,
                   force: bool = False, debug: bool = False, wait: bool = False
                   ) -> dict[str, list[StageResult[Details]]]:
    """Run the lesson stages of `stages` on the cluster, then the site stages here."""
    lesson_stages = tuple(s for s in stages if s != "publish")
    outcomes: dict[str, list[StageResult[Details]]] = {}
    log.info("cluster", message=f"running {len(lessons)} lessons on {spec.describe()}")
    from archiver.cluster.lock import cluster_run_lock

    try:
        with cluster_run_lock(store), connect(spec) as client:
            shared = client.scatter(manifest, broadcast=True)
            futures: dict[Any, str] = {}
            event, stop = _stop_on_cancel(client)
            with cancel.on_cancel(stop):
                for lesson in lessons:
                    job = LessonJob(lesson=lesson, output=store.root.resolve(),
                                    stages=lesson_stages, options=options, force=force,
                                    debug=debug, cancel_event=event.name)
                    futures[client.submit(run_lesson_job, job, shared, key=task_key(lesson),
                                          retries=RETRIES, resources={"ffmpeg": 1},
                                          pure=False)] = lesson.id
                _collect(client, futures, spec, log, outcomes)
    except (ClusterError, LockError):
        raise
    except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - the scheduler went
        # away mid-run: distributed raises many classes for that, each means the same; after
        # a Ctrl-C (the workers may have had it too) it is the interruption, not a failure
        if not cancel.cancelled():
            raise _gone(spec, exc) from None
    ordered = {lesson.id: outcomes.get(lesson.id) or _interrupted(lesson.id)
               if cancel.cancelled() else outcomes.get(lesson.id, []) for lesson in lessons}
    if not cancel.cancelled():  # a stopped run writes no site, as a local one
        _finish_here(stages, store, manifest, log, options, force, wait, ordered)
    return ordered


def _collect(client: Any, futures: dict[Any, str], spec: ClusterSpec, log: EventLog,
             outcomes: dict[str, list[StageResult[Details]]]) -> None:
    """Each task's results as it finishes (events replayed with the worker's address)."""
    from distributed import as_completed

    for future in as_completed(futures):  # type: ignore[no-untyped-call]
        lesson_id = futures[future]
        try:
            outcome = future.result()
        except (ArchiverError, OSError) as exc:  # e.g. no ffmpeg on any worker
            log.error("failed", lesson=lesson_id, message=str(exc))
            outcomes[lesson_id] = _lost(lesson_id, exc)
            continue
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - a task's
            # exception is whatever the worker raised (KilledWorker, its own errors)
            if cancel.cancelled():
                outcomes[lesson_id] = _interrupted(lesson_id)  # cancelled while queued
                continue
            if client.status != "running" or isinstance(exc, asyncio.CancelledError):
                raise _gone(spec, exc) from None  # futures cancelled with the link
            # a lesson whose workers kept dying (KilledWorker) and the like
            log.error("failed", lesson=lesson_id, message=f"the cluster could not run this "
                      f"lesson: {type(exc).__name__}: {exc}")
            outcomes[lesson_id] = _lost(lesson_id, exc)
            continue
        _replay(log, outcome)
        outcomes[lesson_id] = outcome.results


def _gone(spec: ClusterSpec, exc: BaseException) -> ClusterError:
    return ClusterError(f"the Dask scheduler ({spec.describe()}) went away: "
                        f"{type(exc).__name__}: {exc}; rerun to resume (finished stages are "
                        "kept)")


def _finish_here(stages: Sequence[str], store: Store, manifest: Manifest, log: EventLog,
                 options: Options, force: bool, wait: bool,
                 outcomes: dict[str, list[StageResult[Details]]]) -> None:
    """catalog.json once, then the site stages, under the archive's run lock (short)."""
    from archiver.cluster.lock import site_lock
    from archiver.package import catalog

    del wait  # the site lock always waits (bounded): other clients hold it only briefly
    with site_lock(store):
        if "package" in stages:
            catalog.rebuild(store, manifest)
        ctx = RunContext(store=store, manifest=manifest, log=log, force=force,
                         options=options)
        for name in stages:
            stage = load_stage(name)
            if stage.name == "publish":
                outcomes.setdefault(SITE, []).append(execute(stage, None, ctx))
