"""Stage records: `StageResult` and one typed details record per stage.

Every stage run leaves one `StageResult` (`lessons/<id>/state/<stage>.json`; the site's
publish record is `reports/publish.json`). It is provenance (commands, tool versions, times)
and the idempotency record (the fingerprint of the inputs it was computed from) at once.
Its `details` is the stage's own typed record (`FetchDetails`, `SubtitlesDetails`,
`PackageDetails`, `PublishDetails`): later stages read each other only through these types,
never by string keys.

On disk the field names are exactly those documented in docs/DESIGN.md; each details object
also carries `schema` (`lesson-archiver/<stage>-details/<n>`). A record without `schema` was
written before records were versioned and reads as version 1, so old archives still read.
Adding a field is one line in its record: the annotation is the validation rule, the default
is what older records read as. See docs/DESIGN.md, "Records".
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar, cast

from archiver.errors import Location, RecordError
from archiver.model.jsonio import OMIT_DEFAULT, dump, load_record

# "interrupted" is never saved: a run stopped by SIGINT/SIGTERM keeps the earlier record, so
# the next run resumes; it only appears in that run's outcome table.
Status = Literal["ok", "skipped", "failed", "unchanged", "interrupted"]
SCHEMA = re.compile(r"lesson-archiver/([a-z]+)-details/(\d+)")


def utcnow() -> str:
    """An ISO 8601 UTC timestamp with seconds precision, as recorded everywhere."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Output:
    """A file a stage wrote: path relative to the lesson's folder (or to the output folder
    for `packages/…` and `site/…`), size and digest."""

    path: str
    bytes: int
    sha256: str


class Details:
    """Base of the stage details records: a schema version and JSON round trips."""

    STAGE: ClassVar[str]
    VERSION: ClassVar[int] = 1

    @classmethod
    def schema(cls) -> str:
        return f"lesson-archiver/{cls.STAGE}-details/{cls.VERSION}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dump(self)
        data["schema"] = self.schema()
        return data

    @classmethod
    def from_json(cls, data: Any, where: Location | None = None) -> Self:
        """Read a details object written by this or any earlier version of the archiver."""
        where = where or Location()
        if not isinstance(data, dict):
            raise RecordError("expected an object", Location(where.file, None, where.lesson,
                                                             "details"))
        version = _version(cls, data.get("schema"), where)
        body = cls.upgrade({k: v for k, v in data.items() if k != "schema"}, version)
        return load_record(cls, body, where, "details")

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Bring an older version's JSON to the current shape (version 1: nothing to do)."""
        del version
        return data


D = TypeVar("D", bound=Details)
D2 = TypeVar("D2", bound=Details)


def _version(cls: type[Details], schema: Any, where: Location) -> int:
    key = Location(where.file, None, where.lesson, "details.schema")
    if schema is None:
        return 1  # written before records carried a schema
    match = SCHEMA.fullmatch(schema) if isinstance(schema, str) else None
    if match is None or match.group(1) != cls.STAGE:
        raise RecordError(f"unknown schema {schema!r} (expected {cls.schema()})", key)
    version = int(match.group(2))
    if version > cls.VERSION:
        raise RecordError(f"schema {schema} is newer than this archiver reads "
                          f"({cls.schema()}): upgrade lesson-archiver", key)
    return version


# -- fetch -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TlsSummary:
    """The TLS evidence in brief: outcome, certificate problems, leaf fingerprint."""

    outcome: str | None = None
    problems: list[str] = field(default_factory=list)
    sha256_fingerprint: str | None = None

    @classmethod
    def of(cls, evidence: dict[str, Any] | None) -> TlsSummary:
        """The summary of a TLS evidence record (archiver/fetch/tls.py); none: all None."""
        evidence = evidence or {}
        problems = evidence.get("problems")
        return cls(outcome=evidence.get("outcome"),
                   problems=[str(p) for p in problems] if isinstance(problems, list) else [],
                   sha256_fingerprint=evidence.get("sha256_fingerprint"))


@dataclass(frozen=True)
class SourceRecord:
    """The source that served the media, as the manifest states it (policy as a string)."""

    url: str
    kind: str = "original"
    tls: str = "verify"
    description: str = ""
    legacy_renegotiation: bool = field(default=False, metadata=OMIT_DEFAULT)
    tls_hosts: dict[str, str] = field(default_factory=dict, metadata=OMIT_DEFAULT)
    resolve: list[str] = field(default_factory=list, metadata=OMIT_DEFAULT)


@dataclass(frozen=True)
class ResolutionRecord:
    """What the source pointed at: `page` (a page yt-dlp read), `direct` (media URL), `hls` or
    `dash` (a manifest URL); `extractor` is yt-dlp's extractor key, `chain` the pages read
    (iframes), `audio` the ffprobe verdict on the archived media."""

    kind: str
    media_url: str
    page_url: str | None = None
    tracks: dict[str, list[str]] = field(default_factory=dict)  # srclang -> URLs on the page
    poster: str | None = None
    extractor: str = field(default="", metadata=OMIT_DEFAULT)  # yt-dlp's extractor key
    audio: str = field(default="", metadata=OMIT_DEFAULT)  # muxed/separate/none/only/unknown
    chain: list[str] = field(default_factory=list, metadata=OMIT_DEFAULT)  # pages read


@dataclass(frozen=True)
class TransferRecord:
    """How the transfer went: attempts, resume offset, bytes re-hashed, restarts."""

    attempts: int = 0
    resumed_from: int = 0
    rehashed_bytes: int = 0
    restarts: int = 0


@dataclass(frozen=True)
class FetchDetails(Details):
    """What fetch archived: the media (path relative to the lesson folder, size, digests),
    where it came from and the evidence files. `tls` is the TLS evidence record of
    archiver/fetch/tls.py (as in capture.json); `attempts` lists every source tried."""

    STAGE: ClassVar[str] = "fetch"

    media: str
    bytes: int
    sha256: str
    sha512: str
    source: SourceRecord
    media_url: str
    content_type: str = ""
    page_url: str | None = None
    source_index: int = 0
    capture: str | None = None
    warc: str | None = None
    # the media's full records, uncompressed (archiver/fetch/warc.py); None before issue 11
    warc_media: str | None = field(default=None, metadata=OMIT_DEFAULT)
    tls: dict[str, Any] | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    resolution: ResolutionRecord | None = None
    transfer: TransferRecord | None = None
    # "muxed", "separate" (video and audio served apart, merged), "only", "none" (no sound
    # served: recorded, not an error), "unknown"; "" in records made before it existed
    audio: str = field(default="", metadata=OMIT_DEFAULT)
    # separate video/audio: each served component (url, path, bytes, sha256, sha512); then
    # `media` is the lossless merge, described with its command by `derivative`
    components: list[dict[str, Any]] = field(default_factory=list, metadata=OMIT_DEFAULT)
    derivative: dict[str, Any] | None = field(default=None, metadata=OMIT_DEFAULT)

    @property
    def source_url(self) -> str:
        """The lesson's page (or media) URL as the manifest names it."""
        return self.source.url or self.page_url or ""

    @property
    def tls_summary(self) -> TlsSummary:
        return TlsSummary.of(self.tls)


# -- subtitles ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SubtitlesDetails(Details):
    """What the subtitles stage wrote: every file by role (paths relative to the lesson
    folder; `tracks`/`srt` keyed by the track table's keys), how it was timed, cue counts
    and rule violations per track."""

    STAGE: ClassVar[str] = "subtitles"

    tracks: dict[str, str]
    transcript_json: str
    chapters: str
    quality: str
    srt: dict[str, str] = field(default_factory=dict)
    source_transcript: str = ""
    transcript_sha256: str = ""
    transcript_format: str = ""
    media: str | None = None
    timing: str = ""
    timing_reason: str = ""
    pause_method: str | None = None
    cues: dict[str, int] = field(default_factory=dict)
    violations: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


# -- package -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FileEntry:
    """A file of the archive: path relative to the output folder, size and sha256."""

    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class PackageFiles:
    """The package's files the catalog lists (`None`: not in this package)."""

    original: FileEntry | None = None
    master: FileEntry | None = None
    access: FileEntry | None = None
    provenance: FileEntry | None = None
    videoobject: FileEntry | None = None
    capture: FileEntry | None = None  # the WARC
    wacz: FileEntry | None = field(default=None, metadata=OMIT_DEFAULT)  # the capture's WACZ
    capture_record: FileEntry | None = None  # capture.json
    transcript: FileEntry | None = None
    chapters: FileEntry | None = None
    quality: FileEntry | None = None
    tracks: dict[str, FileEntry] = field(default_factory=dict)  # track key -> file


@dataclass(frozen=True)
class PackageSource:
    """Where the packaged media came from, for the catalog."""

    url: str
    kind: str | None = None
    captured: str = ""
    tls: TlsSummary = field(default_factory=TlsSummary)


@dataclass(frozen=True)
class PackageDetails(Details):
    """The package in `packages/<id>/`: the one authority for a lesson's package outcome.

    A success record describes the package it made. A failure record keeps, in its details,
    the description of the intact package the failure left in place (or has none), so the
    catalog keeps pointing at it. `fingerprint` is the inputs fingerprint of that package
    (also in its bag-info, for adoption after a crash); `files`, `source`,
    `previous_versions` and `duration_seconds` are what the catalog lists.
    """

    STAGE: ClassVar[str] = "package"

    package: str
    version: int
    archived_at: str
    master: str
    access: str
    provenance: str
    videoobject: str
    premis_events: str
    duration: float
    chapters: int
    tracks: list[str]
    previous_version: str | None = None
    catalog: str = "catalog.json"
    adopted: str | None = None
    fingerprint: str = ""
    duration_seconds: float | None = None
    previous_versions: list[str] = field(default_factory=list)
    files: PackageFiles | None = None
    source: PackageSource | None = None


@dataclass(frozen=True)
class PackageSkip(Details):
    """A skipped package run: why there is nothing to package (`not-fetched`, `no-source`)."""

    STAGE: ClassVar[str] = "package"

    catalog_status: str


# -- publish -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishDetails(Details):
    """The site publish built: lessons with a page, its folder, the base URL it assumes."""

    STAGE: ClassVar[str] = "publish"

    lessons: int
    site: str = "site/"
    base_url: str = ""


def details_type(stage: str, status: str) -> type[Details] | None:
    """Which record a stage's details are, by stage and status (None: no details)."""
    if stage == "package" and status == "skipped":
        return PackageSkip
    return DETAILS.get(stage)


DETAILS: dict[str, type[Details]] = {
    "fetch": FetchDetails, "subtitles": SubtitlesDetails, "package": PackageDetails,
    "publish": PublishDetails}


@dataclass
class StageResult(Generic[D]):
    """What one stage did for one lesson (or the site). `error_class` names the exception
    of a failure (an unexpected one, a crash, included)."""

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
    error_class: str | None = None
    details: D | None = None

    @property
    def succeeded(self) -> bool:
        """Done and usable by later stages (`ok`, or `unchanged` from an earlier run)."""
        return self.status in ("ok", "unchanged")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dump({k: v for k, v in vars(self).items() if k != "details"})
        data["details"] = self.details.to_json() if self.details is not None else {}
        return data

    @classmethod
    def from_json(cls, data: Any, where: Location | None = None) -> StageResult[Details]:
        """A record as written by this or an earlier archiver; RecordError names the key."""
        where = where or Location()
        envelope = load_record(_Envelope, data, where)
        raw = data.get("details") if isinstance(data, dict) else None
        kind = details_type(envelope.stage, envelope.status)
        details = kind.from_json(raw, where) if raw and kind is not None else None
        return StageResult(
            stage=envelope.stage, lesson=envelope.lesson, status=envelope.status,
            fingerprint=envelope.fingerprint, outputs=envelope.outputs,
            commands=envelope.commands, tool_versions=envelope.tool_versions,
            started=envelope.started, ended=envelope.ended, warnings=envelope.warnings,
            error=envelope.error, error_class=envelope.error_class, details=details)

    def typed(self, kind: type[D2], where: Location | None = None) -> StageResult[D2]:
        """This result with details of type `kind` (or none); anything else is an error."""
        if self.details is not None and not isinstance(self.details, kind):
            raise RecordError(f"{self.stage} record holds {type(self.details).__name__}, "
                              f"expected {kind.__name__}", where or Location(lesson=self.lesson))
        return cast(StageResult[D2], self)


@dataclass
class _Envelope:
    """The fields of a StageResult other than its details, for validation."""

    stage: str
    lesson: str
    status: Status
    fingerprint: str = ""
    outputs: list[Output] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    tool_versions: dict[str, str] = field(default_factory=dict)
    started: str = ""
    ended: str = ""
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    error_class: str | None = None
