"""Write a file made of small byte strings and ranges of other files, and its sha256.

Why a module of its own: the media WARC (`capture-media.warc`, archiver.fetch.warc) holds a
full copy of every media payload, so it is as large as the download. Read back through
Python, written again and hashed on one pipeline it cost ~0.75 s wall and ~1.0 s CPU per
512 MiB after the download had ended (benchmarks/fetch.py). Here the two jobs that make up
that phase run side by side on different cores, and neither copies bytes through userspace:
- the copy is `os.copy_file_range` (the kernel moves page-cache pages from the original to
  the WARC; a file system with reflinks shares the extents), with `write` for the WARC's own
  headers and a read/write fallback where the call is missing or refused (another file
  system, an old kernel);
- the sha256 of the WARC is computed over the same pieces, in file order, on a worker
  thread: the headers as given, each payload range from a read-only mmap of its source (the
  page cache the download just filled; hashlib releases the GIL). The digest then describes
  exactly the bytes written, as before, without reading the WARC back.

The sources are the run's own files (the published original, or each component), under the
archive lock: nothing truncates them while they are mapped. Writeback of the new file is
started every `WRITEBACK_STEP` bytes, so the caller's fsync has only the tail left.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from archiver.fetch.sink import WRITEBACK_STEP, start_writeback

HASH_STEP = 8 << 20  # bytes per hashlib call: small enough to stop soon on an error
COPY_FALLBACK = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF,
                 errno.ETXTBSY, errno.EPERM}


@dataclass(frozen=True)
class Span:
    """`length` bytes of `source` from `offset`."""

    source: Path
    offset: int
    length: int


Piece = bytes | Span


def _short(span: Span, left: int) -> OSError:
    return OSError(f"{span.source} ended {left} bytes early (expected {span.length} bytes "
                   f"from offset {span.offset})")


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        count = os.write(fd, view)
        if not count:
            raise OSError(f"wrote 0 of {len(view)} bytes")
        view = view[count:]


def _copy_plain(src: int, dst: int, offset: int, count: int) -> int:
    """read/write fallback for one step of a span; returns the bytes copied (0: EOF)."""
    block = os.pread(src, min(count, 1 << 20), offset)
    _write_all(dst, block)
    return len(block)


class _Copier:
    """Copies spans into `dst` at its file position; remembers when the kernel refused."""

    def __init__(self, dst: int) -> None:
        self.dst = dst
        self.in_kernel = hasattr(os, "copy_file_range")
        self.written = os.lseek(dst, 0, os.SEEK_CUR)
        self.flushed = self.written

    def _step(self, src: int, offset: int, count: int) -> int:
        if self.in_kernel:
            try:
                return os.copy_file_range(src, self.dst, count, offset)
            except OSError as exc:
                if exc.errno not in COPY_FALLBACK:
                    raise
                self.in_kernel = False  # e.g. another file system on an old kernel
        return _copy_plain(src, self.dst, offset, count)

    def advance(self, count: int) -> None:
        self.written += count
        if self.written - self.flushed >= WRITEBACK_STEP:
            start_writeback(self.dst, self.flushed, self.written - self.flushed)
            self.flushed = self.written

    def copy(self, span: Span) -> None:
        fd = os.open(span.source, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            offset, left = span.offset, span.length
            while left:
                count = self._step(fd, offset, min(left, WRITEBACK_STEP))
                if count <= 0:
                    raise _short(span, left)
                offset += count
                left -= count
                self.advance(count)
        finally:
            os.close(fd)

    def write(self, data: bytes) -> None:
        _write_all(self.dst, data)
        self.advance(len(data))


def _hash_span(digest: hashlib._Hash, span: Span, stop: threading.Event) -> None:
    if span.length == 0:
        return
    with open(span.source, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < span.offset + span.length:
            raise _short(span, span.offset + span.length - max(size, span.offset))
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            if hasattr(mapped, "madvise"):
                mapped.madvise(mmap.MADV_SEQUENTIAL)
            view = memoryview(mapped)
            try:
                end = span.offset + span.length
                for start in range(span.offset, end, HASH_STEP):
                    if stop.is_set():
                        return
                    digest.update(view[start:min(start + HASH_STEP, end)])
            finally:
                view.release()


def _hash_pieces(pieces: list[Piece], digest: hashlib._Hash, stop: threading.Event,
                 errors: list[BaseException]) -> None:
    try:
        for piece in pieces:
            if stop.is_set():
                return
            if isinstance(piece, Span):
                _hash_span(digest, piece, stop)
            else:
                digest.update(piece)
    except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread)
        errors.append(exc)


def write_pieces(dst: int, pieces: list[Piece]) -> str:
    """Append `pieces` to the open file `dst` (at its position); returns their sha256.

    The copy runs in this thread, the hash on a worker thread; an error in either stops
    the other and is raised here (the caller's atomic_open then removes the temporary).
    """
    digest = hashlib.sha256()
    stop = threading.Event()
    errors: list[BaseException] = []
    hasher = threading.Thread(target=_hash_pieces, args=(pieces, digest, stop, errors),
                              daemon=True, name="warc-hash")
    hasher.start()
    copier = _Copier(dst)
    try:
        for piece in pieces:
            if errors:
                break
            if isinstance(piece, Span):
                copier.copy(piece)
            else:
                copier.write(piece)
    except BaseException:
        stop.set()
        raise
    finally:
        hasher.join()
    if errors:
        raise errors[0]
    return digest.hexdigest()
