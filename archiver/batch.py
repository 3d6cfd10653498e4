"""The batch runner: the lesson stages of many lessons, then the site stages once.

Why apart from archiver.pipeline (one stage, its bookkeeping): how a run spreads lessons over
threads is its own concern. Stages found unchanged are settled in the calling thread
(`unchanged_prefix`): that check is pure Python and only fights for the GIL on worker
threads. Each lesson's chain goes to `ctx.jobs` worker threads from its first stage with
work (`run_deferred`), where it waits on networks, disks and programs. One lesson's failure
never stops the others; `run_lesson` stops that lesson's chain at its first failure; a
cancelled run starts no further stage (archiver.cancel), and what it stopped is
`interrupted` in the outcomes, never recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from archiver import cancel
from archiver.errors import ArchiverError
from archiver.model import Details, Lesson, StageResult
from archiver.pipeline import (
    Context,
    LessonStage,
    Plan,
    SiteStage,
    execute,
    execute_planned,
    interrupted,
    load_stage,
    settle,
)
from archiver.store import SITE


@dataclass(frozen=True)
class Deferred:
    """The rest of a lesson's chain, from the first stage with work, and that stage's plan."""

    stages: list[str]
    plan: Plan[object]


def unchanged_prefix(lesson: Lesson, stages: Sequence[str], ctx: Context
                     ) -> tuple[list[StageResult[Details]], Deferred | None]:
    """The lesson's leading stages that need no work, run here; and what is left to run.

    Why: a rerun of a large archive is mostly stages found unchanged, and that check is pure
    Python (read a record, stat its outputs): on worker threads it only fights for the GIL
    (a 10,000-lesson no-op ran 30 % slower on 2 threads than on 1). So the caller's thread
    runs every stage whose plan ends in reuse, a skip or a failure (each with its normal
    bookkeeping), and only the stages from the first one with work go to the pool, where
    they wait on networks, disks and programs; that stage's plan goes with them, so no
    stage is planned twice. Plans must therefore stay cheap (read records, stat files): a
    slow plan would hold back the lessons after it.
    """
    results: list[StageResult[Details]] = []
    for index, name in enumerate(stages):
        stage = load_stage(name)
        if isinstance(stage, SiteStage):
            continue
        result = settle(stage, lesson, ctx)
        if isinstance(result, Plan):
            return results, Deferred(list(stages[index:]), result)
        results.append(result)
        if result.status in ("failed", "interrupted"):
            break
    return results, None


def run_deferred(lesson: Lesson, rest: Deferred, ctx: Context) -> list[StageResult[Details]]:
    """The work `unchanged_prefix` left (on a worker thread): its first stage from the plan
    made there, then the rest of the chain as `run_lesson` runs it."""
    stage = load_stage(rest.stages[0])
    if isinstance(stage, SiteStage):
        raise ArchiverError(f"stage {stage.name} is a site stage")
    first = execute_planned(stage, lesson, ctx, rest.plan)
    if first.status in ("failed", "interrupted"):
        return [first]
    return [first, *run_lesson(lesson, rest.stages[1:], ctx)]


def run_lesson(lesson: Lesson, stages: Sequence[str], ctx: Context) -> list[StageResult[Details]]:
    """Run the lesson stages of `stages` in order for one lesson; stop at the first failure."""
    results: list[StageResult[Details]] = []
    for name in stages:
        stage = load_stage(name)
        if isinstance(stage, SiteStage):
            continue
        result = execute(stage, lesson, ctx)
        results.append(result)
        if result.status in ("failed", "interrupted"):
            break
    return results


def run_stages(lessons: Sequence[Lesson], stages: Sequence[str],
               ctx: Context) -> dict[str, list[StageResult[Details]]]:
    """Run the lesson stages for every lesson, then the site stages once (under `(site)` in
    the outcomes). Stages found unchanged run in this thread (`unchanged_prefix`); the rest
    of each lesson's chain runs on `ctx.jobs` worker threads (--jobs counts those). An
    unchanged stage's outcome is an outline (`_outline`): read its details from the store."""
    outcomes: dict[str, list[StageResult[Details]]] = {}
    ctx.log.start_progress()
    ctx.run_state["batch"] = True
    try:
        with ThreadPoolExecutor(max_workers=max(1, ctx.jobs)) as pool:
            futures = {}
            for lesson in lessons:
                done, rest = unchanged_prefix(lesson, stages, ctx)
                outcomes[lesson.id] = [_outline(result) for result in done]
                if rest is not None:
                    futures[lesson.id] = pool.submit(run_deferred, lesson, rest, ctx)
            for lesson_id, future in futures.items():
                outcomes[lesson_id] += [_outline(result) for result in future.result()]
    finally:
        ctx.log.stop_progress()
        finish_run(stages, ctx)
    for name in stages:
        stage = load_stage(name)
        if isinstance(stage, SiteStage):
            outcomes.setdefault(SITE, []).append(
                interrupted(name, SITE) if cancel.cancelled() else execute(stage, None, ctx))
    return outcomes


def _outline(result: StageResult[Details]) -> StageResult[Details]:
    """What a batch run's outcomes keep of a stage found unchanged: its status, fingerprint
    and notes, not the record's details and outputs (they stay in the archive, see
    `Store.load_details`). Why: holding every lesson's three records cost ~100 KB per lesson
    (1 GB for 10,000) and made the garbage collector walk all of it again and again."""
    if result.status != "unchanged":
        return result
    return replace(result, details=None, outputs=[], commands=[], tool_versions={})


def finish_run(stages: Sequence[str], ctx: Context) -> None:
    """Each lesson stage's end-of-run bookkeeping (the catalog), once; also after an
    interruption, so what finished is listed."""
    for name in stages:
        stage = load_stage(name)
        if isinstance(stage, LessonStage):
            try:
                stage.finish_run(ctx)
            except (ArchiverError, OSError) as exc:
                ctx.log.error("failed", stage=stage.name, message=f"after the run: {exc}")


def any_interrupted(outcomes: dict[str, list[StageResult[Details]]]) -> bool:
    return any(r.status == "interrupted" for results in outcomes.values() for r in results)


def any_failed(outcomes: dict[str, list[StageResult[Details]]]) -> bool:
    return any(r.status == "failed" for results in outcomes.values() for r in results)
