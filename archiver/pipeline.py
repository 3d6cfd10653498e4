"""The runner: stages over lessons (and the site), concurrently, independently, resumably.

A stage (`LessonStage` or `SiteStage`) provides only its own part: its name, a `plan` (the
fingerprint of its inputs, or a `Skip` saying why there is nothing to do) and its `work`
(returning a `Done`: details, outputs, commands, warnings). The runner owns the bookkeeping
every stage used to repeat:
- reuse: a recorded success from the same fingerprint whose outputs are intact is returned as
  `unchanged` without work (`--force` bypasses it; a stage may refine the check, `reuse`);
- records: it saves the success, the skip and the failure, crashes (unexpected exceptions)
  included, with the exception's class in `error_class`, so `status` and the catalog never go
  on showing a success after a failed run;
- times: `started`/`ended` of every record;
- tool versions: probed once per run (`ctx.tools`), recorded in every record that used them;
- events: `stage-start` (debug), `unchanged`, `skipped`, `failed`/`crashed` with the
  traceback as a debug event.
A cancelled stage (SIGINT/SIGTERM, archiver.cancel) is `interrupted` and nothing is
recorded for it, so the earlier record stays and the next run resumes. Many lessons, spread
over threads, are archiver.batch's concern; it settles stages found unchanged before any work
(`settle`) and hands the work on with its plan (`execute_planned`).
The stage registry is `STAGES` (imported lazily so `archiver status` stays fast);
`archive` runs `ARCHIVE_CHAIN`, whose site stage (publish) runs once after the lessons.
"""

from __future__ import annotations

import functools
import importlib
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from archiver import cancel
from archiver.errors import ArchiverError
from archiver.log import EventLog
from archiver.model import Details, Lesson, Manifest, Output, StageResult, utcnow
from archiver.options import Options
from archiver.store import SITE, Store
from archiver.tools import ToolVersions

D = TypeVar("D", bound=Details)
T = TypeVar("T")

# stage name -> "module:attribute" of its stage object
STAGES: dict[str, str] = {
    "fetch": "archiver.fetch.stage:FETCH",
    "subtitles": "archiver.subtitles.stage:SUBTITLES",
    "package": "archiver.package.stage:PACKAGE",
    "publish": "archiver.publish.command:PUBLISH",
}
LESSON_CHAIN = ("fetch", "subtitles", "package")
ARCHIVE_CHAIN = (*LESSON_CHAIN, "publish")


@dataclass
class Context:
    """Everything a stage may use besides its lesson: one per run."""

    store: Store
    manifest: Manifest
    log: EventLog
    jobs: int = 2
    force: bool = False
    options: Options = field(default_factory=Options)
    tools: ToolVersions = field(default_factory=ToolVersions)
    # what stages keep for the length of one run (the package stage's catalog.Book);
    # "batch" is set while run_stages runs many lessons (writes may then be deferred)
    run_state: dict[str, object] = field(default_factory=dict)

    @property
    def output(self) -> Path:
        return self.store.root


@dataclass(frozen=True)
class Skip:
    """Nothing to do, and why (logged as `skipped`; `warning` goes into the record)."""

    reason: str
    warning: str | None = None
    details: Details | None = None


@dataclass(frozen=True)
class Plan(Generic[T]):
    """What a stage found before any work: the fingerprint of its inputs (or a skip), and
    the inputs it gathered, handed to its `work`."""

    fingerprint: str = ""
    inputs: T | None = None
    skip: Skip | None = None

    @property
    def ready(self) -> T:
        """The gathered inputs (a planned, not skipped, stage always has them)."""
        if self.inputs is None:
            raise ArchiverError("the stage planned no inputs for its work")
        return self.inputs


@dataclass
class Done(Generic[D]):
    """What a stage's work made. `tools`: the tools it used (None: the stage's own list);
    `versions`: versions known without probing (e.g. a code version)."""

    details: D
    outputs: list[Output] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tools: Sequence[str] | None = None
    versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Kept:
    """What a failure leaves in place of an earlier result (the package stage's intact
    package): kept in the failure record, so readers keep pointing at it."""

    details: Details | None = None
    outputs: list[Output] = field(default_factory=list)


class StageBase(Generic[D, T]):
    """What lesson and site stages share: name, tools, and the hooks with their defaults."""

    name: str = ""
    tools: tuple[str, ...] = ()
    unchanged_event = "unchanged"
    failure_note = ""

    def reuse(self, lesson_id: str, ctx: Context, plan: Plan[T]) -> StageResult[D] | None:
        """The earlier success to reuse instead of working (default: the recorded success
        from the same fingerprint, outputs intact). When it is not the recorded result (the
        package stage's kept package after a failure), the runner records it."""
        previous = ctx.store.reusable(lesson_id, self.name, plan.fingerprint)
        return cast("StageResult[D] | None", previous)  # this stage's own record type

    def kept(self, lesson_id: str, ctx: Context) -> Kept | None:
        """What an earlier success leaves in place when this run fails (default: nothing)."""
        del lesson_id, ctx
        return None

    def finish(self, lesson_id: str, ctx: Context) -> None:
        """Runs after every outcome was recorded (the package stage updates the lesson's
        catalog entry)."""
        del lesson_id, ctx

    def finish_run(self, ctx: Context) -> None:
        """Runs once after all lessons of a run (the package stage writes its catalog)."""
        del ctx


class LessonStage(StageBase[D, T]):
    """A stage run once per lesson."""

    def plan(self, lesson: Lesson, ctx: Context) -> Plan[T]:
        raise NotImplementedError

    def work(self, lesson: Lesson, ctx: Context, plan: Plan[T]) -> Done[D]:
        raise NotImplementedError


class SiteStage(StageBase[D, T]):
    """A stage run once per run, for the whole archive (publish); its records' lesson is
    `(site)` and they live in `reports/<name>.json`."""

    def plan(self, ctx: Context) -> Plan[T]:
        raise NotImplementedError

    def work(self, ctx: Context, plan: Plan[T]) -> Done[D]:
        raise NotImplementedError


AnyStage = LessonStage[Details, object] | SiteStage[Details, object]


def load_stage(name: str) -> AnyStage:
    module_name, _, attribute = STAGES[name].partition(":")
    stage: AnyStage = getattr(importlib.import_module(module_name), attribute)
    return stage


# -- one stage, one lesson ---------------------------------------------------------------
def run_stage(stage: LessonStage[D, T], lesson: Lesson, ctx: Context) -> StageResult[D]:
    """Run a lesson stage with full bookkeeping; after recording a failure, raise it."""
    result, error = _run(stage, lesson.id, ctx, lambda: stage.plan(lesson, ctx),
                         lambda plan: stage.work(lesson, ctx, plan))
    if error is not None:
        raise error
    return result


def run_site_stage(stage: SiteStage[D, T], ctx: Context) -> StageResult[D]:
    """Run a site stage with full bookkeeping; a failure is recorded and returned, not
    raised (the previous site stays in place)."""
    result, _error = _run(stage, SITE, ctx, lambda: stage.plan(ctx),
                          lambda plan: stage.work(ctx, plan))
    return result


def execute(stage: AnyStage, lesson: Lesson | None, ctx: Context) -> StageResult[Details]:
    """Run any stage; failures are recorded (and logged) and returned, never raised."""
    if isinstance(stage, SiteStage):
        return run_site_stage(stage, ctx)
    if lesson is None:
        raise ArchiverError(f"stage {stage.name} needs a lesson")
    result, _error = _run(stage, lesson.id, ctx, lambda: stage.plan(lesson, ctx),
                          lambda plan: stage.work(lesson, ctx, plan))
    return result


def _run(stage: StageBase[D, T], lesson_id: str, ctx: Context,
         plan_of: Callable[[], Plan[T]], work_of: Callable[[Plan[T]], Done[D]],
         announce: bool = True) -> tuple[StageResult[D], Exception | None]:
    started = utcnow()
    where = _where(lesson_id)
    if announce:  # not again for work deferred from `unchanged_prefix`, which announced it
        ctx.log.debug("stage-start", lesson=where, stage=stage.name)
    try:
        cancel.check(f"before {stage.name}")
        result = _outcome(stage, lesson_id, ctx, started, plan_of, work_of)
    except _Deferred:
        raise
    except cancel.Interrupted as exc:  # not a failure: nothing recorded, the next run resumes
        ctx.log.warning("interrupted", lesson=where, stage=stage.name, message=exc.message)
        return interrupted(stage.name, lesson_id, started), None
    except Exception as exc:  # a crash too: recorded and logged (BLE001 waived in pyproject)
        failed = _failure(stage, lesson_id, ctx, started, exc)
        _finish(stage, lesson_id, ctx)
        return failed, exc
    _finish(stage, lesson_id, ctx)
    return result, None


def _outcome(stage: StageBase[D, T], lesson_id: str, ctx: Context, started: str,
             plan_of: Callable[[], Plan[T]], work_of: Callable[[Plan[T]], Done[D]]
             ) -> StageResult[D]:
    where = _where(lesson_id)
    plan = plan_of()
    if plan.skip is not None:
        ctx.log.warning("skipped", lesson=where, stage=stage.name, message=plan.skip.reason)
        skipped: StageResult[D] = StageResult(
            stage=stage.name, lesson=lesson_id, status="skipped", fingerprint=plan.fingerprint,
            started=started, ended=utcnow(), warnings=[plan.skip.warning or plan.skip.reason],
            details=plan.skip.details)  # type: ignore[arg-type]
        ctx.store.save_result(skipped)
        return skipped
    if not ctx.force and (previous := stage.reuse(lesson_id, ctx, plan)) is not None:
        if ctx.store.load_result(lesson_id, stage.name) != previous:
            ctx.store.save_result(previous)  # reused from elsewhere (a kept package): record it
        ctx.log.info(stage.unchanged_event, lesson=where, stage=stage.name)
        return replace(previous, status="unchanged")
    done = work_of(plan)
    tools = stage.tools if done.tools is None else done.tools
    result: StageResult[D] = StageResult(
        stage=stage.name, lesson=lesson_id, status="ok", fingerprint=plan.fingerprint,
        outputs=done.outputs, commands=done.commands,
        tool_versions={**done.versions, **ctx.tools.versions(tools)}, started=started,
        ended=utcnow(), warnings=done.warnings, details=done.details)
    ctx.store.save_result(result)
    return result


def interrupted(stage: str, lesson_id: str, started: str | None = None
                ) -> StageResult[D]:
    """The outcome of a stage a cancelled run stopped or never started (never saved)."""
    now = utcnow()
    return StageResult(stage=stage, lesson=lesson_id, status="interrupted",
                       started=started or now, ended=now,
                       warnings=["interrupted; rerun to resume"])


def _failure(stage: StageBase[D, T], lesson_id: str, ctx: Context, started: str,
             exc: Exception) -> StageResult[D]:
    """Log and record a failed run; an unexpected exception is a crash (a bug). What an
    earlier success left in place (`Stage.kept`, read before this record replaces it) stays
    in the failure record."""
    where = _where(lesson_id)
    if isinstance(exc, ArchiverError):
        error = str(exc)
        ctx.log.error("failed", lesson=where, stage=stage.name, message=error + stage.failure_note)
    else:
        error = f"internal error: {type(exc).__name__}: {exc}"
        ctx.log.error("crashed", lesson=where, stage=stage.name,
                      message=f"{type(exc).__name__}: {exc} (rerun with --debug for details)")
    ctx.log.debug("traceback", lesson=where, stage=stage.name, message=traceback.format_exc())
    try:
        kept = stage.kept(lesson_id, ctx)
    except (ArchiverError, OSError):
        kept = None
    failed: StageResult[D] = StageResult(
        stage=stage.name, lesson=lesson_id, status="failed", started=started, ended=utcnow(),
        error=error, error_class=type(exc).__name__,
        details=kept.details if kept else None,  # type: ignore[arg-type]
        outputs=list(kept.outputs) if kept else [])
    try:
        ctx.store.save_result(failed)
    except OSError as save_error:  # e.g. the disk that failed the stage is full
        ctx.log.warning("not recorded", lesson=where, stage=stage.name,
                        message=f"the failure could not be recorded: {save_error}")
    return failed


def _finish(stage: StageBase[D, T], lesson_id: str, ctx: Context) -> None:
    try:
        stage.finish(lesson_id, ctx)
    except (ArchiverError, OSError) as exc:
        ctx.log.error("failed", lesson=_where(lesson_id), stage=stage.name,
                      message=f"after the stage: {exc}")


def _where(lesson_id: str) -> str | None:
    """The `lesson` field of log events: none for site stages."""
    return None if lesson_id == SITE else lesson_id


# -- checked before work (the batch runner, archiver.batch) --------------------------------
class _Deferred(Exception):
    """Raised in place of a stage's work by `settle`: the stage has work to do (`plan`)."""

    def __init__(self, plan: Plan[Any]) -> None:
        super().__init__("deferred")
        self.plan = plan


def settle(stage: LessonStage[D, T], lesson: Lesson, ctx: Context
           ) -> StageResult[D] | Plan[T]:
    """The stage's outcome when it needs no work (reused, skipped, or its plan failed: each
    recorded and logged as `execute` does), else its plan, with nothing recorded yet: the
    work is for `execute_planned`, wherever the caller wants it to run."""
    def defer(plan: Plan[T]) -> Done[D]:
        raise _Deferred(plan)

    try:
        result, _error = _run(stage, lesson.id, ctx, functools.partial(stage.plan, lesson, ctx),
                              defer)
    except _Deferred as deferred:
        return cast("Plan[T]", deferred.plan)
    return result


def execute_planned(stage: LessonStage[D, T], lesson: Lesson, ctx: Context,
                    plan: Plan[T]) -> StageResult[D]:
    """Run a stage's work from the plan `settle` made (not planned again, not announced
    again); bookkeeping as `execute`."""
    result, _error = _run(stage, lesson.id, ctx, lambda: plan,
                          lambda planned: stage.work(lesson, ctx, planned), announce=False)
    return result
