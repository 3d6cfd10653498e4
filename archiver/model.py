"""Typed records shared by every stage.

The manifest becomes `Manifest`/`Lesson`/`Source` (immutable); every stage returns a
`StageResult`, which is also what is persisted per lesson and stage, so a result doubles as
provenance (command lines, tool versions, timings) and as the idempotency record (the
fingerprint of the inputs it was computed from).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

SourceKind = Literal["original", "mirror"]
TlsMode = Literal["verify", "ca", "pin", "insecure"]
Status = Literal["ok", "skipped", "failed", "unchanged"]


@dataclass(frozen=True)
class Bilingual:
    """A text in English and Chinese (either may be empty when unknown)."""

    en: str = ""
    zh: str = ""


@dataclass(frozen=True)
class TlsPolicy:
    """How a source's certificates are judged; written in the manifest as one string.

    `verify` (system trust), `ca:<bundle>` (extra trusted bundle), `pin:sha256:<hex>` (no chain
    validation, but the leaf must match), `insecure` (proceed, loudly).
    """

    mode: TlsMode = "verify"
    ca_bundle: Path | None = None
    pin_sha256: str | None = None

    def __str__(self) -> str:
        if self.mode == "ca":
            return f"ca:{self.ca_bundle}"
        if self.mode == "pin":
            return f"pin:sha256:{self.pin_sha256}"
        return self.mode


@dataclass(frozen=True)
class Source:
    """One place a lesson can be fetched from; sources are tried in manifest order.

    `legacy_renegotiation`: allow a server without RFC 5746 secure renegotiation (OpenSSL's
    OP_LEGACY_SERVER_CONNECT) for this source only; explicit because such a connection is
    open to a known attack, and recorded in the TLS evidence.
    """

    url: str
    kind: SourceKind = "original"
    tls: TlsPolicy = field(default_factory=TlsPolicy)
    description: str = ""
    legacy_renegotiation: bool = False


@dataclass(frozen=True)
class Term:
    """A terminology entry: the English rendering, the Chinese term, its footnote number."""

    en: str
    zh: str
    note: int | None = None


@dataclass(frozen=True)
class Lesson:
    """One lesson of a series, as the manifest states it (only known facts)."""

    id: str
    number: int
    title: Bilingual
    released: dt.date | None = None
    duration: str | None = None  # as published, "mm:ss" or "hh:mm:ss"
    speaker: Bilingual = field(default_factory=Bilingual)
    synopsis: Bilingual | None = None
    transcript: Path | None = None  # absolute (resolved against the manifest's folder)
    sha256: str | None = None
    sources: tuple[Source, ...] = ()
    page: str | None = None  # a write-up page about the lesson (not fetched)
    terminology: tuple[Term, ...] = ()
    footnotes: tuple[str, ...] = ()

    @property
    def duration_seconds(self) -> float | None:
        """The published length in seconds, or None when unknown."""
        if not self.duration:
            return None
        seconds = 0
        for part in self.duration.split(":"):
            seconds = seconds * 60 + int(part)
        return float(seconds)


@dataclass(frozen=True)
class Series:
    id: str
    title: Bilingual
    publisher: Bilingual
    description: Bilingual | None = None


@dataclass(frozen=True)
class Manifest:
    path: Path
    series: Series
    lessons: tuple[Lesson, ...]

    def lesson(self, lesson_id: str) -> Lesson:
        for lesson in self.lessons:
            if lesson.id == lesson_id:
                return lesson
        raise KeyError(lesson_id)


@dataclass
class Output:
    """A file a stage wrote: path relative to the lesson's folder, size and digest."""

    path: str
    bytes: int
    sha256: str


def utcnow() -> str:
    """An ISO 8601 UTC timestamp with seconds precision, as recorded everywhere."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class StageResult:
    """What one stage did for one lesson (ArchiveBox's ArchiveResult, for our stages)."""

    stage: str
    lesson: str
    status: Status
    fingerprint: str = ""  # digest of the inputs; equal fingerprint = nothing to redo
    outputs: list[Output] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    tool_versions: dict[str, str] = field(default_factory=dict)
    started: str = field(default_factory=utcnow)
    ended: str = ""
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageResult:
        data = dict(data)
        data["outputs"] = [Output(**o) for o in data.get("outputs", [])]
        return cls(**data)
