"""`archiver publish`: write `output/site/`, the static site for people and embedding sites.

Also `publish_site(ctx)`, which `archiver archive` calls after the package stage. The result is
recorded in `reports/publish.json` (the per-lesson state folders hold lesson stages only) and
doubles as the idempotency record: same inputs and an intact site mean nothing to redo.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import traceback
from pathlib import Path

from archiver.errors import ArchiverError, Location, PublishError, UsageError
from archiver.log import EventLog
from archiver.manifest import load_manifest, select
from archiver.model import Output, StageResult, utcnow
from archiver.pipeline import Context
from archiver.publish.site import publish
from archiver.store import Store, atomic_write_json, fingerprint, sha256_file

HELP = "write the static site (lesson pages, embed pages, catalog) to <output>/site"
NEEDS_MANIFEST = True
SITE_LESSON = "(site)"
RECORD = Path("reports") / "publish.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default="",
                        help="absolute URL the site will be served from (e.g. "
                        "https://media.example.org/lessons/); used for JSON-LD and the embed "
                        "snippet. Default: relative URLs")
    parser.add_argument("--force", action="store_true",
                        help="rebuild the site even when its inputs are unchanged")
    parser.add_argument("--wait", action="store_true",
                        help="wait for another run's lock instead of refusing")


def _code_digest() -> str:
    """Digest of the publish code and assets: a new version of the pages means a rebuild."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for path in sorted([*here.glob("*.py"), *here.glob("static/*")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _fingerprint(ctx: Context, base_url: str, only: list[str] | None) -> str:
    catalog = ctx.store.catalog_path
    return fingerprint(
        sha256_file(catalog) if catalog.is_file() else None,
        sha256_file(ctx.manifest.path) if ctx.manifest.path.is_file() else None,
        base_url, sorted(only or []), _code_digest())


def _load_record(path: Path) -> StageResult | None:
    try:
        return StageResult.from_json(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def publish_site(ctx: Context) -> StageResult:
    """Build and swap in `<output>/site/`; never raises for expected failures.

    Reads `ctx.options["base_url"]` and `ctx.options["only"]` (both optional).
    """
    base_url = str(ctx.options.get("base_url") or "")
    if base_url and not base_url.endswith("/"):
        base_url += "/"
    only = ctx.options.get("only")
    started = utcnow()
    record_path = ctx.output / RECORD
    fp = _fingerprint(ctx, base_url, only)
    previous = _load_record(record_path)
    if (not ctx.force and previous is not None and previous.fingerprint == fp
            and previous.status in ("ok", "unchanged")
            and (ctx.store.site_dir / "index.html").is_file()):
        ctx.log.info("site unchanged", stage="publish")
        previous.status = "unchanged"
        return previous
    try:
        try:
            report = publish(ctx.output, ctx.manifest, base_url, set(only) if only else None,
                             ctx.log)
        except OSError as exc:  # disk full, file size limit, permissions: not a bug
            raise PublishError(f"cannot write the site: {exc}",
                               Location(file=ctx.store.site_dir)) from exc
    except ArchiverError as exc:
        ctx.log.error("failed", stage="publish", message=f"{exc} (previous site kept)")
        ctx.log.debug("traceback", stage="publish", message=traceback.format_exc())
        return StageResult(stage="publish", lesson=SITE_LESSON, status="failed", fingerprint=fp,
                           started=started, ended=utcnow(), error=str(exc))
    except Exception as exc:  # a bug: report it like the pipeline does, keep the old site
        ctx.log.error("crashed", stage="publish",
                      message=f"{type(exc).__name__}: {exc} (rerun with --debug for details)")
        ctx.log.debug("traceback", stage="publish", message=traceback.format_exc())
        return StageResult(stage="publish", lesson=SITE_LESSON, status="failed", fingerprint=fp,
                           started=started, ended=utcnow(),
                           error=f"internal error: {type(exc).__name__}: {exc}")
    site = ctx.store.site_dir
    outputs = [Output(path=f"site/{rel}", bytes=(site / rel).stat().st_size,
                      sha256=sha256_file(site / rel)) for rel in report.pages]
    result = StageResult(stage="publish", lesson=SITE_LESSON, status="ok", fingerprint=fp,
                         outputs=outputs, commands=report.commands, started=started,
                         ended=utcnow(), warnings=report.warnings,
                         details={"lessons": report.lessons, "site": "site/",
                                  "base_url": base_url})
    atomic_write_json(record_path, result.to_json())
    ctx.log.info("site written", stage="publish", lessons=report.lessons, path=str(site))
    return result


def run(args: argparse.Namespace, log: EventLog) -> int:
    manifest = load_manifest(args.manifest)
    lessons = select(manifest, args.only, fail=UsageError)
    store = Store(args.output)
    with store.locked(wait=args.wait):
        ctx = Context(store=store, manifest=manifest, log=log, jobs=args.jobs, force=args.force,
                      options={"base_url": args.base_url,
                               "only": [lesson.id for lesson in lessons] if args.only else None})
        result = publish_site(ctx)
    return 1 if result.status == "failed" else 0
