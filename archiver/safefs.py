"""Read and write below a folder whose contents are not trusted, without ever leaving it.

Why: an archive is written by others too (a sync job, a restored backup, a colleague with
write access), while the tools that read it (`verify`, `check-sources`, `serve`, and the
package stage when it looks at an existing bag) run with other rights: a systemd unit, the
archive owner's cron, sometimes root. A symlink named like a manifest would make such a reader
open a file the writer could not read and copy it into a world-readable report; a FIFO blocks
the reader for ever, and a device (or a symlink to `/dev/zero`) feeds it for ever. So, as
bagit-python does, only regular files and folders are opened; everything else is reported with
its kind (`symlink`, `fifo`, `device`, `socket`, `other`) and never read, and a path that would
climb out of the folder is `outside`.

How: the caller names a trusted *base* folder (the `--output` folder it was given) and a
relative POSIX path below it. `..` and absolute paths are refused before any system call, and
the path is then resolved one component at a time from an open folder descriptor (`openat`
with `O_NOFOLLOW`), so no symlink is followed at any depth, and a component swapped for a
symlink between a check and an open cannot redirect us: we hold descriptors, not names. Files
are opened with `O_NONBLOCK` (a FIFO slipped in after the `lstat` cannot block the open) and
checked again with `fstat`. Writes go to a temporary name in the same folder descriptor and are
renamed over the final name; a final name that is not a regular file is refused, never written
through or replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from archiver.store import TEMP_MARK

FILE = "file"
DIRECTORY = "directory"
SYMLINK = "symlink"
FIFO = "fifo"
DEVICE = "device"
SOCKET = "socket"
OTHER = "other"        # any other type, or a folder nested deeper than MAX_DEPTH
OUTSIDE = "outside"    # a path that climbs out ('..', absolute)
UNSAFE_KINDS = (SYMLINK, FIFO, DEVICE, SOCKET, OTHER, OUTSIDE)

MAX_DEPTH = 64  # folders below this many levels are reported (OTHER), not entered
READ_LIMIT = 64 << 20  # default bound of `read_file`: tag files, manifests, capture records

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(Exception):
    """A path below the base that is not a regular file or folder, or that leaves the base.

    Deliberately not an OSError: callers that treat OSError as "unreadable" must decide what
    an unsafe entry means for them instead of folding it in by accident.
    """

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{path}: {kind}, not opened")
        self.path = path
        self.kind = kind


@dataclass(frozen=True)
class Unsafe:
    """One unsafe entry as reports list it: where (relative path) and what it is."""

    path: str
    kind: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "kind": self.kind}


@dataclass(frozen=True)
class Entry:
    """One folder entry as `lstat` saw it (`size` is only meaningful for files)."""

    path: str
    kind: str
    size: int


def kind_of(mode: int) -> str:
    """The kind of an `st_mode`, in the words the reports use."""
    if stat.S_ISREG(mode):
        return FILE
    if stat.S_ISDIR(mode):
        return DIRECTORY
    if stat.S_ISLNK(mode):
        return SYMLINK
    if stat.S_ISFIFO(mode):
        return FIFO
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return DEVICE
    if stat.S_ISSOCK(mode):
        return SOCKET
    return OTHER


def split(rel: str) -> list[str]:
    """The components of a relative POSIX path (`.` and empty ones dropped).

    Raises UnsafePath(OUTSIDE) for an absolute path, a `..` component or a NUL byte: such a
    path is refused before any system call sees it.
    """
    if rel.startswith("/") or "\0" in rel:
        raise UnsafePath(rel, OUTSIDE)
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(rel, OUTSIDE)
    return parts


def clean(rel: str) -> str | None:
    """`rel` normalised (`a//b/./c` -> `a/b/c`), or None when it is empty or leaves the base."""
    try:
        parts = split(rel)
    except UnsafePath:
        return None
    return "/".join(parts) or None


def _lkind(dir_fd: int, name: str) -> str:
    return kind_of(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)


def _open_subdir(dir_fd: int, name: str, rel: str) -> int:
    """Open folder `name` of `dir_fd` without following it; UnsafePath names what it is."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
        kind = _lkind(dir_fd, name)
        if kind in (FILE, DIRECTORY):  # a file where a folder was expected: an ordinary error
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), rel) from None
        raise UnsafePath(rel, kind) from None


@contextlib.contextmanager
def opened_dir(base: Path, rel: str = "") -> Iterator[int]:
    """A descriptor of folder `base/rel`, every component below `base` opened `O_NOFOLLOW`.

    `base` itself is opened as given (it is the caller's trusted starting point).
    """
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        walked: list[str] = []
        for name in split(rel):
            walked.append(name)
            child = _open_subdir(fd, name, "/".join(walked))
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def subdir(dir_fd: int, name: str, rel: str) -> Iterator[int]:
    """Folder `name` of an open folder, not followed if it is a symlink (`rel` names it)."""
    fd = _open_subdir(dir_fd, name, rel)
    try:
        yield fd
    finally:
        os.close(fd)


def _parent_and_name(rel: str) -> tuple[str, str]:
    parts = split(rel)
    if not parts:
        raise IsADirectoryError(errno.EISDIR, "the base folder itself", rel)
    return "/".join(parts[:-1]), parts[-1]


def open_at(dir_fd: int, name: str, rel: str) -> tuple[int, os.stat_result]:
    """Open regular file `name` of an open folder for reading: (descriptor, its fstat).

    lstat first, so a FIFO or device is never opened at all; then open with O_NOFOLLOW and
    O_NONBLOCK and fstat, so a swap between the two is caught too. The descriptor is put back
    into blocking mode (it is a regular file by then, where O_NONBLOCK means nothing anyway).
    """
    kind = _lkind(dir_fd, name)
    if kind == DIRECTORY:
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), rel)
    if kind != FILE:
        raise UnsafePath(rel, kind)
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(rel, SYMLINK) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafePath(rel, kind_of(st.st_mode))
    os.set_blocking(fd, True)
    return fd, st


def open_regular(base: Path, rel: str) -> tuple[int, os.stat_result]:
    """Open `base/rel` for reading if it is a regular file reached without any symlink.

    Returns (descriptor, fstat); the caller closes the descriptor. Raises UnsafePath for a
    symlink, FIFO, device, socket or climbing path anywhere on the way, OSError otherwise.
    """
    parent, name = _parent_and_name(rel)
    with opened_dir(base, parent) as dir_fd:
        return open_at(dir_fd, name, "/".join(split(rel)))


def read_fd(fd: int, limit: int, rel: str) -> bytes:
    """Everything in an open file, refusing (EFBIG) to hold more than `limit` bytes."""
    chunks: list[bytes] = []
    total = 0
    while block := os.read(fd, min(1 << 20, limit + 1 - total)):
        chunks.append(block)
        total += len(block)
        if total > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes, the limit for this file",
                          rel)
    return b"".join(chunks)


def read_file(base: Path, rel: str, limit: int = READ_LIMIT) -> tuple[bytes, os.stat_result]:
    """The bytes of regular file `base/rel` (at most `limit`) and its fstat."""
    fd, st = open_regular(base, rel)
    try:
        return read_fd(fd, limit, rel), st
    finally:
        os.close(fd)


def read_bytes(base: Path, rel: str, limit: int = READ_LIMIT) -> bytes:
    return read_file(base, rel, limit)[0]


def lstat(base: Path, rel: str) -> os.stat_result:
    """lstat of `base/rel`, its parents walked without following symlinks."""
    parent, name = _parent_and_name(rel)
    with opened_dir(base, parent) as dir_fd:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)


def entries(dir_fd: int, rel: str = "") -> list[Entry]:
    """The entries of one open folder, sorted by name, as lstat sees them (nothing followed).

    An entry deleted while we look is simply not there.
    """
    found: list[Entry] = []
    with os.scandir(dir_fd) as listing:
        for item in listing:
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            path = f"{rel}/{item.name}" if rel else item.name
            found.append(Entry(path, kind_of(st.st_mode), st.st_size))
    return sorted(found, key=lambda e: e.path)


def walk(base: Path, rel: str = "", descend: Callable[[Entry], bool] | None = None,
         max_depth: int = MAX_DEPTH) -> Iterator[Entry]:
    """Every entry below folder `base/rel` (paths relative to it), depth first, by name.

    Folders are yielded, then entered (when `descend` says so) through descriptors opened
    O_NOFOLLOW; symlinks, FIFOs, devices and sockets are yielded with their kind and never
    opened. A folder deeper than `max_depth` is yielded as OTHER and not entered, so a hostile
    tree cannot exhaust descriptors or the stack.
    """
    with opened_dir(base, rel) as fd:
        yield from _walk(fd, "", descend, max_depth)


def _walk(fd: int, rel: str, descend: Callable[[Entry], bool] | None,
          depth: int) -> Iterator[Entry]:
    for entry in entries(fd, rel):
        if entry.kind != DIRECTORY:
            yield entry
            continue
        if depth <= 0:
            yield Entry(entry.path, OTHER, 0)
            continue
        yield entry
        if descend is not None and not descend(entry):
            continue
        try:
            child = _open_subdir(fd, entry.path.rsplit("/", 1)[-1], entry.path)
        except UnsafePath as exc:  # swapped for something else since the listing
            yield Entry(entry.path, exc.kind, 0)
            continue
        except FileNotFoundError:
            continue
        try:
            yield from _walk(child, entry.path, descend, depth - 1)
        finally:
            os.close(child)


def file_mode_for(folder: os.stat_result) -> int:
    """Permission bits for a new file in a folder: the folder's read and write bits, so a file
    is never more open than the folder that holds it (0755 -> 0644, 0750 -> 0640)."""
    return stat.S_IMODE(folder.st_mode) & 0o666


def _adopt_owner(fd: int, uid: int, gid: int) -> None:
    """Give a new file the owner of what it replaces (root can) or at least its group."""
    if os.geteuid() == 0:
        os.fchown(fd, uid, gid)
        return
    if gid != os.getegid():
        with contextlib.suppress(PermissionError):
            os.fchown(fd, -1, gid)


def makedirs(base: Path, rel: str, mode: int) -> None:
    """Create the folders of `rel` below `base` (umask applies), never through a symlink."""
    parts = split(rel)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for index, name in enumerate(parts):
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, mode, dir_fd=fd)
            child = _open_subdir(fd, name, "/".join(parts[:index + 1]))
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def write_file(base: Path, rel: str, data: bytes, mode: int,
               like: os.stat_result | None = None,
               owner: os.stat_result | None = None) -> None:
    """Put `data` at `base/rel` atomically (temporary name, fsync, rename, fsync folder).

    A new file gets `mode` less the process umask, and (where we may) the owner of `owner`,
    say the archive folder, so a check run by root leaves no root-owned file behind. With
    `like` (the file being replaced), the new one takes exactly its permission bits and owner:
    a rewrite is never more open than what it replaces. An existing entry that is not a
    regular file is refused (UnsafePath): neither followed nor replaced.
    """
    parent, name = _parent_and_name(rel)
    with opened_dir(base, parent) as dir_fd:
        try:
            kind = _lkind(dir_fd, name)
        except FileNotFoundError:
            kind = None
        if kind is not None and kind != FILE:
            raise UnsafePath("/".join(split(rel)), kind)
        tmp = f".{name[:100]}{TEMP_MARK}{secrets.token_hex(6)}"
        fd = os.open(tmp, _CREATE_FLAGS, mode if like is None else 0o600, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                if like is not None:
                    os.fchmod(handle.fileno(), stat.S_IMODE(like.st_mode) & 0o777)
                source = like or owner
                if source is not None:
                    _adopt_owner(handle.fileno(), source.st_uid, source.st_gid)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            os.fsync(dir_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise


def unlink(base: Path, rel: str) -> None:
    """Remove `base/rel` (the entry itself, whatever it is; a symlink's target is untouched)."""
    parent, name = _parent_and_name(rel)
    with opened_dir(base, parent) as dir_fd:
        os.unlink(name, dir_fd=dir_fd)
