"""Judge a package against its own manifests: complete, Payload-Oxum, and every checksum.

Two depths, as archivists schedule them: `fast` (stat only: every listed file present, no
unlisted file, Payload-Oxum bytes and count equal) for frequent runs, and `full` (every
checksum of every manifest) for the weekly run. Tag files (bag-info.txt, the manifests,
premis-events.jsonl, ...) are small, so their tag-manifest checksums are checked at both depths:
an edited tag file is news even on a fast run.

Every path comes from one walk of the bag that follows nothing (`discover.scan`), with the
size `lstat` saw then: that size bounds the hashing reads, and a symlink, FIFO, device or
socket is an `unsafe` entry of the verdict, never opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.safefs import Unsafe
from archiver.verify.discover import Bag, lesson_name
from archiver.verify.hashing import HashResult, HashTask

GREW = "grew while being read"


@dataclass
class Change:
    """One file whose bytes no longer match one of its recorded digests."""

    path: str
    algorithm: str
    expected: str
    actual: str
    reason: str | None = None  # set when the digest could not cover the whole file

    def to_json(self) -> dict[str, str]:
        entry = {"path": self.path, "algorithm": self.algorithm, "expected": self.expected,
                 "actual": self.actual}
        if self.reason is not None:
            entry["reason"] = self.reason
        return entry


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
    unsafe: list[Unsafe] = field(default_factory=list)
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
                    or self.unsafe or self.oxum_ok is False)

    def changed_paths(self) -> set[str]:
        return {c.path for c in self.changed}


def plan(bag: Bag, fast: bool) -> tuple[PackageCheck, list[HashTask]]:
    """List what must be hashed for this package, from the walk `load_bag` made (no I/O)."""
    check = PackageCheck(bag=bag, mode="fast" if fast else "full", errors=list(bag.errors),
                         unsafe=list(bag.unsafe))
    check.on_disk = {p: size for p, size in bag.files.items() if p.startswith("data/")}
    check.files = len(check.on_disk)
    check.bytes = sum(check.on_disk.values())
    listed = bag.payload_paths()
    check.missing = sorted(p for p in listed if p not in check.on_disk and not bag.blocked(p))
    check.untracked = sorted(p for p in check.on_disk if p not in listed)
    for alg, entries in sorted(bag.payload.items()):
        for path in sorted(listed - set(entries)):
            check.errors.append(f"{path}: not listed in manifest-{alg}.txt")
    tasks: list[HashTask] = []
    if not fast:
        for path in sorted(listed & set(check.on_disk)):
            algs = tuple(a for a in bag.algorithms if path in bag.payload[a])
            tasks.append(HashTask(bag.base, f"{bag.rel}/{path}", algs, check.on_disk[path]))
    for path in sorted(bag.tag_paths()):
        if path not in bag.files:
            if not bag.blocked(path):
                check.missing.append(path)
            continue
        algs = tuple(a for a in sorted(bag.tags) if path in bag.tags[a])
        tasks.append(HashTask(bag.base, f"{bag.rel}/{path}", algs, bag.files[path]))
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
            if result.unsafe is not None:  # swapped for a symlink, FIFO... since the walk
                check.unsafe.append(Unsafe(path, result.unsafe))
                continue
            if result.error is not None:
                check.errors.append(f"{path}: unreadable ({result.error})")
                continue
            _compare(check, path, manifests, result)
    return check


def _compare(check: PackageCheck, path: str, manifests: dict[str, dict[str, str]],
             result: HashResult) -> None:
    reason = (f"{GREW}: {check.bag.files.get(path, 0)} bytes when the check began"
              if result.grew else None)
    for alg in sorted(manifests):
        expected = manifests[alg].get(path)
        actual = result.digests.get(alg)
        if expected is not None and actual is not None and (actual != expected or reason):
            check.changed.append(Change(path, alg, expected, actual, reason))


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
    if check.unsafe:
        parts.append("unsafe: " + ", ".join(f"{u.path} ({u.kind})" for u in check.unsafe[:limit])
                     + (" …" if len(check.unsafe) > limit else ""))
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
    root = check.bag.root
    named = lesson_name(check.bag)
    if named:
        return named
    return root.parent.name if root.parent.parent.name == ".versions" else root.name


def bag_oxum(check: PackageCheck) -> str:
    oxum = check.bag.oxum
    return f"{oxum[0]}.{oxum[1]}" if oxum else ""
