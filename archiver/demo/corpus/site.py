"""The corpus on the wire: media, streams and page shapes served by one multi-host HTTPS server.

`build_corpus(folder)` makes (or reuses) the files; `serve_corpus(corpus, certs_folder)`
starts a `MultiHostServer` on 127.0.0.1 with one certificate per host under a test CA,
renders the pages for its port and yields a `CorpusSite`: the shapes with their truth, the
request log, and what a client needs to reach the fake hosts (a --resolve map, Chromium
arguments, a small verifying HTTPS client).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from archiver.demo.certs import SiteCerts, make_site_certs
from archiver.demo.corpus import pages as shapes_mod
from archiver.demo.corpus.media import MediaCorpus, build_media
from archiver.demo.corpus.pages import CDN, HOSTS, PLAYER, SITE, PageShape, Urls
from archiver.demo.corpus.streaming import Streams, build_streams
from archiver.demo.server import MultiHostServer, Resource
from archiver.errors import ArchiverError

REFERENCE = "mp4-h264-aac-44100-stereo"  # the clip the pages and streams are made from
TYPES = {".mp4": "video/mp4", ".m4a": "audio/mp4", ".webm": "video/webm", ".ts": "video/mp2t",
         ".m3u8": "application/vnd.apple.mpegurl", ".mpd": "application/dash+xml",
         ".m4s": "video/iso.segment", ".jpg": "image/jpeg", ".json": "application/json",
         ".html": "text/html; charset=utf-8"}
CORS = {"Access-Control-Allow-Origin": "*"}  # CDNs answer cross-origin players


@dataclass
class Corpus:
    """Everything generated on disk (cached between runs in its folder)."""

    folder: Path
    media: MediaCorpus
    streams: Streams
    poster: Path
    seconds: float


def _poster(source: Path, poster: Path) -> Path:
    if not poster.is_file() or poster.stat().st_mtime_ns < source.stat().st_mtime_ns:
        subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-ss",
                        "1", "-i", str(source), "-frames:v", "1", "-q:v", "5", str(poster)],
                       check=True, capture_output=True, timeout=120)
    return poster


def build_corpus(folder: Path, jobs: int = 2) -> Corpus:
    """The media matrix, the streams and a poster under `folder` (reused when unchanged)."""
    began = time.monotonic()
    media = build_media(folder / "media", jobs=jobs)
    reference = media[REFERENCE].path
    streams = build_streams(folder / "streams", reference)
    poster = _poster(reference, folder / "poster.jpg")
    return Corpus(folder, media, streams, poster, time.monotonic() - began)


def _typed(path: Path, headers: Mapping[str, str] | None = None) -> Resource:
    return Resource(path, TYPES.get(path.suffix, "application/octet-stream"),
                    headers=dict(headers or {}))


def _tree(root: Path, prefix: str) -> dict[str, Resource]:
    return {f"{prefix}/{p.relative_to(root).as_posix()}": _typed(p, CORS)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _playlist_segments(playlist: Path, url: str) -> tuple[str, ...]:
    base = url.rsplit("/", 1)[0]
    return tuple(f"{base}/{line.strip()}" for line in playlist.read_text("utf-8").splitlines()
                 if line.strip() and not line.startswith("#"))


def _stream_urls(streams: Streams, urls: Urls) -> dict[str, dict[str, tuple[str, ...]]]:
    split, muxed, dash = streams.hls_split, streams.hls_muxed, streams.dash
    video_pl, audio_pl = urls.cdn("/hls-split/video/index.m3u8"), \
        urls.cdn("/hls-split/audio/index.m3u8")
    muxed_pl = urls.cdn("/hls-muxed/index.m3u8")

    def dash_segments(rep: str) -> tuple[str, ...]:
        chunks = sorted(p.name for p in dash.glob(f"chunk-{rep}-*.m4s"))
        return tuple(urls.cdn(f"/dash/{name}") for name in [f"init-{rep}.m4s", *chunks])

    return {
        "hls-split": {"entry": (urls.cdn("/hls-split/master.m3u8"),),
                      "video-playlist": (video_pl,), "audio-playlist": (audio_pl,),
                      "video": _playlist_segments(split / "video" / "index.m3u8", video_pl),
                      "audio": _playlist_segments(split / "audio" / "index.m3u8", audio_pl)},
        "hls-muxed": {"entry": (muxed_pl,),
                      "muxed": _playlist_segments(muxed / "index.m3u8", muxed_pl)},
        "dash": {"entry": (urls.cdn("/dash/manifest.mpd"),), "video": dash_segments("0"),
                 "audio": dash_segments("1")},
    }


def site_resources(corpus: Corpus, rendered: shapes_mod.Pages) -> dict[str, dict[str, Resource]]:
    """Every host's resources: the pages, the media files, the stream trees, the poster."""
    sites: dict[str, dict[str, Resource]] = {
        host: {path: Resource(text.encode("utf-8"), TYPES[".html"])
               for path, text in rendered.html[host].items()} for host in HOSTS}
    for path, variant in shapes_mod.MEDIA_FILES.items():
        sites[CDN][path] = _typed(corpus.media[variant].path, CORS)
    for path, variant in shapes_mod.SITE_MEDIA.items():
        sites[SITE][path] = _typed(corpus.media[variant].path)
    sites[SITE][shapes_mod.POSTER] = _typed(corpus.poster)
    for name, root in (("hls-split", corpus.streams.hls_split),
                       ("hls-muxed", corpus.streams.hls_muxed), ("dash", corpus.streams.dash)):
        sites[CDN].update(_tree(root, f"/{name}"))
    return sites


@dataclass
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes
    peer_certificate: bytes = b""  # DER of the leaf the server presented


class _ResolvedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to a chosen address that still verifies the URL's host name."""

    def __init__(self, host: str, port: int, address: str, context: ssl.SSLContext,
                 timeout: float) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self.address = address
        self.tls_context = context

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.host)


@dataclass
class CorpusSite:
    """A running corpus: the server, its certificates and the shapes rendered for its port."""

    server: MultiHostServer
    certs: SiteCerts
    corpus: Corpus
    shapes: dict[str, PageShape] = field(default_factory=dict)

    @property
    def requests(self) -> list[object]:
        return list(self.server.requests)

    def resolve_map(self) -> dict[str, str]:
        """{"host:port": "127.0.0.1"}: curl's --resolve for every fake host."""
        return self.server.resolve_map()

    def resolve_args(self) -> list[str]:
        """The `--resolve HOST:PORT:ADDRESS` arguments a client needs."""
        return [item for key, address in self.resolve_map().items()
                for item in ("--resolve", f"{key}:{address}")]

    def chromium_args(self) -> list[str]:
        """Chromium flags that map the fake hosts here and trust exactly their leaf keys."""
        address = str(self.server.server_address[0])
        rules = ", ".join(f"MAP {host} {address}" for host in HOSTS)
        pins = ",".join(spki_hash(identity.chain) for identity in self.certs.hosts.values())
        return [f"--host-resolver-rules={rules}", f"--ignore-certificate-errors-spki-list={pins}"]

    def fetch(self, url: str, headers: Mapping[str, str] | None = None,
              timeout: float = 30.0) -> Fetched:
        """GET `url` from this server, verifying the host's certificate against the test CA."""
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.hostname is None:
            raise ArchiverError(f"not an https URL of the corpus: {url}")
        context = ssl.create_default_context(cafile=str(self.certs.ca))
        port = parts.port or 443
        connection = _ResolvedHTTPS(parts.hostname, port, str(self.server.server_address[0]),
                                    context, timeout)
        try:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request("GET", target or "/", headers=dict(headers or {}))
            response = connection.getresponse()
            sock = connection.sock
            peer = (sock.getpeercert(True) or b"") if isinstance(sock, ssl.SSLSocket) else b""
            return Fetched(response.status, {k.lower(): v for k, v in response.getheaders()},
                           response.read(), peer)
        finally:
            connection.close()


def spki_hash(chain: Path) -> str:
    """base64(sha256(SubjectPublicKeyInfo)) of a PEM leaf: Chromium's SPKI pin format."""
    leaf = x509.load_pem_x509_certificate(chain.read_bytes())
    spki = leaf.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@contextlib.contextmanager
def serve_corpus(corpus: Corpus, certs_folder: Path,
                 kinds: Mapping[str, str] | None = None) -> Iterator[CorpusSite]:
    """Serve the corpus on 127.0.0.1 (a free port) for the four hosts of `pages.HOSTS`;
    `kinds` gives a host a defective certificate (e.g. {PLAYER: "expired"})."""
    certs = make_site_certs(certs_folder, HOSTS, kinds)
    server = MultiHostServer({host: {} for host in HOSTS}, certs)
    server.start()
    try:  # pages name the port, so they are rendered once the server has bound it
        urls = Urls(server.origin)
        rendered = shapes_mod.build_pages(urls, _stream_urls(corpus.streams, urls))
        server.sites.update(site_resources(corpus, rendered))
        yield CorpusSite(server, certs, corpus, {s.id: s for s in rendered.shapes})
    finally:
        server.stop()


__all__ = ["CDN", "HOSTS", "PLAYER", "SITE", "Corpus", "CorpusSite", "build_corpus",
           "serve_corpus"]
