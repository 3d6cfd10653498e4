"""The cooperative cancel (archiver/cancel.py) in one process: what the runner, the
transfers and the Dask runner of issue 11 rely on. Real child processes; bounded."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pytest

from archiver import cancel


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    cancel.reset()
    yield
    cancel.reset()


def _cancel_soon(signum: int = signal.SIGTERM, after: float = 0.3) -> None:
    threading.Timer(after, cancel.cancel, args=(signum,)).start()


def test_a_running_child_is_terminated_and_the_caller_interrupted() -> None:
    _cancel_soon()
    started = time.monotonic()
    with pytest.raises(cancel.Interrupted, match="sleep was stopped"):
        cancel.run(["sleep", "30"], capture_output=True, text=True)
    assert time.monotonic() - started < 5
    assert cancel.cancelled() and cancel.signal_number() == signal.SIGTERM
    with pytest.raises(cancel.Interrupted):  # and nothing new starts
        cancel.run(["true"])


def test_retry_waits_end_early_and_hooks_run_once() -> None:
    calls: list[str] = []
    with cancel.on_cancel(lambda: calls.append("hook")):
        _cancel_soon(signal.SIGINT)
        started = time.monotonic()
        with pytest.raises(cancel.Interrupted, match="waiting to retry"):
            cancel.sleep(30)
        assert time.monotonic() - started < 5
        cancel.cancel(signal.SIGTERM)  # a second request changes nothing
    assert calls == ["hook"] and cancel.signal_number() == signal.SIGINT


def test_a_child_runs_normally_when_nobody_cancels() -> None:
    done = cancel.run(["sh", "-c", "echo out; echo err >&2; exit 3"], capture_output=True,
                      text=True)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    assert cancel.run(["cat"], input="fed", capture_output=True, text=True).stdout == "fed"
    cancel.check()  # no exception: not cancelled
