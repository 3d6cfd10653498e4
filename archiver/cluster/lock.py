"""One lock per lesson: `lessons/<id>/.lock`, an flock held for the lesson's task.

Why per lesson: on a cluster, many workers (and perhaps two clients) work in one archive at
once; the whole-archive run lock would serialise them all. Two tasks for the same lesson (a
second client, or a retry while a presumed-dead worker still runs) must not interleave, so
the second one waits for the lock, bounded, then fails with a clear message. On NFS, flock
is carried as a POSIX byte-range lock (Linux NFS clients since 2.6.12, needs a lock manager:
NFSv4, or lockd/statd for v3; see docs/scale.md).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator

from archiver.errors import LockError
from archiver.store import FILE_MODE, Store

WAIT_SECONDS = 600.0


@contextlib.contextmanager
def lesson_lock(store: Store, lesson_id: str, holder: str,
                wait: float = WAIT_SECONDS) -> Iterator[None]:
    folder = store.lesson_dir(lesson_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    os.lseek(fd, 0, os.SEEK_SET)
                    other = os.read(fd, 200).decode(errors="replace").strip() or "another run"
                    raise LockError(f"lesson {lesson_id} is in use by {other}; "
                                    f"waited {wait:.0f} s") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} pid {os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _flock(path_name: str, store: Store, mode: int, refusal: str) -> Iterator[None]:
    store.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(store.root / path_name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                 FILE_MODE)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise LockError(refusal) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def cluster_run_lock(store: Store) -> Iterator[None]:
    """A shared hold of the archive's run lock (`.lock`) for a cluster client: any number of
    cluster clients may work in the archive together (their lessons are locked one by one),
    while a local run, which takes `.lock` exclusively, is refused meanwhile, and the other
    way round."""
    with _flock(".lock", store, fcntl.LOCK_SH,
                f"{store.root} is in use by a local run; wait for it to finish"):
        yield


@contextlib.contextmanager
def site_lock(store: Store, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """The short exclusive lock a cluster client holds to write catalog.json and the site."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with _flock(".site.lock", store, fcntl.LOCK_EX,
                        f"{store.root}: another client is writing the catalog and site"):
                yield
            return
        except LockError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
