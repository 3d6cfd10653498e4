"""Judge a package against its own manifests: complete, Payload-Oxum, and every checksum.

Two depths, as archivists schedule them: `fast` (stat only: every listed file present, no
unlisted file, Payload-Oxum bytes and count equal) for frequent runs, and `full` (every
checksum of every manifest) for the weekly run. Tag files (bag-info.txt, the manifests,
premis-events.jsonl, ...) are small, so their tag-manifest checksums are checked at both depths:
an edited tag file is news even on a fast run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.verify.discover import Bag, payload_on_disk
from archiver.verify.hashing import HashResult, HashTask


@dataclass
class Change:
    """One file whose bytes no longer match one of its recorded digests."""

    path: str
    algorithm: str
    expected: str
    actual: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "algorithm": self.algorithm, "expected": self.expected,
                "actual": self.actual}


@dataclass
class PackageCheck:
    """The verdict on one package (paths relative to the bag's root, POSIX separators)."""

    bag: Bag
    mode: str
    files: int = 0                 # payload files on disk
    bytes: int = 0                 # payload bytes on disk
    hashed_bytes: int = 0          # bytes read for checksums (payload + tags)
    changed: list[Change] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    deep: list[dict[str, Any]] | None = None
    event: dict[str, Any] | None = None
    on_disk: dict[str, int] = field(default_factory=dict)

    @property
    def oxum_ok(self) -> bool | None:
        if self.bag.oxum is None:
            return None
        return self.bag.oxum == (self.bytes, self.files)

    @property
    def ok(self) -> bool:
        deep_bad = any(d["outcome"] != "ok" for d in self.deep or [])
        return not (self.changed or self.missing or self.untracked or self.errors or deep_bad
                    or self.oxum_ok is False)

    def changed_paths(self) -> set[str]:
        return {c.path for c in self.changed}


def plan(bag: Bag, fast: bool) -> tuple[PackageCheck, list[HashTask]]:
    """Look at the disk (stat only) and list what must be hashed for this package."""
    check = PackageCheck(bag=bag, mode="fast" if fast else "full", errors=list(bag.errors))
    check.on_disk = payload_on_disk(bag.root)
    check.files = len(check.on_disk)
    check.bytes = sum(check.on_disk.values())
    listed = bag.payload_paths()
    check.missing = sorted(p for p in listed if p not in check.on_disk)
    check.untracked = sorted(p for p in check.on_disk if p not in listed)
    for alg, entries in sorted(bag.payload.items()):
        for path in sorted(listed - set(entries)):
            check.errors.append(f"{path}: not listed in manifest-{alg}.txt")
    tasks: list[HashTask] = []
    if not fast:
        for path in sorted(listed & set(check.on_disk)):
            algs = tuple(a for a in bag.algorithms if path in bag.payload[a])
            tasks.append(HashTask(bag.root / path, algs, check.on_disk[path]))
    for path in sorted(bag.tag_paths()):
        full = bag.root / path
        if not full.is_file():
            check.missing.append(path)
            continue
        algs = tuple(a for a in sorted(bag.tags) if path in bag.tags[a])
        tasks.append(HashTask(full, algs, full.stat().st_size))
    check.missing.sort()
    return check, tasks


def judge(check: PackageCheck, results: dict[Path, HashResult]) -> PackageCheck:
    """Compare computed digests with the recorded ones and fill `changed` and `errors`."""
    bag = check.bag
    recorded: list[tuple[str, dict[str, dict[str, str]]]] = [("tag", bag.tags)]
    if check.mode == "full":
        recorded.insert(0, ("payload", bag.payload))
    for _kind, manifests in recorded:
        paths = sorted({p for entries in manifests.values() for p in entries})
        for path in paths:
            result = results.get(bag.root / path)
            if result is None:
                continue  # missing: already reported
            check.hashed_bytes += result.bytes
            if result.error is not None:
                check.errors.append(f"{path}: unreadable ({result.error})")
                continue
            for alg in sorted(manifests):
                expected = manifests[alg].get(path)
                actual = result.digests.get(alg)
                if expected is not None and actual is not None and actual != expected:
                    check.changed.append(Change(path, alg, expected, actual))
    return check


def summary_note(check: PackageCheck, limit: int = 3) -> str:
    """One short line naming what is wrong (the JSON report has everything)."""
    parts: list[str] = []
    if check.changed:
        paths = sorted(check.changed_paths())
        parts.append(f"changed: {', '.join(paths[:limit])}" + (" …" if len(paths) > limit else ""))
    if check.missing:
        parts.append(f"missing: {', '.join(check.missing[:limit])}"
                     + (" …" if len(check.missing) > limit else ""))
    if check.untracked:
        parts.append(f"untracked: {', '.join(check.untracked[:limit])}"
                     + (" …" if len(check.untracked) > limit else ""))
    if check.oxum_ok is False and bag_oxum(check):
        parts.append(f"Payload-Oxum {bag_oxum(check)} != {check.bytes}.{check.files}")
    for deep in check.deep or []:
        if deep["outcome"] != "ok":
            parts.append(f"{deep['path']}: {deep['outcome']} ({deep['errors']} errors)")
    parts.extend(check.errors[:limit])
    return "; ".join(parts)


def lesson_of(check: PackageCheck) -> str:
    """The lesson id: bag-info's first External-Identifier (or Bag-Group-Identifier), else the
    folder (`packages/<id>/`, or `packages/.versions/<id>/v<N>/` for an older version)."""
    info, root = check.bag.info, check.bag.root
    named = info.get("External-Identifier") or info.get("Bag-Group-Identifier")
    if named:
        return named
    return root.parent.name if root.parent.parent.name == ".versions" else root.name


def bag_oxum(check: PackageCheck) -> str:
    oxum = check.bag.oxum
    return f"{oxum[0]}.{oxum[1]}" if oxum else ""
