"""`archiver check-sources`: are the original pages and media still there, and unchanged?

For every source of every lesson in the manifest: one bounded request (HEAD, or a one-byte
Range GET when HEAD fails) to the source URL, and, for the source the archive was captured
from, to the recorded media URL as well; the certificate now against the capture's TLS
evidence; ETag / Last-Modified / Content-Length against the capture's recorded exchange. The
capture record is read from the package (`packages/<id>/data/capture/capture.json`) or, before
packaging, from the fetch stage (`lessons/<id>/fetch/capture.json`). Nothing is downloaded
in full unless `--rehash`, which streams the media through sha256 and compares it with the
archived digest. Exit 0 when every URL is reachable and unchanged, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from archiver import safefs
from archiver.errors import UsageError
from archiver.log import EventLog
from archiver.manifest import load_manifest, select
from archiver.model import Lesson, Source, utcnow
from archiver.report import print_table
from archiver.safefs import Unsafe, UnsafePath
from archiver.store import Store
from archiver.verify.certcheck import applies, check_certificate
from archiver.verify.probe import drift, make_client, probe_url, rehash
from archiver.verify.report import (
    ReportStoreError,
    add_report_arguments,
    archive_file_mode,
    keep_report,
    post_report,
    shown,
    tool_info,
    write_json,
)

HELP = "check that each lesson's sources are still reachable, unchanged and well certified"
SCHEMA = "lesson-archiver/check-sources/1"
BAD_CERTIFICATE = ("changed", "newly-invalid")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rehash", action="store_true",
                        help="re-download the media and compare its sha256 with the archive")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="network timeout in seconds (connect and each read)")
    parser.add_argument("--max-bytes", type=int, default=8 << 30,
                        help="with --rehash, stop reading beyond this many bytes; default 8 GiB")
    add_report_arguments(parser, "check-sources")


CAPTURE_LIMIT = safefs.READ_LIMIT


def load_capture(store: Store, lesson_id: str
                 ) -> tuple[dict[str, Any] | None, str | None, list[Unsafe]]:
    """The lesson's capture record (package copy first), its path relative to output, and
    the unsafe entries met on the way.

    The package and the lesson folder are untrusted input: the record is opened through
    `archiver.safefs` (no symlink followed, no FIFO or device opened, bounded read). A record
    that is not a regular file is reported, not read, and the search stops there: the fetch
    stage's copy is not silently used in its place.
    """
    for path in (store.package_dir(lesson_id) / "data" / "capture" / "capture.json",
                 store.stage_dir(lesson_id, "fetch") / "capture.json"):
        rel = path.relative_to(store.root).as_posix()
        try:
            data = json.loads(safefs.read_bytes(store.root, rel, CAPTURE_LIMIT))
        except FileNotFoundError:
            continue
        except UnsafePath as exc:
            return None, None, [Unsafe(exc.path, exc.kind)]
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: unreadable capture record ({exc.__class__.__name__}: "
                             f"{getattr(exc, 'strerror', None) or exc})") from exc
        if isinstance(data, dict):
            return data, rel, []
    return None, None, []


def _exchange(capture: dict[str, Any], url: str, role: str | None = None
              ) -> dict[str, Any] | None:
    """The recorded exchange for `url` (or, with `role`, the last one of that role)."""
    exchanges = [e for e in capture.get("exchanges", []) if isinstance(e, dict)]
    for exchange in exchanges:
        if url in (exchange.get("requested_url"), exchange.get("final_url")):
            return exchange
    if role is not None:
        of_role = [e for e in exchanges if e.get("role") == role]
        return of_role[-1] if of_role else None
    return None


def _targets(lesson: Lesson, capture: dict[str, Any] | None
             ) -> list[tuple[int, Source, str, str, dict[str, Any] | None]]:
    """(source index, source, role, url, recorded exchange) for every URL to look at."""
    captured_url = ((capture or {}).get("source") or {}).get("url")
    targets = []
    for index, source in enumerate(lesson.sources):
        is_captured = capture is not None and source.url == captured_url
        recorded = _exchange(capture, source.url) if is_captured and capture else None
        role = str((recorded or {}).get("role") or "page")
        targets.append((index, source, role, source.url, recorded))
        if is_captured and capture is not None:
            media = _exchange(capture, "", role="media")
            media_url = (media or {}).get("final_url") or (media or {}).get("requested_url")
            if media_url and media_url != source.url and media is not recorded:
                targets.append((index, source, "media", str(media_url), media))
    return targets


def check_url(lesson: Lesson, index: int, source: Source, role: str, url: str,
              recorded: dict[str, Any] | None, capture: dict[str, Any] | None,
              args: argparse.Namespace) -> dict[str, Any]:
    """Everything check-sources says about one URL."""
    with make_client(args.timeout) as client:
        probe = probe_url(client, url)
        tls_record = (capture or {}).get("tls") if capture else None
        record = tls_record if recorded is not None and applies(
            tls_record, url, source.url) else None
        certificate = check_certificate(url, source.tls, record)
        media = (capture or {}).get("media") or {}
        length = media.get("bytes") if role == "media" else None
        signals = drift(None if recorded is None else recorded.get("headers") or {},
                        length if isinstance(length, int) else None, probe)
        rehashed = None
        if args.rehash and role == "media" and probe.reachable:
            rehashed = rehash(source, lesson.id, url, media.get("sha256"), args.max_bytes,
                              args.timeout)
    if not probe.reachable:
        outcome = "unreachable"
    elif certificate["status"] in BAD_CERTIFICATE or signals["status"] == "changed" or (
            rehashed is not None and not rehashed["match"]):
        outcome = "changed"
    else:
        outcome = "ok"
    return {"lesson": lesson.id, "source_index": index, "kind": source.kind,
            "tls_policy": str(source.tls), "role": role, "url": url, "outcome": outcome,
            "request": probe.to_json(), "certificate": certificate, "drift": signals,
            "rehash": rehashed}


def _note(check: dict[str, Any]) -> str:
    request, cert, signals = check["request"], check["certificate"], check["drift"]
    parts = []
    if not request["reachable"]:
        error = request["error"]
        parts.append(f"HTTP {request['status']}" if request["status"] is not None
                     else f"{error['class']}: {error['message']}" if error else "no answer")
    if cert["status"] in BAD_CERTIFICATE:
        parts.append(f"certificate {cert['status']}: {cert.get('recorded_sha256')} -> "
                     f"{cert.get('now_sha256')} {','.join(cert.get('problems') or [])}".strip())
    for name in signals["changed"]:
        field = signals["fields"][name]
        parts.append(f"{name} {field['recorded']} -> {field['now']}")
    if check["rehash"] is not None and not check["rehash"]["match"]:
        parts.append(f"sha256 {check['rehash']['actual'] or check['rehash']['error']}")
    return "; ".join(parts)


def _validate(args: argparse.Namespace) -> None:
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {args.jobs}")
    if args.keep < 0:
        raise UsageError(f"--keep must be 0 or more, got {args.keep}")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout}")


def _print(report: dict[str, Any], checks: list[dict[str, Any]], stream: IO[str]) -> None:
    print_table([[c["lesson"], c["role"], c["outcome"], c["certificate"]["status"],
                  c["drift"]["status"], c["url"], _note(c)] for c in checks],
                headers=("lesson", "role", "outcome", "certificate", "content", "url", "note"),
                stream=stream)
    for lesson in report["lessons"]:
        for entry in lesson["unsafe"]:
            print(f"UNSAFE    {shown(entry['path'])} ({entry['kind']}, not opened)",
                  file=stream)


def _store(report: dict[str, Any], store: Store, keep: int, log: EventLog) -> bool:
    """Keep the report in `<output>/reports/`; True (and an error logged) if it could not be."""
    try:
        keep_report(report, store.reports_dir, "check-sources", keep)
    except ReportStoreError as exc:
        log.error("report-not-stored", stage="check-sources", message=str(exc))
        return True
    return False


def run(args: argparse.Namespace, log: EventLog) -> int:
    _validate(args)
    manifest = load_manifest(args.manifest)
    lessons = select(manifest, args.only, fail=UsageError)
    store = Store(args.output)
    started = utcnow()
    plans: list[tuple[Lesson, int, Source, str, str, dict[str, Any] | None,
                      dict[str, Any] | None]] = []
    captures: dict[str, str | None] = {}
    unsafe: dict[str, list[Unsafe]] = {}
    for lesson in lessons:
        capture, where, unsafe[lesson.id] = load_capture(store, lesson.id)
        captures[lesson.id] = where
        for entry in unsafe[lesson.id]:
            log.error("unsafe-entry", lesson=lesson.id, stage="check-sources",
                      path=shown(entry.path), kind=entry.kind,
                      message="capture record not opened")
        for index, source, role, url, recorded in _targets(lesson, capture):
            plans.append((lesson, index, source, role, url, recorded, capture))
    log.info("check-sources-start", lessons=len(lessons), urls=len(plans))
    with ThreadPoolExecutor(max_workers=args.jobs, thread_name_prefix="source") as pool:
        checks = list(pool.map(
            lambda p: check_url(p[0], p[1], p[2], p[3], p[4], p[5], p[6], args), plans))
    for check in checks:
        level = "info" if check["outcome"] == "ok" else "error"
        log.event(level, f"source-{check['outcome']}", lesson=check["lesson"],
                  stage="check-sources", url=check["url"], message=_note(check))
    problems = sum(1 for c in checks if c["outcome"] != "ok")
    unsafe_count = sum(len(found) for found in unsafe.values())
    report = {
        "schema": SCHEMA, "tool": tool_info(), "command": "check-sources",
        "manifest": str(args.manifest), "output": str(args.output), "rehash": bool(args.rehash),
        "started": started, "ended": utcnow(),
        "outcome": "ok" if not problems and not unsafe_count else "failed",
        "summary": {"lessons": len(lessons), "urls": len(checks),
                    "ok": len(checks) - problems, "problems": problems,
                    "unsafe": unsafe_count},
        "lessons": [{"id": lesson.id, "capture": captures[lesson.id],
                     "unsafe": [u.to_json() for u in unsafe[lesson.id]],
                     "checks": [c for c in checks if c["lesson"] == lesson.id]}
                    for lesson in lessons],
    }
    _print(report, checks,
           sys.stderr if args.json is not None and str(args.json) == "-" else sys.stdout)
    if args.json is not None:
        write_json(report, args.json, archive_file_mode(args.output))
    not_stored = _store(report, store, args.keep, log)
    if args.report_url:
        log.info("report-posted", url=args.report_url,
                 status=post_report(report, args.report_url))
    return 0 if report["outcome"] == "ok" and not not_stored else 1
