"""What happened to a lesson, as PREMIS events, and how its bag describes itself (bag-info).

Capture and digest events come from the fetch record (their times are the fetch's own), the
format identification from the ffprobe run of this stage, normalization/validation from the
mux and its checks, creation/validation of the bag from bag.py. `archiver verify` appends
fixity-check events later (bag.append_premis_events).
"""

from __future__ import annotations

from typing import Any

import bagit

from archiver import __version__
from archiver.model import utcnow
from archiver.package.bag import FINGERPRINT_FIELD
from archiver.package.inputs import PackageInputs
from archiver.package.probe import identify
from archiver.package.provenance import file_id, premis_event

AGENT = f"lesson-archiver {__version__}"


def early_events(inputs: PackageInputs, orig_info: dict[str, Any], identified: str,
                 original_rel: str) -> list[dict[str, Any]]:
    """Events up to the mux: capture, message digest calculation, format identification."""
    lesson, fetch = inputs.lesson, inputs.fetch
    original = file_id(lesson.id, original_rel)
    fetch_tools = [f"{k} {v}" for k, v in sorted(fetch.tool_versions.items())]
    events = [
        premis_event("capture", fetch.ended or fetch.started, "success",
                     f"fetched {inputs.fetched.media_url or inputs.source_url} from "
                     f"{inputs.source.kind} {inputs.source_url} "
                     f"(TLS: {inputs.fetched.tls_summary.outcome or 'n/a'})",
                     [original], [AGENT, *fetch_tools], eventStarted=fetch.started),
        premis_event("message digest calculation", fetch.ended or fetch.started, "success",
                     f"sha256 {inputs.media_sha256}; sha512 {inputs.media_sha512}; "
                     f"{inputs.media_bytes} bytes (computed while downloading)",
                     [original], [AGENT]),
        premis_event("format identification", identified, "success",
                     "ffprobe: " + _describe(identify(orig_info)), [original],
                     [AGENT, "ffprobe"], formatIdentification=identify(orig_info)),
    ]
    if inputs.subtitles is not None:
        events.append(premis_event(
            "creation", inputs.subtitles.ended or inputs.subtitles.started, "success",
            "subtitle tracks made from the manifest's transcript",
            [file_id(lesson.id, f"subtitles/{t.path.name}") for t in inputs.tracks],
            [AGENT]))
    return events


def _describe(info: dict[str, Any]) -> str:
    streams = ", ".join(f"{s['type']} {s['codec']}" for s in info["streams"])
    return f"{info['format_name']} ({streams}), {info['duration'] or 0:.3f} s"


def mux_events(lesson_id: str, master: str, access: str, started: str, ended: str,
               checked: str, attached_sha256: str,
               access_streams: str = "original streams copied") -> list[dict[str, Any]]:
    """`access_streams`: how the access copy got its video/audio (access.AccessPlan)."""
    master_kind = master.rsplit(".", 1)[-1].upper()
    access_kind = access.rsplit(".", 1)[-1].upper()
    return [
        premis_event("normalization", ended, "success",
                     f"{master_kind} master: original streams copied (ffmpeg), WebVTT tracks as "
                     "S_TEXT/WEBVTT with BCP 47 languages (mkvmerge), chapters, tags, "
                     f"provenance attached (sha256 {attached_sha256})",
                     [file_id(lesson_id, master)], [AGENT, "ffmpeg", "mkvmerge", "mkvpropedit"],
                     eventStarted=started),
        premis_event("normalization", ended, "success",
                     f"{access_kind} access copy: {access_streams}, subtitles as mov_text, "
                     "chapters, tags, +faststart", [file_id(lesson_id, access)],
                     [AGENT, "ffmpeg"], eventStarted=started),
        premis_event("validation", checked, "success",
                     "post-mux checks passed: streams, codecs, packets bit for bit, durations, "
                     "languages, titles, dispositions, chapters, tags, attachment, cue text "
                     "(the master's tracks read back by mkvmerge -J and mkvextract)",
                     [file_id(lesson_id, master), file_id(lesson_id, access)],
                     [AGENT, "ffprobe", "ffmpeg", "mkvmerge", "mkvextract"]),
    ]


def bag_event(lesson_id: str, kind: str, version: int) -> dict[str, Any]:
    detail = {"creation": f"BagIt package {lesson_id}/v{version} built (sha256, sha512)",
              "validation": f"BagIt package {lesson_id}/v{version} validated: every checksum "
                            "of every manifest matches"}[kind]
    return premis_event(kind, utcnow(), "success", detail, [f"{lesson_id}/v{version}"],
                        [AGENT, f"bagit-python {bagit.VERSION}"])


def bag_info(inputs: PackageInputs, archived_at: str, version: int) -> dict[str, Any]:
    lesson, series = inputs.lesson, inputs.series
    publisher = " / ".join(p for p in (series.publisher.en, series.publisher.zh) if p)
    title = " / ".join(t for t in (lesson.title.en, lesson.title.zh) if t) or lesson.id
    series_title = series.title.en or series.title.zh
    info: dict[str, Any] = {
        "Source-Organization": publisher,
        "External-Identifier": [lesson.id] + ([inputs.source_url] if inputs.source_url else []),
        "External-Description": (
            f"{series_title}, lesson {lesson.number}: {title}. Original media as served, WARC "
            "capture, subtitles, MKV master, MP4 access copy and provenance (JSON-LD)."),
        "Bagging-Date": archived_at[:10],
        "Bag-Software-Agent": f"lesson-archiver {__version__} (bagit-python {bagit.VERSION})",
        "Bag-Group-Identifier": lesson.id,
        "Internal-Sender-Identifier": f"{lesson.id}/v{version}",
        "Archived-At": archived_at,
        "Original-SHA256": inputs.media_sha256,
        # lets a rerun that lost its record (killed right after the rename) adopt this bag
        FINGERPRINT_FIELD: inputs.fingerprint,
    }
    return info
