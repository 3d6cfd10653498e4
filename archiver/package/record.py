"""The package stage's records of the current package, and how a rerun recognises it.

Two records describe `packages/<id>/`: the stage's StageResult (`lessons/<id>/state/
package.json`) and `lessons/<id>/package/current.json` (what the catalog lists). Both are
written *after* the bag is renamed into place, so a crash in between leaves a complete package
that no record describes. Rather than build an identical second version (and move the first
to `.versions/`), the rerun adopts it: the bag's `bag-info.txt` carries the inputs fingerprint
(`Archiver-Inputs-Fingerprint`), and a bag with the same fingerprint that validates in full is
exactly what a build would make, apart from its time stamps. The records are rebuilt from the
bag itself (its manifest gives every file's sha256, its bag-info the version and time).

A record is trusted only while it describes the bag in place (same version and Archived-At):
after a crash in a later publish, the record may still describe the version before.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import bagit

from archiver import __version__
from archiver.errors import PackageError
from archiver.model import Output, StageResult, utcnow
from archiver.package import bag, catalog, chapters, probe
from archiver.package.inputs import PackageInputs
from archiver.pipeline import Context
from archiver.store import atomic_write_json

STAGE = "package"


@functools.cache
def tool_versions() -> dict[str, str]:
    versions = {"lesson-archiver": __version__, "bagit-python": str(bagit.VERSION)}
    for tool in ("ffmpeg", "ffprobe"):
        try:
            out = subprocess.run([tool, "-version"], capture_output=True, text=True,
                                 check=False).stdout
            versions[tool] = out.split("\n", 1)[0].split(" ")[2]
        except (OSError, IndexError):
            versions[tool] = "unknown"
    try:
        from importlib.metadata import version
        versions["ffmpeg-python"] = version("ffmpeg-python")
    except Exception:  # metadata missing: not worth failing a package over
        versions["ffmpeg-python"] = "unknown"
    return versions


def describes_current(ctx: Context, lesson_id: str, version: Any, archived_at: Any) -> bool:
    """Whether a recorded (version, archived_at) is the bag now in `packages/<id>/`."""
    info = bag.info_of(ctx.store.package_dir(lesson_id))
    return bool(info) and info.get("Archived-At") == archived_at and \
        bag.version_of(ctx.store.package_dir(lesson_id)) == version


def adopt(inputs: PackageInputs, ctx: Context, started: str) -> StageResult | None:
    """The result of the current package when it was built from these very inputs but no
    record says so (the run that built it was killed before saving it); else None."""
    lesson, store = inputs.lesson, ctx.store
    current = store.package_dir(lesson.id)
    info = bag.info_of(current)
    if not inputs.fingerprint or info.get(bag.FINGERPRINT_FIELD) != inputs.fingerprint:
        return None
    version = bag.version_of(current)
    if version is None or not info.get("Archived-At"):
        return None
    try:
        bag.validate(current, lesson.id)  # in full: after a crash, trust nothing unchecked
    except PackageError as exc:
        ctx.log.warning("not adopted", lesson=lesson.id, stage=STAGE,
                        message=f"the package in place has these inputs but {exc}; rebuilding")
        return None
    files = {rel: {"bytes": (current / "data" / rel).stat().st_size, "sha256": digest}
             for rel, digest in bag.manifest_digests(current).items()}
    report = probe.Report()
    duration = float(probe.ffprobe(inputs.media, report)["format"].get("duration") or 0.0)
    chapter_count = len(chapters.clip_chapters(inputs.chapters, duration))
    moved = None
    try:
        doc = json.loads((current / "data" / "provenance.json").read_text("utf-8"))
        supersedes = doc.get("supersedes") if isinstance(doc, dict) else None
    except (OSError, ValueError):
        supersedes = None
    if isinstance(supersedes, str) and "/v" in supersedes:
        candidate = bag.versions_dir(store, lesson.id) / supersedes.rpartition("/")[2]
        moved = candidate if candidate.is_dir() else None
    return build_result(inputs, ctx, started, files, report.commands, version, moved,
                        info["Archived-At"], duration, chapter_count,
                        adopted="the package in place was built from these inputs by a run "
                                "that ended before recording it: validated in full, adopted")


def build_result(inputs: PackageInputs, ctx: Context, started: str,
                 files: dict[str, dict[str, Any]], commands: list[list[str]], version: int,
                 moved: Path | None, archived_at: str, duration: float, chapter_count: int,
                 adopted: str | None = None) -> StageResult:
    """Record the package (current.json for the catalog; the caller saves the StageResult)
    and log it (`packaged`, or `adopted` with the reason when a rerun adopted it)."""
    lesson, store = inputs.lesson, ctx.store
    package = f"packages/{lesson.id}"
    outputs = [Output(path=f"{package}/data/{rel}", bytes=info["bytes"], sha256=info["sha256"])
               for rel, info in sorted(files.items())]

    def entry(rel: str | None) -> dict[str, Any] | None:
        if rel is None or rel not in files:
            return None
        return {"path": f"{package}/data/{rel}", "bytes": files[rel]["bytes"],
                "sha256": files[rel]["sha256"]}

    capture_rel = f"capture/{inputs.warc.name}" if inputs.warc else None
    capture_json_rel = f"capture/{inputs.capture_json.name}" if inputs.capture_json else None
    tls = inputs.fetch.details.get("tls") or {}
    previous_versions = [p.relative_to(store.root).as_posix()
                         for p in sorted(bag.versions_dir(store, lesson.id).glob("v*"))]
    record = {
        "package": package, "version": version, "fingerprint": inputs.fingerprint,
        "archived_at": archived_at, "duration_seconds": round(duration, 3),
        "previous_versions": previous_versions,
        "files": {
            "original": entry(f"original/{inputs.media.name}"),
            "master": entry(f"master/{lesson.id}.mkv"),
            "access": entry(f"access/{lesson.id}.mp4"),
            "provenance": entry("provenance.json"),
            "videoobject": entry("videoobject.json"),
            "capture": entry(capture_rel),
            "capture_record": entry(capture_json_rel),
            "transcript": entry("subtitles/transcript.json"),
            "chapters": entry("subtitles/chapters.json"),
            "quality": entry("subtitles/quality.json"),
            "tracks": {t.spec.key: entry(f"subtitles/{t.path.name}") for t in inputs.tracks},
        },
        "source": {"url": inputs.source_url, "kind": inputs.source.get("kind"),
                   "captured": inputs.fetch.ended or inputs.fetch.started,
                   "tls": {"outcome": tls.get("outcome"), "problems": tls.get("problems", []),
                           "sha256_fingerprint": tls.get("sha256_fingerprint")}},
    }
    ctx.log.info("adopted" if adopted else "packaged", lesson=lesson.id, stage=STAGE,
                 version=version,
                 tracks=len(inputs.tracks), chapters=chapter_count)
    warnings = [] if inputs.tracks else ["packaged without subtitle tracks (no subtitles yet)"]
    subtitles = store.load_result(lesson.id, "subtitles")
    if subtitles is not None and subtitles.status == "failed":
        warnings.append(f"the subtitles stage failed ({subtitles.error}); packaged without "
                        "tracks: rerun subtitles, then package, for a version with tracks")
    result = StageResult(
        stage=STAGE, lesson=lesson.id, status="ok", fingerprint=inputs.fingerprint,
        outputs=outputs, commands=commands, tool_versions=tool_versions(), started=started,
        ended=utcnow(), warnings=warnings,
        details={"package": package, "version": version, "archived_at": archived_at,
                 "previous_version": moved.relative_to(store.root).as_posix() if moved else None,
                 "master": f"{package}/data/master/{lesson.id}.mkv",
                 "access": f"{package}/data/access/{lesson.id}.mp4",
                 "provenance": f"{package}/data/provenance.json",
                 "videoobject": f"{package}/data/videoobject.json",
                 "premis_events": f"{package}/{bag.PREMIS_FILE}",
                 "duration": round(duration, 3), "chapters": chapter_count,
                 "tracks": [t.spec.key for t in inputs.tracks], "catalog": "catalog.json",
                 **({"adopted": adopted} if adopted else {})})
    atomic_write_json(catalog.record_path(store, lesson.id), {**record,
                                                              "result": result.to_json()})
    return result
