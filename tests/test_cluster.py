"""`archiver archive --scheduler` / `--cluster local:N` on real Dask clusters (issue 13).

Real parts only: the demo mirror over HTTPS on 127.0.0.1 (stress_support's short lesson,
cloned into several lessons), `dask scheduler` and two `dask worker` processes started as
subprocesses on 127.0.0.1 (each in its own process group, ended by pid at teardown), the
archiver CLI as the client. The fault: one worker SIGKILLed while its lesson is in the
package stage (its ffmpeg mux under way: the staging folder has its `master/` folder); the
worker is found by the lesson's lock file, which names the worker holding it and its pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from stress_support import (
    archiver_argv,
    json_events,
    make_short_demo,
    packages,
    temp_leftovers,
    verify,
    write_many_lessons,
)

from archiver.demo.command import serving
from archiver.store import TEMP_MARK

pytestmark = [pytest.mark.slow,  # real Dask schedulers and workers, whole archive runs
              pytest.mark.timeout(1200)]
DASK = str(Path(sys.executable).with_name("dask"))
RUN_TIMEOUT = 900.0


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str], Path]]:
    """A manifest of 6 short lessons served by the demo mirror (for the module)."""
    folder = tmp_path_factory.mktemp("cluster")
    setup = make_short_demo(folder)
    with serving(setup, port=0) as (_server, served):
        ids = write_many_lessons(folder / "six.toml", setup, served, 6)
        yield folder / "six.toml", ids, folder


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


@contextlib.contextmanager
def real_cluster(folder: Path, workers: int = 2) -> Iterator[str]:
    """`dask scheduler` + `workers` × `dask worker --resources ffmpeg=1` on 127.0.0.1."""
    scheduler_file = folder / "scheduler.json"
    scheduler_file.unlink(missing_ok=True)
    logs = folder / "dask-logs"
    logs.mkdir(exist_ok=True)
    started: list[subprocess.Popen[bytes]] = []
    try:
        with open(logs / "scheduler.log", "wb") as log:
            started.append(subprocess.Popen(
                [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                 "--scheduler-file", str(scheduler_file)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        (logs / "scheduler.pid").write_text(str(started[0].pid))
        deadline = time.monotonic() + 120
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for n in range(workers):
            with open(logs / f"worker-{n}.log", "wb") as log:
                started.append(subprocess.Popen(
                    [DASK, "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                     "--nworkers", "1", "--no-nanny", "--no-dashboard",
                     "--resources", "ffmpeg=1", "--name", f"worker-{n}"],
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        from distributed import Client

        with Client(address, timeout="60s") as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(workers, timeout=120)
        yield address
    finally:
        for process in reversed(started):
            _stop(process)


def _staging_with_mux(output: Path) -> Path | None:
    """A lesson whose package stage has started its ffmpeg mux (staging has `master/`)."""
    for staging in output.glob(f"lessons/*/package/.bag{TEMP_MARK}*"):
        if (staging / "master").is_dir():
            return staging.parents[1]
    return None


def _assert_converged(output: Path, ids: list[str], stdout: str) -> None:
    rows = [line for line in stdout.splitlines() if line.startswith("lesson-")]
    assert len(rows) == len(ids) and all(" ok " in row for row in rows), stdout
    assert packages(output) == [f"packages/{lid}" for lid in ids]  # one package each
    assert temp_leftovers(output) == []
    checked = verify(output)
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
    catalog = json.loads((output / "catalog.json").read_text("utf-8"))
    assert {e["id"]: e["status"] for e in catalog["lessons"]} == dict.fromkeys(ids, "archived")


def test_worker_killed_during_package_is_retried_elsewhere(
        demo: tuple[Path, list[str], Path]) -> None:
    manifest, ids, folder = demo
    output = folder / "killed"
    with real_cluster(folder) as address:
        client = subprocess.Popen(
            archiver_argv("archive", "--manifest", str(manifest), "--output", str(output),
                          "--scheduler", address, "--json-log"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        killed: tuple[str, str, int] | None = None
        deadline = time.monotonic() + RUN_TIMEOUT
        try:
            while killed is None and client.poll() is None and time.monotonic() < deadline:
                lesson = _staging_with_mux(output)
                holder = (lesson / ".lock").read_text().split() if lesson else []
                if len(holder) == 4 and holder[0] == "worker":  # "worker ADDRESS pid N"
                    os.kill(int(holder[3]), signal.SIGKILL)
                    killed = (lesson.name if lesson else "", holder[1], int(holder[3]))
                time.sleep(0.005)
            stdout, stderr = client.communicate(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if client.poll() is None:
                _stop(client)  # type: ignore[arg-type]
    assert killed is not None, "no lesson reached the mux on a worker"
    killed_lesson, killed_worker, _pid = killed
    assert client.returncode == 0, stdout[-3000:] + stderr[-3000:]
    events = [e for e in json_events("\n".join(line for line in stderr.splitlines()
                                               if line.startswith("{")))]
    workers = {e["fields"].get("worker") for e in events if e.get("lesson")} - {None}
    finished_by = {e["fields"].get("worker") for e in events
                   if e.get("lesson") == killed_lesson and e["event"] == "packaged"}
    assert finished_by and killed_worker not in finished_by  # retried on the other worker
    assert workers | {killed_worker} == workers | finished_by | {killed_worker}
    assert len(workers | {killed_worker}) == 2  # both workers ran tasks
    _assert_converged(output, ids, stdout)


def test_local_cluster_archives_and_reruns_unchanged(
        demo: tuple[Path, list[str], Path]) -> None:
    manifest, ids, folder = demo
    output = folder / "local"
    argv = archiver_argv("archive", "--manifest", str(manifest), "--output", str(output),
                         "--cluster", "local:2", "--json-log", "--only", *ids[:4])
    first = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                           check=False)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    lessons = ids[:4]
    rows = [line for line in first.stdout.splitlines() if line.startswith("lesson-")]
    assert len(rows) == 4 and all("package: ok" in row for row in rows), first.stdout
    events = json_events("\n".join(line for line in first.stderr.splitlines()
                                   if line.startswith("{")))
    packaged = [e for e in events if e["event"] == "packaged"]
    assert sorted(e["lesson"] for e in packaged) == lessons
    assert all(str(e["fields"]["worker"]).startswith("tcp://127.0.0.1:") for e in packaged)
    assert packages(output) == [f"packages/{lid}" for lid in lessons]
    assert temp_leftovers(output) == []
    catalog = json.loads((output / "catalog.json").read_text("utf-8"))
    listed = {e["id"]: e["status"] for e in catalog["lessons"]}
    assert all(listed[lid] == "archived" for lid in lessons)
    again = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                           check=False)
    assert again.returncode == 0, again.stdout[-3000:]
    rows = [line for line in again.stdout.splitlines() if line.startswith("lesson-")]
    assert all("fetch: unchanged, subtitles: unchanged, package: unchanged" in row
               for row in rows) and len(rows) == 4, again.stdout


def test_cluster_flags_are_checked() -> None:
    for bad in (["--cluster", "local:0"], ["--cluster", "remote:2"],
                ["--scheduler", "not an address"]):
        proc = subprocess.run(archiver_argv("archive", *bad), capture_output=True, text=True,
                              timeout=60, check=False)
        assert proc.returncode == 2, bad
        assert "local:N" in proc.stderr or "scheduler address" in proc.stderr
    both = subprocess.run(archiver_argv("archive", "--cluster", "local:2", "--scheduler",
                                        "tcp://127.0.0.1:8786"),
                          capture_output=True, text=True, timeout=60, check=False)
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_scheduler_that_disappears_ends_the_run_clearly_and_the_rerun_resumes(
        demo: tuple[Path, list[str], Path]) -> None:
    manifest, ids, folder = demo
    output = folder / "gone"
    argv = ["archive", "--manifest", str(manifest), "--output", str(output), "--only",
            *ids[:3]]
    with real_cluster(folder, workers=1) as address:
        client = subprocess.Popen(archiver_argv(*argv, "--scheduler", address),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)
        deadline = time.monotonic() + RUN_TIMEOUT
        while not (output / "lessons" / ids[0] / "state" / "package.json").is_file() and \
                client.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(int((folder / "dask-logs" / "scheduler.pid").read_text()), signal.SIGKILL)
        _stdout, stderr = client.communicate(timeout=300)
    assert client.returncode == 1, stderr[-3000:]
    assert "scheduler" in stderr and "went away" in stderr and "rerun to resume" in stderr
    assert temp_leftovers(output) == [] or all("/package/.bag" in p
                                               for p in temp_leftovers(output))
    done = [lid for lid in ids[:3]
            if (output / "lessons" / lid / "state" / "package.json").is_file()]
    assert done  # the first lesson finished before the scheduler went
    rerun = subprocess.run(archiver_argv(*argv, "--cluster", "local:1"), capture_output=True,
                           text=True, timeout=RUN_TIMEOUT, check=False)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    for line in rerun.stdout.splitlines():
        if line.split(" ", 1)[0] in done:
            assert "fetch: unchanged, subtitles: unchanged, package: unchanged" in line, line
    assert temp_leftovers(output) == []


def test_worker_without_ffmpeg_fails_naming_the_worker(
        demo: tuple[Path, list[str], Path], tmp_path: Path) -> None:
    manifest, ids, _folder = demo
    bare = tmp_path / "bin"  # a PATH with python's folder only: no ffmpeg, no ffprobe
    bare.mkdir()
    output = tmp_path / "output"
    proc = subprocess.run(archiver_argv("archive", "--manifest", str(manifest), "--output",
                                        str(output), "--only", ids[0], "--cluster", "local:1"),
                          capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
                          env={**os.environ, "PATH": str(bare)})
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith(ids[0]))
    assert "cluster: failed" in row
    assert "worker tcp://127.0.0.1:" in row and "has no ffmpeg, ffprobe on its PATH" in row
    assert not (output / "lessons" / ids[0] / "fetch").exists()  # nothing was started


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that name `text` (e.g. an output folder)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if text in line:
                found.append(line)
    return found


def test_ctrl_c_on_the_client_stops_running_and_queued_lessons(
        demo: tuple[Path, list[str], Path]) -> None:
    """SIGINT to a `--cluster local:2` client while a worker muxes: the running tasks are
    cancelled in their workers (ffmpeg's group ended), the queued ones never start, the
    table says `interrupted`, exit 130, no site; the rerun finishes everything."""
    manifest, ids, folder = demo
    output = folder / "ctrl-c"
    argv = archiver_argv("archive", "--manifest", str(manifest), "--output", str(output),
                         "--cluster", "local:2")
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while _staging_with_mux(output) is None:
            assert client.poll() is None, client.communicate()
            assert time.monotonic() < deadline, "no lesson reached the mux"
            time.sleep(0.005)
        sent = time.monotonic()
        os.kill(client.pid, signal.SIGINT)
        stdout, stderr = client.communicate(timeout=120)
        took = time.monotonic() - sent
    finally:
        if client.poll() is None:
            _stop(client)  # type: ignore[arg-type]
    print(f"cluster client: exit {client.returncode} {took:.1f} s after SIGINT")  # a figure
    assert client.returncode == 130, stdout[-3000:] + stderr[-3000:]
    assert took < 60, f"took {took:.1f} s to stop"
    rows = {line.split()[0]: line.split()[1] for line in stdout.splitlines()
            if line.startswith("lesson-")}
    assert set(rows) == set(ids) and "interrupted" in rows.values(), stdout
    assert set(rows.values()) <= {"ok", "interrupted"}, stdout
    assert not (output / "site").exists()  # a stopped run writes no site
    time.sleep(2)  # the workers' processes are gone with the LocalCluster
    assert _processes_mentioning(str(output)) == []
    again = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                           check=False)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    _assert_converged(output, ids, again.stdout)
