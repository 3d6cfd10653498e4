"""Cooperative cancellation of a run: SIGINT/SIGTERM stop it within seconds, resumably.

Why cooperative: killing worker threads is impossible in Python, and killing the process
mid-write would leave half-written files. So a signal only *asks*: `cancel` sets a
process-local flag, shuts down the sockets of open transfers (a blocked `recv` returns at
once) and terminates the process groups of child tools (ffmpeg, bagit), which run in their
own groups so that a terminal's Ctrl-C reaches them only through us. Every loop that can
take long (the runner between lessons and stages, transfers at each chunk, retry waits)
asks `cancelled()` or calls `check()`, which raises `Interrupted`. What is left behind is
what an interrupted transfer always leaves: a resumable partial and its sidecar, never a
file under its final name (publishing is atomic), so the next run resumes.

The API is deliberately plain (a flag, an exception, callbacks) and process-local: the
Dask runner of issue 11 checks the same `cancelled()` in its workers' process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any

from archiver.errors import ArchiverError

_flag = threading.Event()
_lock = threading.Lock()
_signal: list[int] = []  # the first signal received (its number decides the exit code)
_hooks: dict[int, Callable[[], None]] = {}
_next = [0]


class Interrupted(ArchiverError):
    """The run was asked to stop (SIGINT or SIGTERM); not a failure of the lesson. The CLI
    exits with 128 + the signal's number (130, 143)."""

    exit_code = 130


def cancelled() -> bool:
    """Whether the run was asked to stop."""
    return _flag.is_set()


def check(what: str = "") -> None:
    """Raise `Interrupted` when the run was asked to stop (call it at every safe point)."""
    if _flag.is_set():
        raise Interrupted(f"interrupted{f' ({what})' if what else ''}; rerun to resume")


def sleep(seconds: float) -> None:
    """`time.sleep` that ends early, raising `Interrupted`, when the run is cancelled (the
    retry waits: a backoff or Retry-After of minutes must not hold a stopped run)."""
    if _flag.wait(max(0.0, seconds)):
        check("while waiting to retry")


_check = check  # `run` mirrors subprocess.run, whose `check` argument shadows the name


def signal_number() -> int:
    """The signal that stopped the run (SIGINT when cancelled from code)."""
    return _signal[0] if _signal else int(signal.SIGINT)


def cancel(signum: int = signal.SIGINT) -> None:
    """Ask everything to stop: set the flag and run the registered hooks once each."""
    with _lock:
        if not _signal:
            _signal.append(int(signum))
        _flag.set()
        hooks = list(_hooks.values())
        _hooks.clear()
    for hook in hooks:
        with contextlib.suppress(Exception):  # one broken hook never blocks the others
            hook()


def reset() -> None:
    """Forget an earlier cancel (tests, and a long-lived process running several jobs)."""
    with _lock:
        _flag.clear()
        _signal.clear()
        _hooks.clear()


@contextlib.contextmanager
def on_cancel(hook: Callable[[], None]) -> Iterator[None]:
    """Run `hook` (e.g. shut a socket down) if the run is cancelled while inside the block."""
    with _lock:
        _next[0] += 1
        key = _next[0]
        _hooks[key] = hook
        already = _flag.is_set()
    try:
        if already:
            hook()
        yield
    finally:
        with _lock:
            _hooks.pop(key, None)


try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True)
    _prctl = _LIBC.prctl
except (OSError, AttributeError):  # not Linux: a killed archiver's children run on
    _prctl = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """In the child before exec: be SIGKILLed when the archiver dies (Linux).

    Why: in a group of its own, a child no longer dies with a SIGKILLed or OOM-killed
    archiver's group, and an orphan ffmpeg would go on writing into the archive while the
    next run starts. prctl is one async-signal-safe system call through a function resolved
    before the fork, so it is safe in a threaded parent.
    """
    if _prctl is None:
        return None

    def hook() -> None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the call took effect
            os._exit(127)

    return hook


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)


def run(argv: Sequence[str], *, input: str | bytes | None = None,
        capture_output: bool = False, text: bool = False, errors: str | None = None,
        timeout: float | None = None, check: bool = False) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run` for child tools, in their own process group, stopped on cancel.

    Why its own group: a terminal's Ctrl-C goes to the whole foreground group; ffmpeg would
    die mid-write on its own while we are still deciding what to keep. Here the signal
    reaches only us, and `cancel` terminates the child's group (ffmpeg's own children too).
    A SIGKILLed archiver still takes its children with it (`_die_with_parent`).
    A child stopped that way raises `Interrupted`, not a tool failure.
    """
    _check("before starting " + os.path.basename(str(argv[0])))
    pipe = subprocess.PIPE if capture_output else None
    with subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else None,
                          stdout=pipe, stderr=pipe, text=text or errors is not None,
                          errors=errors, start_new_session=True,
                          preexec_fn=_die_with_parent(os.getpid())) as proc, \
            on_cancel(lambda: _kill_group(proc)):
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.kill()
            proc.wait()
            raise
        except BaseException:
            _kill_group(proc)
            proc.kill()
            raise
    _check(f"{os.path.basename(str(argv[0]))} was stopped")
    result: subprocess.CompletedProcess[Any] = subprocess.CompletedProcess(
        proc.args, proc.returncode, out, err)
    if check:
        result.check_returncode()
    return result


def _handler(signum: int, frame: FrameType | None) -> None:
    del frame
    if _flag.is_set():  # a second Ctrl-C: the user insists, stop at once (exit 130)
        raise KeyboardInterrupt
    cancel(signum)


@contextlib.contextmanager
def signals_cancel() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM cancel the run instead of killing it (main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
