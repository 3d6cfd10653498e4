"""Shared fixtures: generated media, certificates with chosen defects, loopback servers.

Everything is real: ffmpeg makes the media, `cryptography` the certificates, and
`archiver.demo.server.MediaServer` serves them over real TLS on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from archiver.demo.certs import CertSet, make_certs
from archiver.demo.corpus.archiveorg import ArchiveSite, serve_archive_org
from archiver.demo.corpus.site import Corpus, CorpusSite, build_corpus, serve_corpus
from archiver.demo.server import MediaServer, Resource


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test is also slow (each starts Chromium): `make test-fast` runs
    `-m "not slow"`, `make test` everything."""
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(pytest.mark.slow)

# a two-paragraph lesson (the first sentences of lesson 13) for short end-to-end runs
SHORT_TRANSCRIPT = """00:05
Building Digital China is a crucial engine, and a powerful pillar.
建设数字中国是数字时代推进中国式现代化的重要引擎,是构筑国家竞争新优势的有力支撑。
00:13
In 2022 alone, the state released 38 laws and documents.
仅2022年,国家正式发布的法律、部门规章以及配套规范文件就达38项。
"""


def make_media(path: Path, seconds: float = 3.0, size: str = "160x90", rate: int = 25) -> Path:
    """An H.264 + AAC MP4 of `seconds` (test pattern and a tone), made by ffmpeg."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(rate),
         "-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart", str(path)],
        check=True,
    )
    return path


@pytest.fixture(scope="session")
def tiny_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-second MP4 shared by the whole session (do not modify it)."""
    return make_media(tmp_path_factory.mktemp("media") / "tiny.mp4")


@pytest.fixture(scope="session")
def cert_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], CertSet]:
    """Certificates by kind ("valid", "self-signed", "expired", ...), made once per session."""
    cache: dict[str, CertSet] = {}

    def get(kind: str) -> CertSet:
        if kind not in cache:
            cache[kind] = make_certs(tmp_path_factory.mktemp(f"certs-{kind}"), kind)
        return cache[kind]

    return get


@pytest.fixture
def serve() -> Iterator[Callable[..., MediaServer]]:
    """Start MediaServers for a test; all are stopped at its end."""
    servers: list[MediaServer] = []

    def start(resources: dict[str, Resource], certs: CertSet | None = None) -> MediaServer:
        server = MediaServer(resources, certs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@contextlib.contextmanager
def lock_held_elsewhere(output: Path) -> Iterator[int]:
    """Hold `output`'s run lock in another process (as a concurrent run would); yield its pid."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from archiver.store import Store
        with Store(Path({str(output)!r})).locked():
            print("held", flush=True)
            sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """The generated media matrix, streams and poster (archiver.demo.corpus), made once per
    session; set LESSON_ARCHIVER_CORPUS to a folder to keep it between sessions (the build
    is fingerprinted, so a stale folder is rebuilt). Do not modify its files."""
    cache = os.environ.get("LESSON_ARCHIVER_CORPUS")
    return build_corpus(Path(cache) if cache else tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def corpus_site(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[CorpusSite]:
    """Every page shape served over HTTPS by one multi-host server on 127.0.0.1 (one
    certificate per host under a test CA); see CorpusSite for --resolve maps and Chromium
    arguments. Shared by the session: tests read `server.requests` from their own start."""
    with serve_corpus(corpus, tmp_path_factory.mktemp("corpus-certs")) as site:
        yield site


@pytest.fixture(scope="session")
def archive_org(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[ArchiveSite]:
    """A fake archive.org (embed page, metadata API, storage-node redirect) that yt-dlp's own
    ArchiveOrgIE extracts, on port 443 of a random 127.x.y.z address; reach it with
    `archive_org.resolve_map()` / `resolve_args()` and trust `archive_org.certs.ca`."""
    vtt = "WEBVTT\n\n00:01.000 --> 00:02.150\n数字中国。\n".encode()
    try:
        with serve_archive_org(corpus.media["mp4-h264-aac-44100-stereo"].path,
                               corpus.media["webm-vp9-opus-48000-stereo"].path, corpus.poster,
                               vtt, tmp_path_factory.mktemp("archive-org-certs")) as site:
            yield site
    except PermissionError:
        pytest.skip("serving port 443 needs root or CAP_NET_BIND_SERVICE")


@pytest.fixture(scope="module", autouse=True)
def w3c_valid_tracks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Every WebVTT track the subtitle builder writes during a test module, checked by the W3C
    parser (npm webvtt-parser, tests/clients.py) at the module's end: zero errors and at least
    one cue each (issue 11 item 3). One node process per module, only if a track was built."""
    from clients import webvtt_errors

    import archiver.subtitles.build as build_mod
    from archiver.subtitles.writers import write_vtt as original

    written: list[str] = []

    def recording(*args: object, **kwargs: object) -> str:
        text = original(*args, **kwargs)  # type: ignore[arg-type]
        written.append(text)
        return text

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(build_mod, "write_vtt", recording)
        yield written
    if not written:
        return
    folder = tmp_path_factory.mktemp("w3c-vtt")
    paths = []
    for number, text in enumerate(dict.fromkeys(written)):  # each distinct track once
        paths.append(folder / f"{number}.vtt")
        paths[-1].write_text(text, "utf-8")
    bad = {path.name: [str(e) for e in errors]
           for path, errors in webvtt_errors(paths).items() if errors}
    assert not bad, f"W3C parser errors in tracks written under {folder}: {bad}"
