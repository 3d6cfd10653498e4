"""A stand-in for archive.org, shaped so that yt-dlp's own site extractor (`ArchiveOrgIE`)
extracts it unchanged: the end-to-end test of `--resolve HOST:PORT:ADDRESS` (issue_10 item 4).

What the extractor does (yt_dlp/extractor/archiveorg.py, read for this): for a URL
`https://archive.org/details/<id>` or `/embed/<id>` it GETs `https://archive.org/embed/<id>`
and reads the JSON `playlist` attribute of its `<play-av>` element (entries keyed by `orig`,
the original file's name, with subtitle `tracks`), then GETs the metadata API
`https://archive.org/metadata/<id>` and makes a format of every file in `files` whose name is
the entry's or whose `original` is, and whose extension is a media one:
`https://archive.org/download/<id>/<name>`, preferring `source: original`. Thumbnails are
files of format "Thumbnail". The download URL answers, as the real site does, with a 302 to a
storage node (`ia800202.us.archive.org`), a second host with its own certificate.

Served by `MultiHostServer` on port 443 of a loopback address (the extractor's URL pattern
allows no port), with one certificate per host under the test CA; clients map the names
with --resolve (curl), a getaddrinfo hook (tests/clients.py `ytdlp_client`) or the
archiver's own `--resolve`.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from archiver.demo.certs import SiteCerts, make_site_certs
from archiver.demo.server import MultiHostServer, Resource, free_loopback_address

ARCHIVE = "archive.org"
NODE = "ia800202.us.archive.org"
HOSTS = (ARCHIVE, NODE)
IDENTIFIER = "digital-china-lesson-13"
ORIGINAL = "lesson-13.mp4"
DERIVATIVE = "lesson-13.webm"
THUMB = "lesson-13.thumbs/lesson-13_000001.jpg"
TRACK = "lesson-13.zh.vtt"
TITLE = "Building Digital China, lesson 13"


@dataclass(frozen=True)
class ArchiveItem:
    """The fake item and what yt-dlp must extract from it."""

    identifier: str
    details_url: str
    embed_url: str
    formats: dict[str, str]  # download URL -> the file it must deliver (by bytes)
    preferred: str           # the format a default `yt-dlp` run downloads (the original)
    title: str = TITLE
    requests: tuple[str, ...] = ()  # paths the extractor must request, in order


def _node_path(name: str) -> str:
    return f"/7/items/{IDENTIFIER}/{name}"


def _embed_page(playlist: list[dict[str, object]]) -> str:
    attribute = html.escape(json.dumps(playlist), quote=True)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Internet Archive: {html.escape(TITLE)}</title>
<link rel="stylesheet" href="https://archive.org/offshoot_assets/index.css">
<script src="//archive.org/includes/jquery-1.10.2.min.js" type="text/javascript"></script>
</head>
<body class="navia embed">
<div id="theatre-ia-wrap" class="container container-ia width-max">
<play-av class="js-play8-playlist" identifier="{IDENTIFIER}" playlist="{attribute}"
  autoplay="false" waveformer="false"></play-av>
</div>
<script>window.archive_setup = [];</script>
</body></html>
"""


def _metadata(media: Path, webm: Path) -> dict[str, object]:
    return {
        "created": 1685000000, "d1": NODE, "dir": f"/7/items/{IDENTIFIER}",
        "server": NODE, "workable_servers": [NODE],
        "metadata": {
            "identifier": IDENTIFIER, "mediatype": "movies", "collection": ["opensource_movies"],
            "title": TITLE, "creator": "lesson-archiver corpus", "date": "2023-05-23",
            "description": "<p>A generated stand-in for a lecture recording.</p>",
            "publicdate": "2023-05-24 02:10:45", "addeddate": "2023-05-24 02:08:12",
            "uploader": "corpus@example.org", "licenseurl":
                "https://creativecommons.org/publicdomain/zero/1.0/", "language": "chi"},
        "files": [
            {"name": ORIGINAL, "source": "original", "format": "h.264", "length": "5.00",
             "size": str(media.stat().st_size), "width": "256", "height": "144"},
            {"name": DERIVATIVE, "source": "derivative", "original": ORIGINAL,
             "format": "WebM", "length": "5.01", "size": str(webm.stat().st_size),
             "width": "256", "height": "144"},
            {"name": THUMB, "source": "derivative", "original": ORIGINAL, "format": "Thumbnail",
             "width": "256", "height": "144"},
            {"name": TRACK, "source": "original", "format": "Web Video Text Tracks"},
            {"name": f"{IDENTIFIER}_meta.xml", "source": "original", "format": "Metadata"},
        ],
        "reviews": [],
    }


def archive_sites(media: Path, webm: Path, poster: Path, vtt: bytes
                  ) -> tuple[dict[str, dict[str, Resource]], ArchiveItem]:
    """The resources of archive.org and its storage node, and the item's truth."""
    playlist: list[dict[str, object]] = [{
        "title": "lesson-13", "orig": ORIGINAL, "image": f"/download/{IDENTIFIER}/{THUMB}",
        "duration": "5.00",
        "sources": [{"file": f"/download/{IDENTIFIER}/{ORIGINAL}", "type": "mp4",
                     "height": "144", "width": "256", "label": "144p"}],
        "tracks": [{"file": f"/download/{IDENTIFIER}/{TRACK}", "kind": "subtitles",
                    "label": "Chinese"}]}]
    files: dict[str, tuple[Path | bytes, str]] = {
        ORIGINAL: (media, "video/mp4"), DERIVATIVE: (webm, "video/webm"),
        THUMB: (poster, "image/jpeg"), TRACK: (vtt, "text/vtt")}
    archive: dict[str, Resource] = {
        f"/embed/{IDENTIFIER}": Resource(_embed_page(playlist).encode(),
                                         "text/html; charset=UTF-8"),
        f"/details/{IDENTIFIER}": Resource(_embed_page(playlist).encode(),
                                           "text/html; charset=UTF-8"),
        f"/metadata/{IDENTIFIER}": Resource(json.dumps(_metadata(media, webm)).encode(),
                                            "application/json"),
    }
    node: dict[str, Resource] = {}
    for name, (path, kind) in files.items():
        target = f"https://{NODE}{_node_path(name)}"
        archive[f"/download/{IDENTIFIER}/{name}"] = Resource(b"", kind, redirect=target)
        node[_node_path(name)] = Resource(path, kind)
    item = ArchiveItem(
        identifier=IDENTIFIER, details_url=f"https://{ARCHIVE}/details/{IDENTIFIER}",
        embed_url=f"https://{ARCHIVE}/embed/{IDENTIFIER}",
        formats={f"https://{ARCHIVE}/download/{IDENTIFIER}/{ORIGINAL}": str(media),
                 f"https://{ARCHIVE}/download/{IDENTIFIER}/{DERIVATIVE}": str(webm)},
        preferred=f"https://{ARCHIVE}/download/{IDENTIFIER}/{ORIGINAL}",
        requests=(f"/embed/{IDENTIFIER}", f"/metadata/{IDENTIFIER}"))
    return {ARCHIVE: archive, NODE: node}, item


@dataclass
class ArchiveSite:
    """The fake archive.org running on ADDRESS:443, and what a client needs to reach it."""

    server: MultiHostServer
    certs: SiteCerts
    item: ArchiveItem

    @property
    def address(self) -> str:
        return str(self.server.server_address[0])

    def resolve_map(self) -> dict[str, str]:
        """{"archive.org:443": ADDRESS, ...}: curl's --resolve HOST:PORT:ADDRESS."""
        return {f"{host}:443": self.address for host in HOSTS}

    def resolve_args(self) -> list[str]:
        return [item for key, address in self.resolve_map().items()
                for item in ("--resolve", f"{key}:{address}")]


@contextlib.contextmanager
def serve_archive_org(media: Path, webm: Path, poster: Path, vtt: bytes,
                      certs_folder: Path) -> Iterator[ArchiveSite]:
    """Serve the fake on port 443 of a free loopback address (127.x.y.z; binding port 443
    needs root or CAP_NET_BIND_SERVICE: PermissionError otherwise)."""
    sites, item = archive_sites(media, webm, poster, vtt)
    certs = make_site_certs(certs_folder, HOSTS)
    server = MultiHostServer(sites, certs, port=443, address=free_loopback_address(443))
    server.start()
    try:
        yield ArchiveSite(server, certs, item)
    finally:
        server.stop()
