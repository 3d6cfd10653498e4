"""Contract of archiver.adapters.ytdlp with the installed yt-dlp.

yt-dlp's parsers are run on real markup and a playlist ffmpeg wrote; a manifest `<source>`
points at a loopback server that counts requests, so an override that stopped working (yt-dlp
fetching the playlist itself) fails here. A yt-dlp release without one of the methods is
simulated by deleting it from the installed class (that release cannot exist here).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
from test_fetch_support import page
from yt_dlp.extractor.common import InfoExtractor

from archiver.adapters.contract import ContractBroken
from archiver.adapters.ytdlp import html5_media_entries, m3u8_master_formats
from archiver.adapters.ytdlp import offline as adapter
from archiver.demo.server import MediaServer, Resource

Serve = Callable[..., MediaServer]
VERSION = f"yt-dlp {metadata.version('yt-dlp')}"


def test_every_internal_exists_in_the_installed_yt_dlp() -> None:
    broken = adapter.missing_internals()
    assert broken == [], "\n".join(str(error) for error in broken)


def test_html5_entries_from_a_lesson_page() -> None:
    entries = html5_media_entries("https://example.org/course/lesson", page("media/a.mp4").decode())
    formats = [f for entry in entries for f in entry["formats"]]
    assert [f["url"] for f in formats] == ["https://example.org/course/media/a.mp4"]
    assert entries[0]["subtitles"]["zh-Hans"][0]["url"] == "https://example.org/course/zh.vtt"
    assert entries[0]["thumbnail"] == "https://example.org/course/poster.jpg"


@pytest.mark.parametrize(("name", "mime", "protocol"), [
    ("master.m3u8", "application/x-mpegURL", "m3u8_native"),
    ("manifest.mpd", "application/dash+xml", "http_dash_segments"),
])
def test_a_manifest_source_is_returned_unfetched(name: str, mime: str, protocol: str,
                                                 serve: Serve) -> None:
    """yt-dlp would download the manifest with its own networking: the override stops it."""
    server = serve({f"/{name}": Resource(b"#EXTM3U\n", mime)})
    html = f'<video><source src="{server.url("/" + name)}" type="{mime}"></video>'
    entries = html5_media_entries(server.url("/lesson"), html)
    formats = [f for entry in entries for f in entry["formats"]]
    assert [(f["url"], f["protocol"]) for f in formats] == [(server.url("/" + name), protocol)]
    assert server.requests == []


def test_master_playlist_variants_written_by_ffmpeg(tmp_path: Path, tiny_media: Path) -> None:
    """ffmpeg's own master playlist (not one this project wrote): the variant and its size."""
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(tiny_media),
                    "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
                    "-master_pl_name", "master.m3u8",
                    "-hls_segment_filename", str(tmp_path / "seg%d.ts"),
                    str(tmp_path / "index.m3u8")], check=True)
    text = (tmp_path / "master.m3u8").read_text("utf-8")
    assert "#EXT-X-STREAM-INF" in text
    formats = m3u8_master_formats(text, "https://example.org/hls/master.m3u8")
    assert [(f["url"], f["protocol"], f.get("height")) for f in formats] == [
        ("https://example.org/hls/index.m3u8", "m3u8_native", 90)]


@pytest.mark.parametrize("name", ["_extract_m3u8_formats", "_parse_html5_media_entries"])
def test_a_release_without_an_internal_is_refused_naming_it(
        name: str, monkeypatch: pytest.MonkeyPatch, serve: Serve) -> None:
    """Fail closed: without the overridden method yt-dlp would fetch the manifest itself;
    the adapter refuses before parsing, naming the attribute and the installed version."""
    server = serve({"/master.m3u8": Resource(b"#EXTM3U\n", "application/x-mpegURL")})
    monkeypatch.delattr(InfoExtractor, name)
    html = f'<video><source src="{server.url("/master.m3u8")}" type="application/x-mpegURL">'
    with pytest.raises(ContractBroken) as caught:
        html5_media_entries(server.url("/lesson"), html)
    assert f"InfoExtractor.{name}" in str(caught.value) and VERSION in str(caught.value)
    assert server.requests == []
