"""The manifest's records: a series, its lessons and the sources each can be fetched from.

`archiver.manifest.load_manifest` turns the TOML into these (immutable); every stage reads its
lesson from here. Only what the manifest states is recorded (unknown facts stay None/empty).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SourceKind = Literal["original", "mirror"]
TlsMode = Literal["verify", "ca", "pin", "insecure"]


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
    `tls` judges the source's own host; `tls_hosts` (host -> policy) judges the other hosts
    its page leads to (player pages, APIs, CDNs), which otherwise get `verify`.
    `resolve`: curl-style "HOST:PORT:ADDRESS" entries (archiver.fetch.hostmap).
    """

    url: str
    kind: SourceKind = "original"
    tls: TlsPolicy = field(default_factory=TlsPolicy)
    description: str = ""
    legacy_renegotiation: bool = False
    tls_hosts: tuple[tuple[str, TlsPolicy], ...] = ()
    resolve: tuple[str, ...] = ()


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
    language: str | None = None  # BCP 47 tag of the spoken language, when the lesson states it

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
    language: str | None = None  # BCP 47 tag of the lessons' spoken language (a lesson may differ)


UNDETERMINED = "und"  # BCP 47 / ISO 639-2 for "not stated": never a guess


def spoken_language(lesson: Lesson, series: Series) -> str:
    """The BCP 47 tag of what is spoken in `lesson`: its own `language`, else the series',
    else `und`. Audio and video tracks of the master carry it (issue 11 item 2); a lesson
    given in another language than its series says so itself."""
    return lesson.language or series.language or UNDETERMINED


@dataclass(frozen=True)
class SiteSettings:
    """The manifest's `[site]` table: how the published site presents itself to others.

    `base_url`: where the site will be served (every URL that leaves the site is made absolute
    against it: oEmbed, Open Graph, JSON-LD, IIIF, the embed snippet); `embed_base_url`: where
    the embed pages are served when they have an origin of their own (docs/serving.md);
    `provider_name`/`provider_url`: who publishes this archive (oEmbed provider, IIIF
    provider); `attribution`: the IIIF `requiredStatement` text. None = not stated (publish
    chooses a documented default).
    """

    base_url: str | None = None
    embed_base_url: str | None = None
    provider_name: Bilingual | None = None
    provider_url: str | None = None
    attribution: Bilingual | None = None


@dataclass(frozen=True)
class Manifest:
    path: Path
    series: Series
    lessons: tuple[Lesson, ...]
    site: SiteSettings = field(default_factory=SiteSettings)

    def lesson(self, lesson_id: str) -> Lesson:
        """The lesson with this id (a dict built on first use: a run looks up every lesson,
        and a scan per look-up made that quadratic)."""
        index = self.__dict__.get("_index")
        if index is None:
            index = {lesson.id: lesson for lesson in reversed(self.lessons)}  # first one wins
            object.__setattr__(self, "_index", index)
        found: Lesson = index[lesson_id]
        return found
