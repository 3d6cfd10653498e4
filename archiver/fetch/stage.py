"""The fetch stage (`FETCH`): downloads a lesson's media with TLS evidence and a WARC.

Sources are tried in manifest order; the first that yields media passing every check wins and
is recorded (`source`, `source_index`), with every earlier attempt (`attempts`). Idempotent by
a fingerprint of the lesson id, its sources and its sha256 pin (not yt-dlp's id, which comes
from URL file names and collides): a completed lesson is skipped without any request.

Safety: the media is streamed into a partial temporary file and published (fsync + rename)
only after size, content, pin and ffprobe checks pass (bytes in which ffprobe finds no audio
or video stream are quarantined with its message, archiver.fetch.mediacheck). Bytes that
contradict the manifest's `sha256` are moved to `quarantine/<id>/` and the earlier good copy
stays as it was. When every source fails, `fetch/last-failure.json` records the attempts
(with TLS evidence) and the earlier archive is untouched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archiver.errors import ChecksumMismatch, FetchError, Location, NotMediaError, TlsError
from archiver.fetch import capture as cap
from archiver.fetch.components import (
    MERGED,
    component_extension,
    fetch_component,
    merge,
)
from archiver.fetch.download import (
    Downloaded,
    Options,
    discard_partial,
    discard_partials,
    download,
    partial_name,
    retrying,
)
from archiver.fetch.embeds import capture_resources
from archiver.fetch.hls import download_hls
from archiver.fetch.hostmap import HostMap, parse_entry
from archiver.fetch.http import Session
from archiver.fetch.limits import read_timeout
from archiver.fetch.mediacheck import Probe, media_streams, probe
from archiver.fetch.resolve import MEDIA_EXTS, Component, Resolution, resolve
from archiver.fetch.warc import GZ_NAME, MediaPart, write_warc
from archiver.model import (
    FetchDetails,
    Lesson,
    Output,
    ResolutionRecord,
    Source,
    SourceRecord,
    StageResult,
    TransferRecord,
    utcnow,
)
from archiver.model.jsonio import dump
from archiver.pipeline import Context, Done, LessonStage, Plan, Skip, run_stage
from archiver.store import atomic_write_json, fingerprint, publish_file, sha256_file

STAGE = "fetch"
TOOLS = ("archiver", "yt-dlp", "httpx", "warcio", "tenacity", "openssl", "python")
# Bump when the fetch logic changes what it produces. Not bumped for the replayable WARCs
# (issue 11): a bump refetches every lesson, and a source that has vanished since would turn
# an archived lesson into a failed fetch. Earlier captures keep their WARC until
# `archiver fetch --force` (see docs/package.md).
VERSION = 1
TYPE_EXTS = {"video/mp4": ".mp4", "video/webm": ".webm", "video/x-matroska": ".mkv",
             "video/mp2t": ".ts", "video/quicktime": ".mov", "video/x-flv": ".flv",
             "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "video/ogg": ".ogv"}


def lesson_fingerprint(lesson: Lesson) -> str:
    """What a fetch depends on: lesson id, its sources (url, kind, TLS policy), its pin."""
    return fingerprint(STAGE, VERSION, lesson.id, [cap.source_json(s) for s in lesson.sources],
                       lesson.sha256)


def media_extension(url: str, content_type: str, head: bytes) -> str:
    """A safe extension from a whitelist: the server's file names never become paths."""
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    for ext in MEDIA_EXTS:
        if path.endswith(ext):
            return ext
    kind = content_type.split(";")[0].strip().lower()
    if kind in TYPE_EXTS:
        return TYPE_EXTS[kind]
    if head[4:8] == b"ftyp":
        return ".mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return ".mkv"
    if head[:1] == b"\x47":
        return ".ts"
    return ".bin"


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _known_direct(folder: Path, partial: str, url: str) -> bool:
    """A partial from an earlier run of this very URL: resume it without probing again."""
    try:
        state = json.loads((folder / (partial + ".json")).read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return False
    return bool(state.get("url") == url and state.get("kind") not in ("hls", "dash"))


Quarantined = Callable[[str, str], dict[str, Any]]  # (error class, message) -> capture record


def _quarantine(ctx: Context, lesson: Lesson, got: Downloaded, ext: str, partial: str,
                quarantined: Quarantined, error: str, message: str) -> Path:
    """Move refused bytes to quarantine/<id>/ with their capture record (the attempt marked
    `quarantined` with `error` and `message`) and drop the partial's sidecars; returns where
    the bytes went. The earlier archived copy is never touched."""
    record = quarantined(error, message)
    folder = ctx.store.quarantine_dir(lesson.id)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = _stamp()
    target = folder / f"{stamp}-original{ext}"
    publish_file(got.path, target)
    atomic_write_json(folder / f"{stamp}-capture.json", record)
    discard_partial(got.path.parent, partial)
    return target


Part = tuple[Component, Downloaded, tuple[int, int]]  # a component, its download, its exchanges


def _download_media(session: Session, res: Resolution, split: bool, folder: Path, opts: Options,
                    progress: Callable[[int, int | None], None], partial: str,
                    on_retry: Callable[[str, float], None],
                    lesson: Lesson) -> tuple[Downloaded, list[Part]]:
    """The media as served: each component of a split resolution on its own (archiver.fetch.
    components), an HLS playlist segment by segment, else one direct download. Returns the
    main download and the components (none unless split), each with the span of the
    session's exchanges that carried it (its WARC records)."""
    parts: list[Part] = []
    if split:
        for n, component in enumerate(res.components):
            first = len(session.exchanges)
            got = fetch_component(session, component, folder, opts, progress,
                                  f"{partial}.{component.role}", on_retry,
                                  res.playlist if n == 0 else None)
            parts.append((component, got, (first, len(session.exchanges))))
        return parts[0][1], parts
    if res.protocol == "m3u8":
        return download_hls(session, res.media_url, folder, opts, progress, res.playlist,
                            partial=partial, on_retry=on_retry), parts
    return download(session, res.media_url, folder, opts, progress, lesson.id, on_retry,
                    partial), parts


def _store_original(got: Downloaded, folder: Path, ext: str, lesson: Lesson) -> Path:
    """Move the finished download to fetch/original<ext>, if the stored bytes are the bytes
    that were received and hashed (belt and braces)."""
    on_disk = got.path.stat().st_size
    if on_disk != got.bytes:
        raise FetchError(f"{got.path.name} holds {on_disk} bytes but {got.bytes} were "
                         "received and hashed; the download was not stored completely",
                         Location(lesson=lesson.id))
    final = folder / f"original{ext}"
    publish_file(got.path, final)
    return final


def _check_split_pin(ctx: Context, lesson: Lesson, parts: list[Part]) -> None:
    """A split source (video and audio apart) matches its sha256 pin when one of its served
    components has that digest; otherwise it fails before any component is published, so
    the earlier archived copy stays as it was (the new bytes stay in their partials)."""
    if not lesson.sha256 or lesson.sha256.lower() in {g.sha256 for _c, g, _s in parts}:
        return
    raise ChecksumMismatch(
        f"no served component matches the manifest pin {lesson.sha256} (got "
        + ", ".join(f"{c.role} {g.sha256}" for c, g, _s in parts) + "); the earlier archived "
        "copy is untouched", Location(file=ctx.manifest.path, lesson=lesson.id, key="sha256"))


def _check_pin(ctx: Context, lesson: Lesson, got: Downloaded, ext: str, url: str,
               partial: str, quarantined: Quarantined) -> None:
    """Bytes that differ from the manifest's sha256 pin go to quarantine; the earlier
    archived copy stays as it was. (A split source: `_check_split_pin`.)"""
    if not lesson.sha256 or got.sha256 == lesson.sha256.lower():
        return
    target = _quarantine(ctx, lesson, got, ext, partial, quarantined, "ChecksumMismatch",
                         f"sha256 {got.sha256} differs from the pin {lesson.sha256}")
    raise ChecksumMismatch(
        f"{url}: sha256 {got.sha256} does not match the manifest pin {lesson.sha256}; the "
        f"new bytes are in {target.relative_to(ctx.output)} and the earlier archived copy is "
        "untouched", Location(file=ctx.manifest.path, lesson=lesson.id, key="sha256"))


def _publish_original(ctx: Context, lesson: Lesson, got: Downloaded, ext: str, url: str,
                      partial: str, quarantined: Quarantined) -> tuple[Path, Probe]:
    """Publish the download as fetch/original<ext>, once ffprobe finds an audio or video
    stream in it. Bytes served as media that hold none (gzip, an error page, noise) go to
    quarantine with their capture record and ffprobe's words, and the lesson fails: they
    are never archived as the original. Returns the original and that probe (the same bytes
    under their final name: the audio verdict needs no second ffprobe run)."""
    found = probe(got.path)
    streams, probe_message = media_streams(found)
    if not streams:
        target = _quarantine(ctx, lesson, got, ext, partial, quarantined, "NotMediaError",
                             f"ffprobe found no audio or video stream: {probe_message}")
        raise NotMediaError(
            f"{url}: served as {got.content_type or 'no type'}, but ffprobe finds no audio or "
            f"video stream in the {got.bytes} bytes ({probe_message}); quarantined in "
            f"{target.relative_to(ctx.output)}, not archived",
            Location(lesson=lesson.id, key="sources.url"))
    return _store_original(got, got.path.parent, ext, lesson), found


def _fetch_source(lesson: Lesson, source: Source, index: int, ctx: Context, opts: Options,
                  folder: Path, attempts: list[dict[str, Any]]) -> Done[FetchDetails]:
    started = utcnow()
    log = ctx.log
    if source.tls.mode == "insecure":
        log.warning("insecure-tls", lesson=lesson.id, stage=STAGE,
                    message=f"TLS CERTIFICATE CHECKS ARE OFF for {source.url} (tls=insecure): "
                    "anyone on the path could have served these bytes; recorded as evidence")

    def progress(done: int, total: int | None) -> None:
        log.progress(lesson.id, STAGE, done, total)

    def on_retry(message: str, wait: float) -> None:
        log.warning("retry", lesson=lesson.id, stage=STAGE, message=message, wait=round(wait, 2))

    hostmap = HostMap.of([parse_entry(e, "--resolve") for e in opts.resolve],
                         [parse_entry(e, f"sources[{index}].resolve") for e in source.resolve])
    with Session(source.tls, lesson.id, read_timeout(opts), source.url, source_index=index,
                 legacy_renegotiation=source.legacy_renegotiation,
                 host_policies=dict(source.tls_hosts), hostmap=hostmap,
                 max_redirects=opts.max_redirects, options=opts) as session:
        partial = partial_name(index)
        known = _known_direct(folder, partial, source.url)
        for attempt in retrying(opts, on_retry):  # a 503/429 on the page is transient too
            with attempt:
                res: Resolution = resolve(session, source.url, known, timeout=opts.timeout,
                                          max_bytes=opts.max_bytes)
        log.info("resolved", lesson=lesson.id, stage=STAGE, kind=res.kind, media=res.media_url,
                 extractor=res.extractor, audio=res.audio)
        capture_resources(session, res, lambda message: log.warning(
            "resource-not-captured", lesson=lesson.id, stage=STAGE, message=message))
        split = len(res.components) > 1 or res.protocol == "dash"
        got, parts = _download_media(session, res, split, folder, opts, progress, partial,
                                     on_retry, lesson)
        tls = session.guard.evidence
        ext = ".ts" if res.protocol == "m3u8" and got.content_type == "video/mp2t" else \
            media_extension(res.media_url, got.content_type, got.head)
        media_rel = f"{STAGE}/original{ext}"
        media: dict[str, Any] = {"path": media_rel, "bytes": got.bytes, "sha256": got.sha256,
                 "sha512": got.sha512, "content_type": got.content_type}
        components: list[dict[str, Any]] = []
        derivative: dict[str, Any] | None = None
        if split:
            _check_split_pin(ctx, lesson, parts)  # before any component replaces the last
            components, derivative, merged = _publish_components(parts, folder, lesson)
            media_rel = f"{STAGE}/{merged.name}"
            media = {"path": media_rel, "bytes": derivative["bytes"],
                     "sha256": derivative["sha256"], "sha512": derivative["sha512"],
                     "content_type": "video/mp4", "derivative": True}
        resolution = ResolutionRecord(kind=res.kind, media_url=got.url, page_url=res.page_url,
                                      tracks=res.tracks, poster=res.poster,
                                      extractor=res.extractor, audio=res.audio,
                                      chain=res.chain)
        attempts_made = sum(g.attempts for _c, g, _span in parts) or got.attempts
        transfer = TransferRecord(attempts=attempts_made,
                                  resumed_from=got.resumed_from,
                                  rehashed_bytes=got.rehashed_bytes, restarts=got.restarts)
        extra: dict[str, Any] = {"resolution": dump(resolution), "transfer": dump(transfer)}
        if split:
            extra.update(components=components, derivatives=[derivative])
        tools = ctx.tools.versions(TOOLS)
        ended = utcnow()
        here = {"source": source.url, "kind": source.kind, "tls": str(source.tls),
                "outcome": "ok", "error": None, "message": "served the media"}

        def quarantined(error: str, message: str) -> dict[str, Any]:
            """The capture record of bytes kept in quarantine instead of archived."""
            here.update(outcome="quarantined", error=error, message=message)
            attempts.append(here)
            return cap.build_capture(lesson, source, index, attempts, session.exchanges, tls,
                                     media, started, ended, extra, tools=tools)

        found: Probe | None = None
        if split:
            final = folder / Path(media_rel).name
        else:
            _check_pin(ctx, lesson, got, ext, res.media_url, partial, quarantined)
            final, found = _publish_original(ctx, lesson, got, ext, res.media_url, partial,
                                             quarantined)
        audio = _audio_verdict(final, res, split, lesson, found)
        resolution = ResolutionRecord(**{**resolution.__dict__, "audio": audio})
        extra["resolution"] = dump(resolution)
        attempts.append(here)
        discard_partials(folder)  # the lesson is complete: no source's partial is needed
        keep = {final, *(folder / Path(c["path"]).name for c in components)}
        for stale in [*folder.glob("original.*"), *folder.glob(MERGED)]:
            if stale not in keep:
                stale.unlink()
        served = [MediaPart(folder / Path(c["path"]).name, c["url"], c["sha256"], part[2])
                  for c, part in zip(components, parts, strict=True)] if components else \
            [MediaPart(final, got.url, got.sha256)]
        warcs = write_warc(folder / GZ_NAME, session.exchanges, tls=tls, tools=tools,
                           media=served, lesson=lesson.id)
        record = cap.build_capture(lesson, source, index, attempts, session.exchanges, tls,
                                   media, started, ended, extra, tools=tools)
        capture_path = folder / "capture.json"
        atomic_write_json(capture_path, record)
    with contextlib.suppress(FileNotFoundError):
        (folder / "last-failure.json").unlink()
    details = FetchDetails(
        media=media_rel, bytes=media["bytes"], sha256=media["sha256"], sha512=media["sha512"],
        source=SourceRecord(**cap.source_json(source)), source_index=index, media_url=got.url,
        page_url=res.page_url, content_type=media["content_type"],
        capture=f"{STAGE}/capture.json", warc=f"{STAGE}/{GZ_NAME}",
        warc_media=f"{STAGE}/{warcs[1].path.name}" if len(warcs) > 1 else None, tls=tls,
        attempts=attempts, resolution=resolution, transfer=transfer, audio=audio,
        components=components, derivative=derivative)
    done = Done(
        details=details,
        outputs=[*(Output(c["path"], c["bytes"], c["sha256"]) for c in components),
                 Output(media_rel, media["bytes"], media["sha256"]),
                 *(Output(f"{STAGE}/{w.path.name}", w.bytes, w.sha256) for w in warcs),
                 Output(f"{STAGE}/capture.json", capture_path.stat().st_size,
                        sha256_file(capture_path))])
    if audio == "none":
        done.warnings.append("audio: none (the source serves no sound track; nothing was "
                             "lost)")
    return done


def _publish_components(parts: list[Part], folder: Path,
                        lesson: Lesson) -> tuple[list[dict[str, Any]], dict[str, Any], Path]:
    """Publish each served component as its original and merge them (the derivative)."""
    records: list[dict[str, Any]] = []
    paths: dict[str, Path] = {}
    for component, got, _span in parts:
        on_disk = got.path.stat().st_size
        if on_disk != got.bytes:
            raise FetchError(f"{got.path.name} holds {on_disk} bytes but {got.bytes} were "
                             "received and hashed", Location(lesson=lesson.id))
        target = folder / f"original.{component.role}{component_extension(component, got)}"
        publish_file(got.path, target)
        paths[component.role] = target
        records.append({"role": component.role, "url": component.url,
                        "protocol": component.protocol, "format_id": component.format_id,
                        "segments": len(component.fragments) or None,
                        "path": f"{STAGE}/{target.name}", "bytes": got.bytes,
                        "sha256": got.sha256, "sha512": got.sha512,
                        "content_type": got.content_type})
    if set(paths) != {"video", "audio"}:
        raise FetchError(f"expected a video and an audio component, got {sorted(paths)}",
                         Location(lesson=lesson.id, key="sources.url"))
    merged, command = merge(paths["video"], paths["audio"], folder, lesson.id)
    sha256, sha512 = hashlib.sha256(), hashlib.sha512()
    with open(merged, "rb") as handle:
        while block := handle.read(1 << 20):
            sha256.update(block)
            sha512.update(block)
    derivative = {"path": f"{STAGE}/{merged.name}", "kind": "lossless merge (stream copy)",
                  "inputs": [r["path"] for r in records], "command": command,
                  "bytes": merged.stat().st_size, "sha256": sha256.hexdigest(),
                  "sha512": sha512.hexdigest()}
    return records, derivative, merged


def _audio_verdict(media: Path, res: Resolution, split: bool, lesson: Lesson,
                   found: Probe | None = None) -> str:
    """What the archived media holds ("muxed", "separate", "only", "none"), by ffprobe
    (`found`: the probe of these bytes made before they were published); a page that offered
    sound with an archive without it is a failure, never a quiet ok."""
    videos, audios = (found or probe(media)).streams()
    if audios < 0:
        return res.audio  # unreadable: the media checks after download say so
    if audios == 0:
        if split or res.audio in ("muxed", "separate", "only"):
            raise FetchError(f"{res.media_url}: the page offers audio but the archived media "
                             "has no audio stream; refused rather than archive it silent",
                             Location(lesson=lesson.id, key="sources.url"))
        return "none"
    if split:
        return "separate"
    return "only" if videos == 0 else "muxed"


def _combined(lesson: Lesson, errors: list[FetchError]) -> FetchError:
    """One error for a lesson whose every source failed, of the most telling class."""
    if len(errors) == 1:
        return errors[0]
    lines = "; ".join(f"source {i + 1}: {e}" for i, e in enumerate(errors))
    message = f"all {len(errors)} sources failed: {lines}"
    where = Location(lesson=lesson.id, key="sources")
    if any(isinstance(e, ChecksumMismatch) for e in errors):
        return ChecksumMismatch(message, where)
    if all(isinstance(e, TlsError) for e in errors):
        problems = sorted({p for e in errors for p in getattr(e, "problems", [])})
        return TlsError(message, where, problems=problems)
    return FetchError(message, where)


class FetchStage(LessonStage[FetchDetails, Options]):
    """Fetch one lesson (see the module docstring); fails with FetchError subclasses."""

    name = STAGE
    tools = TOOLS

    def plan(self, lesson: Lesson, ctx: Context) -> Plan[Options]:
        fp = lesson_fingerprint(lesson)
        if not lesson.sources:
            return Plan(fp, skip=Skip("no source known"))
        return Plan(fp, inputs=ctx.options.fetch)

    def work(self, lesson: Lesson, ctx: Context, plan: Plan[Options]) -> Done[FetchDetails]:
        started = utcnow()
        folder = ctx.store.stage_dir(lesson.id, STAGE)
        folder.mkdir(parents=True, exist_ok=True)
        attempts: list[dict[str, Any]] = []
        errors: list[FetchError] = []
        for index, source in enumerate(lesson.sources):
            try:
                done = _fetch_source(lesson, source, index, ctx, plan.ready, folder, attempts)
            except OSError as exc:  # our own disk, not the source: no point trying the next
                raise FetchError(f"cannot write the fetch results: {exc}",
                                 Location(file=str(folder), lesson=lesson.id)) from exc
            except FetchError as exc:
                errors.append(exc)
                _failed_attempt(lesson, source, index, exc, attempts, ctx)
                continue
            done.warnings = [f"source {a['source']} failed: {a['error']}: {a['message']}"
                             for a in attempts if a["outcome"] != "ok"] + done.warnings
            return done
        atomic_write_json(folder / "last-failure.json",
                          cap.build_capture(lesson, None, None, attempts, [], None, None,
                                            started, utcnow(), tools=ctx.tools.versions(TOOLS)))
        raise _combined(lesson, errors)


def _failed_attempt(lesson: Lesson, source: Source, index: int, exc: FetchError,
                    attempts: list[dict[str, Any]], ctx: Context) -> None:
    """Record (and log) a source that failed; a quarantined one recorded itself."""
    evidence = exc.evidence if isinstance(exc, TlsError) else None
    if not (attempts and attempts[-1].get("outcome") == "quarantined"):
        attempts.append({"source": source.url, "kind": source.kind, "tls": str(source.tls),
                         "outcome": "failed", "error": type(exc).__name__,
                         "message": exc.message, "tls_evidence": evidence})
    ctx.log.warning("source-failed", lesson=lesson.id, stage=STAGE, message=str(exc),
                    source=index + 1)


FETCH = FetchStage()


def run(lesson: Lesson, ctx: Context) -> StageResult[FetchDetails]:
    """Fetch one lesson through the runner (records, reuse, times); raises on failure."""
    return run_stage(FETCH, lesson, ctx)
