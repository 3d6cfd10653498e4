"""Smoke tests of the third-party clients in tests/clients.py.

Each client is shown a known-good input and a known-bad one built here, and must tell them
apart with the specific complaint a real archivist would see. Later tests rely on these
clients to judge archiver's outputs; these tests make sure a client that silently checks
nothing (not installed, wrong mode, skipped checks) cannot make them pass vacuously.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import urllib.request
import zipfile
from pathlib import Path

import bagit
import pytest
from clients import (
    PROJECT_BIN,
    bagit_python_validate,
    bagit_utils_validate,
    mediaconch_matroska,
    mkv_extract_tracks,
    mkv_identify,
    mkv_tracks,
    pywb_replay,
    wacz_validate,
    warcio_check,
    webvtt_errors,
    webvtt_parse,
    ytdlp_client,
)
from conftest import make_media
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archiver.demo.certs import CertSet
from archiver.demo.server import MediaServer, Resource

pytestmark = pytest.mark.slow  # pywb, yt-dlp, mediaconch... on real outputs

GOOD_VTT = "WEBVTT\n\nNOTE language: zh-Hans\n\n00:00.500 --> 00:01.500\n你好 &amp; 再见\n\n" \
           "00:01.600 --> 00:02.400\n第二句\n"
MEDIA = bytes(range(256)) * 512  # 128 KiB of known bytes, to compare replayed ranges with


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
                   check=True)


# --- W3C WebVTT parser ---------------------------------------------------------------------

def test_webvtt_parser_accepts_good_and_names_the_header_line(tmp_path: Path) -> None:
    good = tmp_path / "good.vtt"
    good.write_text(GOOD_VTT, "utf-8")
    header = tmp_path / "header.vtt"
    header.write_text(GOOD_VTT.replace("WEBVTT\n\n", "WEBVTT\nLanguage: zh-Hans\n\n", 1), "utf-8")
    raw_lt = tmp_path / "lt.vtt"
    raw_lt.write_text("WEBVTT\n\n00:00.500 --> 00:01.500\na < b\n", "utf-8")
    empty = tmp_path / "empty.vtt"
    empty.write_text("WEBVTT\n", "utf-8")
    errors = webvtt_errors([good, header, raw_lt, empty])
    assert errors[good] == []
    assert webvtt_parse([good])[good].cues == 2
    assert [(e.line, e.message) for e in errors[header]] == [
        (2, "No blank line after the signature.")]
    assert errors[raw_lt], "an unescaped '<' in cue text must be an error"
    assert [e.message for e in errors[empty]] == ["no cue was parsed"]


# --- BagIt ---------------------------------------------------------------------------------

def _bag(folder: Path, version_1_0: bool) -> Path:
    (folder / "lesson").mkdir(parents=True)
    (folder / "lesson" / "master.mkv").write_bytes(MEDIA)
    (folder / "lesson" / "zh-Hans.vtt").write_text(GOOD_VTT, "utf-8")
    bag = bagit.make_bag(str(folder), {"Source-Organization": "test"},
                         checksums=["sha256", "sha512"])
    if version_1_0:  # what RFC 8493 asks for; tag manifests must follow the new bytes
        (folder / "bagit.txt").write_bytes(b"BagIt-Version: 1.0\nTag-File-Character-Encoding: "
                                           b"UTF-8\n")
        bag.save()
    return folder


def test_bagit_python_finds_a_changed_payload(tmp_path: Path) -> None:
    bag = _bag(tmp_path / "bag", version_1_0=True)
    assert bagit_python_validate(bag) == (True, [], [])
    (bag / "data" / "lesson" / "master.mkv").write_bytes(MEDIA[:-1] + b"\0")
    ok, errors, _warnings = bagit_python_validate(bag)
    assert not ok
    assert any("master.mkv" in e and "sha" in e for e in errors), errors


def test_bagit_utils_warns_on_097_and_checks_a_10_bag(tmp_path: Path) -> None:
    good = _bag(tmp_path / "good", version_1_0=True)
    assert bagit_utils_validate(good) == (True, [])
    old = _bag(tmp_path / "old", version_1_0=False)
    assert b"0.97" in (old / "bagit.txt").read_bytes()  # what bagit-python writes by default
    ok, messages = bagit_utils_validate(old)
    assert any("Bad Bag declaration" in m for m in messages), messages
    assert any("not byte-exactly" in m for m in messages), messages
    del ok
    (good / "data" / "lesson" / "zh-Hans.vtt").write_text(GOOD_VTT + "\n", "utf-8")
    ok, messages = bagit_utils_validate(good)
    assert not ok
    assert any("zh-Hans.vtt" in m and "checksum" in m for m in messages), messages


# --- MKVToolNix and MediaConch --------------------------------------------------------------

@pytest.fixture(scope="module")
def matroska(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same clip and track muxed by ffmpeg (WebM's codec id) and by mkvmerge (Matroska's)."""
    folder = tmp_path_factory.mktemp("mkv")
    media = make_media(folder / "clip.mp4", seconds=2.0)
    vtt = folder / "zh.vtt"
    vtt.write_text(GOOD_VTT, "utf-8")
    by_ffmpeg = folder / "ffmpeg.mkv"
    _ffmpeg("-i", str(media), "-i", str(vtt), "-map", "0", "-map", "1", "-c", "copy",
            str(by_ffmpeg))
    by_mkvmerge = folder / "mkvmerge.mkv"
    subprocess.run(["mkvmerge", "-q", "-o", str(by_mkvmerge), str(media), "--language",
                    "0:zh-Hans", "--track-name", "0:中文", str(vtt)], check=True)
    return {"mp4": media, "ffmpeg": by_ffmpeg, "mkvmerge": by_mkvmerge}


def test_mkvextract_refuses_webm_codec_id_and_reads_matroska_one(
        matroska: dict[str, Path]) -> None:
    ffmpeg_subs = [t for t in mkv_tracks(matroska["ffmpeg"]) if t.type == "subtitles"]
    assert [t.codec_id for t in ffmpeg_subs] == ["D_WEBVTT/SUBTITLES"]
    refused = mkv_extract_tracks(matroska["ffmpeg"], [ffmpeg_subs[0].id])
    assert dict(refused) == {}
    assert any("'D_WEBVTT/SUBTITLES' is not supported" in e for e in refused.errors)

    ours = [t for t in mkv_tracks(matroska["mkvmerge"]) if t.type == "subtitles"]
    assert [(t.codec_id, t.language_ietf, t.language, t.name) for t in ours] == [
        ("S_TEXT/WEBVTT", "zh-Hans", "chi", "中文")]
    texts = mkv_extract_tracks(matroska["mkvmerge"], [ours[0].id])
    assert texts.errors == []
    assert texts[ours[0].id].startswith("\ufeffWEBVTT")  # mkvextract writes a BOM
    assert "00:00:00.500 --> 00:00:01.500\n你好 &amp; 再见" in texts[ours[0].id]


def test_mkvmerge_identify_reports_a_non_matroska_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"not a matroska file at all" * 10)
    identity = mkv_identify(junk)
    assert not identity.tracks and not identity.recognized
    assert identity.errors, "mkvmerge -J must say why it read nothing"


def _element_in_wrong_parent(source: Path, target: Path) -> Path:
    """Rename the first FlagLacing element (0x9C) inside Tracks to SimpleBlock's id (0xA3):
    a Cluster child inside a TrackEntry, which also breaks the Tracks CRC-32."""
    data = bytearray(source.read_bytes())
    tracks = data.find(bytes.fromhex("1654ae6b"))
    lacing = data.find(bytes.fromhex("9c8100"), tracks)
    assert tracks > 0 and lacing > tracks
    data[lacing] = 0xA3
    target.write_bytes(bytes(data))
    return target


def test_mediaconch_waives_only_language_ietf(matroska: dict[str, Path], tmp_path: Path) -> None:
    ours = mediaconch_matroska(matroska["mkvmerge"])
    assert ours.checks_run > 10
    assert ours.findings == []
    assert ours.waived and {f.element for f in ours.waived} == {"LanguageIETF"}

    broken = mediaconch_matroska(_element_in_wrong_parent(matroska["ffmpeg"],
                                                          tmp_path / "broken.mkv"))
    assert {f.check for f in broken.findings} >= {"MKV-ELEMENT-VALID-PARENT", "EBML-CRC-VALID"}

    not_mkv = mediaconch_matroska(matroska["mp4"])
    assert [f.check for f in not_mkv.findings] == ["MEDIACONCH-NO-CHECKS"]


# --- WARC, WACZ, pywb ----------------------------------------------------------------------

PAGE_URL = "https://lessons.example.edu/lesson-13.html"
MEDIA_URL = "https://lessons.example.edu/media/lesson-13.mp4"


def _warc(path: Path, records: list[tuple[str, str, str, bytes]]) -> Path:
    """A gzipped WARC with a warcinfo record and one record per (type, url, mime, body)."""
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        for rec_type, url, mime, body in records:
            headers = StatusAndHeaders("200 OK", [("Content-Type", mime),
                                                  ("Content-Length", str(len(body)))],
                                       protocol="HTTP/1.1")
            if rec_type == "response":
                record = writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                   http_headers=headers)
            else:
                record = writer.create_warc_record(url, rec_type, payload=io.BytesIO(body),
                                                   warc_content_type=mime)
            writer.write_record(record)
    return path


def _capture(path: Path) -> Path:
    return _warc(path, [("response", PAGE_URL, "text/html",
                         b"<html><body><video src='media/lesson-13.mp4'></video></body></html>"),
                        ("response", MEDIA_URL, "video/mp4", MEDIA)])


def test_warcio_check_finds_a_changed_record(tmp_path: Path) -> None:
    good = _capture(tmp_path / "good.warc.gz")
    ok, output = warcio_check(good)
    assert ok and output.count("digest pass") == 3, output
    plain = subprocess.run(["gzip", "-dc", str(good)], capture_output=True, check=True).stdout
    bad = tmp_path / "bad.warc"
    bad.write_bytes(plain.replace(b"<video src=", b"<video SRC=", 1))
    ok, output = warcio_check(bad)
    assert not ok and "digest failed" in output, output


def test_wacz_validate_finds_a_wrong_hash(tmp_path: Path) -> None:
    warc = _capture(tmp_path / "capture.warc.gz")
    good = tmp_path / "good.wacz"
    subprocess.run([str(PROJECT_BIN / "wacz"), "create", "-o", str(good), str(warc)],
                   check=True, capture_output=True)
    ok, output = wacz_validate(good)
    assert ok, output
    bad = tmp_path / "bad.wacz"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(bad, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "datapackage.json":
                package = json.loads(data)
                for resource in package["resources"]:
                    if resource["path"].startswith("archive/"):
                        resource["hash"] = "sha256:" + hashlib.sha256(b"other").hexdigest()
                data = json.dumps(package).encode()
            target.writestr(name, data)
    ok, output = wacz_validate(bad)
    assert not ok, output


@pytest.mark.slow
def test_pywb_replays_a_response_whole_and_by_range(tmp_path: Path) -> None:
    good = _capture(tmp_path / "good.warc.gz")
    # the shape issue_11 found: media present only as a metadata record at its URL
    shadow = _warc(tmp_path / "shadow.warc.gz",
                   [("metadata", MEDIA_URL.replace("13", "14"), "application/json", b"{}")])
    with pywb_replay([good, shadow]) as base:
        with urllib.request.urlopen(f"{base}id_/{MEDIA_URL}", timeout=30) as response:
            assert response.status == 200
            assert response.read() == MEDIA
        ranged = urllib.request.Request(f"{base}id_/{MEDIA_URL}",
                                        headers={"Range": "bytes=1000-1999"})
        with urllib.request.urlopen(ranged, timeout=30) as response:
            assert response.status == 206
            assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(MEDIA)}"
            assert response.read() == MEDIA[1000:2000]
        with urllib.request.urlopen(f"{base}id_/{MEDIA_URL.replace('13', '14')}",
                                    timeout=30) as response:
            body = response.read()
        assert body == b"{}", "pywb serves the metadata record at the media URL, as issue_11 saw"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}id_/https://lessons.example.edu/absent.mp4",
                                   timeout=30)
        assert missing.value.code == 404


# --- yt-dlp as a client of a page we serve -------------------------------------------------

def _page(tracks: list[tuple[str, str]]) -> bytes:
    items = "".join(f'<track kind="subtitles" srclang="{lang}" label="{lang}" src="{name}">'
                    for lang, name in tracks)
    return (f'<html><body><video controls src="/clip.mp4">{items}</video></body></html>'
            ).encode()


@pytest.mark.slow
def test_ytdlp_client_sees_tracks_and_their_collision(tiny_media: Path,
                                                      cert_factory: object) -> None:
    certs: CertSet = cert_factory("valid")  # type: ignore[operator]
    vtt = GOOD_VTT.encode()
    resources = {
        "/distinct.html": Resource(_page([("zh-Hans", "/zh.vtt"), ("zh-Hans-x-en", "/bi.vtt")]),
                                   "text/html"),
        "/collide.html": Resource(_page([("zh-Hans", "/zh.vtt"), ("zh-Hans", "/bi.vtt")]),
                                  "text/html"),
        "/zh.vtt": Resource(vtt, "text/vtt"), "/bi.vtt": Resource(vtt, "text/vtt"),
        "/clip.mp4": Resource(tiny_media, "video/mp4"),
    }
    with MediaServer(resources, certs) as server:
        distinct = ytdlp_client(server.url("/distinct.html"), "-J", ca=certs.ca)
        assert distinct.returncode == 0, distinct.stderr
        assert sorted(distinct.json()["subtitles"]) == ["zh-Hans", "zh-Hans-x-en"]
        collide = ytdlp_client(server.url("/collide.html"), "-J", ca=certs.ca)
        assert sorted(collide.json()["subtitles"]) == ["zh-Hans"]
        untrusted = ytdlp_client(server.url("/distinct.html"), "-J")
        assert untrusted.returncode != 0
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
