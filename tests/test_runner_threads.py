"""Where the runner runs what: stages found unchanged in the caller's thread, work on the pool.

Why it matters: checking that a stage is unchanged is pure Python (read a record, stat its
outputs), so on worker threads it only fights for the GIL; work waits on networks, disks and
programs, so it belongs on the pool. The stages here are two small registered stages with
real records in a real archive folder: what is checked is the runner's own contract (the
split, the outcomes in lesson order, the records, the outlines of unchanged stages).
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from archiver import cancel, pipeline
from archiver.batch import run_stages
from archiver.errors import ArchiverError
from archiver.log import EventLog
from archiver.model import Bilingual, Details, Lesson, Manifest, Output, Series, Source, records
from archiver.pipeline import Context, Done, LessonStage, Plan
from archiver.store import Store, fingerprint


@dataclass
class ToyDetails(Details):
    STAGE: ClassVar[str] = "toya"
    made_by: str = ""


@dataclass
class ToyBDetails(Details):
    STAGE: ClassVar[str] = "toyb"
    made_by: str = ""


class Toy(LessonStage[Details, str]):
    """Writes one file per lesson; its fingerprint is `version[lesson]` (default 1)."""

    def __init__(self, name: str, kind: type[ToyDetails] | type[ToyBDetails]) -> None:
        self.name, self.kind = name, kind
        self.version: dict[str, int] = {}
        self.planned_in: list[str] = []
        self.worked_in: dict[str, str] = {}
        self.broken: set[str] = set()

    def plan(self, lesson: Lesson, ctx: Context) -> Plan[str]:
        self.planned_in.append(threading.current_thread().name)
        if lesson.id in self.broken:
            raise ArchiverError(f"{self.name} cannot plan {lesson.id}")
        return Plan(fingerprint(self.name, self.version.get(lesson.id, 1)), lesson.id)

    def work(self, lesson: Lesson, ctx: Context, plan: Plan[str]) -> Done[Details]:
        self.worked_in[lesson.id] = threading.current_thread().name
        folder = ctx.store.lesson_dir(lesson.id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{self.name}.txt").write_text(plan.fingerprint, "utf-8")
        return Done(self.kind(made_by=self.worked_in[lesson.id]),
                    outputs=[Output(f"{self.name}.txt", len(plan.fingerprint), "0" * 64)])


@pytest.fixture
def toys(monkeypatch: pytest.MonkeyPatch) -> tuple[Toy, Toy]:
    a, b = Toy("toya", ToyDetails), Toy("toyb", ToyBDetails)
    for toy in (a, b):
        monkeypatch.setitem(pipeline.STAGES, toy.name, f"{__name__}:_{toy.name[-1]}")
        monkeypatch.setitem(records.DETAILS, toy.name, toy.kind)
    monkeypatch.setattr(f"{__name__}._a", a, raising=False)
    monkeypatch.setattr(f"{__name__}._b", b, raising=False)
    return a, b


def _context(root: Path, lessons: list[Lesson]) -> Context:
    manifest = Manifest(path=root / "m.toml", series=Series("s", Bilingual("S"), Bilingual()),
                        lessons=tuple(lessons))
    return Context(store=Store(root), manifest=manifest,
                   log=EventLog(stream=None, progress=False), jobs=2)


LESSONS = [Lesson(id=f"l{i}", number=i, title=Bilingual(f"L{i}"),
                  sources=(Source(url=f"https://127.0.0.1/{i}"),)) for i in range(1, 5)]


def _statuses(outcomes: dict[str, list[records.StageResult[Details]]]) -> dict[str, list[str]]:
    return {lesson_id: [r.status for r in results] for lesson_id, results in outcomes.items()}


def test_work_runs_on_the_pool_and_unchanged_stages_in_the_callers_thread(
        tmp_path: Path, toys: tuple[Toy, Toy]) -> None:
    a, b = toys
    ctx = _context(tmp_path, LESSONS)
    caller = threading.current_thread().name
    first = run_stages(LESSONS, ["toya", "toyb"], ctx)
    assert _statuses(first) == {item.id: ["ok", "ok"] for item in LESSONS}
    assert caller not in {*a.worked_in.values(), *b.worked_in.values()}
    assert first["l1"][1].details == ToyBDetails(made_by=b.worked_in["l1"])  # work: in full

    for toy in toys:
        toy.planned_in.clear()
        toy.worked_in.clear()
    again = run_stages(LESSONS, ["toya", "toyb"], ctx)
    assert _statuses(again) == {item.id: ["unchanged", "unchanged"] for item in LESSONS}
    assert set(a.planned_in) == set(b.planned_in) == {caller}
    assert not a.worked_in and not b.worked_in
    # an unchanged stage's outcome is an outline: status and fingerprint, the rest on disk
    outline = again["l2"][0]
    assert outline.details is None and outline.outputs == []
    assert outline.fingerprint == first["l2"][0].fingerprint
    recorded = ctx.store.load_result("l2", "toya")
    assert recorded is not None and recorded.details == first["l2"][0].details


def test_a_lesson_goes_to_the_pool_from_its_first_stage_with_work(
        tmp_path: Path, toys: tuple[Toy, Toy]) -> None:
    a, b = toys
    ctx = _context(tmp_path, LESSONS)
    run_stages(LESSONS, ["toya", "toyb"], ctx)
    for toy in toys:
        toy.planned_in.clear()
        toy.worked_in.clear()
    b.version["l3"] = 2  # only l3's second stage has new inputs
    a.version["l4"] = 2  # l4's first stage has: both run again (b's inputs did not change)
    (ctx.store.lesson_dir("l2") / "toyb.txt").unlink()  # l2: an output is gone
    outcomes = run_stages(LESSONS, ["toya", "toyb"], ctx)
    assert list(outcomes) == ["l1", "l2", "l3", "l4"]  # lesson order, whatever ran where
    assert _statuses(outcomes) == {"l1": ["unchanged", "unchanged"],
                                   "l2": ["unchanged", "ok"], "l3": ["unchanged", "ok"],
                                   "l4": ["ok", "unchanged"]}
    caller = threading.current_thread().name
    assert set(b.worked_in) == {"l2", "l3"} and set(a.worked_in) == {"l4"}
    assert caller not in {*a.worked_in.values(), *b.worked_in.values()}
    assert (ctx.store.lesson_dir("l2") / "toyb.txt").is_file()
    # each stage was planned once per lesson: a stage with work in the caller (its plan went
    # to the worker), a stage after one with work on the worker (l4's second)
    assert len(a.planned_in) == len(b.planned_in) == 4
    assert a.planned_in.count(caller) == 4 and b.planned_in.count(caller) == 3
    # ... and an unchanged stage after one with work is an outline too
    assert outcomes["l4"][1].details is None and outcomes["l4"][0].details is not None


def test_a_cancel_during_the_callers_checks_interrupts_the_rest_and_records_nothing(
        tmp_path: Path, toys: tuple[Toy, Toy], monkeypatch: pytest.MonkeyPatch) -> None:
    a, _b = toys
    ctx = _context(tmp_path, LESSONS)
    run_stages(LESSONS[:1], ["toya", "toyb"], ctx)  # l1 done; l2..l4 have work
    records = {item.id: ctx.store.record_path(item.id, "toya") for item in LESSONS}
    plan = a.plan

    def plan_then_cancel(lesson: Lesson, context: Context) -> Plan[str]:
        if lesson.id == "l2":
            cancel.cancel(signal.SIGINT)  # Ctrl-C while the caller checks l2
        return plan(lesson, context)

    monkeypatch.setattr(a, "plan", plan_then_cancel)
    try:
        outcomes = run_stages(LESSONS, ["toya", "toyb"], ctx)
    finally:
        cancel.reset()
    assert _statuses(outcomes)["l1"] == ["unchanged", "unchanged"]
    assert all(_statuses(outcomes)[item] == ["interrupted"] for item in ("l3", "l4"))
    assert "interrupted" in _statuses(outcomes)["l2"]
    assert not any(records[item].exists() for item in ("l2", "l3", "l4"))  # nothing recorded


def test_a_plan_that_fails_in_the_callers_thread_is_recorded_and_stops_that_lesson_only(
        tmp_path: Path, toys: tuple[Toy, Toy]) -> None:
    a, _b = toys
    ctx = _context(tmp_path, LESSONS)
    run_stages(LESSONS, ["toya", "toyb"], ctx)
    a.broken.add("l2")
    outcomes = run_stages(LESSONS, ["toya", "toyb"], ctx)
    assert [r.status for r in outcomes["l2"]] == ["failed"]
    assert outcomes["l2"][0].error == "toya cannot plan l2"
    saved = ctx.store.load_result("l2", "toya")
    assert saved is not None and saved.status == "failed"
    assert all(_statuses(outcomes)[item] == ["unchanged", "unchanged"]
               for item in ("l1", "l3", "l4"))

