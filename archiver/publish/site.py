"""Build the static site in a staging folder, then swap it in with one atomic rename.

A failed publish (bad input, ffmpeg error, full disk) removes its staging folder and leaves the
previous `site/` untouched; readers never see a half-built site. Media and tracks are copied
from the packages so the site is self-contained and can be moved or hosted on its own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.errors import Location, PublishError
from archiver.log import EventLog
from archiver.model import Manifest, track, utcnow
from archiver.publish.inputs import TAG_FILES, LessonData, load_catalog, load_lessons
from archiver.publish.pages import Published, embed_page, index_page, lesson_page
from archiver.store import (
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


def probe(path: Path, lesson: str, report: BuildReport) -> tuple[int, int, float]:
    """Width, height and duration of the access copy (ffprobe), for the aspect box and JSON-LD."""
    cmd = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
           "stream=width,height:format=duration", "-of", "json", str(path)]
    report.commands.append(cmd)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        info = json.loads(proc.stdout)
        stream = info["streams"][0]
        return int(stream["width"]), int(stream["height"]), float(info["format"]["duration"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise PublishError(f"ffprobe cannot read the access copy: {proc.stderr.strip()[:300]}",
                           Location(path, lesson=lesson)) from None


def poster(video: Path, dest: Path, duration: float, lesson: str, report: BuildReport) -> None:
    """Extract one frame (10% in, at most 30 s) as the poster JPEG."""
    at = min(duration * 0.1, 30.0)
    tmp = temp_path_for(dest)
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{at:.3f}",
           "-i", str(video), "-frames:v", "1", "-update", "1", "-q:v", "3", str(tmp)]
    report.commands.append(cmd)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        raise PublishError(f"ffmpeg could not extract a poster frame: {proc.stderr.strip()[:300]}",
                           Location(video, lesson=lesson))
    publish_file(tmp, dest)


def _file_entry(site: Path, rel: str) -> dict[str, Any]:
    path = site / rel
    return {"url": rel, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _publish_lesson(site: Path, lesson: LessonData, report: BuildReport) -> Published:
    lid = lesson.id
    media = f"media/{lid}/"
    urls = {"page": f"{lid}.html", "embed": f"embed/{lid}.html", "video": media + f"{lid}.mp4",
            "poster": media + "poster.jpg"}
    _place(lesson.files["access"], site / urls["video"])
    for key in lesson.tracks:
        urls[key] = media + track(key).vtt_name(lid)
        _place(lesson.files[f"track:{key}"], site / urls[key])
    for key in ("transcript", "chapters", "provenance", "videoobject", "capture"):
        if key in lesson.files:
            urls[key] = media + lesson.files[key].name if key != "capture" else media + \
                "capture.json"
            _place(lesson.files[key], site / urls[key])
    if lesson.package is not None:  # the bag's own description and checksums, for people
        for name, key in zip(TAG_FILES, ("bagit", "bag-info", "manifest"), strict=True):
            if (lesson.package / name).is_file():
                urls[key] = media + "package/" + name
                _place(lesson.package / name, site / urls[key])
    width, height, duration = probe(site / urls["video"], lid, report)
    poster(site / urls["video"], site / urls["poster"], duration, lid, report)
    video = site / urls["video"]
    return Published(lesson=lesson, urls=urls, width=width, height=height, duration=duration,
                     access_sha256=sha256_file(video), access_bytes=video.stat().st_size)


def site_catalog(source: dict[str, Any], lessons: list[LessonData],
                 published: dict[str, Published], site: Path) -> dict[str, Any]:
    """The package stage's catalog, with every URL relative to the site (files it holds)."""
    out = []
    for lesson in lessons:
        entry = {k: v for k, v in lesson.entry.items() if k not in ("files", "package")}
        entry["archive_package"] = lesson.entry.get("package")
        pub = published.get(lesson.id)
        if pub is not None:
            urls = pub.urls
            entry.update(page=urls["page"], embed=urls["embed"], poster=urls["poster"],
                         duration_seconds=round(pub.duration, 3), width=pub.width,
                         height=pub.height)
            files: dict[str, Any] = {"access": _file_entry(site, urls["video"]),
                                     "tracks": {lang: _file_entry(site, urls[lang])
                                                for lang in lesson.tracks}}
            for key in ("transcript", "chapters", "provenance", "videoobject", "capture",
                        "bag-info", "manifest"):
                if key in urls:
                    files[key] = _file_entry(site, urls[key])
            entry["files"] = files
        out.append(entry)
    return {"schema": SITE_SCHEMA, "generated": utcnow(),
            "source_catalog": {"schema": source.get("schema"),
                               "generated": source.get("generated")},
            "series": source.get("series", {}), "lessons": out}


def build(output: Path, manifest: Manifest, staging: Path, base_url: str = "",
          only: set[str] | None = None, log: EventLog | None = None) -> BuildReport:
    """Write the whole site into `staging` (an empty folder)."""
    report = BuildReport()
    catalog = load_catalog(output)
    lessons = load_lessons(output, catalog, manifest, only)
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
    assets = staging / "assets"
    for name in ("site.css", "player.js"):
        _place(STATIC / name, assets / name)
    for pub in published.values():
        atomic_write_text(staging / pub.urls["page"], lesson_page(pub, base_url))
        atomic_write_text(staging / pub.urls["embed"], embed_page(pub))
        report.pages += [pub.urls["page"], pub.urls["embed"]]
    atomic_write_text(staging / "index.html", index_page(series, lessons, published))
    atomic_write_json(staging / "catalog.json",
                      site_catalog({**catalog, "series": series}, lessons, published, staging))
    report.pages += ["index.html", "catalog.json"]
    report.lessons = len(published)
    return report


def publish(output: Path, manifest: Manifest, base_url: str = "", only: set[str] | None = None,
            log: EventLog | None = None) -> BuildReport:
    """Build into a staging folder beside `site/` and swap it in; on failure keep the old site."""
    site = output / "site"
    remove_stale_staging(site)
    staging = staging_dir(site)
    try:
        report = build(output, manifest, staging, base_url, only, log)
        swap_dir(staging, site)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report
