"""The output folder: its layout, atomic writes, the run lock and per-lesson stage records.

Layout under `--output` (default `output/`):

    lessons/<id>/fetch/        original media, capture.warc.gz, capture.json (fetch stage)
    lessons/<id>/subtitles/    <id>.zh-Hans.vtt, <id>.en.vtt, <id>.zh-Hans-en.vtt, SRTs, quality
    lessons/<id>/package/      <id>.mkv, <id>.mp4, provenance.json (package stage work files)
    lessons/<id>/state/        <stage>.json: the last StageResult of each stage
    reports/<stage>.json       the last StageResult of a site stage (publish.json)
    packages/<id>/             the lesson's BagIt package (current version)
    quarantine/<id>/           bytes that failed a check, kept for inspection, never used
    reports/                   verify / check-sources / bench reports
    catalog.json, site/        written by package and publish

Nothing half-written is ever visible under a final name: files are written to a temporary
name in the same folder, fsynced, then renamed (an atomic step on POSIX file systems).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from archiver.errors import ArchiverError, Location, LockError, RecordError, UsageError
from archiver.model import Details, Output, StageResult

D = TypeVar("D", bound=Details)
SITE = "(site)"  # the `lesson` of site-level records (publish)

LESSON_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
TEMP_MARK = ".tmp-"  # every temporary name contains this; nothing final ever does
FILE_MODE = 0o644  # mkstemp makes 0600; archived files must stay readable by web servers
DIR_MODE = 0o755  # mkdtemp makes 0700, for the same reason


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success fsync and rename it to `path`.

    On any exception the temporary file is removed and `path` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", dir=path.parent)
    os.fchmod(fd, FILE_MODE)
    tmp = Path(tmp_name)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write_text(path, text)


def temp_path_for(path: Path) -> Path:
    """A fresh temporary name beside `path` (for tools such as ffmpeg that write by name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARK}", suffix=path.suffix,
                                dir=path.parent)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    return Path(name)


def publish_file(tmp: Path, final: Path) -> None:
    """Move a finished temporary file to its final name durably."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def staging_dir(final: Path) -> Path:
    """A fresh, empty sibling folder of `final` to build a replacement for it in."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}{TEMP_MARK}", dir=final.parent))
    os.chmod(staging, DIR_MODE)
    return staging


def remove_stale_staging(final: Path) -> None:
    """Staging folders left by a killed run (call only while holding the run lock)."""
    for stale in final.parent.glob(f".{final.name}{TEMP_MARK}*"):
        shutil.rmtree(stale, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    func = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if func is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if func(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def swap_dir(staging: Path, final: Path) -> None:
    """Make the finished folder `staging` become `final` and delete the previous `final`.

    One atomic renameat2(RENAME_EXCHANGE) where Linux offers it, so a reader (or a crash) sees
    the old folder or the new one, never a mix; elsewhere two renames, which leave at worst a
    short window without `final`, never a half-built one.
    """
    if not final.exists():
        os.replace(staging, final)
    elif _exchange(staging, final):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the previous folder
    else:
        old = staging_dir(final)
        os.replace(final, old / final.name)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(final.parent)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Stream a file through sha256 (1 MiB reads; constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(*parts: Any) -> str:
    """A stable digest of a stage's inputs (JSON-serialisable parts)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


class Store:
    """The output folder of one archive."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._records = RecordCache()
        self._paths: dict[tuple[str, str], Path] = {}  # (lesson, stage) -> record path

    # -- layout ---------------------------------------------------------------------------
    def lesson_dir(self, lesson_id: str) -> Path:
        return self.root / "lessons" / safe_id(lesson_id)

    def stage_dir(self, lesson_id: str, stage: str) -> Path:
        return self.lesson_dir(lesson_id) / stage

    def package_dir(self, lesson_id: str) -> Path:
        return self.root / "packages" / safe_id(lesson_id)

    def quarantine_dir(self, lesson_id: str) -> Path:
        return self.root / "quarantine" / safe_id(lesson_id)

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.json"

    @property
    def site_dir(self) -> Path:
        return self.root / "site"

    # -- stage records ----------------------------------------------------------------------
    def record_path(self, lesson_id: str, stage: str) -> Path:
        """Where a stage's last result is kept: `lessons/<id>/state/<stage>.json`, or
        `reports/<stage>.json` for a site stage (lesson `(site)`)."""
        path = self._paths.get((lesson_id, stage))
        if path is None:  # built once: a rerun asks for each record path many times
            path = self.reports_dir / f"{stage}.json" if lesson_id == SITE else \
                self.lesson_dir(lesson_id) / "state" / f"{stage}.json"
            if len(self._paths) < 100_000:
                self._paths[(lesson_id, stage)] = path
        return path

    def read_result(self, lesson_id: str, stage: str) -> StageResult[Details] | None:
        """The recorded result (None: none yet); a damaged record is a RecordError naming
        the file and the key, for a stage that must not go on from it."""
        path = self.record_path(lesson_id, stage)
        where = Location(path, lesson=None if lesson_id == SITE else lesson_id)
        try:
            # a record read earlier in this run is proven unchanged by one stat (saves ~5
            # system calls on the ~8 repeated reads per lesson of a rerun)
            cached = self._records.get(path, _signature(os.stat(path)))
            if cached is not None:
                return cached
            with open(path, "rb", buffering=0) as handle:  # one open, fstat, read, close
                signature = _signature(os.fstat(handle.fileno()))
                data = json.loads(handle.readall().decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RecordError(f"cannot read the {stage} record: {exc}", where) from None
        result = StageResult.from_json(data, where)
        self._records.put(path, signature, result)
        return result

    def load_result(self, lesson_id: str, stage: str) -> StageResult[Details] | None:
        """The recorded result, or None when there is none or it is damaged (a damaged
        record means "redo the stage")."""
        try:
            return self.read_result(lesson_id, stage)
        except RecordError:
            return None

    def load_details(self, lesson_id: str, kind: type[D]) -> StageResult[D] | None:
        """The result of the stage whose details are `kind` (e.g. FetchDetails), typed; a
        damaged record is a RecordError (a later stage reads it: say where it is wrong)."""
        result = self.read_result(lesson_id, kind.STAGE)
        if result is None:
            return None
        return result.typed(kind, Location(self.record_path(lesson_id, kind.STAGE),
                                           lesson=lesson_id, key="details"))

    def save_result(self, result: StageResult[Any]) -> None:
        atomic_write_json(self.record_path(result.lesson, result.stage), result.to_json())

    def reusable(self, lesson_id: str, stage: str, fp: str) -> StageResult[Details] | None:
        """The recorded result when it succeeded from the same inputs and its outputs exist."""
        result = self.load_result(lesson_id, stage)
        if result is None or not result.succeeded or result.fingerprint != fp:
            return None
        return result if self.outputs_intact(lesson_id, result.outputs) else None

    def outputs_intact(self, lesson_id: str, outputs: list[Output]) -> bool:
        """Whether every recorded output still exists with its recorded size."""
        root = str(self.root)
        base = root if lesson_id == SITE else str(self.lesson_dir(lesson_id))
        for out in outputs:  # plain strings: a rerun checks ~30 files per lesson
            target = f"{root if out.path.startswith('packages/') else base}/{out.path}"
            try:
                if os.stat(target).st_size != out.bytes:
                    return False
            except FileNotFoundError:
                return False
        return True

    # -- run lock ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, wait: bool = False) -> Iterator[None]:
        """Hold the output folder's lock for a whole run; a second run waits or is refused."""
        path = self.root / ".lock"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: anyone who can write into the archive could make `.lock` a symlink,
            # and a run (perhaps as root) would then truncate whatever it points to
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                         | os.O_CLOEXEC, FILE_MODE)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise OSError(errno.EINVAL, f"{path.name} is not a regular file")
            handle = os.fdopen(fd, "r+")
        except OSError as exc:
            reason = f"{path.name} is a symlink" if exc.errno == errno.ELOOP else \
                exc.strerror or str(exc)
            raise UsageError(f"--output {self.root}: cannot be used as the archive folder: "
                             f"{reason}") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise LockError(
                    f"{self.root} is in use by {holder}; wait for it to finish "
                    "or rerun with --wait"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}\n")
            handle.flush()
            try:
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)


def _signature(st: os.stat_result) -> tuple[int, int, int, int]:
    """What identifies one version of a record file: every save is a rename of a new file
    (a new inode), so a changed record never has the signature of the one cached."""
    return st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns


class RecordCache:
    """The last parsed stage records of this Store, by path and file signature.

    Why: one lesson's stages read the same records several times (the package stage's plan
    reads fetch and subtitles, its reuse check and the catalog read package), and parsing and
    validating a record costs far more than the stat that proves it unchanged. Bounded (the
    lessons in flight need a few records each); results are shared, so callers never mutate a
    loaded StageResult (they use dataclasses.replace).
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: collections.OrderedDict[Path, tuple[tuple[int, int, int, int],
                                                         StageResult[Details]]] = \
            collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, signature: tuple[int, int, int, int]
            ) -> StageResult[Details] | None:
        with self._lock:
            found = self._items.get(path)
            if found is None or found[0] != signature:
                return None
            self._items.move_to_end(path)
            return found[1]

    def put(self, path: Path, signature: tuple[int, int, int, int],
            result: StageResult[Details]) -> None:
        with self._lock:
            self._items[path] = (signature, result)
            self._items.move_to_end(path)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def safe_id(lesson_id: str) -> str:
    """Refuse anything but a plain lesson id before it becomes part of a path."""
    if not LESSON_ID.fullmatch(lesson_id):
        raise ArchiverError(f"unsafe lesson id {lesson_id!r}: expected lowercase [a-z0-9-]+")
    return lesson_id
