"""Crash safety of the whole pipeline: `archiver archive` SIGKILLed at random moments.

Each trial starts from an empty output folder, runs the real command in a child process on the
short demo lesson, kills its whole process group (SIGKILL: no cleanup code runs, as on a power
cut) at a random delay after a chosen phase starts (fetch, subtitles, mux, bagging; one during
publish and one killed twice in a row; four kill the archiver process alone, as `kill -9 <pid>`
or the OOM killer would: ffmpeg and the bagit child run in process groups of their own (issue
15, archiver.cancel) but are SIGKILLed with the archiver, so no orphan races the rerun),
reruns it to completion, and then checks what an archivist would (a second test aims at the
instant the finished bag is renamed into place):

- `archiver verify` passes;
- exactly one package exists (none missing, no duplicate version made by the rerun);
- no temporary file sits in `packages/` and no staging folder survives the rerun
  (docs/DESIGN.md: "nothing half-written under a final name, ever"; package/bag.py: a crash
  "leaves at most a .tmp- folder outside packages/, which the next run removes"). Temporary
  files of killed atomic writes elsewhere are allowed (DESIGN.md promises no final name, not a
  sweep) and are listed in the summary;
- every final file equals the uninterrupted run's (stress_support.archive_fingerprint: exact
  bytes, media streams, or completeness for files that carry the time of the run), and the
  catalog's digests match the files.

The RNG seed is fixed (417174) and printed, so every run, CI or not, plays the same plan (the
kill instants still vary with load); ARCHIVER_STRESS_SEED=<seed> plays another plan, to explore
new moments or repeat a printed one.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from stress_support import (
    LESSON_ID,
    PHASE_ORDER,
    archive_fingerprint,
    archiver_argv,
    catalog_problems,
    compare,
    end_orphans,
    group_members,
    json_events,
    make_short_demo,
    packages,
    run_archiver,
    temp_leftovers,
    verify,
    watch,
)

from archiver.demo.command import DemoSetup, serving

pytestmark = pytest.mark.slow  # about 30 killed and rerun `archive` runs

SEED = 417174
MAIN_PHASES = ("fetch", "subtitles", "mux", "bagging")
PER_PHASE = 5
NEXT = {"fetch": "subtitles", "subtitles": "package-prep", "mux": "bagging",
        "bagging": "rename", "publish": "end"}


@dataclass
class Trial:
    number: int
    phase: str
    delay: float
    second_kill: float | None = None
    group: bool = True  # False: only the archiver process is killed; its children run on
    killed_in: str | None = None
    exit_code: int | None = None
    problems: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    orphans: int = 0

    def line(self) -> str:
        second = f" then at {self.second_kill:.3f}s" if self.second_kill is not None else ""
        where = self.killed_in or "not killed (run ended first)"
        where += "" if self.group else f" (main process only; orphans: {self.orphans})"
        return (f"#{self.number:02d} {self.phase:>9} +{self.delay:.3f}s{second}: killed in "
                f"{where}; {'OK' if not self.problems else '; '.join(self.problems)}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoSetup, Path]]:
    setup = make_short_demo(tmp_path_factory.mktemp("crash"))
    with serving(setup, port=0) as (_server, manifest):
        yield setup, manifest


def _argv(manifest: Path, output: Path) -> list[str]:
    return archiver_argv("archive", "--manifest", str(manifest), "--output", str(output),
                         "--json-log", "--jobs", "1", "--timeout", "10", "--retries", "2")


def _plan(rng: random.Random, windows: dict[str, float]) -> list[Trial]:
    # 0.9 of the window: a run a little faster than the uninterrupted one still gets killed
    # in the phase, not in the next (the bag-rename window has its own test below)
    trials = [Trial(0, phase, rng.uniform(0.0, 0.9 * windows[phase]))
              for phase in MAIN_PHASES for _ in range(PER_PHASE)]
    trials.append(Trial(0, "publish", rng.uniform(0.0, windows["publish"])))
    # killed during mux, then the rerun killed too (anywhere), then a rerun to completion
    trials.append(Trial(0, "mux", rng.uniform(0.0, 0.9 * windows["mux"]),
                        second_kill=rng.uniform(0.0, windows["total"])))
    # `kill -9` of the archiver alone: ffmpeg or the bagit child finish on their own, racing
    # the rerun (which removes their staging folder)
    trials += [Trial(0, phase, rng.uniform(0.0, 0.9 * windows[phase]), group=False)
               for phase in ("mux", "bagging") for _ in range(2)]
    rng.shuffle(trials)
    for number, trial in enumerate(trials, 1):
        trial.number = number
    return trials


def _audit(output: Path, reference: dict[str, str]) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    checked = verify(output)
    if checked.returncode != 0:
        problems.append(f"verify exit {checked.returncode}: "
                        f"{(checked.stdout + checked.stderr).strip()[-600:]}")
    found = packages(output)
    if found != [f"packages/{LESSON_ID}"]:
        problems.append(f"packages missing or duplicated: {found}")
    leftovers = temp_leftovers(output)
    for rel in leftovers:
        if rel.startswith("packages/") or "/package/.bag.tmp-" in rel:
            problems.append(f"temporary file left where it must not be: {rel}")
    problems += compare(reference, archive_fingerprint(output))
    problems += catalog_problems(output, [LESSON_ID])
    return problems, leftovers


def _run_trial(trial: Trial, manifest: Path, output: Path, reference: dict[str, str]) -> None:
    killed = watch(_argv(manifest, output), output, kill_phase=trial.phase, delay=trial.delay,
                   group=trial.group)
    trial.killed_in = killed.killed_in
    if not trial.group:
        trial.orphans = len(group_members(killed.pid))  # still running as the rerun starts
    if killed.killed_at is None and killed.code != 0:
        trial.problems.append(f"the run to be killed failed by itself: exit {killed.code}: "
                              f"{killed.stderr.strip()[-400:]}")
    if trial.second_kill is not None:
        again = watch(_argv(manifest, output), output, kill_phase="start",
                      delay=trial.second_kill)
        trial.killed_in = (f"{trial.killed_in}, then the rerun "
                           + ("killed too" if again.killed_at is not None else "ended first"))
    rerun = run_archiver(*_argv(manifest, output)[3:])
    if not trial.group:
        end_orphans(killed.pid)  # bounded; before the audit looks at the folder
    trial.exit_code = rerun.returncode
    if rerun.returncode != 0:
        trial.problems.append(f"rerun exit {rerun.returncode}: {rerun.stdout.strip()[-600:]} "
                              f"{rerun.stderr.strip()[-600:]}")
    crashed = [e for e in json_events(rerun.stderr) if e["level"] == "error"]
    if crashed:
        trial.problems.append(f"rerun logged errors: {crashed}")
    problems, trial.leftovers = _audit(output, reference)
    trial.problems += problems


@pytest.mark.slow
@pytest.mark.timeout(1200)  # hang bound: 27 full runs, ~4 min unloaded, 12 on a busy box
def test_sigkill_at_random_moments_then_rerun_gives_the_same_archive(
        served: tuple[DemoSetup, Path], tmp_path: Path) -> None:
    _setup, manifest = served
    # one known plan everywhere: a failure is repeated by rerunning the test, and a green run
    # is not luck of the draw (other plans: ARCHIVER_STRESS_SEED)
    seed = int(os.environ.get("ARCHIVER_STRESS_SEED", SEED))
    print(f"crash trials: seed {seed} (ARCHIVER_STRESS_SEED={seed} repeats them)")
    rng = random.Random(seed)

    first = tmp_path / "uninterrupted"
    base = watch(_argv(manifest, first), first)
    assert base.code == 0, base.stdout + base.stderr
    assert [p for p in PHASE_ORDER if p not in base.seen] == [], base.seen
    seen = {**base.seen, "end": base.seconds}
    windows = {phase: max(0.005, seen[NEXT[phase]] - seen[phase]) for phase in NEXT}
    windows["total"] = base.seconds
    reference = archive_fingerprint(first)
    problems, leftovers = _audit(first, reference)
    assert problems == [] and leftovers == [], problems + leftovers

    trials = _plan(rng, windows)
    for trial in trials:
        _run_trial(trial, manifest, tmp_path / f"trial-{trial.number:02d}", reference)
        print(trial.line())
    leftovers = sorted({x for t in trials for x in t.leftovers})
    print(f"temporary leftovers (allowed outside packages/): {', '.join(leftovers) or 'none'}")
    summary = "\n".join([f"seed {seed}; phase windows (s) of the uninterrupted run: "
                         + ", ".join(f"{k} {v:.3f}" for k, v in windows.items()),
                         *(t.line() for t in trials), f"temporary leftovers: {leftovers}"])
    assert not [t for t in trials if t.problems], summary
    killed = [t for t in trials if t.killed_in is not None]
    assert len(killed) >= 20, summary
    for phase in MAIN_PHASES:  # the kills really are spread over the four phases
        landed = [t for t in trials if t.phase == phase and (t.killed_in or "").startswith(phase)]
        assert len(landed) >= 3, f"only {len(landed)} kills landed in {phase}\n{summary}"


def test_kill_right_after_the_bag_is_renamed_into_place_makes_no_second_version(
        served: tuple[DemoSetup, Path], tmp_path: Path) -> None:
    """The window between `bag.publish` (packages/<id>/ renamed into place) and the package
    stage's state record: killed there, the rerun finds no record, so it must recognise the
    package it already made (same inputs) instead of building a second, identical version and
    moving the first to packages/.versions/ (issue 7: "no package is missing or duplicated").
    """
    _setup, manifest = served

    def record(output: Path) -> Path:
        return output / "lessons" / LESSON_ID / "state" / "package.json"

    for attempt in range(3):  # the window is ~10 ms; retry if the kill came too late
        output = tmp_path / f"attempt-{attempt}"
        killed = watch(_argv(manifest, output), output, kill_phase="rename", delay=0.0)
        assert killed.killed_at is not None, killed.stdout + killed.stderr
        if not record(output).exists():
            print(f"rename window: hit by random kill {attempt + 1}")
            break
    else:
        # a loaded machine missed the window three times: widen it rather than skip, by
        # holding the run 20 s inside the rename that puts the bag in place, then killing it
        output = tmp_path / "held"
        _kill_held_after_rename(manifest, output)
        print("rename window: missed by 3 random kills, hit in the window widened by strace")
        assert not record(output).exists(), \
            "the package's state record was written although the run was held in the rename"
    assert packages(output) == [f"packages/{LESSON_ID}"]
    rerun = run_archiver(*_argv(manifest, output)[3:])
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert verify(output).returncode == 0
    assert packages(output) == [f"packages/{LESSON_ID}"], (
        "the rerun built a second version of an unchanged package: "
        f"{packages(output)}")


def _kill_held_after_rename(manifest: Path, output: Path) -> None:
    """Run `archive` under strace, which holds it 20 s just after any rename that touches
    packages/<id> returns (the bag now in place, its state record not yet written), and kill
    the whole group there. strace is a test tool (`make test-tools`): without it this fails."""
    assert shutil.which("strace"), "the rename window needs strace (apt-get install strace)"
    current = output / "packages" / LESSON_ID
    held = ["strace", "-f", "-qq", "-o", "/dev/null", "-P", str(current), "-e",
            "trace=rename,renameat,renameat2", "-e",
            "inject=rename,renameat,renameat2:delay_exit=20000000", *_argv(manifest, output)]
    process = subprocess.Popen(held, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # hang detection only: a run takes ~15 s
        while (not (current / "bagit.txt").is_file() and process.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.002)
        assert (current / "bagit.txt").is_file(), "the run never renamed its bag into place"
    finally:
        if process.poll() is None:  # strace leads the group; the archiver is in it
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _bag_info(bag: Path) -> str:
    try:
        return (bag / "bag-info.txt").read_text("utf-8")
    except OSError:
        return ""


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (Debian package)")
def test_kill_between_the_two_renames_of_a_new_version_leaves_a_current_package(
        served: tuple[DemoSetup, Path], tmp_path: Path) -> None:
    """A new version replaces packages/<id>/ by one renameat2(RENAME_EXCHANGE), after which the
    previous version, now in the staging folder, moves to packages/.versions/<id>/v1/: steps
    microseconds apart, too close for a random kill. strace holds the run just after the swap
    (`inject=renameat2:delay_exit`, only for calls that touch packages/<id>), and the run is
    killed there. At no moment may the lesson have no current package (issue 7: "no package is
    missing"), and the rerun must file the previous version, exactly once."""
    _setup, manifest = served
    output = tmp_path / "out"
    done = run_archiver(*_argv(manifest, output)[3:])
    assert done.returncode == 0, done.stdout + done.stderr
    current = output / "packages" / LESSON_ID
    moved = output / "packages" / ".versions" / LESSON_ID / "v1"
    held = ["strace", "-f", "-qq", "-o", "/dev/null", "-P", str(current), "-e",
            "trace=rename,renameat2", "-e", "inject=renameat2:delay_exit=20000000",
            *archiver_argv("package", "--manifest", str(manifest), "--output", str(output),
                           "--force")]
    process = subprocess.Popen(held, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while (not moved.is_dir() and f"{LESSON_ID}/v2" not in _bag_info(current)
               and process.poll() is None and time.monotonic() < deadline):
            time.sleep(0.002)
        assert moved.is_dir() or f"{LESSON_ID}/v2" in _bag_info(current), \
            "the package stage never swapped in the new version"
    finally:
        if process.poll() is None:  # strace leads the group; the archiver is in it
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    missing_after_kill = not (current / "bagit.txt").is_file()
    after_kill = packages(output)
    rerun = run_archiver(*_argv(manifest, output)[3:])
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert (current / "bagit.txt").is_file(), "the rerun did not restore a current package"
    assert (moved / "bagit.txt").is_file(), "the previous version was lost"
    assert verify(output).returncode == 0
    assert not missing_after_kill, (
        f"killed between the two renames of bag.publish, {LESSON_ID} had no current package "
        f"(packages after the kill: {after_kill}; the rerun then rebuilt it)")
