"""Build the static site in a staging folder, then swap it in with one atomic rename.

A failed publish (bad input, ffmpeg error, full disk) removes its staging folder and leaves the
previous `site/` untouched; readers never see a half-built site. Media and tracks are copied
from the packages so the site is self-contained and can be moved or hosted on its own; every
URL that leaves the site is absolute against the configured base URL (siteconfig.py).
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archiver.log import EventLog
from archiver.model import Manifest, track, utcnow
from archiver.publish import iiif, media, oembed, viewer
from archiver.publish.inputs import TAG_FILES, LessonData, load_catalog, load_lessons
from archiver.publish.pages import (
    VIEWER_PAGE,
    embed_page,
    failure_reason,
    index_page,
    lesson_page,
    tls_line,
    viewer_page,
)
from archiver.publish.published import Published
from archiver.publish.siteconfig import DEFAULT_WARNING, SiteConfig
from archiver.store import (
    Store,
    atomic_write_json,
    atomic_write_text,
    publish_file,
    remove_stale_staging,
    sha256_file,
    staging_dir,
    swap_dir,
    temp_path_for,
)

SITE_SCHEMA = "lesson-archiver/site-catalog/1"
STATIC = Path(__file__).with_name("static")


@dataclass
class BuildReport:
    """What a build did: used for the StageResult of publish."""

    pages: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lessons: int = 0


def _place(src: Path, dest: Path) -> None:
    """Copy `src` into the staging folder (temporary name, then rename).

    Never a hard link: a site is handed to web servers and sync tools that may rewrite files in
    place, and a linked file would carry such a change (or damage) into the preserved package.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(dest)
    shutil.copyfile(src, tmp)
    publish_file(tmp, dest)


def _file_entry(site: Path, rel: str) -> dict[str, Any]:
    path = site / rel
    return {"url": rel, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _copy_records(site: Path, lesson: LessonData, urls: dict[str, str]) -> None:
    media_dir = f"media/{lesson.id}/"
    for key in ("transcript", "chapters", "provenance", "videoobject", "capture"):
        if key in lesson.files:
            urls[key] = media_dir + ("capture.json" if key == "capture"
                                     else lesson.files[key].name)
            _place(lesson.files[key], site / urls[key])
    if lesson.package is not None:  # the bag's own description and checksums, for people
        for name, key in zip(TAG_FILES, ("bagit", "bag-info", "manifest"), strict=True):
            if (lesson.package / name).is_file():
                urls[key] = media_dir + "package/" + name
                _place(lesson.package / name, site / urls[key])


def _publish_lesson(site: Path, lesson: LessonData, report: BuildReport) -> Published:
    lid = lesson.id
    media_dir = f"media/{lid}/"
    access = lesson.files["access"]
    suffix = access.suffix.lower() if access.suffix.lower() in (".mp4", ".m4a") else ".mp4"
    urls = {"page": f"{lid}.html", "embed": f"embed/{lid}.html",
            "video": media_dir + lid + suffix, "poster": media_dir + "poster.jpg",
            "oembed": f"oembed/{lid}.json", "iiif": iiif.manifest_path(lid)}
    _place(access, site / urls["video"])
    for key in lesson.tracks:
        urls[key] = media_dir + track(key).vtt_name(lid)
        _place(lesson.files[f"track:{key}"], site / urls[key])
    _copy_records(site, lesson, urls)
    copy = site / urls["video"]
    info = media.probe(copy, lid, report.commands)
    media.poster(copy, info, site / urls["poster"], lid, report.commands)
    thumbs = media.thumbnails(site / urls["poster"], media_dir, info, lid, report.commands)
    return Published(lesson=lesson, urls=urls, info=info, access_sha256=sha256_file(copy),
                     access_bytes=copy.stat().st_size, thumbnails=thumbs)


def _lesson_entry(lesson: LessonData, pub: Published | None, site: Path,
                  cfg: SiteConfig) -> dict[str, Any]:
    entry = {k: v for k, v in lesson.entry.items()
             if k not in ("files", "package", "error", "error_class")}
    entry["archive_package"] = lesson.entry.get("package")
    reason = failure_reason(lesson)
    if reason is not None:  # public: error class and one line, never a path or a traceback
        entry["error"] = reason
    if pub is None:
        return entry
    urls = pub.urls
    what = oembed.Embeddable.of(pub, cfg)
    entry.update(page=urls["page"], embed=urls["embed"], poster=urls["poster"],
                 oembed=urls["oembed"], iiif=urls["iiif"],
                 duration_seconds=round(pub.duration, 3), width=pub.width, height=pub.height,
                 media_type=pub.info.mime_type, audio_only=pub.audio_only,
                 embed_url=what.embed_url,
                 thumbnails=[asdict(t) for t in what.thumbnails])
    files: dict[str, Any] = {"access": _file_entry(site, urls["video"]),
                             "tracks": {key: _file_entry(site, urls[key])
                                        for key in lesson.tracks}}
    for key in ("transcript", "chapters", "provenance", "videoobject", "capture",
                "bag-info", "manifest"):
        if key in urls:
            files[key] = _file_entry(site, urls[key])
    entry["files"] = files
    return entry


def site_catalog(source: dict[str, Any], lessons: list[LessonData],
                 published: dict[str, Published], site: Path,
                 cfg: SiteConfig) -> dict[str, Any]:
    """The package stage's catalog, with every URL relative to the site (files it holds);
    `base_url` is where the site says it is served (absolute URLs are built against it)."""
    return {"schema": SITE_SCHEMA, "generated": utcnow(), "base_url": cfg.base_url,
            "embed_base_url": cfg.embed_base_url,
            "source_catalog": {"schema": source.get("schema"),
                               "generated": source.get("generated")},
            "series": source.get("series", {}),
            "lessons": [_lesson_entry(lesson, published.get(lesson.id), site, cfg)
                        for lesson in lessons]}


FAILING_STAGES = ("package", "fetch")  # the order catalog.json takes a lesson's error from


def _add_error_classes(output: Path, lessons: list[LessonData]) -> None:
    """A failed lesson's error class from its stage record when the catalog lacks it, so the
    public reason can say which kind of failure it was (e.g. `TlsError: …`)."""
    store = Store(output)
    for lesson in lessons:
        if lesson.status != "failed" or lesson.entry.get("error_class"):
            continue
        for stage in FAILING_STAGES:
            record = store.load_result(lesson.id, stage)
            if record is not None and record.status == "failed":
                lesson.entry["error_class"] = record.error_class
                break


def _viewer(staging: Path, report: BuildReport) -> bool:
    files = viewer.bundle()
    if files is None:
        report.warnings.append(viewer.MISSING)
        return False
    for path in files:
        _place(path, staging / "viewer" / path.name)
    atomic_write_text(staging / VIEWER_PAGE, viewer_page(
        [p.name for p in files if p.suffix in (".js", ".css")]))
    report.pages.append(VIEWER_PAGE)
    return True


def _write_lesson(staging: Path, pub: Published, cfg: SiteConfig, with_viewer: bool,
                  report: BuildReport) -> None:
    urls = pub.urls
    atomic_write_text(staging / urls["page"], lesson_page(pub, cfg, with_viewer))
    atomic_write_text(staging / urls["embed"], embed_page(pub))
    atomic_write_json(staging / urls["oembed"], oembed.document(pub, cfg))
    atomic_write_json(staging / urls["iiif"], iiif.lesson_manifest(pub, cfg,
                                                                   tls_line(pub.lesson)))
    report.pages += [urls["page"], urls["embed"], urls["oembed"], urls["iiif"]]


def build(output: Path, manifest: Manifest, staging: Path, cfg: SiteConfig,
          only: set[str] | None = None, log: EventLog | None = None) -> BuildReport:
    """Write the whole site into `staging` (an empty folder)."""
    report = BuildReport()
    if cfg.defaulted:
        report.warnings.append(DEFAULT_WARNING)
        if log:
            log.warning("base URL not set", stage="publish", message=DEFAULT_WARNING)
    catalog = load_catalog(output)
    lessons = load_lessons(output, catalog, manifest, only)
    _add_error_classes(output, lessons)
    published: dict[str, Published] = {}
    for lesson in lessons:
        if lesson.published:
            published[lesson.id] = _publish_lesson(staging, lesson, report)
            if log:
                log.info("published", lesson=lesson.id, stage="publish")
        elif log:
            log.debug("listed without page", lesson=lesson.id, stage="publish",
                      status=lesson.status)
    series = catalog.get("series") if isinstance(catalog.get("series"), dict) else {}
    if not series:
        s = manifest.series
        series = {"id": s.id, "title": {"en": s.title.en, "zh": s.title.zh},
                  "publisher": {"en": s.publisher.en, "zh": s.publisher.zh}}
    for name in ("site.css", "player.js"):
        _place(STATIC / name, staging / "assets" / name)
    with_viewer = _viewer(staging, report)
    for pub in published.values():
        _write_lesson(staging, pub, cfg, with_viewer, report)
    atomic_write_json(staging / iiif.COLLECTION,
                      iiif.collection(manifest.series.title, list(published.values()), cfg))
    atomic_write_text(staging / "index.html", index_page(series, lessons, published))
    atomic_write_json(staging / "catalog.json", site_catalog(
        {**catalog, "series": series}, lessons, published, staging, cfg))
    report.pages += [iiif.COLLECTION, "index.html", "catalog.json"]
    report.lessons = len(published)
    return report


def publish(output: Path, manifest: Manifest, cfg: SiteConfig, only: set[str] | None = None,
            log: EventLog | None = None) -> BuildReport:
    """Build into a staging folder beside `site/` and swap it in; on failure keep the old site."""
    site = output / "site"
    remove_stale_staging(site)
    staging = staging_dir(site)
    try:
        report = build(output, manifest, staging, cfg, only, log)
        swap_dir(staging, site)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report
