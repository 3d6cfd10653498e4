"""Hostile HLS playlists (issue 15 items 4 and 6): attribute lists parsed per RFC 8216, keys
refused by their METHOD value, BYTERANGE honoured on segments and EXT-X-MAP, and the segment
count and total bytes bounded. Real ffmpeg playlists served over HTTPS on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from test_fetch_support import context, lesson
from warcio.archiveiterator import ArchiveIterator

from archiver.demo.certs import CertSet
from archiver.demo.server import Fault, MediaServer, Resource
from archiver.errors import FetchError, Location
from archiver.fetch.hls import attributes, parts
from archiver.fetch.stage import run
from archiver.store import TEMP_MARK

pytestmark = pytest.mark.slow  # real HLS servers, each case through yt-dlp and the download

Serve = Callable[..., MediaServer]
Certs = Callable[[str], CertSet]
M3U8 = "application/vnd.apple.mpegurl"
JUNK = b"\x00junk-after-the-ranges" * 4096  # served after the ranges: must never be archived


def _single_file(folder: Path, media: Path, fmp4: bool) -> tuple[bytes, bytes]:
    """ffmpeg's `single_file` HLS: one resource, every segment a BYTERANGE of it (and the
    init section too, for fMP4). Returns (playlist, the resource's bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    extra = ["-hls_segment_type", "fmp4"] if fmp4 else []
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(media),
                    "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
                    "-hls_flags", "single_file", *extra, str(folder / "index.m3u8")],
                   check=True)
    resource = next(p for p in folder.iterdir() if p.suffix in (".ts", ".m4s"))
    return (folder / "index.m3u8").read_bytes(), resource.read_bytes()


def _probe_streams(path: Path) -> list[str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def test_attribute_lists_keep_quoted_commas_and_values_apart() -> None:
    where = Location(lesson="l1")
    attrs = attributes('METHOD=AES-128,URI="/key?METHOD=NONE,x=1",IV=0x0F', "u", where)
    assert attrs == {"METHOD": "AES-128", "URI": "/key?METHOD=NONE,x=1", "IV": "0x0F"}
    with pytest.raises(FetchError, match="malformed HLS attribute list"):
        attributes('METHOD=NONE,URI="unterminated', "u", where)


@pytest.mark.parametrize("key", [
    '#EXT-X-KEY:METHOD=AES-128,URI="/key?METHOD=NONE"',
    '#EXT-X-KEY:URI="k?METHOD=NONE",METHOD=SAMPLE-AES',
    '#EXT-X-KEY:URI="METHOD=NONE"',  # no METHOD attribute at all
])
def test_disguised_encryption_is_refused(key: str) -> None:
    playlist = f"#EXTM3U\n{key}\n#EXTINF:1,\nseg0.ts\n#EXT-X-ENDLIST\n"
    with pytest.raises(FetchError, match="encrypted HLS") as caught:
        parts(playlist, "https://h/x.m3u8", "l1", 100)
    assert caught.value.where.lesson == "l1"
    plain = playlist.replace(key, "#EXT-X-KEY:METHOD=NONE")
    assert [p.url for p in parts(plain, "https://h/x.m3u8", "l1", 100)] == ["https://h/seg0.ts"]


def test_disguised_aes_playlist_is_not_archived_and_nothing_is_published(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    playlist, resource = _single_file(tmp_path / "hls", tiny_media, fmp4=False)
    text = playlist.decode().replace("#EXT-X-PLAYLIST-TYPE:VOD",
                                     '#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-KEY:METHOD=AES-128,'
                                     'URI="/key?METHOD=NONE"')
    server = serve({"/v/index.m3u8": Resource(text.encode(), M3U8),
                    "/v/index.ts": Resource(resource, "video/mp2t")},
                   cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [])
    with pytest.raises(FetchError, match=r"encrypted HLS \(EXT-X-KEY METHOD=AES-128\)"):
        run(lesson("l1", (server.url("/v/index.m3u8"), "insecure")), ctx)
    assert not any(r.path.endswith(".ts") for r in server.requests)  # no segment fetched
    assert not list((ctx.store.lesson_dir("l1") / "fetch").glob("original*"))


@pytest.mark.parametrize("fmp4", [False, True], ids=["ts-byterange", "fmp4-map-byterange"])
def test_byterange_segments_and_init_section_are_fetched_as_ranges(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path, fmp4: bool) -> None:
    playlist, resource = _single_file(tmp_path / "hls", tiny_media, fmp4=fmp4)
    name = "index.m4s" if fmp4 else "index.ts"
    assert b"BYTERANGE" in playlist and (not fmp4 or b'#EXT-X-MAP:URI="index.m4s",BYTERANGE'
                                         in playlist)
    server = serve({"/v/index.m3u8": Resource(playlist, M3U8),
                    f"/v/{name}": Resource(resource + JUNK, "video/mp4")},
                   cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [])
    result = run(lesson("l1", (server.url("/v/index.m3u8"), "insecure")), ctx)
    assert result.details is not None
    stored = ctx.store.lesson_dir("l1") / result.details.media
    assert stored.read_bytes() == resource  # exactly the ranges, never the junk after them
    assert result.details is not None
    assert result.details.sha256 == hashlib.sha256(resource).hexdigest()
    ranges = [r.range for r in server.requests if r.path.endswith(name)]
    assert ranges and all(r and r.startswith("bytes=") for r in ranges)
    assert _probe_streams(stored) == ["audio", "video"]


def test_a_server_ignoring_range_gets_the_range_cut_out_of_its_answer(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    playlist, resource = _single_file(tmp_path / "hls", tiny_media, fmp4=False)
    served = Resource(resource + JUNK, "video/mp2t")
    served.faults.extend([Fault(ignore_range=True)] * 3)
    server = serve({"/v/index.m3u8": Resource(playlist, M3U8), "/v/index.ts": served},
                   cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [])
    result = run(lesson("l1", (server.url("/v/index.m3u8"), "insecure")), ctx)
    assert result.details is not None
    assert (ctx.store.lesson_dir("l1") / result.details.media).read_bytes() == resource
    # the WARC: no answer to a Range request is a full response record (a cut of a 200 is no
    # whole body, a 206 no whole resource); each is kept as a record about the exchange
    folder = ctx.store.stage_dir("l1", "fetch")
    with open(folder / "capture.warc.gz", "rb") as handle:
        about = [json.loads(r.content_stream().read())["exchange"]
                 for r in ArchiveIterator(handle) if r.rec_type == "metadata"
                 and "exchange" in r.rec_headers.get_header("WARC-Target-URI")]
    statuses = [e["status"] for e in about if e["role"] == "segment"]
    assert statuses[:3] == [200, 200, 200] and set(statuses) <= {200, 206}  # Range ignored
    assert not (folder / "capture-media.warc").exists()  # no whole media response to keep


def test_whole_segments_are_media_records_at_their_place_in_the_original(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    """Each whole segment's record holds exactly the bytes its answer carried, wherever it
    lies in the original: here before a BYTERANGE segment whose server ignored Range (its
    200 is no whole response: no record) and after a 503 that was retried."""
    folder = tmp_path / "hls"
    folder.mkdir()
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(tiny_media),
                    "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
                    str(folder / "index.m3u8")], check=True)
    segments = sorted(folder.glob("*.ts"), key=lambda p: int(p.stem.removeprefix("index")))
    assert len(segments) >= 2
    last = segments[-1]
    playlist = (folder / "index.m3u8").read_text().replace(
        f"\n{last.name}\n", f"\n#EXT-X-BYTERANGE:{last.stat().st_size}@0\n{last.name}\n")
    resources = {"/v/index.m3u8": Resource(playlist.encode(), M3U8)}
    for ts in segments:
        resources[f"/v/{ts.name}"] = Resource(ts.read_bytes(), "video/mp2t")
    resources[f"/v/{segments[0].name}"].faults.append(Fault(status=503))
    resources[f"/v/{last.name}"] = Resource(last.read_bytes() + JUNK, "video/mp2t")
    resources[f"/v/{last.name}"].faults.extend([Fault(ignore_range=True)] * 3)
    server = serve(resources, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [])
    result = run(lesson("l1", (server.url("/v/index.m3u8"), "insecure")), ctx)
    assert result.details is not None
    stored = (ctx.store.lesson_dir("l1") / result.details.media).read_bytes()
    assert stored == b"".join(ts.read_bytes() for ts in segments)
    with open(ctx.store.stage_dir("l1", "fetch") / "capture-media.warc", "rb") as handle:
        records = {r.rec_headers.get_header("WARC-Target-URI"): r.content_stream().read()
                   for r in ArchiveIterator(handle) if r.rec_type == "response"}
    assert records == {server.url(f"/v/{ts.name}"): ts.read_bytes() for ts in segments[:-1]}


def test_byterange_without_offset_continues_the_previous_range_of_the_same_resource() -> None:
    playlist = ("#EXTM3U\n#EXT-X-BYTERANGE:100@0\na.ts\n#EXT-X-BYTERANGE:50\na.ts\n"
                "#EXT-X-ENDLIST\n")
    found = parts(playlist, "https://h/p.m3u8", "l1", 10)
    assert [(p.offset, p.length) for p in found] == [(0, 100), (100, 50)]
    assert found[1].range_header == "bytes=100-149"
    broken = playlist.replace("#EXT-X-BYTERANGE:50\na.ts", "#EXT-X-BYTERANGE:50\nb.ts")
    with pytest.raises(FetchError, match="without an offset"):
        parts(broken, "https://h/p.m3u8", "l1", 10)


def test_too_many_segments_are_refused_before_any_segment_is_fetched(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    lines = "".join(f"#EXTINF:1,\nseg{n}.ts\n" for n in range(200))
    # EXT-X-TARGETDURATION is required (RFC 8216 4.3.3.1); without it yt-dlp reads the
    # playlist as a master whose "variants" are the segments
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n{lines}#EXT-X-ENDLIST\n".encode()
    server = serve({"/v/index.m3u8": Resource(playlist, M3U8)}, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [], max_segments=50)
    with pytest.raises(FetchError, match="more than --max-segments 50 segments"):
        run(lesson("l1", (server.url("/v/index.m3u8"), "insecure")), ctx)
    # only the playlist was read (yt-dlp's generic extractor and its HLS parser each read it,
    # then the download reads the recorded copy or once more): no segment was asked for
    paths = [r.path for r in server.requests]
    assert paths and set(paths) == {"/v/index.m3u8"}, paths


def test_max_bytes_bounds_the_sum_of_the_segments(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    playlist, resource = _single_file(tmp_path / "hls", tiny_media, fmp4=False)
    server = serve({"/v/index.m3u8": Resource(playlist, M3U8),
                    "/v/index.ts": Resource(resource, "video/mp2t")},
                   cert_factory("self-signed"))
    biggest = max(p.length or 0 for p in parts(playlist.decode(), "https://h/i.m3u8", "l", 99))
    limit = biggest + 1  # every segment fits alone; their sum does not
    assert limit < len(resource)
    ctx, _log = context(tmp_path / "run", [], max_bytes=limit)
    with pytest.raises(FetchError, match=f"the HLS segments together larger than {limit} "
                       "bytes.*--max-bytes bounds their sum"):
        run(lesson("l1", (server.url("/v/index.m3u8"), "insecure")), ctx)
    folder = ctx.store.lesson_dir("l1") / "fetch"
    assert not list(folder.glob("original*"))
    assert all(TEMP_MARK in p.name or p.name == "last-failure.json" for p in folder.iterdir())
