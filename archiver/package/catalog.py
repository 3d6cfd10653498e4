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
from collections.abc import Iterator
from typing import Any

from archiver.model import Lesson, Manifest, PackageDetails, utcnow
from archiver.model.jsonio import dump
from archiver.package import record
from archiver.store import Store, atomic_write_json

SCHEMA = "lesson-archiver/catalog/1"
_THREAD_LOCK = threading.Lock()


def _status(store: Store, lesson: Lesson, packaged: bool) -> str:
    package = store.load_result(lesson.id, "package")
    fetch = store.load_result(lesson.id, "fetch")
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
    found = record.current(store, lesson.id)
    status = _status(store, lesson, found is not None)
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
        failed = next((r for stage in ("package", "fetch")
                       if (r := store.load_result(lesson.id, stage)) and r.status == "failed"),
                      None)
        item["error"] = failed.error if failed else None
    return item


@contextlib.contextmanager
def _locked(store: Store) -> Iterator[None]:
    store.root.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK, open(store.root / ".catalog.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def rebuild(store: Store, manifest: Manifest) -> bool:
    """Rebuild `catalog.json` from every lesson's records; True when the file changed."""
    with _locked(store):
        series = manifest.series
        body = {
            "schema": SCHEMA,
            "series": {"id": series.id,
                       "title": {"en": series.title.en, "zh": series.title.zh},
                       "publisher": {"en": series.publisher.en, "zh": series.publisher.zh}},
            "lessons": [entry(store, lesson) for lesson in manifest.lessons],
        }
        try:
            old = json.loads(store.catalog_path.read_text("utf-8"))
        except (OSError, ValueError):
            old = None
        if isinstance(old, dict) and {k: v for k, v in old.items() if k != "generated"} == \
                json.loads(json.dumps(body, ensure_ascii=False, default=str)):
            return False
        atomic_write_json(store.catalog_path, {**body, "generated": utcnow()})
        return True
