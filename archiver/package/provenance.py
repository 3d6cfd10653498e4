"""The provenance record (JSON-LD: PROV-O + PREMIS events + TLS evidence) and the VideoObject.

Two provenance documents exist because a file cannot contain its own checksum:
- the *attached* record (inside the MKV) describes everything up to the mux: the page, the
  original, the capture, the tracks, the fetch and subtitle activities and their events;
- the *package* record (`data/provenance.json`) adds the master, the access copy, the
  VideoObject and the attached record itself, each named by sha256, plus the mux and check
  events. Later events (bag validation, fixity checks by `archiver verify`) go to the bag's
  `premis-events.jsonl` tag file, which the package record points to.
PREMIS event types use the Library of Congress vocabulary
(http://id.loc.gov/vocabulary/preservation/eventType/...). Unprefixed keys resolve against
the archiver's own vocabulary (`@vocab`), so the document stays valid JSON-LD.
"""

from __future__ import annotations

import uuid
from typing import Any

from archiver import __version__
from archiver.errors import PackageError
from archiver.model import StageResult, read_transcript_json
from archiver.model.jsonio import dump
from archiver.package.inputs import PackageInputs

EVENT_TYPES = {
    "capture": "cap",
    "message digest calculation": "mes",
    "format identification": "for",
    "normalization": "nor",
    "validation": "val",
    "fixity check": "fix",
    "creation": "cre",
}
CONTEXT = {
    "prov": "http://www.w3.org/ns/prov#",
    "premis": "http://www.loc.gov/premis/rdf/v3/",
    "schema": "https://schema.org/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "@vocab": "https://w3id.org/lesson-archiver/terms#",
}
ARCHIVER = "urn:lesson-archiver:agent:archiver"


def premis_event(kind: str, when: str, outcome: str, detail: str,
                 objects: list[str], agents: list[str], **extra: Any) -> dict[str, Any]:
    """One PREMIS 3 event in the JSON rendering of its semantic units (the same shape
    `archiver verify` appends to `premis-events.jsonl`), also usable as a JSON-LD node."""
    ident = f"urn:uuid:{uuid.uuid4()}"
    event: dict[str, Any] = {
        "@id": ident, "@type": "premis:Event",
        "eventIdentifier": {"eventIdentifierType": "UUID", "eventIdentifierValue": ident},
        "eventType": kind, "eventDateTime": when,
        "eventDetailInformation": {"eventDetail": detail},
        "eventOutcomeInformation": {"eventOutcome": outcome},
        "linkingObjectIdentifier": [{"linkingObjectIdentifierType": "URN",
                                     "linkingObjectIdentifierValue": o} for o in objects],
        "linkingAgentIdentifier": [{"linkingAgentIdentifierType": "software",
                                    "linkingAgentIdentifierValue": a,
                                    "linkingAgentRole": "executing program"} for a in agents],
    }
    if kind in EVENT_TYPES:
        event["eventTypeURI"] = ("http://id.loc.gov/vocabulary/preservation/eventType/"
                                 + EVENT_TYPES[kind])
    event.update(extra)
    return event


SELF_NAMES = {"archiver", "lesson-archiver"}  # the archiver itself, as stages name it


def tool_id(name: str) -> str:
    return ARCHIVER if name in SELF_NAMES else f"urn:lesson-archiver:tool:{name}"


def agents(tool_versions: dict[str, str]) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = [
        {"@id": ARCHIVER, "@type": ["prov:SoftwareAgent", "premis:Agent"],
         "schema:name": "lesson-archiver", "schema:softwareVersion": __version__}]
    for name, version in sorted(tool_versions.items()):
        if name in SELF_NAMES:
            continue
        nodes.append({"@id": tool_id(name), "@type": ["prov:SoftwareAgent", "premis:Agent"],
                      "schema:name": name, "schema:softwareVersion": version,
                      "prov:actedOnBehalfOf": {"@id": ARCHIVER}})
    return nodes


def _activity(name: str, result: StageResult[Any] | None, used: list[str],
              started: str = "", ended: str = "") -> dict[str, Any]:
    tools = sorted((result.tool_versions if result else {}).keys())
    return {"@id": f"urn:lesson-archiver:activity:{name}", "@type": "prov:Activity",
            "schema:name": name,
            "prov:startedAtTime": started or (result.started if result else ""),
            "prov:endedAtTime": ended or (result.ended if result else ""),
            "prov:wasAssociatedWith": [{"@id": ARCHIVER}] + [
                {"@id": tool_id(t)} for t in tools if t not in SELF_NAMES],
            "prov:used": [{"@id": u} for u in used],
            "commands": result.commands if result else []}


def file_node(lesson_id: str, path: str, info: dict[str, Any], generated_by: str,
              derived_from: list[str]) -> dict[str, Any]:
    return {"@id": file_id(lesson_id, path), "@type": ["prov:Entity", "premis:File"],
            "path": path, "bytes": info["bytes"], "sha256": info["sha256"],
            **({"sha512": info["sha512"]} if "sha512" in info else {}),
            "prov:wasGeneratedBy": {"@id": f"urn:lesson-archiver:activity:{generated_by}"},
            "prov:wasDerivedFrom": [{"@id": d} for d in derived_from]}


def file_id(lesson_id: str, path: str) -> str:
    return f"urn:lesson-archiver:{lesson_id}:{path}"


def build(inputs: PackageInputs, files: dict[str, dict[str, Any]], events: list[dict[str, Any]],
          tool_versions: dict[str, str], mux: dict[str, str] | None = None,
          derived: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The provenance document. `files` maps bag-relative paths (under data/) to
    {bytes, sha256[, sha512]}; `derived` names what each file came from; `mux` the mux
    activity's start/end (absent in the attached record)."""
    lesson = inputs.lesson
    source = inputs.source
    page_id = inputs.source_url or f"urn:lesson-archiver:{lesson.id}:page"
    all_tools = {**inputs.fetch.tool_versions,
                 **(inputs.subtitles.tool_versions if inputs.subtitles else {}),
                 **tool_versions}
    page = {"@id": page_id, "@type": ["prov:Entity", "schema:WebPage"], "schema:url":
            inputs.source_url, "kind": source.kind, "tlsPolicy": source.tls,
            "schema:description": source.description,
            "tlsEvidence": inputs.fetched.tls}
    graph: list[dict[str, Any]] = [page, *agents(all_tools)]
    graph.append(_activity("fetch", inputs.fetch, [page_id]))
    if inputs.subtitles:
        transcript = f"urn:lesson-archiver:{lesson.id}:transcript"
        graph.append({"@id": transcript, "@type": "prov:Entity",
                      "schema:name": "manifest transcript"})
        graph.append(_activity("subtitle", inputs.subtitles, [transcript]))
    if mux is not None:
        graph.append(_activity("mux", None, [file_id(lesson.id, "original/" + inputs.media.name)],
                               mux["started"], mux["ended"]))
    generated_by = {"original": "fetch", "capture": "fetch", "subtitles": "subtitle",
                    "master": "mux", "access": "mux"}
    for path, info in sorted(files.items()):
        top = path.split("/", 1)[0]
        sources = (derived or {}).get(path, [page_id] if top in ("original", "capture") else [])
        graph.append(file_node(lesson.id, path, info, generated_by.get(top, "mux"), sources))
    return {
        "@context": CONTEXT,
        "@id": f"urn:lesson-archiver:{lesson.id}:provenance",
        "@type": "prov:Bundle",
        "lesson": lesson.id,
        "series": inputs.series.id,
        "source": {**dump(source), "page_url": inputs.fetched.page_url,
                   "media_url": inputs.fetched.media_url},
        "tls": inputs.fetched.tls,
        "files": {p: info["sha256"] for p, info in sorted(files.items())},
        "laterEvents": "premis-events.jsonl (BagIt tag file; fixity checks are appended)",
        "@graph": graph + events,
    }


def iso_duration(seconds: float) -> str:
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return "PT" + (f"{h}H" if h else "") + (f"{m}M" if m or h else "") + f"{s}S"


def videoobject(inputs: PackageInputs, duration: float, files: dict[str, dict[str, Any]],
                master: str | None, access: str | None) -> dict[str, Any]:
    """A schema.org VideoObject sites can embed (paths relative to the bag's data/)."""
    lesson, series = inputs.lesson, inputs.series
    names = [{"@value": v, "@language": lang}
             for v, lang in ((lesson.title.zh, "zh-Hans"), (lesson.title.en, "en")) if v]
    doc: dict[str, Any] = {
        "@context": "https://schema.org", "@type": "VideoObject", "identifier": lesson.id,
        "name": names or lesson.id, "inLanguage": "zh-Hans",
        "duration": iso_duration(duration),
        "isPartOf": {"@type": "CreativeWorkSeries", "name": series.title.zh or series.title.en},
        "publisher": {"@type": "Organization", "name": [
            {"@value": v, "@language": lang} for v, lang in
            ((series.publisher.zh, "zh-Hans"), (series.publisher.en, "en")) if v]},
        "isBasedOn": inputs.source_url,
        "sha256": inputs.media_sha256,
    }
    if lesson.released:
        doc["uploadDate"] = lesson.released.isoformat()
    if lesson.speaker.zh or lesson.speaker.en:
        doc["creator"] = {"@type": "Organization", "name": lesson.speaker.zh or lesson.speaker.en}
    if lesson.synopsis:
        doc["description"] = [{"@value": v, "@language": lang} for v, lang in
                              ((lesson.synopsis.zh, "zh-Hans"), (lesson.synopsis.en, "en")) if v]
    audio_only = bool(access) and str(access).endswith(".m4a")
    if audio_only:  # an audio-only lesson: MKA master, M4A access copy
        doc["@type"] = "AudioObject"
    if access:
        doc.update({"contentUrl": access,
                    "encodingFormat": "audio/mp4" if audio_only else "video/mp4"})
    if master:
        doc["associatedMedia"] = {"@type": "MediaObject", "contentUrl": master,
                                  "encodingFormat": "audio/x-matroska" if audio_only
                                  else "video/x-matroska",
                                  "sha256": files[master]["sha256"]}
    captions = []
    for track in inputs.tracks:
        path = f"subtitles/{track.path.name}"
        captions.append({"@type": "MediaObject", "contentUrl": path, "encodingFormat": "text/vtt",
                         "inLanguage": track.spec.bcp47, "name": track.spec.label,
                         "sha256": files[path]["sha256"]})
    if captions:
        doc["caption"] = captions
        doc["subtitleLanguage"] = sorted({lang for t in inputs.tracks
                                          for lang in t.spec.languages})
    if "subtitles/transcript.json" in files:
        doc["transcript"] = transcript_text(inputs)
    return doc


def transcript_text(inputs: PackageInputs) -> str:
    """The transcript as plain text (Chinese original, each paragraph then its translation)."""
    path = next((f for f in inputs.subtitle_files if f.name == "transcript.json"), None)
    if path is None:
        return ""
    paragraphs = read_transcript_json(path, inputs.lesson.id, PackageError)
    return "\n\n".join("\n".join(t for t in (p.zh, p.en) if t) for p in paragraphs)
