"""Run stages over lessons: concurrently, independently, resumably.

A stage is a function `run(lesson, ctx) -> StageResult` (see `STAGES`). It must be
idempotent: when `ctx.store.reusable(...)` finds a result computed from the same inputs, it
returns that result (status "unchanged") without work. One lesson's failure never stops the
others; the run ends with a table of every lesson's outcome.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.errors import ArchiverError
from archiver.log import EventLog
from archiver.model import Lesson, Manifest, StageResult, utcnow
from archiver.store import Store

Stage = Callable[[Lesson, "Context"], StageResult]

# stage name -> "module:function"; imported lazily so `archiver status` stays fast
STAGES: dict[str, str] = {
    "fetch": "archiver.fetch.stage:run",
    "subtitles": "archiver.subtitles.stage:run",
    "package": "archiver.package.stage:run",
}
ARCHIVE_CHAIN = ("fetch", "subtitles", "package")


@dataclass
class Context:
    """Everything a stage may use besides its lesson."""

    store: Store
    manifest: Manifest
    log: EventLog
    jobs: int = 2
    force: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> Path:
        return self.store.root


def load_stage(name: str) -> Stage:
    module_name, _, func = STAGES[name].partition(":")
    stage: Stage = getattr(importlib.import_module(module_name), func)
    return stage


def run_lesson(lesson: Lesson, stages: Sequence[str], ctx: Context) -> list[StageResult]:
    """Run `stages` in order for one lesson; stop at the first failure."""
    results: list[StageResult] = []
    for name in stages:
        started = utcnow()
        ctx.log.debug("stage-start", lesson=lesson.id, stage=name)
        try:
            result = load_stage(name)(lesson, ctx)
        except ArchiverError as exc:
            ctx.log.error("failed", lesson=lesson.id, stage=name, message=str(exc))
            ctx.log.debug("traceback", lesson=lesson.id, stage=name,
                          message=traceback.format_exc())
            result = StageResult(stage=name, lesson=lesson.id, status="failed",
                                 started=started, ended=utcnow(), error=str(exc))
            ctx.store.save_result(result)
        except Exception as exc:  # a bug: keep the other lessons going, show it with --debug
            ctx.log.error("crashed", lesson=lesson.id, stage=name,
                          message=f"{type(exc).__name__}: {exc} (rerun with --debug for details)")
            ctx.log.debug("traceback", lesson=lesson.id, stage=name,
                          message=traceback.format_exc())
            result = StageResult(stage=name, lesson=lesson.id, status="failed",
                                 started=started, ended=utcnow(),
                                 error=f"internal error: {type(exc).__name__}: {exc}")
        results.append(result)
        if result.status == "failed":
            break
    return results


def run_stages(lessons: Sequence[Lesson], stages: Sequence[str],
               ctx: Context) -> dict[str, list[StageResult]]:
    """Run the stage chain for every lesson, `ctx.jobs` lessons at a time."""
    outcomes: dict[str, list[StageResult]] = {}
    ctx.log.start_progress()
    try:
        with ThreadPoolExecutor(max_workers=max(1, ctx.jobs)) as pool:
            futures = {lesson.id: pool.submit(run_lesson, lesson, stages, ctx)
                       for lesson in lessons}
            for lesson_id, future in futures.items():
                outcomes[lesson_id] = future.result()
    finally:
        ctx.log.stop_progress()
    return outcomes


def any_failed(outcomes: dict[str, list[StageResult]]) -> bool:
    return any(r.status == "failed" for results in outcomes.values() for r in results)
