"""Parallel, streaming, constant-memory file hashing.

Why threads: CPython's hashlib releases the GIL while digesting buffers larger than 2 KiB and
file reads release it too, so N threads hash N files on N cores without the pickling and
start-up cost of processes. Why one pass for several algorithms: when a bag carries both
sha256 and sha512 manifests, reading the file once and feeding the same buffer to both
digests halves the I/O (which dominates on a cold disk). Why `readinto` a preallocated
buffer: each worker owns exactly one buffer of `CHUNK` bytes whatever the file sizes, so peak
memory is `jobs × CHUNK` plus the interpreter, and no per-block allocation churns the heap.
Files are scheduled largest first so the last file to finish is a small one.

Why bounded by the size seen when the check began: BagIt manifests hold no per-file sizes, so
a file that keeps growing while it is read (a writer still appending, a sparse file extended
as we go) would otherwise be read for ever. We read at most that size plus one block; reading
past the size means the file changed under us, and it is reported as changed (`grew`). Files
are opened through `archiver.safefs`: no symlink is followed and nothing but a regular file is
read (a FIFO would block, a device never ends).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from archiver import safefs

CHUNK = 2 << 20  # 2 MiB: large enough to amortise syscalls, small enough to stay in L2/L3

Progress = Callable[[int], None]


@dataclass(frozen=True)
class HashTask:
    """One file to hash: `rel` below the trusted folder `base`, and its size at the start."""

    base: Path
    rel: str
    algorithms: tuple[str, ...]
    size: int  # lstat size when the check began: the read bound, the schedule and progress

    @property
    def path(self) -> Path:
        return self.base / self.rel


@dataclass
class HashResult:
    digests: dict[str, str]
    bytes: int
    error: str | None = None   # "OSError: ..." when the file could not be read
    unsafe: str | None = None  # the kind (symlink, fifo, ...) when it was not opened at all
    grew: bool = False         # more than `size` bytes were there: the digests cover a prefix


def hash_file(base: Path, rel: str, algorithms: Sequence[str], size: int, chunk: int = CHUNK,
              on_bytes: Progress | None = None) -> HashResult:
    """Digest regular file `base/rel` with every algorithm in one streaming pass, reading at
    most `size` bytes plus one block."""
    try:
        fd, _st = safefs.open_regular(base, rel)
    except safefs.UnsafePath as exc:
        return HashResult({}, 0, unsafe=exc.kind)
    except OSError as exc:
        return HashResult({}, 0, f"{exc.__class__.__name__}: {exc.strerror or exc}")
    hashers = [hashlib.new(a) for a in algorithms]
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    total = 0
    try:
        with open(fd, "rb", buffering=0) as handle:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            while total <= size and (n := handle.readinto(buffer)):
                block = view[:n] if n < chunk else view
                for hasher in hashers:
                    hasher.update(block)
                total += n
                if on_bytes is not None:
                    on_bytes(n)
    except OSError as exc:
        return HashResult({}, total, f"{exc.__class__.__name__}: {exc.strerror or exc}")
    return HashResult({a: h.hexdigest() for a, h in zip(algorithms, hashers, strict=True)},
                      total, grew=total > size)


class _Counter:
    """Thread-safe byte counter that reports progress at most every `step` bytes."""

    def __init__(self, report: Callable[[int], None] | None, step: int = 64 << 20) -> None:
        self.report = report
        self.step = step
        self.done = 0
        self._next = step
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        if self.report is None:
            return
        with self._lock:  # report under the lock: callers see a monotonic count
            self.done += n
            if self.done < self._next:
                return
            self._next = self.done + self.step
            self.report(self.done)


def hash_many(tasks: Sequence[HashTask], jobs: int,
              progress: Callable[[int], None] | None = None,
              progress_step: int = 64 << 20) -> dict[Path, HashResult]:
    """Hash every task's file with its algorithms, `jobs` files at a time.

    `progress(done_bytes)` is called from worker threads, rate-limited. A file that cannot be
    read yields a result with `error` set instead of raising, so one bad sector never hides
    the verdict on every other file.
    """
    counter = _Counter(progress, progress_step)
    ordered = sorted(tasks, key=lambda t: t.size, reverse=True)
    if jobs <= 1 or len(ordered) <= 1:
        return {t.path: hash_file(t.base, t.rel, t.algorithms, t.size, on_bytes=counter.add)
                for t in ordered}
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="hash") as pool:
        futures = {t.path: pool.submit(hash_file, t.base, t.rel, t.algorithms, t.size, CHUNK,
                                       counter.add)
                   for t in ordered}
        return {path: future.result() for path, future in futures.items()}
