"""The project's exception tree.

Callers catch at the level they care about (like httpx's): the CLI maps `ArchiverError` to a
one-line message and an exit code; a stage runner catches it per lesson so one lesson's failure
never stops the others. Every error carries a location (file, lesson, key, line) so a user can
find the problem without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """Where a problem was found; every part optional, rendered as `file:line: lesson X: key K`."""

    file: Path | str | None = None
    line: int | None = None
    lesson: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file is not None:
            parts.append(f"{self.file}:{self.line}" if self.line is not None else str(self.file))
        if self.lesson is not None:
            parts.append(f"lesson {self.lesson!r}")
        if self.key is not None:
            parts.append(f"key {self.key!r}")
        return ": ".join(parts)


@dataclass
class ArchiverError(Exception):
    """Base of every expected failure. `exit_code` is what the CLI returns for it."""

    message: str
    where: Location = field(default_factory=Location)
    exit_code = 1

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = str(self.where)
        return f"{where}: {self.message}" if where else self.message


class UsageError(ArchiverError):
    """Bad command-line usage or options (exit 2)."""

    exit_code = 2


class ManifestError(ArchiverError):
    """The manifest is malformed or inconsistent (exit 2, before any download starts)."""

    exit_code = 2


class LockError(ArchiverError):
    """Another run holds the output folder's lock."""


class RecordError(ArchiverError):
    """A stage record or hand-off file (state/*.json, transcript.json…) is malformed."""


class FetchError(ArchiverError):
    """A source could not be fetched."""


class TlsError(FetchError):
    """The server's certificate was refused by the source's TLS policy.

    `problems` names every problem found in the certificate itself (OpenSSL reports only the
    first); `evidence` is the TLS evidence record of the refused connection, when captured.
    """

    def __init__(
        self,
        message: str,
        where: Location | None = None,
        problems: list[str] | None = None,
        openssl_message: str | None = None,
        evidence: dict[str, object] | None = None,
    ) -> None:
        self.problems = problems or []
        self.openssl_message = openssl_message
        self.evidence = evidence
        super().__init__(message, where or Location())


class ChecksumMismatch(FetchError):
    """Downloaded bytes differ from the manifest's pin or the announced size."""


class NoMediaError(FetchError):
    """The page was fetched but no media could be found in it."""


class NotMediaError(FetchError):
    """The downloaded bytes hold no audio or video stream ffmpeg can read (quarantined)."""


class SubtitleError(ArchiverError):
    """A transcript or subtitle file is malformed (file and line in `where`)."""


class MuxError(ArchiverError):
    """ffmpeg failed, or the muxed file is not what was intended."""


class PackageError(ArchiverError):
    """A BagIt package could not be built or validated."""


class FixityError(ArchiverError):
    """An archived package no longer matches its own manifests."""


class PublishError(ArchiverError):
    """The static site could not be written."""
