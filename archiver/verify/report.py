"""Reports of verify and check-sources: for people, for machines, and kept for the record.

The JSON report has a versioned `schema` string and a documented shape (docs/verify.md): a
monitoring system parses it, so fields are added, never renamed. Reports are also kept in
`<output>/reports/` under timestamped names (`<kind>-YYYYmmddTHHMMSS.ffffffZ.json`, which sort
by time), pruned to the last N of each kind, so a weekly full check never pushes out the
daily fast ones' history or vice versa. `--report-url` POSTs the same JSON, retrying transient
failures (connection errors, 5xx, 429) a bounded number of times.

Permissions: a report says what the archive holds (paths, digests), so it is never more open
than the archive: a stored report gets the read/write bits of the archive folder (and of its
`packages/` folder when there is one), less the process umask, and the archive folder's owner
when verify runs as root. `reports/` is reached without following a symlink (a writer into the
archive could point it anywhere), and pruning removes only entries in that folder itself.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from archiver import __version__, safefs
from archiver.errors import ArchiverError
from archiver.safefs import UnsafePath
from archiver.store import TEMP_MARK

POST_ATTEMPTS = 4
POST_TIMEOUT = 30.0


class ReportDeliveryError(ArchiverError):
    """The JSON report could not be POSTed to `--report-url`."""


class ReportStoreError(ArchiverError):
    """The report could not be stored (`reports/` is a symlink, the disk is full, ...)."""


def shown(text: str) -> str:
    """`text` with control characters escaped, for lines a terminal prints: names and notes
    come from the bag, and a file name must not move the cursor or recolour the screen."""
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape")
                   .decode("ascii") for c in text)


def archive_file_mode(output: Path) -> int:
    """Permission bits for a report about the archive `output`: never more open than the
    archive folder, or than its `packages/` folder (see the module docstring)."""
    try:
        mode = safefs.file_mode_for(os.stat(output))
    except FileNotFoundError:  # no archive yet (check-sources before the first run)
        return 0o644
    with contextlib.suppress(OSError, UnsafePath):
        packages = safefs.lstat(output, "packages")
        if safefs.kind_of(packages.st_mode) == safefs.DIRECTORY:
            mode &= safefs.file_mode_for(packages)
    return mode


def tool_info() -> dict[str, str]:
    return {"name": "lesson-archiver", "version": __version__}


def to_text(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_json(report: dict[str, Any], path: Path, mode: int = 0o644) -> None:
    """Write the report to `path` (atomically, `mode` less the umask), or to stdout for `-`.

    An existing `path` that is not a regular file (a symlink, `/dev/stdout`) is refused rather
    than replaced: use `-` for stdout."""
    if str(path) == "-":
        print(to_text(report), end="")
        return
    try:
        safefs.write_file(path.parent, path.name, to_text(report).encode("utf-8"), mode)
    except UnsafePath as exc:
        raise ReportStoreError(f"--json {path}: a {exc.kind}, not a regular file; not "
                               "written through it (use '-' for stdout)") from None
    except OSError as exc:
        raise ReportStoreError(f"--json {path}: cannot be written ({exc.strerror or exc})") \
            from None


DEFAULT_KEEP = 30


def add_report_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    """--json, --report-url and --keep: the report options verify and check-sources share."""
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="write the machine-readable report to FILE ('-' for stdout)")
    parser.add_argument("--report-url", metavar="URL",
                        help="POST the JSON report to this URL (retried on transient errors)")
    parser.add_argument("--keep", type=int, default=DEFAULT_KEEP, metavar="N",
                        help=f"keep the last N {kind} reports in <output>/reports/ "
                        "(0: store none); default: %(default)s")


def keep_report(report: dict[str, Any], reports_dir: Path, kind: str, keep: int) -> Path | None:
    """Store a timestamped copy in `reports_dir` and delete all but the newest `keep` of `kind`.

    `keep` <= 0 stores nothing. Returns the stored path. `reports_dir` is a folder of the
    archive (`<output>/reports`): it is created, written and pruned without following a
    symlink; ReportStoreError says why a report could not be stored.
    """
    if keep <= 0:
        return None
    output, name = reports_dir.parent, reports_dir.name
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = reports_dir / f"{kind}-{stamp}.json"
    try:
        output.mkdir(parents=True, exist_ok=True)  # the archive folder itself is trusted
        archive = os.stat(output)
        mode = archive_file_mode(output)
        safefs.makedirs(output, name, archive.st_mode & 0o777)
        safefs.write_file(output, f"{name}/{path.name}", to_text(report).encode("utf-8"), mode,
                          owner=archive)
        prune(reports_dir, kind, keep)
    except UnsafePath as exc:
        raise ReportStoreError(f"{output / exc.path}: a {exc.kind}, not a folder; no report "
                               "stored through it") from None
    except OSError as exc:
        raise ReportStoreError(f"{reports_dir}: report not stored "
                               f"({exc.__class__.__name__}: {exc.strerror or exc})") from None
    return path


def prune(reports_dir: Path, kind: str, keep: int) -> list[Path]:
    """Delete the oldest `<kind>-*.json` reports beyond the newest `keep`; return the deleted.

    Only regular files directly in `reports_dir` count (reached without following links)."""
    output, name = reports_dir.parent, reports_dir.name
    with safefs.opened_dir(output, name) as fd:
        listing = safefs.entries(fd)
    mine = sorted(e.path for e in listing
                  if e.kind == safefs.FILE and e.path.startswith(f"{kind}-")
                  and e.path.endswith(".json") and TEMP_MARK not in e.path
                  and e.path[len(kind) + 1:][:1].isdigit())
    doomed = mine[:-keep] if keep > 0 else mine
    for file_name in doomed:
        with contextlib.suppress(FileNotFoundError):
            safefs.unlink(output, f"{name}/{file_name}")
    return [reports_dir / n for n in doomed]


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500 or exc.response.status_code == 429
    return isinstance(exc, httpx.TransportError)


def post_report(report: dict[str, Any], url: str, attempts: int = POST_ATTEMPTS,
                wait_max: float = 8.0) -> int:
    """POST the report as JSON; retry transient failures; return the final status code."""
    body = to_text(report).encode("utf-8")
    headers = {"Content-Type": "application/json",
               "User-Agent": f"lesson-archiver/{__version__}"}
    try:
        for attempt in Retrying(stop=stop_after_attempt(attempts),
                                wait=wait_exponential(multiplier=0.5, max=wait_max),
                                retry=retry_if_exception(_transient), reraise=True):
            with attempt, httpx.Client(timeout=POST_TIMEOUT) as client:
                response = client.post(url, content=body, headers=headers)
                response.raise_for_status()
                return response.status_code
    except httpx.HTTPStatusError as exc:
        raise ReportDeliveryError(
            f"report not delivered to {url}: HTTP {exc.response.status_code}") from exc
    except httpx.HTTPError as exc:
        raise ReportDeliveryError(
            f"report not delivered to {url}: {exc.__class__.__name__}: {exc}") from exc
    raise ReportDeliveryError(f"report not delivered to {url}")  # unreachable: reraise=True


def human_size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"
