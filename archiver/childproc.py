"""Child processes (ffmpeg, ffprobe, the bagit child) that never outlive their worker.

Why: on a cluster, a worker can be SIGKILLed mid-mux (OOM killer, a lost machine, an admin).
Its ffmpeg would run on as an orphan and keep writing into the staging folder the retry on
another worker is cleaning up. So a cluster worker starts every child in its own process group
(a signal meant for the worker's group does not half-stop a mux) with a parent-death signal:
Linux `prctl(PR_SET_PDEATHSIG, SIGKILL)` kills the child the moment the thread that started
it dies. Local runs keep today's behaviour (children in the run's group, so Ctrl-C on the
terminal reaches them too); `guard_children()` switches the guard on for this process
(cluster/task.py calls it on each worker).
"""

from __future__ import annotations

import ctypes
import signal
import sys
from typing import Any

PR_SET_PDEATHSIG = 1
_guarded = False


def guard_children() -> None:
    """From now on, children of this process get their own group and a parent-death signal."""
    global _guarded
    _guarded = sys.platform.startswith("linux")


def _pdeathsig() -> None:
    """Runs in the child between fork and exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def child_kwargs() -> dict[str, Any]:
    """Extra `subprocess.run`/`Popen` arguments for a stage's child process."""
    if not _guarded:
        return {}
    return {"process_group": 0, "preexec_fn": _pdeathsig}
