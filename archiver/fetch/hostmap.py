"""`--resolve HOST:PORT:ADDRESS` (curl's meaning): connect to ADDRESS when a URL names HOST:PORT.

Why: an archivist whose lesson site has broken or poisoned DNS still knows where the site
lives; and tests serve a fake of a real site (archive.org) on 127.0.0.1 under its real host
name. Only the TCP connection goes elsewhere: the URL, the Host header, SNI and the
certificate's host-name check all keep HOST, so TLS still proves the server is HOST. Every
mapping is recorded in the TLS evidence, so a reader of the archive sees that name
resolution was overridden, and for which hosts.

Entries come from the command line (`--resolve`, for every source of the run) and from a
source's manifest key `resolve = ["host:443:1.2.3.4"]`; the source's own entry wins for
its host and port. IPv6 addresses are written in brackets, as curl does: `h:443:[::1]`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from archiver.errors import Location, UsageError


@dataclass(frozen=True)
class Mapping:
    """One `HOST:PORT:ADDRESS` entry (host lower-cased, address a literal IP)."""

    host: str
    port: int
    address: str

    def __str__(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.host}:{self.port}:{address}"

    def to_json(self) -> dict[str, object]:
        return {"host": self.host, "port": self.port, "address": self.address}


def parse_entry(text: object, key: str) -> Mapping:
    """Parse one entry; `key` names where it came from (`--resolve`, `sources[0].resolve`)."""
    if not isinstance(text, str):
        raise UsageError(f"expected \"HOST:PORT:ADDRESS\", got {text!r}", Location(key=key))
    host, sep1, rest = text.partition(":")
    port_text, sep2, address = rest.partition(":")
    if not (sep1 and sep2 and host and port_text and address):
        raise UsageError(f"expected \"HOST:PORT:ADDRESS\" such as "
                         f"lessons.example.edu:443:203.0.113.7, got {text!r}", Location(key=key))
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"port must be 1-65535 in {text!r}", Location(key=key))
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise UsageError(f"{address!r} in {text!r} is not an IP address (curl's "
                         "--resolve maps a host to an address, not to another name)",
                         Location(key=key)) from None
    if any(c in host for c in "/[] @") or ("." not in host and host != "localhost"):
        raise UsageError(f"{host!r} in {text!r} is not a host name", Location(key=key))
    return Mapping(host.lower().rstrip("."), int(port_text), str(ip))


@dataclass(frozen=True)
class HostMap:
    """The mappings that apply to one source (empty: ordinary name resolution)."""

    entries: tuple[Mapping, ...] = field(default=())

    @classmethod
    def of(cls, *groups: Iterable[Mapping]) -> HostMap:
        """Merge groups in order; a later group's entry for the same host:port wins."""
        merged: dict[tuple[str, int], Mapping] = {}
        for group in groups:
            for entry in group:
                merged[(entry.host, entry.port)] = entry
        return cls(tuple(merged.values()))

    def address(self, host: str, port: int) -> str:
        """Where to connect for `host:port`: the mapped address, else the host itself."""
        wanted = host.lower().rstrip(".")
        for entry in self.entries:
            if entry.host == wanted and entry.port == port:
                return entry.address
        return host

    def used(self, host: str, port: int) -> Mapping | None:
        wanted = host.lower().rstrip(".")
        return next((e for e in self.entries if (e.host, e.port) == (wanted, port)), None)

    def to_json(self) -> list[dict[str, object]]:
        return [e.to_json() for e in self.entries]

    def __bool__(self) -> bool:
        return bool(self.entries)
