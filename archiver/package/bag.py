"""BagIt packages (RFC 8493, bagit-python): staging, validation and versioning.

Building: the payload is assembled (and muxed) in a staging folder inside the lesson's work
area, `lessons/<id>/package/.bag.tmp-XXXX/`, made into a bag there (sha256 + sha512 manifests,
`premis-events.jsonl` tag file), validated in full, and only then renamed into place. A crash or
a failed step leaves at most a `.tmp-` folder outside `packages/`, which the next run removes:
`packages/` only ever holds complete bags.

Versioning (chosen: keep previous versions). `packages/<id>/` is always the current version;
when a rerun with *changed* inputs (say a corrected transcript) publishes a new package, the
previous one is moved, untouched and still a valid bag, to `packages/.versions/<id>/v<N>/`
(publishing.py: one atomic exchange plus a journal, so a crash never leaves the lesson without
a current package). The version number is recorded in each bag's `bag-info.txt`
(`Internal-Sender-Identifier: <id>/v<N>`, `Bag-Group-Identifier: <id>`), and the new
package's provenance names the version it supersedes. A rerun with *unchanged* inputs never
gets here: the stage recognises its fingerprint and returns the recorded result, so nothing
(not even Bagging-Date) changes. `--force` rebuilds and therefore makes a new version.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import bagit

from archiver import cancel, safefs
from archiver.errors import Location, PackageError
from archiver.store import TEMP_MARK, Store, atomic_write_bytes, atomic_write_text
from archiver.verify.discover import parse_bag_info

CHECKSUMS = ["sha256", "sha512"]
STAGING_PREFIX = f".bag{TEMP_MARK}"
PREMIS_FILE = "premis-events.jsonl"
VERSION = re.compile(r"/v(\d{1,9})$")  # bounded: int() of 5000 digits raises
# bag-info field holding the package stage's inputs fingerprint (inputs.compute_fingerprint):
# a rerun that finds no record of its result recognises the package it made by this field
FINGERPRINT_FIELD = "Archiver-Inputs-Fingerprint"
# RFC 8493 section 2.1.1, byte for byte: bagit-utils runs its format checks only on exactly
# this declaration, and bagit-python (1.9) writes 0.97 (see `declare_1_0`)
BAGIT_DECLARATION = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"


def new_staging(store: Store, lesson_id: str) -> Path:
    """A fresh staging folder on the same file system as `packages/` (rename stays atomic)."""
    work = store.stage_dir(lesson_id, "package")
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=work))


def bagit_command() -> list[str]:
    return [sys.executable, "-m", "archiver.package._bagit_child"]


def make(staging: Path, bag_info: dict[str, str | list[str]], lesson_id: str) -> list[str]:
    """Turn `staging` into a bag in place (in a child process); return the argv used."""
    argv = bagit_command()
    job = {"bag_dir": str(staging.resolve()), "bag_info": bag_info, "checksums": CHECKSUMS}
    proc = cancel.run(argv, input=json.dumps(job), text=True,  # ASCII: locale-proof
                      capture_output=True, check=False, timeout=3600)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise PackageError(f"bagit could not build the bag: {tail}",
                           Location(staging, lesson=lesson_id))
    declare_1_0(staging)
    return argv


def declare_1_0(bag_dir: Path) -> None:
    """Declare the bag as BagIt 1.0 (RFC 8493) and keep its tag manifests consistent.

    Why by hand: bagit-python 1.9 writes `BagIt-Version: 0.97` and offers no option for 1.0.
    The payload layout and manifests it writes already follow RFC 8493, so only the
    declaration changes; bagit.txt is listed in the tag manifests, which are recomputed.
    Bags written before (0.97) are left as they are and still validate.
    """
    atomic_write_bytes(bag_dir / "bagit.txt", BAGIT_DECLARATION)
    rewrite_tagmanifests(bag_dir)


def validate(path: Path, lesson_id: str) -> bagit.Bag:
    """Full validation (every checksum of every manifest); PackageError lists each problem."""
    try:
        bag = bagit.Bag(str(path))
        bag.validate(processes=1)
    except bagit.BagValidationError as exc:
        details = "; ".join(str(d) for d in exc.details) or exc.message
        raise PackageError(f"bag is not valid: {details}", Location(path, lesson=lesson_id)) \
            from None
    except bagit.BagError as exc:
        raise PackageError(f"bag is not valid: {exc}", Location(path, lesson=lesson_id)) \
            from None
    return bag


def manifest_digests(path: Path, algorithm: str = "sha256") -> dict[str, str]:
    """payload path (without `data/`) -> digest, from a bag's manifest.

    Read through archiver.safefs (no symlink followed, bounded): an existing package is
    untrusted input."""
    digests = {}
    try:
        text = safefs.read_bytes(path, f"manifest-{algorithm}.txt").decode("utf-8")
    except safefs.UnsafePath as exc:
        raise PackageError(f"{exc.path} is a {exc.kind}, not a regular file; not read",
                           Location(path)) from None
    for line in text.splitlines():
        digest, _, name = line.partition(" ")
        digests[name.strip().removeprefix("data/")] = digest
    return digests


def info_of(bag_dir: Path) -> dict[str, str]:
    """A bag's `bag-info.txt` (the last value of a repeated field), or {} if it is no bag.

    Read through archiver.safefs, not bagit.Bag (which follows symlinks and reads every
    manifest whole): a symlinked bag-info.txt or bagit.txt makes it "no bag"."""
    try:
        if safefs.kind_of(safefs.lstat(bag_dir, "bagit.txt").st_mode) != safefs.FILE:
            return {}
        text = safefs.read_bytes(bag_dir, "bag-info.txt").decode("utf-8-sig")
    except (OSError, UnicodeError, safefs.UnsafePath):
        return {}
    values, _lines, bad = parse_bag_info(text)
    if bad:  # as bagit.Bag: a line that is no `Label: value` makes the bag unreadable
        return {}
    return {key: found[-1] for key, found in values.items()}


def version_of(bag_dir: Path) -> int | None:
    return version_in(info_of(bag_dir))


def version_in(info: dict[str, str]) -> int | None:
    """The package version a bag-info (`info_of`) names, if any."""
    match = VERSION.search(info.get("Internal-Sender-Identifier", ""))
    return int(match.group(1)) if match else None


def versions_dir(store: Store, lesson_id: str) -> Path:
    return store.root / "packages" / ".versions" / lesson_id


def next_version(store: Store, lesson_id: str) -> int:
    numbers = [0]
    current = store.package_dir(lesson_id)
    if (current / "bagit.txt").is_file():
        numbers.append(version_of(current) or 1)
    old = versions_dir(store, lesson_id)
    if old.is_dir():
        numbers += [int(p.name[1:]) for p in old.iterdir() if re.fullmatch(r"v\d+", p.name)]
    return max(numbers) + 1


def _tag_files(bag_dir: Path) -> list[str]:
    names = []
    for path in sorted(bag_dir.rglob("*")):
        rel = path.relative_to(bag_dir).as_posix()
        if path.is_file() and not rel.startswith("data/") and \
                not re.match(r"tagmanifest-.+\.txt$", rel):
            names.append(rel)
    return names


def rewrite_tagmanifests(bag_dir: Path) -> None:
    """Recompute every `tagmanifest-<alg>.txt` (after a tag file changed), without chdir."""
    algorithms = [p.name[len("tagmanifest-"):-4] for p in bag_dir.glob("tagmanifest-*.txt")]
    for algorithm in algorithms or CHECKSUMS:
        lines = []
        for rel in _tag_files(bag_dir):
            digest = hashlib.new(algorithm)
            digest.update((bag_dir / rel).read_bytes())
            lines.append(f"{digest.hexdigest()} {rel}\n")
        atomic_write_text(bag_dir / f"tagmanifest-{algorithm}.txt", "".join(lines))


def append_premis_events(bag_dir: Path, events: list[dict[str, Any]]) -> None:
    """Append PREMIS events (one JSON object a line) to the bag's `premis-events.jsonl` tag file
    and rewrite the tag manifests so the bag stays valid (what `archiver verify` also does)."""
    path = bag_dir / PREMIS_FILE
    old = path.read_bytes() if path.is_file() else b""
    new = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in events)
    atomic_write_bytes(path, old + new.encode("utf-8"))
    rewrite_tagmanifests(bag_dir)
