"""SIGINT and SIGTERM stop a run within seconds, resumably (issue 15 item 5).

Real `python -m archiver archive` runs in a child process against the demo mirror on
127.0.0.1, four lessons queued one at a time (`--jobs 1`). The signal is sent to the archiver
process alone, as `kill -INT <pid>` or systemd's stop would; a terminal's Ctrl-C reaches the
children too, but they run in process groups of their own (archiver.cancel), so the archiver
decides. After the signal: exit 130 or 143 within a few seconds, the queued lessons are
`interrupted` in the outcome table, no child tool is left running, nothing temporary but a
resumable partial is left, and the next run completes the archive (which then verifies).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from stress_support import (
    RUN_TIMEOUT,
    archiver_argv,
    make_short_demo,
    run_archiver,
    temp_leftovers,
    verify,
    write_many_lessons,
)

from archiver.demo.command import DemoSetup, serving
from archiver.demo.server import Fault, MediaServer
from archiver.store import TEMP_MARK

pytestmark = pytest.mark.slow  # whole runs of `archiver archive`, interrupted and resumed

STOP_WITHIN = 8.0  # seconds from the signal to the exit (a few seconds, on a loaded machine)
LESSONS = 4


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSetup:
    return make_short_demo(tmp_path_factory.mktemp("signals"))


@pytest.fixture
def served(demo: DemoSetup, tmp_path: Path) -> Iterator[tuple[MediaServer, Path, list[str]]]:
    with serving(demo, port=0) as (server, demo_manifest):
        manifest = tmp_path / "queued.toml"
        ids = write_many_lessons(manifest, demo, demo_manifest, LESSONS)
        yield server, manifest, ids


def _args(manifest: Path, output: Path) -> list[str]:
    return ["--manifest", str(manifest), "--output", str(output), "--jobs", "1",
            "--timeout", "10", "--retries", "2"]


def _children_of(pid: int) -> list[str]:
    """Command lines of live processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                             .decode(errors="replace"))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _interrupt(argv: list[str], when: Callable[[], bool], signum: int,
               output: Path) -> tuple[int, str, float, list[str]]:
    """Start `argv`, send `signum` once `when()` holds; (exit code, stdout, seconds from the
    signal to the exit, the child processes alive at the signal)."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while not when():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never reached the moment to signal"
            time.sleep(0.01)
        children = _children_of(process.pid)
        sent = time.monotonic()
        os.kill(process.pid, signum)
        out, err = process.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert "Traceback" not in err, err
    print(f"signal {signum}: exit {process.returncode} {took:.2f} s after it")  # -s: a figure
    return process.returncode, out, took, children


def _rows(stdout: str) -> dict[str, str]:
    """lesson id -> overall outcome, from the plain outcome table."""
    rows = {}
    for line in stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2:
            rows[parts[0]] = parts[1]
    return rows


def _resumable_only(output: Path) -> None:
    """Only resumable partials (and their sidecars) may stay; never a temporary file of an
    atomic write (`name.tmp-…`) under a final name."""
    left = temp_leftovers(output)
    assert all(Path(p).name.startswith(f".media{TEMP_MARK}partial") for p in left), left


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_a_slow_transfer_stops_the_run_and_the_next_run_resumes(
        served: tuple[MediaServer, Path, list[str]], tmp_path: Path, signum: int) -> None:
    server, manifest, ids = served
    media = next(r for r in server.resources.values() if r.content_type.startswith("video/"))
    media.faults.append(Fault(rate=20_000))  # the first lesson's media drips (~minutes)
    output = tmp_path / "out"
    partial = output / "lessons" / ids[0] / "fetch" / f".media{TEMP_MARK}partial"

    code, out, took, _children = _interrupt(
        archiver_argv("archive", *_args(manifest, output)),
        lambda: partial.is_file() and partial.stat().st_size > 40_000, signum, output)

    assert code == 128 + signum, out
    assert took < STOP_WITHIN, f"took {took:.1f} s to stop"
    rows = _rows(out)
    assert {rows[i] for i in ids} == {"interrupted"}, out
    assert not (output / "lessons" / ids[1]).exists()  # queued lessons never started
    assert not list(partial.parent.glob("original*"))
    assert partial.stat().st_size > 0 and partial.with_name(partial.name + ".json").is_file()
    _resumable_only(output)

    again = run_archiver("archive", *_args(manifest, output))
    assert again.returncode == 0, again.stdout + again.stderr
    assert set(_rows(again.stdout).values()) == {"ok"}
    resumed = [r for r in server.requests if r.headers.get("Range")]
    assert resumed, "the second run did not resume the partial"
    assert verify(output).returncode == 0
    assert temp_leftovers(output) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_ffmpeg_muxes_terminates_it_and_cancels_the_queue(
        served: tuple[MediaServer, Path, list[str]], tmp_path: Path, signum: int) -> None:
    _server, manifest, ids = served
    output = tmp_path / "out"
    first = output / "lessons" / ids[0]

    def muxing() -> bool:
        return any((s / "master").is_dir()
                   for s in (first / "package").glob(f".bag{TEMP_MARK}*"))

    code, out, took, children = _interrupt(
        archiver_argv("archive", *_args(manifest, output)), muxing, signum, output)

    assert code == 128 + signum, out
    assert took < STOP_WITHIN, f"took {took:.1f} s to stop"
    rows = _rows(out)
    assert rows[ids[0]] == "interrupted" and {rows[i] for i in ids[1:]} == {"interrupted"}
    stray = [c for c in _all_processes() if str(output) in c]
    assert not stray, f"children left running after the exit: {stray} (seen: {children})"
    assert not (output / "packages" / ids[0]).exists()
    _resumable_only(output)

    again = run_archiver("archive", *_args(manifest, output))
    assert again.returncode == 0, again.stdout + again.stderr
    assert set(_rows(again.stdout).values()) == {"ok"}
    assert verify(output).returncode == 0
    assert temp_leftovers(output) == []


def _all_processes() -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            found.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def test_children_die_with_a_sigkilled_archiver(
        served: tuple[MediaServer, Path, list[str]], tmp_path: Path) -> None:
    """In groups of their own, ffmpeg and the bagit child would outlive `kill -9` of the
    archiver (or the OOM killer) and go on writing while the next run starts; they are
    SIGKILLed with it instead (PR_SET_PDEATHSIG)."""
    _server, manifest, _ids = served
    output = tmp_path / "out"

    def ffmpeg_running() -> bool:
        return any(c.startswith("ffmpeg") and str(output) in c for c in _all_processes())

    code, _out, _took, children = _interrupt(
        archiver_argv("archive", *_args(manifest, output)), ffmpeg_running, signal.SIGKILL,
        output)
    assert any(c.startswith("ffmpeg") for c in children), children  # a child of the archiver
    assert code == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while (stray := [c for c in _all_processes() if str(output) in c]) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert not stray, f"children outlived the archiver: {stray} (seen: {children})"
    again = run_archiver("archive", *_args(manifest, output))
    assert again.returncode == 0, again.stdout + again.stderr
    assert verify(output).returncode == 0
