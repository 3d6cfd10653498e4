"""`output/catalog.json`: every lesson of the manifest with its status and package files.

The catalog is never patched: it is rebuilt from the manifest and each lesson's records (the
stage results in `lessons/<id>/state/`; the package record's details describe the package now
in `packages/<id>/`, see record.py). Lessons packaged on
parallel threads (or processes) therefore cannot clobber each other's entries; a
threading lock plus an flock on `output/.catalog.lock` serialise the rebuilds, and the file is
written atomically. It is rewritten only when an entry changed, so an unchanged rerun leaves
it (and its `generated` time) as it was.

Status: `archived` (a package exists and the last package run succeeded), `failed` (the last
fetch or package run failed; `package`/`files` still point to the previous, intact package if
there is one), `not-fetched` (no media yet), `no-source` (the manifest lists no source).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from archiver.model import Details, Lesson, Manifest, PackageDetails, StageResult, utcnow
from archiver.model.jsonio import dump
from archiver.package import record
from archiver.store import Store, atomic_write_json

SCHEMA = "lesson-archiver/catalog/1"
_THREAD_LOCK = threading.Lock()


def _status(store: Store, lesson: Lesson, package: StageResult[Details] | None,
            fetch: StageResult[Details] | None, packaged: bool) -> str:
    if package is not None and package.status == "failed":
        return "failed"
    if packaged and (store.package_dir(lesson.id) / "bagit.txt").is_file():
        return "archived"
    if fetch is not None and fetch.status == "failed":
        return "failed"
    return "not-fetched" if lesson.sources else "no-source"


def _package_fields(details: PackageDetails) -> dict[str, Any]:
    return {"package": details.package, "version": details.version,
            "files": dump(details.files) if details.files else {},
            "source": dump(details.source) if details.source else None,
            "duration_seconds": details.duration_seconds,
            "previous_versions": list(details.previous_versions)}


def entry(store: Store, lesson: Lesson) -> dict[str, Any]:
    """The catalog entry of one lesson from its records, each read once."""
    package = store.load_result(lesson.id, "package")
    fetch = store.load_result(lesson.id, "fetch")
    found = record.current(store, lesson.id, package)
    status = _status(store, lesson, package, fetch, found is not None)
    item: dict[str, Any] = {
        "id": lesson.id, "number": lesson.number,
        "title": {"en": lesson.title.en, "zh": lesson.title.zh},
        "released": lesson.released.isoformat() if lesson.released else None,
        "duration": lesson.duration,
        "speaker": {"en": lesson.speaker.en, "zh": lesson.speaker.zh},
        "synopsis": {"en": lesson.synopsis.en, "zh": lesson.synopsis.zh}
        if lesson.synopsis else None,
        "status": status, "package": None, "version": None, "files": {}, "source": None,
    }
    if found is not None:
        item.update(_package_fields(found[0]))
    if status == "failed":
        failed = next((r for r in (package, fetch) if r and r.status == "failed"), None)
        item["error"] = failed.error if failed else None
    plain: dict[str, Any] = _plain(item)
    return plain


def _plain(data: Any) -> Any:
    """`data` as it reads back from JSON, so entries compare equal to the file's."""
    return json.loads(json.dumps(data, ensure_ascii=False, default=str))


@contextlib.contextmanager
def _locked(store: Store) -> Iterator[None]:
    store.root.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK, open(store.root / ".catalog.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _series(manifest: Manifest) -> dict[str, Any]:
    series = manifest.series
    return {"id": series.id, "title": {"en": series.title.en, "zh": series.title.zh},
            "publisher": {"en": series.publisher.en, "zh": series.publisher.zh}}


def _read(store: Store) -> tuple[dict[str, Any] | None, int]:
    """The catalog in place (None: none or unreadable) and its mtime (ns)."""
    try:
        stat = store.catalog_path.stat()
        old = json.loads(store.catalog_path.read_text("utf-8"))
    except (OSError, ValueError):
        return None, 0
    return (old if isinstance(old, dict) else None), stat.st_mtime_ns


def _newer(store: Store, lesson_id: str, than: int) -> bool:
    """Whether a lesson's records changed after the catalog was written (a run that died
    before writing its catalog): its old entry cannot be trusted."""
    for stage in ("fetch", "package"):
        try:
            if store.record_path(lesson_id, stage).stat().st_mtime_ns >= than:
                return True
        except FileNotFoundError:
            continue
    return False


def _write_if_changed(store: Store, body: dict[str, Any], old: dict[str, Any] | None) -> bool:
    if isinstance(old, dict) and {k: v for k, v in old.items() if k != "generated"} == body:
        return False
    atomic_write_json(store.catalog_path, {**body, "generated": utcnow()})
    return True


def rebuild(store: Store, manifest: Manifest) -> bool:
    """Rebuild `catalog.json` from every lesson's records; True when the file changed."""
    with _locked(store):
        body = {"schema": SCHEMA, "series": _series(manifest),
                "lessons": [entry(store, lesson) for lesson in manifest.lessons]}
        return _write_if_changed(store, body, _read(store)[0])


class Book:
    """The catalog of one run, kept up to date incrementally (the runner's bookkeeping).

    Rebuilding the catalog from every lesson's records after each lesson made a run of n
    lessons cost n² record reads (a no-op rerun of 10,000 lessons: hours). A Book reads the
    catalog in place once; each finished lesson replaces its own entry, computed from its own
    records; every other entry is taken from the file in place unless that lesson's records
    are newer than the file (then it is recomputed). The file is written only when something
    differs, at most every `interval` seconds while lessons run (the first time at once), and
    by `flush` at the end of the run: O(n) per run, O(1) per lesson.
    """

    def __init__(self, store: Store, manifest: Manifest, interval: float = 0.0) -> None:
        self.store, self.manifest, self.interval = store, manifest, interval
        self._lock = threading.Lock()
        self._known: dict[str, dict[str, Any]] = {}
        self._old, self._old_mtime = _read(store)
        old_lessons = (self._old or {}).get("lessons")
        self._old_entries = {e.get("id"): e for e in old_lessons or [] if isinstance(e, dict)}
        self._dirty = False
        self._written = -float("inf")

    def update(self, lesson_id: str) -> bool:
        """Recompute one lesson's entry; write the file if due. True when it was written."""
        lesson = self.manifest.lesson(lesson_id)
        item = entry(self.store, lesson)
        with self._lock:
            self._known[lesson_id] = item
            if self._old_entries.get(lesson_id) != item:
                self._dirty = True
            if self._dirty and time.monotonic() - self._written >= self.interval:
                return self._write()
        return False

    def flush(self) -> bool:
        """Write the catalog if anything differs from the file in place."""
        with self._lock:
            return self._write()

    def _write(self) -> bool:
        with _locked(self.store):
            lessons = []
            for lesson in self.manifest.lessons:
                item = self._known.get(lesson.id)
                if item is None:
                    item = self._old_entries.get(lesson.id)
                    if item is None or _newer(self.store, lesson.id, self._old_mtime):
                        item = entry(self.store, lesson)
                lessons.append(item)
            body = {"schema": SCHEMA, "series": _series(self.manifest), "lessons": lessons}
            changed = _write_if_changed(self.store, body, self._old)
            self._old = body
            self._old_entries = {e["id"]: e for e in lessons}
            self._old_mtime = _read(self.store)[1] if changed else self._old_mtime
            self._dirty = False
            self._written = time.monotonic()
            return changed
