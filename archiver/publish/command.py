"""`archiver publish`: write `output/site/`, the static site for people and embedding sites.

Publish is a registered site-level stage (`PUBLISH`): `archiver archive` runs it once after the
lesson stages, `archiver publish` on its own; `publish_site(ctx)` runs it from code. The runner
keeps its record in `reports/publish.json` (the per-lesson state folders hold lesson stages
only), which doubles as the idempotency record: same inputs and an intact site mean nothing to
redo. A failed publish is recorded too and leaves the previous site in place.
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import replace
from pathlib import Path

from archiver.errors import Location, PublishError, UsageError
from archiver.log import EventLog
from archiver.manifest import load_manifest, select
from archiver.model import Output, PublishDetails, StageResult
from archiver.options import Options, PublishOptions, add_publish_arguments
from archiver.pipeline import Context, Done, Plan, SiteStage, run_site_stage
from archiver.publish import viewer
from archiver.publish.site import publish
from archiver.publish.siteconfig import SiteConfig, resolve
from archiver.store import Store, fingerprint, sha256_file

HELP = "write the static site (lesson pages, embed pages, catalog) to <output>/site"
NEEDS_MANIFEST = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_publish_arguments(parser)
    parser.add_argument("--force", action="store_true",
                        help="rebuild the site even when its inputs are unchanged")
    parser.add_argument("--wait", action="store_true",
                        help="wait for another run's lock instead of refusing")


def _code_digest() -> str:
    """Digest of the publish code, assets and viewer bundle: a new version of the pages (or a
    viewer built since) means a rebuild."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for path in sorted([*here.glob("*.py"), *here.glob("static/*")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for path in viewer.bundle() or []:
        digest.update(path.name.encode() + b"\0" + sha256_file(path).encode())
    return digest.hexdigest()


class PublishStage(SiteStage[PublishDetails, SiteConfig]):
    """Build `<output>/site/` in a staging folder and swap it in (publish/site.py)."""

    name = "publish"
    unchanged_event = "site unchanged"
    failure_note = " (previous site kept)"

    def plan(self, ctx: Context) -> Plan[SiteConfig]:
        opts = ctx.options.publish
        cfg = resolve(opts, ctx.manifest)
        catalog = ctx.store.catalog_path
        fp = fingerprint(
            sha256_file(catalog) if catalog.is_file() else None,
            sha256_file(ctx.manifest.path) if ctx.manifest.path.is_file() else None,
            repr(cfg), sorted(opts.only or []), _code_digest())
        return Plan(fp, cfg)

    def reuse(self, lesson_id: str, ctx: Context, plan: Plan[SiteConfig]
              ) -> StageResult[PublishDetails] | None:
        if not (ctx.store.site_dir / "index.html").is_file():
            return None
        previous = ctx.store.reusable(lesson_id, self.name, plan.fingerprint)
        return previous.typed(PublishDetails) if previous is not None else None

    def work(self, ctx: Context, plan: Plan[SiteConfig]) -> Done[PublishDetails]:
        cfg, only = plan.ready, ctx.options.publish.only
        try:
            report = publish(ctx.output, ctx.manifest, cfg, set(only) if only else None,
                             ctx.log)
        except OSError as exc:  # disk full, file size limit, permissions: not a bug
            raise PublishError(f"cannot write the site: {exc}",
                               Location(file=ctx.store.site_dir)) from exc
        site = ctx.store.site_dir
        outputs = [Output(path=f"site/{rel}", bytes=(site / rel).stat().st_size,
                          sha256=sha256_file(site / rel)) for rel in report.pages]
        ctx.log.info("site written", stage=self.name, lessons=report.lessons, path=str(site))
        return Done(PublishDetails(lessons=report.lessons, site="site/",
                                   base_url=cfg.base_url),
                    outputs, report.commands, report.warnings)


PUBLISH = PublishStage()


def publish_site(ctx: Context) -> StageResult[PublishDetails]:
    """Build and swap in `<output>/site/` through the runner; a failure is recorded and
    returned (status "failed"), never raised, and the previous site stays."""
    return run_site_stage(PUBLISH, ctx)


def run(args: argparse.Namespace, log: EventLog) -> int:
    manifest = load_manifest(args.manifest)
    lessons = select(manifest, args.only, fail=UsageError)
    store = Store(args.output)
    only = tuple(lesson.id for lesson in lessons) if args.only else None
    options = replace(Options(), publish=PublishOptions(
        base_url=args.base_url, only=only, embed_base_url=args.embed_base_url))
    with store.locked(wait=args.wait):
        ctx = Context(store=store, manifest=manifest, log=log, jobs=args.jobs, force=args.force,
                      options=options)
        result = publish_site(ctx)
    return 1 if result.status == "failed" else 0
