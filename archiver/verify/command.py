"""`archiver verify`: fixity of every package in the archive, for scheduled runs.

Works on the archive folder alone (no manifest file, no network), so it can check a backup
copy. All files of all packages go into one hashing pool, so `--jobs` cores stay busy across
package boundaries. Exit 0 when every package is intact, 1 when anything is wrong (or the
report could not be delivered), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import IO, Any

from archiver.errors import FixityError, UsageError
from archiver.log import EventLog
from archiver.model import utcnow
from archiver.report import print_table
from archiver.safefs import Unsafe
from archiver.store import Store
from archiver.verify.deep import deep_check
from archiver.verify.discover import Bag, find_bags, load_bag
from archiver.verify.events import record, recover_interrupted_append
from archiver.verify.fixity import PackageCheck, bag_oxum, judge, lesson_of, plan, summary_note
from archiver.verify.hashing import HashTask, hash_many
from archiver.verify.report import (
    ReportStoreError,
    add_report_arguments,
    archive_file_mode,
    human_size,
    keep_report,
    post_report,
    shown,
    tool_info,
    write_json,
)

HELP = "check every package's fixity (checksums, completeness, optionally decodability)"
NEEDS_MANIFEST = False
SCHEMA = "lesson-archiver/verify/1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fast", action="store_true",
                        help="completeness and Payload-Oxum only (no payload checksums)")
    parser.add_argument("--deep", action="store_true",
                        help="also decode master and access copies with ffmpeg, counting errors")
    add_report_arguments(parser, "verify")
    parser.add_argument("--no-event", action="store_true",
                        help="do not append PREMIS events (read-only check, e.g. of a backup)")
    parser.add_argument("--wait", action="store_true",
                        help="wait for another run's lock instead of refusing")


def _validate(args: argparse.Namespace) -> None:
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    if args.keep < 0:
        raise UsageError(f"--keep must be 0 or more, got {args.keep}")
    if not args.output.is_dir():
        raise UsageError(f"--output {args.output} is not a folder")
    if args.report_url and not args.report_url.startswith(("http://", "https://")):
        raise UsageError(f"--report-url must be an http(s) URL, got {args.report_url!r}")


def _load(output: Path, rel: str) -> Bag:
    """One package, whatever is wrong with it: a damaged bag fails alone, with the reason in
    its `errors`, and never stops the report for the others."""
    try:
        return load_bag(output, rel)
    except (OSError, ValueError) as exc:
        bag = Bag(base=output, rel=rel)
        bag.errors.append(f"{rel}: cannot be read ({exc.__class__.__name__})")
        return bag


def check_packages(output: Path, fast: bool, deep: bool, jobs: int,
                   log: EventLog) -> tuple[list[PackageCheck], list[Unsafe], float]:
    """Plan, hash and judge every package under `output` (no writes); also the unsafe entries
    outside any package and the hashing time."""
    found, unsafe = find_bags(output)
    bags = [_load(output, rel) for rel in found]
    checks: list[PackageCheck] = []
    tasks: list[HashTask] = []
    for bag in bags:
        check, bag_tasks = plan(bag, fast)
        checks.append(check)
        tasks.extend(bag_tasks)
    total = sum(t.size for t in tasks)
    log.info("verify-start", packages=len(bags), files=len(tasks), bytes=total,
             mode="fast" if fast else "full", jobs=jobs)
    log.start_progress()
    clock = time.perf_counter()
    try:
        results = hash_many(tasks, jobs,
                            progress=lambda done: log.progress("archive", "verify", done, total))
    finally:
        log.stop_progress()
    hash_seconds = time.perf_counter() - clock
    for check in checks:
        judge(check, results)
        if deep:
            check.deep = deep_check(check.bag, jobs)
    return checks, unsafe, hash_seconds


def package_json(check: PackageCheck) -> dict[str, Any]:
    bag = check.bag
    return {
        "path": bag.rel,
        "lesson": lesson_of(check),
        "outcome": "ok" if check.ok else "failed",
        "algorithms": bag.algorithms,
        "files": check.files,
        "bytes": check.bytes,
        "oxum": {"expected": bag_oxum(check) or None, "actual": f"{check.bytes}.{check.files}",
                 "ok": check.oxum_ok},
        "changed": [c.to_json() for c in check.changed],
        "missing": check.missing,
        "untracked": check.untracked,
        "errors": check.errors,
        "notes": check.notes,
        "unsafe": [u.to_json() for u in check.unsafe],
        "deep": check.deep,
        "event": check.event,
    }


def build_report(checks: list[PackageCheck], unsafe: list[Unsafe], args: argparse.Namespace,
                 started: str, seconds: float, hash_seconds: float) -> dict[str, Any]:
    failed = sum(1 for c in checks if not c.ok)
    hashed = sum(c.hashed_bytes for c in checks)
    return {
        "schema": SCHEMA,
        "tool": tool_info(),
        "command": "verify",
        "output": str(args.output),
        "mode": "fast" if args.fast else "full",
        "deep": bool(args.deep),
        "jobs": args.jobs,
        "started": started,
        "ended": utcnow(),
        "outcome": "ok" if checks and not failed and not unsafe else "failed",
        "summary": {"packages": len(checks), "ok": len(checks) - failed, "failed": failed,
                    "files": sum(c.files for c in checks),
                    "bytes": sum(c.bytes for c in checks),
                    "hashed_bytes": hashed, "seconds": round(seconds, 3),
                    "hash_seconds": round(hash_seconds, 3),
                    "bytes_per_second": round(hashed / hash_seconds) if hash_seconds > 0
                    else None},
        "packages": [package_json(c) for c in checks],
        "unsafe": [u.to_json() for u in unsafe],   # under packages/, outside any package
    }


def print_summary(report: dict[str, Any], checks: list[PackageCheck],
                  stream: IO[str] | None = None) -> None:
    """The table for people, then one line per problem (full digests: they are evidence)."""
    stream = stream or sys.stdout
    rows = [[shown(p["path"]), p["outcome"], str(p["files"]), human_size(p["bytes"]),
             shown(summary_note(c))] for p, c in zip(report["packages"], checks, strict=True)]
    print_table(rows, headers=("package", "outcome", "files", "size", "note"), stream=stream)
    for package in report["packages"]:
        _print_problems(package, stream)
    for entry in report["unsafe"]:
        print(f"UNSAFE    {shown(entry['path'])} ({entry['kind']}, not followed)", file=stream)
    s = report["summary"]
    print(f"{report['mode']} check: {s['ok']}/{s['packages']} packages ok, {s['files']} files, "
          f"{human_size(s['bytes'])}, {s['seconds']:.1f} s", file=stream)


def _print_problems(package: dict[str, Any], stream: IO[str]) -> None:
    """One line per problem of a package; names from the bag are shown with control
    characters escaped (a file name must not drive the terminal)."""
    where = shown(package["path"])
    for change in package["changed"]:
        grew = f" ({change['reason']})" if change.get("reason") else ""
        print(f"CHANGED   {where}/{shown(change['path'])} {change['algorithm']} "
              f"expected {change['expected']} actual {change['actual']}{grew}", file=stream)
    for path in package["missing"]:
        print(f"MISSING   {where}/{shown(path)}", file=stream)
    for path in package["untracked"]:
        print(f"UNTRACKED {where}/{shown(path)}", file=stream)
    for entry in package["unsafe"]:
        print(f"UNSAFE    {where}/{shown(entry['path'])} ({entry['kind']}, not opened)",
              file=stream)
    for deep in package["deep"] or []:
        if deep["outcome"] != "ok":
            print(f"UNDECODABLE {where}/{shown(deep['path'])}: {deep['errors']} errors "
                  f"({deep['decoded_seconds']}s of {deep['declared_seconds']}s decoded)",
                  file=stream)


def run(args: argparse.Namespace, log: EventLog) -> int:
    _validate(args)
    store = Store(args.output)
    started, clock = utcnow(), time.perf_counter()
    lock = contextlib.nullcontext() if args.no_event else store.locked(wait=args.wait)
    with lock:
        checks, unsafe, hash_seconds = check_packages(args.output, args.fast, args.deep,
                                                      args.jobs, log)
        seconds = time.perf_counter() - clock
        for check in checks:
            repaired = recover_interrupted_append(check, repairing=not args.no_event)
            if not args.no_event:
                check.event = record(check, args.deep, repaired)
                if not check.event["recorded"]:
                    log.warning("event-not-recorded", lesson=check.bag.rel,
                                message=check.event["reason"])
            level = "info" if check.ok else "error"
            log.event(level, "package-ok" if check.ok else "package-failed",
                      lesson=shown(check.bag.rel), stage="verify",
                      message=shown(summary_note(check)))
        for entry in unsafe:
            log.error("unsafe-entry", stage="verify", path=shown(entry.path), kind=entry.kind)
        report = build_report(checks, unsafe, args, started, seconds, hash_seconds)
        # stored while the lock is held: pruning old reports is a write to the archive too
        not_stored = _store(report, store, args.keep, log)
    to_stdout = args.json is not None and str(args.json) == "-"
    print_summary(report, checks, sys.stderr if to_stdout else sys.stdout)
    if args.json is not None:
        write_json(report, args.json, archive_file_mode(args.output))
    if args.report_url:
        status = post_report(report, args.report_url)
        log.info("report-posted", url=args.report_url, status=status)
    if not checks:
        raise FixityError(f"no BagIt package (bagit.txt) under {args.output / 'packages'}")
    return 0 if report["outcome"] == "ok" and not not_stored else 1


def _store(report: dict[str, Any], store: Store, keep: int, log: EventLog) -> bool:
    """Keep the report in `<output>/reports/`; True (and an error logged) if it could not be."""
    try:
        stored = keep_report(report, store.reports_dir, f"verify-{report['mode']}", keep)
    except ReportStoreError as exc:
        log.error("report-not-stored", stage="verify", message=str(exc))
        return True
    if stored is not None:
        log.info("report-stored", path=str(stored))
    return False
