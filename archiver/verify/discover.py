"""Find BagIt packages under an archive folder and read their manifests and bag-info.

Verify must work on a bare copy of the archive (a backup disk, a restored tape) without the
manifest file or any stage record, so a package is recognised by its `bagit.txt` alone, and
everything else is read from the bag's own tag files. Parsing is deliberately independent of
bagit-python: a damaged manifest must become a precise report line, not an exception that
hides the other packages' results.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from archiver.store import TEMP_MARK

MANIFEST = re.compile(r"^manifest-([a-z0-9]+)\.txt$")
TAGMANIFEST = re.compile(r"^tagmanifest-([a-z0-9]+)\.txt$")
OXUM = re.compile(r"^(\d+)\.(\d+)$")


@dataclass
class Bag:
    """What a package claims about itself: manifests (per algorithm) and Payload-Oxum."""

    root: Path
    rel: str                                     # path relative to the archive folder
    payload: dict[str, dict[str, str]] = field(default_factory=dict)  # alg -> {path: digest}
    tags: dict[str, dict[str, str]] = field(default_factory=dict)     # alg -> {path: digest}
    oxum: tuple[int, int] | None = None          # (bytes, files) from bag-info.txt
    info: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def algorithms(self) -> list[str]:
        return sorted(self.payload)

    def payload_paths(self) -> set[str]:
        return {p for entries in self.payload.values() for p in entries}

    def tag_paths(self) -> set[str]:
        return {p for entries in self.tags.values() for p in entries}


def find_bags(output: Path) -> list[Path]:
    """Every folder under `<output>/packages/` holding a `bagit.txt`, older versions included.

    Folders whose name carries the store's temporary mark are skipped: they are packages being
    built by a concurrent run, not archived ones. A bag's own `data/` is not searched (a
    `bagit.txt` in a payload is payload, not a package).
    """
    base = output / "packages"
    found: list[Path] = []
    if not base.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(base):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if TEMP_MARK not in d)
        if "bagit.txt" in filenames:
            found.append(here)
            dirnames[:] = [d for d in dirnames if d != "data"]
    return sorted(found)


def _decode_path(raw: str) -> str:
    """Manifest paths encode CR/LF as %0D/%0A (RFC 8493 §2.1.3)."""
    return re.sub("%0A", "\n", re.sub("%0D", "\r", raw, flags=re.I), flags=re.I)


def safe_relpath(raw: str) -> str | None:
    """A manifest path as a normalised POSIX path inside the bag, or None when it escapes."""
    path = PurePosixPath(_decode_path(raw))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return str(path)


def read_manifest(path: Path, errors: list[str], bag_rel: str) -> dict[str, str]:
    """Parse `<digest> <path>` lines; every malformed or unsafe line becomes an error text."""
    entries: dict[str, str] = {}
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{bag_rel}/{path.name}: unreadable ({exc.__class__.__name__}: {exc})")
        return entries
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        rel = safe_relpath(name.strip().lstrip("*"))
        if not name.strip() or rel is None or not re.fullmatch(r"[0-9a-fA-F]+", digest):
            errors.append(f"{bag_rel}/{path.name}:{number}: malformed or unsafe entry {line!r}")
            continue
        if rel in entries and entries[rel] != digest.lower():
            errors.append(f"{bag_rel}/{path.name}:{number}: {rel} listed twice, differently")
        entries[rel] = digest.lower()
    return entries


def read_bag_info(path: Path, errors: list[str], bag_rel: str) -> dict[str, str]:
    """Parse bag-info.txt labels (continuation lines start with whitespace).

    A label may repeat (RFC 8493 allows it; the package stage writes the lesson id and the
    source URL as two External-Identifier lines): the first value is kept, as the primary.
    """
    info: dict[str, str] = {}
    try:
        text = path.read_text("utf-8-sig")
    except FileNotFoundError:
        return info
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{bag_rel}/bag-info.txt: unreadable ({exc.__class__.__name__}: {exc})")
        return info
    label: str | None = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and label is not None:
            info[label] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            name = name.strip()
            label = name if name not in info else None  # continuation of a repeat: dropped
            if label is not None:
                info[label] = value.strip()
    return info


def load_bag(root: Path, output: Path) -> Bag:
    """Read one package's manifests, tag manifests and Payload-Oxum."""
    rel = os.path.relpath(root, output)
    bag = Bag(root=root, rel=rel)
    names = sorted(os.listdir(root))
    for name in names:
        if (m := MANIFEST.match(name)) is not None:
            bag.payload[m.group(1)] = read_manifest(root / name, bag.errors, rel)
        elif (m := TAGMANIFEST.match(name)) is not None:
            bag.tags[m.group(1)] = read_manifest(root / name, bag.errors, rel)
    if not bag.payload:
        bag.errors.append(f"{rel}: no payload manifest (manifest-<algorithm>.txt)")
    bag.info = read_bag_info(root / "bag-info.txt", bag.errors, rel)
    oxum = bag.info.get("Payload-Oxum")
    if oxum is not None:
        if (m := OXUM.match(oxum)) is not None:
            bag.oxum = (int(m.group(1)), int(m.group(2)))
        else:
            bag.errors.append(f"{rel}/bag-info.txt: malformed Payload-Oxum {oxum!r}")
    for entries in bag.payload.values():
        for path in entries:
            if not path.startswith("data/"):
                bag.errors.append(f"{rel}: payload manifest lists {path!r} outside data/")
    return bag


def payload_on_disk(root: Path) -> dict[str, int]:
    """Every file under `data/` (relative POSIX path -> size), symlinks not followed."""
    found: dict[str, int] = {}
    data = root / "data"
    for dirpath, dirnames, filenames in os.walk(data):
        dirnames.sort()
        for name in filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            try:
                found[rel] = full.lstat().st_size
            except FileNotFoundError:  # deleted while we looked: it is simply not there
                continue
    return found
