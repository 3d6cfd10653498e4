"""The capture record (`fetch/capture.json`, schema in docs/DESIGN.md) and tool versions.

It is the human- and machine-readable twin of the WARC: which source served the bytes, every
source tried before it, every HTTP exchange (URLs before and after redirects, status, headers,
sizes, digests, times), the TLS evidence and the versions of every tool involved, so that a
later reader can judge how trustworthy the copy is without re-running anything.
"""

from __future__ import annotations

from typing import Any

from archiver.fetch.http import Exchange
from archiver.model import Lesson, Source

SCHEMA = "lesson-archiver/capture/1"


def source_json(source: Source) -> dict[str, Any]:
    """A source as recorded (fetch record, capture.json, provenance) and fingerprinted.

    `legacy_renegotiation` appears only when true: a source without it keeps the record, and
    so the fetch fingerprint, it had before the key existed (no needless re-fetch).
    """
    record: dict[str, Any] = {"url": source.url, "kind": source.kind, "tls": str(source.tls),
                              "description": source.description}
    if source.legacy_renegotiation:
        record["legacy_renegotiation"] = True
    if source.tls_hosts:  # likewise only when given
        record["tls_hosts"] = {host: str(policy) for host, policy in source.tls_hosts}
    if source.resolve:
        record["resolve"] = list(source.resolve)
    return record


def build_capture(lesson: Lesson, source: Source | None, source_index: int | None,
                  attempts: list[dict[str, Any]], exchanges: list[Exchange],
                  tls: dict[str, Any] | None, media: dict[str, Any] | None,
                  started: str, ended: str, extra: dict[str, Any] | None = None, *,
                  tools: dict[str, str]) -> dict[str, Any]:
    """Assemble capture.json (DESIGN.md field names; `extra` adds fields, never renames).
    `tools`: the versions of the tools involved (the run's probe, `ctx.tools`)."""
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "lesson": lesson.id,
        "source": source_json(source) if source is not None else None,
        "source_index": source_index,
        "attempts": attempts,
        "exchanges": [e.to_json() for e in exchanges],
        "tls": tls,
        "media": media,
        "tools": tools,
        "started": started,
        "ended": ended,
    }
    record.update(extra or {})
    return record
