"""Record each fixity check as a PREMIS event inside the package it checked.

The event log `premis-events.jsonl` is a tag file, covered by the tag manifests, so appending
to it would make the package fail its own validation. After appending we therefore rewrite
*only that file's line* in every `tagmanifest-<alg>.txt`: every other tag file keeps the digest
it had, so an edit made by someone else (bag-info.txt, a manifest) is still reported by the
next check and by bagit-python. We refuse to append when the event log itself no longer matches
its recorded digest: recomputing its line would silently bless that edit.

Both writes are atomic, but they are two writes. If a run dies between them, the log holds
events the tag manifests do not cover yet; `recover_interrupted_append` recognises exactly that
case (a prefix at a line boundary matches the recorded digest and the rest are our own fixity
events) so it is repaired and noted instead of being reported as tampering.

The bag is untrusted input: the log and the tag manifests are read and rewritten through
`archiver.safefs` (no symlink followed or replaced, bounded reads), and each rewritten file
keeps the permission bits and owner of the one it replaces, so a check never makes a log more
readable than it was. When the log or a tag manifest is not a regular file, nothing is
appended and the package fails (its `unsafe` entry says why).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import uuid
from typing import Any

from archiver import __version__, safefs
from archiver.model import utcnow
from archiver.safefs import UnsafePath
from archiver.verify.discover import TAG_FILE_LIMIT, TAGMANIFEST, Bag
from archiver.verify.fixity import PackageCheck, lesson_of, summary_note

EVENTS = "premis-events.jsonl"
AGENT = "lesson-archiver"
EVENT_TYPE = "fixity check"
EVENT_TYPE_URI = "http://id.loc.gov/vocabulary/preservation/eventType/fix"


def make_event(check: PackageCheck, deep: bool) -> dict[str, Any]:
    """A PREMIS 3 fixity-check event, in the same JSON shape as the package stage's events
    (archiver.package.provenance.premis_event): one log, one shape, one reader."""
    outcome = "success" if check.ok else "failure"
    algs = ", ".join(check.bag.algorithms) or "none"
    if check.mode == "full":
        detail = (f"full fixity check: {check.files} payload files ({check.bytes} bytes) "
                  f"against manifests ({algs}) and tag manifests")
    else:
        detail = ("fast fixity check: completeness and Payload-Oxum of "
                  f"{check.files} payload files ({check.bytes} bytes), tag manifests")
    if deep:
        detail += "; decode check of master and access copies"
    if not check.ok:
        detail += f"; {summary_note(check)}"
    ident = f"urn:uuid:{uuid.uuid4()}"
    lesson = lesson_of(check)
    return {
        "@id": ident, "@type": "premis:Event",
        "eventIdentifier": {"eventIdentifierType": "UUID", "eventIdentifierValue": ident},
        "eventType": EVENT_TYPE,
        "eventTypeURI": EVENT_TYPE_URI,
        "eventDateTime": utcnow(),
        "eventDetailInformation": {"eventDetail": detail},
        "eventOutcomeInformation": {
            "eventOutcome": outcome,
            "eventOutcomeDetail": {
                "mode": check.mode, "deep": deep, "algorithms": check.bag.algorithms,
                "files": check.files, "bytes": check.bytes,
                "changed": [c.to_json() for c in check.changed],
                "missing": check.missing, "untracked": check.untracked,
                "errors": check.errors,
                "unsafe": [u.to_json() for u in check.unsafe],
                "undecodable": [d["path"] for d in check.deep or [] if d["outcome"] != "ok"],
            },
        },
        "linkingObjectIdentifier": [{"linkingObjectIdentifierType": "URN",
                                     "linkingObjectIdentifierValue":
                                         f"urn:lesson-archiver:{lesson}:package"}],
        "linkingAgentIdentifier": [{"linkingAgentIdentifierType": "software",
                                    "linkingAgentIdentifierValue": f"{AGENT} {__version__}",
                                    "linkingAgentRole": "executing program"}],
        "agent": {"name": AGENT, "version": __version__,
                  "python": platform.python_version(),
                  "openssl": _openssl_version()},
    }


def _openssl_version() -> str:
    import ssl

    return ssl.OPENSSL_VERSION


def _digest(data: bytes, alg: str) -> str:
    return hashlib.new(alg, data).hexdigest()


def _tagmanifests(bag: Bag) -> list[tuple[str, str]]:
    """(name, algorithm) of every tag manifest the walk found as a regular file."""
    return sorted((name, m.group(1)) for name in bag.files
                  if (m := TAGMANIFEST.match(name)) is not None)


def _set_entry(bag: Bag, manifest: str, alg: str, name: str, data: bytes) -> None:
    """Rewrite `name`'s line of one tag manifest (adding it when absent); keep every other."""
    raw, st = safefs.read_file(bag.base, f"{bag.rel}/{manifest}", TAG_FILE_LIMIT)
    lines = raw.decode("utf-8").splitlines()
    entry = f"{_digest(data, alg)} {name}"
    pattern = re.compile(rf"^[0-9a-fA-F]+\s+\*?{re.escape(name)}$")
    replaced = False
    out: list[str] = []
    for line in lines:
        if pattern.match(line.strip()):
            if not replaced:
                out.append(entry)
            replaced = True
        else:
            out.append(line)
    if not replaced:
        out.append(entry)
    safefs.write_file(bag.base, f"{bag.rel}/{manifest}", ("\n".join(out) + "\n").encode("utf-8"),
                      safefs.file_mode_for(st), like=st)


def _read_log(bag: Bag) -> tuple[bytes, os.stat_result | None]:
    try:
        return safefs.read_file(bag.base, f"{bag.rel}/{EVENTS}", TAG_FILE_LIMIT)
    except FileNotFoundError:
        return b"", None


def append_event(bag: Bag, event: dict[str, Any]) -> None:
    """Append one JSON line to the event log, then update its digests in the tag manifests.

    Raises UnsafePath when the log (or a tag manifest) is not a regular file by now."""
    old, st = _read_log(bag)
    if old and not old.endswith(b"\n"):
        old += b"\n"
    data = old + json.dumps(event, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
    if st is None:  # a new log: as open as the bag's folder allows, less the umask
        folder = safefs.lstat(bag.base, bag.rel)
        safefs.write_file(bag.base, f"{bag.rel}/{EVENTS}", data, safefs.file_mode_for(folder),
                          owner=folder)
    else:
        safefs.write_file(bag.base, f"{bag.rel}/{EVENTS}", data, safefs.file_mode_for(st),
                          like=st)
    for manifest, alg in _tagmanifests(bag):
        _set_entry(bag, manifest, alg, EVENTS, data)


def recover_interrupted_append(check: PackageCheck, repairing: bool = True) -> bool:
    """Accept an event log that is a recorded one plus our own appended fixity events.

    Returns True (and removes the event log from `check.changed`, with a note) only when, for
    every algorithm, some line-boundary prefix of the log matches the tag manifest and every
    later line is a fixity event written by this tool.
    """
    mismatches = [c for c in check.changed if c.path == EVENTS]
    if not mismatches:
        return False
    try:
        data = safefs.read_bytes(check.bag.base, f"{check.bag.rel}/{EVENTS}", TAG_FILE_LIMIT)
    except (OSError, UnsafePath):
        return False
    for change in mismatches:
        prefix_end = _matching_prefix(data, change.algorithm, change.expected)
        if prefix_end is None or not _all_ours(data[prefix_end:]):
            return False
    check.changed = [c for c in check.changed if c.path != EVENTS]
    check.notes.append(f"{EVENTS}: an earlier run was interrupted after appending its event; "
                       + ("the tag manifests are brought up to date" if repairing else
                          "the next run that records events brings the tag manifests up to "
                          "date"))
    return True


def _matching_prefix(data: bytes, alg: str, expected: str) -> int | None:
    """The end of the longest line-boundary prefix of `data` whose digest is `expected`."""
    hasher = hashlib.new(alg)
    found = 0 if hasher.hexdigest() == expected else None
    start = 0
    while (newline := data.find(b"\n", start)) != -1:
        hasher.update(data[start:newline + 1])
        start = newline + 1
        if hasher.hexdigest() == expected:
            found = start
    return found


def _all_ours(tail: bytes) -> bool:
    lines = [line for line in tail.splitlines() if line.strip()]
    if not lines:
        return False
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            return False
        if not (isinstance(event, dict) and event.get("eventType") == EVENT_TYPE
                and str(event.get("agent", {}).get("name")) == AGENT):
            return False
    return True


def record(check: PackageCheck, deep: bool, repaired: bool) -> dict[str, Any]:
    """Append the event unless the log itself was tampered with; describe what happened."""
    if any(c.path == EVENTS for c in check.changed) or EVENTS in check.missing:
        return {"recorded": False, "file": EVENTS,
                "reason": f"{EVENTS} does not match its tag manifest; not appending to it"}
    unsafe = [u for u in check.unsafe if u.path in (EVENTS, ".") or TAGMANIFEST.match(u.path)]
    if unsafe:
        return {"recorded": False, "file": EVENTS,
                "reason": f"{unsafe[0].path} is a {unsafe[0].kind}, not a regular file; "
                          "nothing appended, nothing followed or replaced"}
    event = make_event(check, deep)
    try:
        append_event(check.bag, event)
    except UnsafePath as exc:
        return {"recorded": False, "file": EVENTS,
                "reason": f"{exc.path} is a {exc.kind}, not a regular file; nothing appended"}
    except (OSError, UnicodeDecodeError) as exc:
        return {"recorded": False, "file": EVENTS,
                "reason": f"cannot write the event ({exc.__class__.__name__}: "
                          f"{getattr(exc, 'strerror', None) or exc})"}
    return {"recorded": True, "file": EVENTS, "repaired": repaired,
            "identifier": event["eventIdentifier"]["eventIdentifierValue"],
            "outcome": event["eventOutcomeInformation"]["eventOutcome"]}
