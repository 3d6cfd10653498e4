"""Find BagIt packages under an archive folder and read their manifests and bag-info.

Verify must work on a bare copy of the archive (a backup disk, a restored tape) without the
manifest file or any stage record, so a package is recognised by its `bagit.txt` alone, and
everything else is read from the bag's own tag files. Parsing is deliberately independent of
bagit-python: a damaged manifest must become a precise report line, not an exception that
hides the other packages' results.

A bag is untrusted input (a backup, or anyone who can write into the archive, made it): every
file is reached through `archiver.safefs` (no symlink followed, no FIFO or device opened, no
path out of the bag), every read is bounded, numbers are parsed with a bound, and a malformed
line is reported by its number, never echoed into the report.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from archiver import safefs
from archiver.safefs import UNSAFE_KINDS, Unsafe, UnsafePath
from archiver.store import TEMP_MARK

MANIFEST = re.compile(r"^manifest-([a-z0-9]+)\.txt$")
TAGMANIFEST = re.compile(r"^tagmanifest-([a-z0-9]+)\.txt$")
OXUM = re.compile(r"(\d{1,20})\.(\d{1,20})")  # 20 digits hold any 64-bit count
TAG_FILE_LIMIT = safefs.READ_LIMIT  # manifests, bag-info.txt, the event log
MAX_PATH = 4096                     # PATH_MAX: a longer manifest path is malformed
MAX_LESSON = 256                    # a longer External-Identifier is not used as the lesson
# digests whose length is fixed and known; anything else (manifest-foo.txt) is not checked
ALGORITHMS = {a: hashlib.new(a).digest_size * 2 for a in sorted(hashlib.algorithms_guaranteed)
              if not a.startswith("shake_")}


@dataclass
class Bag:
    """What a package claims about itself (manifests per algorithm, Payload-Oxum) and what
    its folder holds (regular files with their size when the check began; unsafe entries)."""

    base: Path                                   # the archive folder (trusted)
    rel: str                                     # path relative to the archive folder
    payload: dict[str, dict[str, str]] = field(default_factory=dict)  # alg -> {path: digest}
    tags: dict[str, dict[str, str]] = field(default_factory=dict)     # alg -> {path: digest}
    oxum: tuple[int, int] | None = None          # (bytes, files) from bag-info.txt
    info: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)    # regular files: path -> size
    unsafe: list[Unsafe] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.base / self.rel

    @property
    def algorithms(self) -> list[str]:
        return sorted(self.payload)

    def payload_paths(self) -> set[str]:
        return {p for entries in self.payload.values() for p in entries}

    def tag_paths(self) -> set[str]:
        return {p for entries in self.tags.values() for p in entries}

    def blocked(self, path: str) -> bool:
        """Whether `path` is, or lies below, an unsafe entry (so it is not 'missing')."""
        return any(path == u.path or path.startswith(u.path + "/") or u.path == "."
                   for u in self.unsafe)

    def unsafe_at(self, path: str) -> Unsafe | None:
        return next((u for u in self.unsafe if u.path in (path, ".")), None)


def find_bags(output: Path) -> tuple[list[str], list[Unsafe]]:
    """Every folder under `<output>/packages/` holding a `bagit.txt`, older versions included
    (paths relative to `output`), and the unsafe entries found outside any bag.

    Folders whose name carries the store's temporary mark are skipped: they are packages being
    built by a concurrent run, not archived ones. A bag's own `data/` is not searched (a
    `bagit.txt` in a payload is payload, not a package). Nothing is followed: a symlinked
    package folder is reported, not checked through the link.
    """
    found: list[str] = []
    unsafe: list[Unsafe] = []
    try:
        with safefs.opened_dir(output, "packages") as fd:
            _search(fd, "packages", safefs.MAX_DEPTH, found, unsafe)
    except FileNotFoundError:
        pass
    except UnsafePath as exc:
        unsafe.append(Unsafe(exc.path, exc.kind))
    return sorted(found), unsafe


def _search(fd: int, rel: str, depth: int, found: list[str], unsafe: list[Unsafe],
            in_bag: bool = False) -> None:
    listing = safefs.entries(fd, rel)
    is_bag = any(e.path == f"{rel}/bagit.txt" for e in listing)
    if is_bag:
        found.append(rel)
    inside = in_bag or is_bag  # below a bag, its own scan reports what is unsafe
    for entry in listing:
        name = entry.path.rsplit("/", 1)[-1]
        if entry.kind in UNSAFE_KINDS and not inside:
            unsafe.append(Unsafe(entry.path, entry.kind))
        if entry.kind != safefs.DIRECTORY or TEMP_MARK in name or (is_bag and name == "data"):
            continue
        if depth <= 0:
            if not inside:
                unsafe.append(Unsafe(entry.path, safefs.OTHER))
            continue
        try:
            with safefs.subdir(fd, name, entry.path) as child:
                _search(child, entry.path, depth - 1, found, unsafe, inside)
        except UnsafePath as exc:
            if not inside:
                unsafe.append(Unsafe(exc.path, exc.kind))
        except FileNotFoundError:
            continue


def _decode_path(raw: str) -> str:
    """Manifest paths encode CR/LF as %0D/%0A (RFC 8493 §2.1.3)."""
    return re.sub("%0A", "\n", re.sub("%0D", "\r", raw, flags=re.I), flags=re.I)


def safe_relpath(raw: str) -> str | None:
    """A manifest path as a normalised POSIX path inside the bag, or None when it escapes."""
    return safefs.clean(_decode_path(raw))


def read_tag_text(bag: Bag, name: str) -> str | None:
    """A tag file's text, read safely and bounded; None (with the reason recorded) if it
    cannot be: unsafe entries go to `bag.unsafe`, other failures to `bag.errors`."""
    try:
        data = safefs.read_bytes(bag.base, f"{bag.rel}/{name}", TAG_FILE_LIMIT)
    except UnsafePath as exc:  # swapped since the scan: report it as the scan would have
        where = exc.path.removeprefix(f"{bag.rel}/")
        if bag.unsafe_at(where) is None:
            bag.unsafe.append(Unsafe(where, exc.kind))
        return None
    except OSError as exc:
        bag.errors.append(f"{bag.rel}/{name}: unreadable ({exc.__class__.__name__}: "
                          f"{exc.strerror or exc})")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bag.errors.append(f"{bag.rel}/{name}: unreadable (not UTF-8 text at byte {exc.start})")
        return None


def parse_manifest(text: str, name: str, algorithm: str | None, bag: Bag) -> dict[str, str]:
    """Parse `<digest> <path>` lines; a malformed line becomes an error naming its number."""
    entries: dict[str, str] = {}
    width = ALGORITHMS.get(algorithm or "")
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, raw = line.partition(" ")
        raw = raw.strip().lstrip("*")
        path = _decode_path(raw)
        rel = safefs.clean(path)
        digest_ok = re.fullmatch(r"[0-9a-fA-F]+", digest) is not None and (
            width is None or len(digest) == width)
        if not digest_ok or not raw or len(raw) > MAX_PATH:
            bag.errors.append(f"{bag.rel}/{name}:{number}: malformed or unsafe entry "
                              "(expected '<hex digest> <path inside the bag>')")
            continue
        if rel is None:  # climbs out ('..', absolute): named, never opened
            bag.unsafe.append(Unsafe(path, safefs.OUTSIDE))
            continue
        if rel in entries and entries[rel] != digest.lower():
            bag.errors.append(f"{bag.rel}/{name}:{number}: a path listed before, with "
                              "another digest")
        entries[rel] = digest.lower()
    return entries


def parse_bag_info(text: str) -> tuple[dict[str, list[str]], dict[str, int], list[int]]:
    """bag-info.txt labels -> every value (continuation lines start with whitespace), the line
    each label first appears on, and the numbers of lines that are not `Label: value`."""
    values: dict[str, list[str]] = {}
    first_line: dict[str, int] = {}
    bad: list[int] = []
    label: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line[:1] in (" ", "\t") and label is not None:
            values[label][-1] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            label = name.strip()
            values.setdefault(label, []).append(value.strip())
            first_line.setdefault(label, number)
        elif line.strip():
            bad.append(number)
            label = None
    return values, first_line, bad


def read_bag_info(bag: Bag) -> None:
    """bag-info.txt into `bag.info` (a repeated label keeps its first value: RFC 8493 allows
    repeats and the package stage writes the lesson id and then the source URL as two
    External-Identifier lines) and `bag.oxum` (parsed with a bound)."""
    if "bag-info.txt" not in bag.files:
        return
    text = read_tag_text(bag, "bag-info.txt")
    if text is None:
        return
    values, lines, bad = parse_bag_info(text)
    for number in bad:
        bag.errors.append(f"{bag.rel}/bag-info.txt:{number}: not a 'Label: value' line")
    bag.info = {label: found[0] for label, found in values.items()}
    oxum = bag.info.get("Payload-Oxum")
    if oxum is None:
        return
    if (m := OXUM.fullmatch(oxum)) is not None:
        bag.oxum = (int(m.group(1)), int(m.group(2)))
    else:
        bag.errors.append(f"{bag.rel}/bag-info.txt:{lines['Payload-Oxum']}: malformed "
                          "Payload-Oxum (expected '<bytes>.<files>', at most 20 digits each)")


def scan(bag: Bag) -> bool:
    """Fill `bag.files` and `bag.unsafe` from one walk of the bag (nothing followed)."""
    try:
        for entry in safefs.walk(bag.base, bag.rel):
            if entry.kind == safefs.FILE:
                bag.files[entry.path] = entry.size
            elif entry.kind in UNSAFE_KINDS:
                bag.unsafe.append(Unsafe(entry.path, entry.kind))
    except UnsafePath as exc:  # the bag's own folder (or a parent) was swapped
        bag.unsafe.append(Unsafe(".", exc.kind))
        return False
    except OSError as exc:
        bag.errors.append(f"{bag.rel}: cannot be listed ({exc.__class__.__name__}: "
                          f"{exc.strerror or exc})")
        return False
    return True


def _read_manifests(bag: Bag) -> None:
    top = sorted(p for p in bag.files if "/" not in p)
    for name in top:
        for pattern, target in ((MANIFEST, bag.payload), (TAGMANIFEST, bag.tags)):
            if (m := pattern.match(name)) is None:
                continue
            algorithm = m.group(1)
            if algorithm not in ALGORITHMS:
                bag.errors.append(f"{bag.rel}/{name}: unknown algorithm {algorithm!r}; "
                                  "not checked")
                continue
            text = read_tag_text(bag, name)
            if text is not None:
                target[algorithm] = parse_manifest(text, name, algorithm, bag)


def load_bag(output: Path, rel: str) -> Bag:
    """Read one package: its folder listing, manifests, tag manifests and Payload-Oxum."""
    bag = Bag(base=output, rel=rel)
    if not scan(bag):
        return bag
    _read_manifests(bag)
    if not bag.payload and not any(MANIFEST.match(u.path) for u in bag.unsafe):
        bag.errors.append(f"{rel}: no payload manifest (manifest-<algorithm>.txt)")
    read_bag_info(bag)
    for alg, entries in sorted(bag.payload.items()):
        for path in sorted(entries):
            if not path.startswith("data/"):
                bag.errors.append(f"{rel}/manifest-{alg}.txt lists {path!r} outside data/")
    return bag


def lesson_name(bag: Bag) -> str | None:
    """bag-info's first External-Identifier (or Bag-Group-Identifier) when it is short and
    printable; None otherwise (the caller falls back to the folder name)."""
    named = bag.info.get("External-Identifier") or bag.info.get("Bag-Group-Identifier")
    if named and len(named) <= MAX_LESSON and named.isprintable():
        return named
    return None
