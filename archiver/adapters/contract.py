"""What an adapter relies on, and the error it raises when a library release removed it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from archiver.errors import ArchiverError, Location


def installed(*distributions: str) -> str:
    """"httpx 0.28.1, httpcore 1.0.9": the installed releases, for error messages."""
    found = []
    for name in distributions:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


@dataclass(frozen=True)
class Internal:
    """One private name an adapter uses: where it is, what it must be, who provides it."""

    attribute: str  # dotted, as it is reached, e.g. "httpx.HTTPTransport._pool"
    expected: str  # what it must be, e.g. "an httpcore.ConnectionPool"
    libraries: tuple[str, ...]  # the distributions whose release decides it


class ContractBroken(ArchiverError):
    """A library release no longer has an internal an adapter relies on.

    The message names the attribute, what was expected, what was found and the installed
    versions; `internal` is the broken `Internal`.
    """

    def __init__(self, internal: Internal, found: str, where: Location | None = None) -> None:
        self.internal = internal
        super().__init__(
            f"{installed(*internal.libraries)}: {internal.attribute} {found} (expected "
            f"{internal.expected}); this release is not the one archiver was tested with "
            "(see constraints.txt)", where or Location())
