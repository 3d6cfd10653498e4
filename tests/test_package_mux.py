"""Muxing and the post-mux checks, verified with ffprobe AND independent readers.

ffprobe/ffmpeg checks are `archiver.package.probe.check`; the independent readers are
mkvtoolnix (`mkvmerge -J`, `mkvextract`, `mkvinfo` for the WebVTT blocks, which mkvextract
cannot extract) for the MKV and `mediainfo` plus a small MP4 box reader written here for the
MP4 (neither mkvmerge nor mediainfo returns tx3g cue text).
"""

from __future__ import annotations

import itertools
import json
import re
import struct
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_package_helpers import CHAPTERS, VTT_BI, VTT_EN, VTT_ZH

from archiver.errors import MuxError
from archiver.model import TRACKS, Bilingual, Chapter, Track
from archiver.package import chapters, mux, probe

pytestmark = pytest.mark.slow  # real muxes checked with mkvextract, mediainfo and mediaconch

TAGS = {"title": "加强数字中国整体谋划统筹推进", "title-eng": "Strengthen Global Planning",
        "title-chi": "加强数字中国整体谋划统筹推进", "date_released": "2025-04-11",
        "publisher": "北京党员教育网", "speaker": "北京国恒智林文化传播有限公司",
        "url": "https://127.0.0.1:8443/lesson/13", "archived_at": "2026-01-01T00:02:00Z",
        "original_sha256": "ab" * 32}


@pytest.fixture(scope="module")
def muxed(tmp_path_factory: pytest.TempPathFactory, tiny_media: Path) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("mux")
    tracks = []
    for spec, text in zip(TRACKS, (VTT_ZH, VTT_EN, VTT_BI), strict=True):
        path = work / f"demo.{spec.key}.vtt"
        path.write_text(text, "utf-8")
        tracks.append(Track(spec, path))
    chapter_list = chapters.clip_chapters(
        [Chapter(c["start"], c["end"], Bilingual(**c["title"]))  # type: ignore
         for c in CHAPTERS], 3.0)
    meta = work / "meta.ffmeta"
    meta.write_text(chapters.ffmetadata(TAGS, chapter_list), "utf-8")
    attachment = work / "provenance.json"
    attachment.write_text(json.dumps({"@context": {}, "名": "出处"}, ensure_ascii=False))
    jobs = {kind: mux.MuxJob(kind, tiny_media, 2, tracks, meta, work / f"demo.{kind}",
                             attachment=attachment if kind == "mkv" else None)
            for kind in ("mkv", "mp4")}
    for job in jobs.values():
        mux.run(job)
    return {"work": work, "tracks": tracks, "jobs": jobs, "attachment": attachment,
            "chapters": [c.label for c in chapter_list], "original": tiny_media}


def _expected(muxed: dict[str, Any], kind: str) -> probe.Expected:
    return probe.Expected(kind, muxed["tracks"], muxed["chapters"], TAGS,  # type: ignore
                          muxed["attachment"] if kind == "mkv" else None)


def test_ffmpeg_python_compiles_the_intended_mkv_command(muxed: dict[str, Any]) -> None:
    job = muxed["jobs"]["mkv"]
    argv = mux.command(job, Path("/x/out.mkv"))
    assert argv[:6] == ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    inputs = [argv[i + 1] for i, a in enumerate(argv) if a == "-i"]
    assert argv[6:10] == ["-thread_queue_size", "1024", "-i", str(job.original)]
    assert inputs == [str(job.original), *(str(t.path) for t in job.tracks), str(job.metadata)]
    at = argv.index(str(job.metadata))
    assert argv[at - 3:at] == ["-f", "ffmetadata", "-i"]
    assert argv[argv.index(str(job.tracks[0].path)) - 3:at - 3][:3] == ["-f", "webvtt", "-i"]
    maps = [argv[i + 1] for i, a in enumerate(argv) if a == "-map"]
    assert maps == ["0:V", "0:a?", "1:s", "2:s", "3:s", "4:s?"]
    output = argv[len(argv) - 1 - argv[::-1].index("-map") + 2:]  # after the last -map
    pairs = dict(itertools.pairwise(output))
    assert output[-1] == "/x/out.mkv" and pairs["-f"] == "matroska"
    assert pairs["-map_metadata"] == "4" and pairs["-map_chapters"] == "4"
    assert pairs["-c"] == "copy"
    assert pairs["-metadata:s:s:0"] == "language=chi" and pairs["-metadata:s:2"] == "title=中文"
    assert pairs["-metadata:s:s:2"] == "language=mul"
    assert pairs["-metadata:s:4"] == "title=中文 + English"
    assert pairs["-disposition:s:0"] == "default" and pairs["-disposition:s:1"] == "0"
    assert pairs["-attach"] == str(muxed["attachment"])
    assert pairs["-metadata:s:t"] == "mimetype=application/json"
    mp4 = mux.command(muxed["jobs"]["mp4"], Path("/x/out.mp4"))
    pairs = dict(itertools.pairwise(mp4))
    assert (pairs["-c:s"], pairs["-c:v"], pairs["-c:a"]) == ("mov_text", "copy", "copy")
    assert pairs["-movflags"] == "+faststart+use_metadata_tags"
    assert pairs["-metadata:s:3"] == "handler_name=English" and "-attach" not in mp4


@pytest.mark.parametrize("kind", ["mkv", "mp4"])
def test_ffprobe_checks_pass_on_both_files(muxed: dict[str, Any], kind: str) -> None:
    report = probe.check(muxed["jobs"][kind].output, muxed["original"], _expected(muxed, kind),
                         muxed["work"])
    assert report.problems == []
    assert any(c[0] == "ffprobe" for c in report.commands)


def test_checks_detect_each_kind_of_mismatch(muxed: dict[str, Any]) -> None:
    """Compare the real MKV with intentions it does not meet: every difference is reported."""
    work = muxed["work"]
    other = work / "other.vtt"
    other.write_text(VTT_ZH.replace("&lt;建设&gt;", "建设"), "utf-8")
    spec = TRACKS[0]
    wrong_spec = replace(spec, iso639_2="eng", label="Chinese", default=False)
    tracks = [Track(wrong_spec, other), *muxed["tracks"][1:]]
    expected = probe.Expected("mkv", tracks, ["开场 / Opening"], {**TAGS, "speaker": "x"},
                              muxed["jobs"]["mp4"].output)  # a different "attachment"
    problems = " | ".join(probe.check(muxed["jobs"]["mkv"].output, muxed["original"],
                                      expected, work).problems)
    assert "subtitle 0: (language, title, default, forced) is ('chi', '中文', 1, 0)" in problems
    assert "chapters" in problems and "'speaker'" in problems
    assert "attached provenance differs" in problems
    assert "track zh-Hans cue 1: text" in problems
    mp4_as_mkv = probe.check(muxed["jobs"]["mp4"].output, muxed["original"],
                             _expected(muxed, "mkv"), work).problems
    assert any("subtitle codecs" in p for p in mp4_as_mkv)
    assert any("streams (av, subtitle, attachment, data)" in p for p in mp4_as_mkv)


def _mkvmerge(path: Path) -> dict[str, Any]:
    out = subprocess.run(["mkvmerge", "-J", str(path)], capture_output=True, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def _mkvinfo_blocks(path: Path) -> dict[int, list[tuple[float, float, bytes]]]:
    """track number -> [(start, duration, frame bytes)] read by mkvinfo (not ffmpeg)."""
    out = subprocess.run(["mkvinfo", "-v", "-v", "-v", "--full-hexdump", str(path)],
                         capture_output=True, text=True, check=True).stdout
    blocks: dict[int, list[tuple[float, float, bytes]]] = {}
    current: list[Any] | None = None
    for line in out.splitlines():
        if m := re.search(r"Block: track number (\d+), 1 frame\(s\), timestamp ([\d:.]+)", line):
            current = [int(m.group(1)), probe.seconds(m.group(2)), b""]
        elif current and (m := re.search(r"Frame with size \d+ hexdump (.*) at \d+$", line)):
            current[2] = bytes.fromhex(m.group(1))
        elif current and (m := re.search(r"Block duration: ([\d:.]+)", line)):
            blocks.setdefault(current[0], []).append(
                (current[1], probe.seconds(m.group(1)), current[2]))
            current = None
    return blocks


def test_mkv_read_by_mkvtoolnix(muxed: dict[str, Any], tmp_path: Path) -> None:
    path = muxed["jobs"]["mkv"].output
    info = _mkvmerge(path)
    orig = probe.ffprobe(muxed["original"])
    tracks = info["tracks"]
    assert [t["type"] for t in tracks] == ["video", "audio"] + ["subtitles"] * 3
    assert [t["codec"] for t in tracks[:2]] == ["AVC/H.264/MPEG-4p10", "AAC"]
    subs = [t["properties"] for t in tracks if t["type"] == "subtitles"]
    assert [(s["codec_id"], s["language"], s["track_name"], s["default_track"],
             s["forced_track"]) for s in subs] == [
        ("D_WEBVTT/SUBTITLES", "chi", "中文", True, False),
        ("D_WEBVTT/SUBTITLES", "eng", "English", False, False),
        ("D_WEBVTT/SUBTITLES", "mul", "中文 + English", False, False)]
    duration = info["container"]["properties"]["duration"] / 1e9
    assert abs(duration - float(orig["format"]["duration"])) <= 0.04 + 0.03  # frame + priming
    assert info["chapters"] == [{"num_entries": 3}]
    simple = subprocess.run(["mkvextract", str(path), "chapters", "-s", "-"],
                            capture_output=True, text=True, check=True).stdout
    names = re.findall(r"CHAPTER\d+NAME=(.*)", simple)
    assert names == muxed["chapters"] == ["开场 / Opening", "一是 / First",
                                          "二是 / Second = #2; end"]
    tags = subprocess.run(["mkvextract", str(path), "tags", "-"], capture_output=True,
                          text=True, check=True).stdout
    for name, lang, value in [("TITLE", "eng", TAGS["title-eng"]),
                              ("TITLE", "chi", TAGS["title-chi"]),
                              ("DATE_RELEASED", None, "2025-04-11"),
                              ("PUBLISHER", None, TAGS["publisher"]),
                              ("SPEAKER", None, TAGS["speaker"]), ("URL", None, TAGS["url"]),
                              ("ARCHIVED_AT", None, TAGS["archived_at"]),
                              ("ORIGINAL_SHA256", None, TAGS["original_sha256"])]:
        lang_xml = f"\\s*<TagLanguage>{lang}</TagLanguage>" if lang else ""
        assert re.search(f"<Name>{name}</Name>{lang_xml}\\s*<String>{re.escape(value)}</String>",
                         tags), name
    assert info["container"]["properties"]["title"] == TAGS["title"]
    (att,) = info["attachments"]
    assert (att["content_type"], att["file_name"]) == ("application/json", "provenance.json")
    target = tmp_path / "att.json"
    subprocess.run(["mkvextract", str(path), "attachments", f"{att['id']}:{target}"],
                   check=True, capture_output=True)
    assert target.read_bytes() == muxed["attachment"].read_bytes()
    # cue text: WebM WebVTT blocks are "identifier\nsettings\npayload"
    blocks = _mkvinfo_blocks(path)
    for props, track in zip(subs, muxed["tracks"], strict=True):
        want = probe.parse_cues(track.path.read_text("utf-8"))
        got = blocks[props["number"]]
        assert len(got) == len(want)
        for (start, dur, data), cue in zip(got, want, strict=True):
            ident, settings, text = data.decode("utf-8").split("\n", 2)
            assert (ident, settings, text) == (cue.identifier, cue.settings, cue.text)
            assert abs(start - cue.start) <= 0.05 and abs(start + dur - cue.end) <= 0.05


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> dict[str, list[tuple[int, int]]]:
    """Child boxes (type -> [(payload start, payload end)]) of an ISO BMFF byte range."""
    end = len(data) if end is None else end
    found: dict[str, list[tuple[int, int]]] = {}
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[start + 8:start + 16])[0], 16
        found.setdefault(kind.decode("latin-1"), []).append((start + header, start + size))
        start += size
    return found


def _tx3g_samples(path: Path) -> dict[int, list[tuple[float, float, str]]]:
    """Text of every tx3g sample per track id, read straight from the boxes (not ffmpeg)."""
    data = path.read_bytes()
    (moov,) = _boxes(data)["moov"]
    tracks = {}
    for trak in _boxes(data, *moov)["trak"]:
        tkhd = _boxes(data, *trak)["tkhd"][0][0]
        track_id = struct.unpack(">I", data[tkhd + 12:tkhd + 16])[0]
        mdia = _boxes(data, *trak)["mdia"][0]
        mdhd = _boxes(data, *mdia)["mdhd"][0][0]
        timescale = struct.unpack(">I", data[mdhd + 12:mdhd + 16])[0]
        stbl = _boxes(data, *_boxes(data, *_boxes(data, *mdia)["minf"][0])["stbl"][0])
        stsd = stbl["stsd"][0][0]
        if data[stsd + 12:stsd + 16] != b"tx3g":
            continue
        sizes_at = stbl["stsz"][0][0]
        count = struct.unpack(">I", data[sizes_at + 8:sizes_at + 12])[0]
        sizes = struct.unpack(f">{count}I", data[sizes_at + 12:sizes_at + 12 + 4 * count])
        stco = stbl["stco"][0][0]
        chunks = struct.unpack(">I", data[stco + 4:stco + 8])[0]
        offsets = struct.unpack(f">{chunks}I", data[stco + 8:stco + 8 + 4 * chunks])
        stsc = stbl["stsc"][0][0]
        entries = [struct.unpack(">III", data[stsc + 8 + 12 * i:stsc + 20 + 12 * i])
                   for i in range(struct.unpack(">I", data[stsc + 4:stsc + 8])[0])]
        stts = stbl["stts"][0][0]
        deltas: list[int] = []
        for i in range(struct.unpack(">I", data[stts + 4:stts + 8])[0]):
            n, delta = struct.unpack(">II", data[stts + 8 + 8 * i:stts + 16 + 8 * i])
            deltas += [delta] * n
        positions, sample = [], 0
        for chunk in range(chunks):
            per = next(e[1] for e in reversed(entries) if e[0] <= chunk + 1)
            offset = offsets[chunk]
            for _ in range(per):
                positions.append(offset)
                offset += sizes[sample]
                sample += 1
        samples, clock = [], 0
        for pos, _size, delta in zip(positions, sizes, deltas, strict=True):
            length = struct.unpack(">H", data[pos:pos + 2])[0]
            text = data[pos + 2:pos + 2 + length].decode("utf-8")
            if text:  # empty samples fill the gaps between cues
                samples.append((clock / timescale, (clock + delta) / timescale, text))
            clock += delta
        tracks[track_id] = samples
    return tracks


def test_mp4_read_by_mediainfo_and_a_box_reader(muxed: dict[str, Any]) -> None:
    path = muxed["jobs"]["mp4"].output
    info = json.loads(subprocess.run(["mediainfo", "--Output=JSON", str(path)],
                                     capture_output=True, check=True).stdout)["media"]["track"]
    general = info[0]
    assert general["IsStreamable"] == "Yes"  # +faststart: moov before mdat
    assert general["extra"]["speaker"] == TAGS["speaker"]
    assert general["extra"]["date_released"] == "2025-04-11"
    assert general["extra"]["original_sha256"] == TAGS["original_sha256"]
    assert general["Title"] == TAGS["title"] if "Title" in general else \
        general["extra"]["title"] == TAGS["title"]
    orig = probe.ffprobe(muxed["original"])
    assert abs(float(general["Duration"]) - float(orig["format"]["duration"])) <= 0.04
    assert [t["@type"] for t in info] == ["General", "Video", "Audio", "Text", "Text", "Text",
                                          "Menu", "Menu"]  # the chapter track shows as a Menu
    assert [t["Format"] for t in info if t["@type"] in ("Video", "Audio")] == ["AVC", "AAC"]
    texts = [t for t in info if t["@type"] == "Text"]
    assert [(t["CodecID"], t["Language"], t["Title"], t["Default"]) for t in texts] == [
        ("tx3g", "zh", "中文", "Yes"), ("tx3g", "en", "English", "No"),
        ("tx3g", "mul", "中文 + English", "No")]
    menu = [t for t in info if t["@type"] == "Menu"][-1]["extra"]
    assert list(menu.values()) == muxed["chapters"]
    samples = _tx3g_samples(path)
    ids = sorted(int(t["ID"]) for t in texts)
    for track_id, track in zip(ids, muxed["tracks"], strict=True):
        want = probe.parse_cues(track.path.read_text("utf-8"))
        got = samples[track_id]
        assert [g[2] for g in got] == [probe.plain(w.text) for w in want]
        for (start, end, _), cue in zip(got, want, strict=True):
            assert abs(start - cue.start) <= 0.05 and abs(end - cue.end) <= 0.05


def test_failed_mux_leaves_no_file_under_the_final_name(
        muxed: dict[str, Any], tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(muxed["original"].read_bytes()[:32] + b"\xff" * 4000)  # ftyp + junk
    target = tmp_path / "out.mkv"
    job = mux.MuxJob("mkv", corrupt, 2, muxed["tracks"], muxed["jobs"]["mkv"].metadata, target,
                     attachment=muxed["attachment"], lesson="demo-13")
    with pytest.raises(MuxError) as caught:
        mux.run(job)
    assert "ffmpeg failed to mux corrupt.mp4 (mkv)" in str(caught.value)
    assert "lesson 'demo-13'" in str(caught.value)
    assert list(tmp_path.iterdir()) == [corrupt]


@pytest.mark.browser
def test_access_copy_plays_in_chromium(muxed: dict[str, Any], serve: Any) -> None:
    """The MP4 access copy decodes and advances in Debian's Chromium (served over HTTP)."""
    from playwright.sync_api import sync_playwright

    from archiver.demo.server import Resource
    from archiver.publish.check import launch

    page_html = b'<video id="v" muted src="/demo.mp4"></video>'
    server = serve({"/": Resource(page_html, content_type="text/html"),
                    "/demo.mp4": Resource(muxed["jobs"]["mp4"].output.read_bytes(),
                                          content_type="video/mp4")})
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page()
            page.goto(server.url("/"), timeout=30_000)
            page.evaluate("() => document.getElementById('v').play()")
            page.wait_for_function("() => document.getElementById('v').currentTime > 0.5",
                                   timeout=30_000)
            state = page.evaluate("""() => { const v = document.getElementById('v');
                return [v.videoWidth, v.videoHeight, v.error && v.error.code, v.duration]; }""")
        finally:
            browser.close()
    assert state[:3] == [160, 90, None] and abs(state[3] - 3.0) < 0.1
