"""Write and hash a download's chunks on worker threads (see `Sink`).

Why a module of its own: this is the part of the fetch that decides its speed. Hashing twice
(sha256, sha512) and writing a file cost as much CPU and wall time as the transfer itself;
done one after the other they make a fetch 2-3x slower than `curl -o`, done alongside the
network loop they are nearly free on a 2-core machine.
"""

from __future__ import annotations

import ctypes
import queue
import threading
from collections.abc import Callable
from typing import Any

from archiver.errors import FetchError, Location

WRITEBACK_STEP = 16 << 20
_SYNC_FILE_RANGE_WRITE = 2
try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True)
    _sync_file_range = _LIBC.sync_file_range
    _sync_file_range.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
except (OSError, AttributeError):  # not Linux: the final fsync does all the work
    _sync_file_range = None


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range to disk now, without waiting (Linux).

    Why: the partial is fsynced before it is published (durability). Without this, all of
    a large file's dirty pages are flushed at that moment and the fetch waits for the disk
    at the end; started early, the flush overlaps with the download and the final fsync
    has only the tail left.
    """
    if _sync_file_range is not None:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


class Sink:
    """Write and hash chunks on worker threads while the next chunk is being received.

    hashlib and file writes release the GIL, so sha256, sha512 and the write each run on
    their own thread and overlap with the network loop (TLS decryption, HTTP parsing)
    instead of adding to it. Queues are bounded (memory stays at a few chunks); `close`
    drains them, so file, hashes and `part.size` agree whenever a transfer stops.
    """

    def __init__(self, out: Any, digests: list[Callable[[bytes], object]],
                 depth: int = 16) -> None:
        self.out = out
        self.error: BaseException | None = None
        self.written = self.flushed = out.tell()
        jobs: list[Callable[[bytes], object]] = [self._write, *digests]
        self.queues: list[queue.Queue[bytes | None]] = []
        self.threads: list[threading.Thread] = []
        for job in jobs:
            q: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
            thread = threading.Thread(target=self._work, args=(q, job), daemon=True,
                                      name="fetch-sink")
            thread.start()
            self.queues.append(q)
            self.threads.append(thread)

    def _write(self, chunk: bytes) -> None:
        # An unbuffered write may store fewer bytes than given (file size limit, disk full):
        # loop until all are written, so that the error, not a silent truncation, surfaces.
        view = memoryview(chunk)
        while view:
            count = self.out.write(view)
            if not count:
                raise OSError(f"wrote 0 of {len(view)} bytes")
            view = view[count:]
        self.written += len(chunk)
        if self.written - self.flushed >= WRITEBACK_STEP:
            start_writeback(self.out.fileno(), self.flushed, self.written - self.flushed)
            self.flushed = self.written

    def _work(self, q: queue.Queue[bytes | None], job: Callable[[bytes], object]) -> None:
        while (chunk := q.get()) is not None:
            if self.error is not None:
                continue  # keep draining so put() never blocks forever
            try:
                job(chunk)
            except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread)
                self.error = exc

    def _raise(self) -> None:
        if isinstance(self.error, OSError):  # disk full, file size limit: not a bug
            raise FetchError(f"cannot write the download to {self.out.name}: {self.error}",
                             Location(file=str(self.out.name))) from self.error
        if self.error is not None:
            raise self.error

    def put(self, chunk: bytes) -> None:
        self._raise()
        for q in self.queues:
            q.put(chunk)

    def close(self) -> None:
        for q in self.queues:
            q.put(None)
        for thread in self.threads:
            thread.join()
        self._raise()
