"""Reports of verify and check-sources: for people, for machines, and kept for the record.

The JSON report has a versioned `schema` string and a documented shape (docs/verify.md): a
monitoring system parses it, so fields are added, never renamed. Reports are also kept in
`<output>/reports/` under timestamped names (`<kind>-YYYYmmddTHHMMSS.ffffffZ.json`, which sort
by time), pruned to the last N of each kind, so a weekly full check never pushes out the
daily fast ones' history or vice versa. `--report-url` POSTs the same JSON, retrying transient
failures (connection errors, 5xx, 429) a bounded number of times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from archiver import __version__
from archiver.errors import ArchiverError
from archiver.store import TEMP_MARK, atomic_write_text

POST_ATTEMPTS = 4
POST_TIMEOUT = 30.0


class ReportDeliveryError(ArchiverError):
    """The JSON report could not be POSTed to `--report-url`."""


def tool_info() -> dict[str, str]:
    return {"name": "lesson-archiver", "version": __version__}


def to_text(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_json(report: dict[str, Any], path: Path) -> None:
    """Write the report to `path` (atomically), or to stdout when `path` is `-`."""
    if str(path) == "-":
        print(to_text(report), end="")
        return
    atomic_write_text(path, to_text(report))


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

    `keep` <= 0 stores nothing. Returns the stored path.
    """
    if keep <= 0:
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = reports_dir / f"{kind}-{stamp}.json"
    atomic_write_text(path, to_text(report))
    prune(reports_dir, kind, keep)
    return path


def prune(reports_dir: Path, kind: str, keep: int) -> list[Path]:
    """Delete the oldest `<kind>-*.json` reports beyond the newest `keep`; return the deleted."""
    mine = sorted(p for p in reports_dir.glob(f"{kind}-*.json")
                  if TEMP_MARK not in p.name and p.name[len(kind) + 1:][:1].isdigit())
    doomed = mine[:-keep] if keep > 0 else mine
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


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
