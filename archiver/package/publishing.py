"""Putting a finished bag in place as `packages/<id>/`, crash-safe, with a write-ahead journal.

Replacing a package takes two moves: the new bag into `packages/<id>/` and the previous one
out to `packages/.versions/<id>/v<N>/`. Done as two renames, a crash between them leaves the
lesson with no current package. So the swap is a single renameat2(RENAME_EXCHANGE)
(`archiver.store._exchange`): at every instant `packages/<id>/` holds either the old bag or the
new one, both complete. After the exchange the previous bag sits in the staging folder's place
(`lessons/<id>/package/.bag.tmp-*`), and must still be moved to `.versions/`. Before the swap
a journal, `lessons/<id>/package/publish-journal.json`, records where the staging bag is, where
the previous one must go and how to recognise the new one (the sha256 of its `bag-info.txt`,
unique through `Archived-At` and the version). `recover` (called by the package stage before
anything else, under the run lock, so before stale staging folders are removed) reads it
after a crash and finishes the move; a version is thus neither lost nor duplicated.

Where the file system has no RENAME_EXCHANGE, the fallback is the two renames (old out, new in)
under the same journal: a crash between them leaves a short window without a current package,
and the next run's `recover` puts the new one in place (roll forward: the bag was validated
before the journal was written).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

from archiver.errors import Location, PackageError
from archiver.package import bag
from archiver.store import Store, _exchange, atomic_write_json, fsync_dir, sha256_file

JOURNAL = "publish-journal.json"


def journal_path(store: Store, lesson_id: str) -> Path:
    return store.stage_dir(lesson_id, "package") / JOURNAL


def _free_version_slot(store: Store, lesson_id: str, number: int) -> Path:
    slot = bag.versions_dir(store, lesson_id) / f"v{number}"
    while slot.exists():
        number += 1
        slot = slot.with_name(f"v{number}")
    return slot


def _fingerprint_of(bag_dir: Path) -> str | None:
    """How the journal recognises the new bag: its bag-info.txt's sha256."""
    try:
        return sha256_file(bag_dir / "bag-info.txt")
    except OSError:
        return None


def _swap(staging: Path, current: Path, previous: Path) -> None:
    """New bag in, old bag out: one exchange, or (no RENAME_EXCHANGE) old out, then new in."""
    if _exchange(staging, current):
        fsync_dir(current.parent)
        fsync_dir(staging.parent)
        return
    previous.parent.mkdir(parents=True, exist_ok=True)
    os.rename(current, previous)
    fsync_dir(previous.parent)
    os.rename(staging, current)
    fsync_dir(current.parent)
    fsync_dir(staging.parent)


def publish(store: Store, lesson_id: str, staging: Path) -> Path | None:
    """Make the finished, validated bag `staging` the current `packages/<id>/`; the previous
    version (if any) goes to `packages/.versions/<id>/v<N>/`. Returns where it went."""
    current = store.package_dir(lesson_id)
    current.parent.mkdir(parents=True, exist_ok=True)
    if not current.exists():
        os.rename(staging, current)  # nothing to replace: one rename is atomic already
        fsync_dir(current.parent)
        fsync_dir(staging.parent)
        return None
    previous = _free_version_slot(store, lesson_id, bag.version_of(current) or 1)
    journal = journal_path(store, lesson_id)
    new = _fingerprint_of(staging)
    if new is None:
        raise PackageError("the finished bag has no bag-info.txt", Location(staging,
                                                                           lesson=lesson_id))
    atomic_write_json(journal, {
        "staging": staging.relative_to(store.stage_dir(lesson_id, "package")).as_posix(),
        "previous": previous.name,
        "new_bag_info_sha256": new,
    })
    try:
        _swap(staging, current, previous)
    except OSError:
        # the swap failed (a disk error): put the previous version back if the fallback had
        # moved it, and when nothing changed drop the journal, so the failure is a clean one
        if not current.exists() and previous.is_dir():
            with contextlib.suppress(OSError):
                os.rename(previous, current)
        if current.is_dir() and _fingerprint_of(current) != new:
            journal.unlink(missing_ok=True)
        raise
    return _complete(store, lesson_id)


def recover(store: Store, lesson_id: str) -> Path | None:
    """Finish a publish that a crash interrupted (no journal: nothing to do). Returns where the
    previous version went, if this call moved it."""
    if not journal_path(store, lesson_id).exists():
        return None
    return _complete(store, lesson_id)


def _read_journal(store: Store, lesson_id: str) -> dict[str, Any]:
    path = journal_path(store, lesson_id)
    try:
        data = json.loads(path.read_text("utf-8"))
        staging, previous = data["staging"], data["previous"]
        new_sha = data["new_bag_info_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PackageError(f"the publish journal cannot be read ({exc}); check packages/"
                           f"{lesson_id}/ and {path.parent}/.bag.tmp-* by hand, then remove it",
                           Location(path, lesson=lesson_id)) from None
    # our own file, but it names paths: accept only the shapes publish() writes
    if not (isinstance(staging, str) and staging.startswith(bag.STAGING_PREFIX)
            and "/" not in staging and isinstance(previous, str)
            and re.fullmatch(r"v\d+", previous) and isinstance(new_sha, str)):
        raise PackageError(f"the publish journal names unexpected paths: {data}",
                           Location(path, lesson=lesson_id))
    return {"staging": path.parent / staging, "previous": previous, "new": new_sha}


def _complete(store: Store, lesson_id: str) -> Path | None:
    """Bring the lesson to "new bag current, previous bag in .versions/", whatever step the
    journal's publish reached, then remove the journal. Idempotent: a crash in here is
    completed by the next call."""
    journal = _read_journal(store, lesson_id)
    staging: Path = journal["staging"]
    current = store.package_dir(lesson_id)
    previous = bag.versions_dir(store, lesson_id) / journal["previous"]

    def is_new(path: Path) -> bool:
        return path.is_dir() and _fingerprint_of(path) == journal["new"]

    if not current.exists():  # fallback publish interrupted between its two renames
        if is_new(staging):
            os.rename(staging, current)
            fsync_dir(current.parent)
        elif previous.is_dir():  # the new bag is gone: put the previous one back
            os.rename(previous, current)
            fsync_dir(current.parent)
    elif is_new(staging):  # the swap had not happened: roll forward (the bag was validated)
        _swap(staging, current, previous)
    moved = None
    if staging.is_dir():  # after the exchange it holds the previous version
        if (staging / "bagit.txt").is_file():
            target = previous if not previous.exists() else _free_version_slot(
                store, lesson_id, int(journal["previous"][1:]))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, target)
            fsync_dir(target.parent)
            fsync_dir(staging.parent)
            moved = target
    elif previous.is_dir():
        moved = previous
    if not (current / "bagit.txt").is_file():
        raise PackageError("the publish journal could not restore a current package; see "
                           f"{bag.versions_dir(store, lesson_id)}",
                           Location(current, lesson=lesson_id))
    path = journal_path(store, lesson_id)
    path.unlink()
    fsync_dir(path.parent)
    return moved
