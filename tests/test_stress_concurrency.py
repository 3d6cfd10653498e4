"""Two runs on one archive, and a disk that refuses writes.

- Two `archiver archive` runs on the same output at once: the second is refused with a clear
  message naming the holder (exit 1, no traceback), or with `--wait` waits for the first and
  then finds nothing to do; either way the archive verifies afterwards.
- A write failure (RLIMIT_FSIZE, the per-process "file too large" limit, set in the child
  before exec; SIGXFSZ ignored so that write() fails with EFBIG instead of killing the
  process) fails the lesson cleanly: exit 1, one precise message, no traceback, and the package
  archived before is byte for byte what it was.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from stress_support import (
    LESSON_ID,
    RUN_TIMEOUT,
    archiver_argv,
    json_events,
    make_short_demo,
    packages,
    run_archiver,
    temp_leftovers,
    verify,
)

from archiver.demo.command import DemoSetup, serving
from archiver.store import sha256_file as sha256

pytestmark = pytest.mark.slow  # whole `archiver` runs side by side in child processes


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoSetup, Path]]:
    setup = make_short_demo(tmp_path_factory.mktemp("concurrency"))
    with serving(setup, port=0) as (_server, manifest):
        yield setup, manifest


def _args(manifest: Path, output: Path, *extra: str, fetching: bool = True) -> list[str]:
    network = ["--timeout", "10", "--retries", "2"] if fetching else []
    return ["--manifest", str(manifest), "--output", str(output), "--jobs", "1", *network,
            *extra]


def _start(command: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(archiver_argv(command, *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_lock(output: Path, holder: subprocess.Popen[str], timeout: float = 30) -> None:
    """Until `holder` has written its pid into the run lock (store.Store.locked)."""
    deadline = time.monotonic() + timeout
    lock = output / ".lock"
    while time.monotonic() < deadline and holder.poll() is None:
        if lock.is_file() and lock.read_text().strip() == f"pid {holder.pid}":
            return
        time.sleep(0.005)
    raise AssertionError(f"pid {holder.pid} never took the lock (exit {holder.poll()})")


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out, err


def _intact(output: Path) -> None:
    checked = verify(output)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert packages(output) == [f"packages/{LESSON_ID}"]
    assert temp_leftovers(output) == []


def test_second_run_is_refused_while_the_first_holds_the_lock(
        served: tuple[DemoSetup, Path], tmp_path: Path) -> None:
    _setup, manifest = served
    output = tmp_path / "out"
    first = _start("archive", *_args(manifest, output))
    try:
        _wait_for_lock(output, first)
        second = run_archiver("archive", *_args(manifest, output))
        still_running = first.poll() is None
    finally:
        code, out, err = _finish(first)
    assert still_running, "the first run ended before the second was refused: no overlap"
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"{output} is in use by pid {first.pid}" in second.stderr
    assert "--wait" in second.stderr
    assert "Traceback" not in second.stderr + second.stdout
    assert second.stdout == ""  # refused before any stage ran: no outcome table
    assert code == 0, out + err
    _intact(output)


def test_second_run_with_wait_waits_then_finds_nothing_to_do(
        served: tuple[DemoSetup, Path], tmp_path: Path) -> None:
    _setup, manifest = served
    output = tmp_path / "out"
    first = _start("archive", *_args(manifest, output))
    try:
        _wait_for_lock(output, first)
        second = _start("archive", *_args(manifest, output, "--wait", "--json-log"))
        try:
            code, out, err = _finish(first)
            still_waiting = second.poll() is None
        finally:
            code2, out2, err2 = _finish(second)
    finally:
        if first.poll() is None:
            _finish(first)
    assert code == 0, out + err
    assert still_waiting, "the --wait run ended before the first run released the lock"
    assert code2 == 0, out2 + err2
    row = next(line for line in out2.splitlines() if line.startswith(LESSON_ID))
    assert "fetch: unchanged, subtitles: unchanged, package: unchanged" in row, out2
    events = json_events(err2)
    assert {e["event"] for e in events} <= {"unchanged", "site unchanged"}, events
    _intact(output)


def _file_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _bag_bytes(output: Path) -> dict[str, str]:
    return {p.relative_to(output).as_posix(): sha256(p)
            for p in sorted((output / "packages").rglob("*")) if p.is_file()}


@pytest.fixture
def archived(served: tuple[DemoSetup, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A complete archive of the short lesson (the 'earlier package')."""
    _setup, manifest = served
    output = tmp_path / "out"
    done = run_archiver("archive", *_args(manifest, output))
    assert done.returncode == 0, done.stdout + done.stderr
    return manifest, output


def _assert_clean_failure(result: subprocess.CompletedProcess[str], where: str,
                          row_label: str = LESSON_ID) -> str:
    """Exit 1, the outcome table's `row_label` row says the stage failed, and exactly one
    ERROR line, tagged `[where]`, gives the system's reason; no traceback, no 'crashed' (the
    pipeline's word for an internal error, i.e. a bug)."""
    text = result.stdout + result.stderr
    assert result.returncode == 1, f"exit {result.returncode}, expected 1:\n{text}"
    assert "Traceback" not in text, text
    assert "crashed" not in result.stderr, f"an internal error instead of a clean one:\n{text}"
    stage = where.rpartition("/")[2]
    row = next((line for line in result.stdout.splitlines() if line.startswith(row_label)), "")
    assert f"{stage}: failed" in row, f"the outcome table does not show {where} failed:\n{text}"
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: [{where}] failed "), text
    # the reason itself: EFBIG's text, or the signal a child got (subprocess restores
    # SIGXFSZ to its default in children, so ffmpeg or bagit may be killed by it)
    reasons = ("File too large", "SIGXFSZ", "file size limit")
    assert any(r in errors[0] for r in reasons), f"no reason given: {errors[0]}"
    return errors[0]


def test_write_failure_in_fetch_fails_the_lesson_and_keeps_the_package(
        archived: tuple[Path, Path]) -> None:
    """Fetch again (--force) when no file may grow past the media's size less one byte.

    The last write() then writes all but one byte and returns that short count with no
    error (only a write starting at the limit fails with EFBIG): a writer that ignores the
    count ends up with a truncated file and a record of the full size. One byte short is
    also the disk that fills up at the very end of a download."""
    manifest, output = archived
    before = _bag_bytes(output)
    original = output / "lessons" / LESSON_ID / "fetch" / "original.mp4"
    original_sha, size = sha256(original), original.stat().st_size
    limit = size - 1
    result = run_archiver("fetch", *_args(manifest, output, "--force"),
                          preexec_fn=_file_limit(limit))
    assert original.stat().st_size == size, (
        f"{original} now has {original.stat().st_size} bytes of {size} (the file size limit "
        f"was {limit}); fetch exit {result.returncode}:\n{result.stdout}{result.stderr}")
    assert sha256(original) == original_sha  # the earlier download is still there, whole
    _assert_clean_failure(result, f"{LESSON_ID}/fetch")
    assert _bag_bytes(output) == before
    checked = verify(output)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_write_failure_in_mux_fails_the_lesson_and_keeps_the_package(
        archived: tuple[Path, Path]) -> None:
    """Package again (--force) when the staged original fits but neither muxed file does (nor
    the WACZ, which holds the media's full WARC records and is written first)."""
    manifest, output = archived
    before = _bag_bytes(output)
    package = output / "packages" / LESSON_ID / "data"
    original = (package / "original" / "original.mp4").stat().st_size
    master = (package / "master" / f"{LESSON_ID}.mkv").stat().st_size
    access = (package / "access" / f"{LESSON_ID}.mp4").stat().st_size
    assert original < min(master, access)
    limit = original + (min(master, access) - original) // 2
    result = run_archiver("package", *_args(manifest, output, "--force", fetching=False),
                          preexec_fn=_file_limit(limit))
    assert _bag_bytes(output) == before
    assert temp_leftovers(output) == []  # the staging folder went with the failure
    checked = verify(output)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    line = _assert_clean_failure(result, f"{LESSON_ID}/package")
    assert any(s in line for s in (".mkv", ".mp4", ".wacz")), line  # names the file it
    # could not write


def test_write_failure_in_publish_keeps_the_site_and_the_package(
        archived: tuple[Path, Path]) -> None:
    """Rebuild the site (removed first) when the access copy cannot be copied into it."""
    import shutil

    manifest, output = archived
    before = _bag_bytes(output)
    shutil.rmtree(output / "site")
    access = output / "packages" / LESSON_ID / "data" / "access" / f"{LESSON_ID}.mp4"
    result = run_archiver("archive", *_args(manifest, output),
                          preexec_fn=_file_limit(access.stat().st_size // 2))
    assert _bag_bytes(output) == before
    assert [p for p in temp_leftovers(output) if p.startswith(("packages/", "site/"))] == []
    checked = verify(output)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    _assert_clean_failure(result, "publish", row_label="(site)")
