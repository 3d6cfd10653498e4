"""Muxing and the post-mux checks, verified with ffprobe AND independent readers.

ffprobe/ffmpeg checks are `archiver.package.probe.check`, the master's MKVToolNix read-back is
`archiver.package.master.readback`; the independent readers are MKVToolNix (`mkvmerge -J`,
`mkvextract`) and MediaConch for the MKV, and `mediainfo` plus a small MP4 box reader written
here for the MP4 (neither mkvmerge nor mediainfo returns tx3g cue text).
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
from clients import mediaconch_matroska, mkv_extract_tracks
from test_package_helpers import CHAPTERS, VTT_BI, VTT_EN, VTT_ZH

from archiver.errors import MuxError
from archiver.model import TRACKS, Bilingual, Chapter, Track
from archiver.package import chapters, master, mux, probe
from archiver.store import TEMP_MARK

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
    jobs: dict[str, Any] = {
        "mkv": master.MasterJob(tiny_media, 2, tracks, meta, attachment, work / "demo.mkv",
                                "zh", "demo-13", chapter_list),
        "mp4": mux.MuxJob("mp4", tiny_media, 2, tracks, meta, work / "demo.mp4")}
    commands = master.run(jobs["mkv"], work)
    mux.run(jobs["mp4"])
    return {"work": work, "tracks": tracks, "jobs": jobs, "attachment": attachment,
            "chapters": [c.label for c in chapter_list], "original": tiny_media,
            "master_commands": commands}


def priming_ms(media: Path) -> int:
    """How far the original's first audio packet lies before 0 (AAC priming kept by the MP4
    edit list), in ms: by that much Matroska, which has no edit list, shows the content later,
    and the master delays its cues and chapters to match (master.av_shift)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                          "packet=pts_time", "-of", "csv=p=0", str(media)],
                         capture_output=True, text=True, check=True).stdout
    times = [float(t.strip(",")) for t in out.split() if t.strip(",") not in ("", "N/A")]
    return round(-min(min(times), 0.0) * 1000) if times else 0


def _expected(muxed: dict[str, Any], kind: str) -> probe.Expected:
    return probe.Expected(kind, muxed["tracks"], muxed["chapters"], TAGS,  # type: ignore
                          muxed["attachment"] if kind == "mkv" else None)


def test_ffmpeg_python_compiles_the_intended_commands(muxed: dict[str, Any]) -> None:
    """The master's A/V part (ffmpeg: original + ffmetadata, nothing else) and the MP4
    (original + the .vtt files, never the master: ffmpeg 5.1 cannot read its subtitles)."""
    job = muxed["jobs"]["mkv"]
    av_cmd, merge, propedit = muxed["master_commands"]
    assert av_cmd[:6] == ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    assert av_cmd[6:10] == ["-thread_queue_size", "1024", "-i", str(job.original)]
    inputs = [av_cmd[i + 1] for i, a in enumerate(av_cmd) if a == "-i"]
    assert inputs == [str(job.original), str(job.metadata)]
    at = av_cmd.index(str(job.metadata))
    assert av_cmd[at - 3:at] == ["-f", "ffmetadata", "-i"]
    assert [av_cmd[i + 1] for i, a in enumerate(av_cmd) if a == "-map"] == ["0:V?", "0:a?",
                                                                            "1:s?"]
    output = av_cmd[len(av_cmd) - 1 - av_cmd[::-1].index("-map") + 2:]  # after the last -map
    pairs = dict(itertools.pairwise(output))
    assert pairs["-f"] == "matroska" and pairs["-c"] == "copy"
    assert pairs["-map_metadata"] == "1" and pairs["-map_chapters"] == "1"
    assert "-attach" not in av_cmd and not any(a.startswith("-metadata:s") for a in av_cmd)
    assert merge[0] == "mkvmerge" and merge[merge.index("--output") + 1] != str(job.output)
    delay = priming_ms(job.original)
    assert delay > 0, "the fixture's AAC-in-MP4 has priming: the case the delay exists for"
    assert merge[merge.index(str(job.tracks[0].path)) - 12:
                 merge.index(str(job.tracks[0].path))] == [
        "--language", "0:zh-Hans", "--track-name", "0:中文", "--default-track-flag", "0:yes",
        "--forced-display-flag", "0:no", "--sub-charset", "0:UTF-8", "--sync", f"0:{delay}"]
    at = merge.index("--chapters")
    assert merge[at - 2:at] == ["--chapter-sync", str(delay)]
    assert merge[:9][-4:] == ["--language", "0:zh", "--language", "1:zh"]
    assert "--no-date" in merge  # no muxing time in the segment info or statistics tags
    assert merge.count("--default-track-flag") == 3 and merge.count("0:yes") == 1
    assert propedit[0] == "mkvpropedit" and propedit[-6:] == [
        "--edit", "track:5", "--set", "language=mul", "--set", "language-ietf=zh-Hans-x-en"]
    mp4 = mux.command(muxed["jobs"]["mp4"], Path("/x/out.mp4"))
    assert [mp4[i + 1] for i, a in enumerate(mp4) if a == "-i"] == [
        str(job.original), *(str(t.path) for t in job.tracks), str(job.metadata)]
    pairs = dict(itertools.pairwise(mp4))
    assert (pairs["-c:s"], pairs["-c:v"], pairs["-c:a"]) == ("mov_text", "copy", "copy")
    assert pairs["-movflags"] == "+faststart+use_metadata_tags"
    assert pairs["-metadata:s:s:2"] == "language=mul"
    assert pairs["-metadata:s:3"] == "handler_name=English" and "-attach" not in mp4
    assert pairs["-disposition:s:0"] == "default" and pairs["-disposition:s:1"] == "0"


@pytest.mark.parametrize("kind", ["mkv", "mp4"])
def test_ffprobe_checks_pass_on_both_files(muxed: dict[str, Any], kind: str) -> None:
    report = probe.check(muxed["jobs"][kind].output, muxed["original"], _expected(muxed, kind),
                         muxed["work"])
    if kind == "mkv":
        master.readback(muxed["jobs"]["mkv"].output, muxed["tracks"], "zh", 2,
                        len(muxed["chapters"]), muxed["attachment"], muxed["work"], report)
        assert any(c[0] == "mkvextract" for c in report.commands)
        info = probe.ffprobe(muxed["jobs"]["mkv"].output)  # nothing says when it was muxed
        assert "creation_time" not in info["format"].get("tags", {})
        assert not any("_STATISTICS_WRITING_DATE_UTC" in (s.get("tags") or {})
                       for s in info["streams"])
        assert any(c[:2] == ["mkvmerge", "-J"] for c in report.commands)
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
    path = muxed["jobs"]["mkv"].output
    expected = probe.Expected("mkv", tracks, ["开场 / Opening"], {**TAGS, "speaker": "x"},
                              muxed["jobs"]["mp4"].output)
    report = probe.check(path, muxed["original"], expected, work)
    master.readback(path, tracks, "en", 2, 1, muxed["jobs"]["mp4"].output, work, report)
    problems = " | ".join(report.problems)
    assert "subtitle 0: (language, title, default, forced) is ('chi', '中文', 1, 0)" in problems
    assert "chapters" in problems and "'speaker'" in problems
    assert "video track 0: LanguageIETF 'zh', expected 'en'" in problems
    assert "subtitle track 2 (zh-Hans): (codec, LanguageIETF, language, name, default, " \
        "forced) is ('S_TEXT/WEBVTT', 'zh-Hans', 'chi', '中文', True, False)" in problems
    assert "0 subtitle tracks are flagged default" not in problems
    assert "mkvmerge sees 3 chapters, expected 1" in problems
    assert "attached provenance differs" in problems
    assert "mkv track zh-Hans cue 1: " in problems
    mp4_as_mkv = probe.check(muxed["jobs"]["mp4"].output, muxed["original"],
                             _expected(muxed, "mkv"), work)
    assert any("streams (av, subtitle, attachment, data)" in p for p in mp4_as_mkv.problems)
    master.readback(muxed["jobs"]["mp4"].output, muxed["tracks"], "zh", 2, 3,
                    muxed["attachment"], work, mp4_as_mkv)
    assert "mkvmerge does not read demo.mp4 as Matroska: it is QuickTime/MP4" in \
        mp4_as_mkv.problems


def _mkvmerge(path: Path) -> dict[str, Any]:
    out = subprocess.run(["mkvmerge", "-J", str(path)], capture_output=True, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def test_mkv_read_by_mkvtoolnix(muxed: dict[str, Any], tmp_path: Path) -> None:
    path = muxed["jobs"]["mkv"].output
    info = _mkvmerge(path)
    orig = probe.ffprobe(muxed["original"])
    tracks = info["tracks"]
    assert [t["type"] for t in tracks] == ["video", "audio"] + ["subtitles"] * 3
    assert [t["codec"] for t in tracks[:2]] == ["AVC/H.264/MPEG-4p10", "AAC"]
    assert [(t["properties"]["language"], t["properties"]["language_ietf"])
            for t in tracks[:2]] == [("chi", "zh"), ("chi", "zh")]  # the spoken language
    subs = [t["properties"] for t in tracks if t["type"] == "subtitles"]
    assert [(s["codec_id"], s["language_ietf"], s["language"], s["track_name"],
             s["default_track"], s["forced_track"]) for s in subs] == [
        ("S_TEXT/WEBVTT", "zh-Hans", "chi", "中文", True, False),
        ("S_TEXT/WEBVTT", "en", "eng", "English", False, False),
        ("S_TEXT/WEBVTT", "zh-Hans-x-en", "mul", "中文 + English", False, False)]
    assert sum(s["default_track"] for s in subs) == 1  # mkvmerge alone would flag all three
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
    # every track read back by mkvextract, as a Matroska user would: the .vtt once its BOM
    # is dropped (the header block, which it keeps, is the one we wrote), every cue delayed
    # by the A/V's priming shift and otherwise byte-equal: where the audio puts it
    texts = mkv_extract_tracks(path, [t["id"] for t in tracks if t["type"] == "subtitles"])
    assert texts.errors == [] and len(texts) == 3
    delay = priming_ms(muxed["jobs"]["mkv"].original) / 1000
    for text, track in zip(texts.values(), muxed["tracks"], strict=True):
        written = track.path.read_text("utf-8")
        assert text.startswith("\ufeffWEBVTT")
        assert text.removeprefix("\ufeff").split("\n\n")[0] == written.split("\n\n")[0]
        got, want = probe.parse_cues(text), probe.parse_cues(written)
        assert [(c.text, c.identifier, c.settings) for c in got] == \
            [(c.text, c.identifier, c.settings) for c in want]
        for g, w in zip(got, want, strict=True):
            assert abs(g.start - w.start - delay) < 0.0015 and abs(g.end - w.end - delay) < 0.0015


def test_master_passes_mediaconch_with_only_the_language_ietf_waiver(
        muxed: dict[str, Any]) -> None:
    """MediaConch's Matroska implementation checks (Debian's 23.03): everything passes but
    the LanguageIETF elements it predates (docs/package.md, the waiver)."""
    report = mediaconch_matroska(muxed["jobs"]["mkv"].output)
    assert report.checks_run > 0
    assert report.findings == [], report.findings
    waived = sorted((f.element, f.value) for f in report.waived)
    # video, audio and the three subtitle tracks; one per chapter (mkvmerge writes `und`)
    assert waived == [*[("ChapLanguageIETF", "und")] * 3, *sorted(
        ("LanguageIETF", tag) for tag in ("zh", "zh", "zh-Hans", "en", "zh-Hans-x-en"))]


def test_ffmpeg_cannot_map_all_of_the_master_but_reads_its_audio_and_video(
        muxed: dict[str, Any]) -> None:
    """Why every ffmpeg read of the master maps its streams explicitly (FIELD-NOTES)."""
    path = str(muxed["jobs"]["mkv"].output)
    everything = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0",
                                 "-f", "null", "-"], capture_output=True, text=True)
    assert everything.returncode != 0
    explicit = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:V",
                               "-map", "0:a?", "-f", "null", "-"], capture_output=True,
                              text=True)
    assert explicit.returncode == 0 and explicit.stderr == ""
    assert probe.streamhashes(muxed["jobs"]["mkv"].output) == \
        probe.streamhashes(muxed["original"])


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


def _differences(a: Any, b: Any) -> Any:
    """Only the keys of two descriptions that differ (a failure message one can read)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _differences(a.get(k), b.get(k)) for k in {*a, *b} if a.get(k) != b.get(k)}
    return (a, b)


def test_two_masters_of_the_same_inputs_describe_the_same_file(
        muxed: dict[str, Any], tmp_path: Path) -> None:
    """What the crash audit compares (ffprobe's description, chapter UIDs included): no
    muxing date, ChapterUIDs 1..n (mkvmerge alone would draw them at random), chapter times
    at the ffmetadata's milliseconds."""
    again = replace(muxed["jobs"]["mkv"], output=tmp_path / "again.mkv")
    killed = tmp_path / f".again{TEMP_MARK}av.mkv{TEMP_MARK}x1.mkv"  # a mux killed earlier
    killed.write_bytes(b"partial")
    master.run(again, tmp_path)

    def described(path: Path) -> dict[str, Any]:
        info = probe.ffprobe(path)
        info["format"].pop("filename")
        # the layout's byte count may differ by a few bytes between two muxes under load
        # (seen: 145144 vs 145146, so bit_rate too); what the file holds must not
        for layout in ("size", "bit_rate"):
            info["format"].pop(layout)
        return info

    first, second = described(muxed["jobs"]["mkv"].output), described(again.output)
    differing = {section: _differences(first.get(section), second.get(section))
                 for section in {*first, *second} if first.get(section) != second.get(section)}
    assert not differing, differing  # which part of the description differs, if one does
    assert [c["id"] for c in first["chapters"]] == [1, 2, 3]
    meta = muxed["jobs"]["mkv"].metadata.read_text("utf-8")
    starts = [int(v) for v in re.findall(r"^START=(\d+)$", meta, re.M)]
    ends = [int(v) for v in re.findall(r"^END=(\d+)$", meta, re.M)]
    delay = priming_ms(muxed["jobs"]["mkv"].original)  # chapters follow the A/V's shift
    assert [(round(float(c["start_time"]) * 1000), round(float(c["end_time"]) * 1000))
            for c in first["chapters"]] == [(a + delay, b + delay)
                                            for a, b in zip(starts, ends, strict=True)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.mkv"]  # nothing left over


def test_failed_mux_leaves_no_file_under_the_final_name(
        muxed: dict[str, Any], tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(muxed["original"].read_bytes()[:32] + b"\xff" * 4000)  # ftyp + junk
    target = tmp_path / "out.mkv"
    job = replace(muxed["jobs"]["mkv"], original=corrupt, output=target)
    with pytest.raises(MuxError) as caught:
        master.run(job, tmp_path)
    assert "ffmpeg failed to mux corrupt.mp4 (mkv)" in str(caught.value)
    assert "lesson 'demo-13'" in str(caught.value)
    assert list(tmp_path.iterdir()) == [corrupt]


def test_failed_mkvmerge_leaves_no_file_under_the_final_name(
        muxed: dict[str, Any], tmp_path: Path) -> None:
    """A subtitle file mkvmerge cannot read: its words, and no master, no temporary file."""
    bad = tmp_path / "bad.vtt"
    bad.write_bytes(b"\x00\x01 not a subtitle file")
    tracks = [Track(muxed["tracks"][0].spec, bad), *muxed["tracks"][1:]]
    job = replace(muxed["jobs"]["mkv"], tracks=tracks, output=tmp_path / "out.mkv")
    with pytest.raises(MuxError) as caught:
        master.run(job, tmp_path)
    assert caught.value.message.startswith("mkvmerge failed to make the master of tiny.mp4 "
                                           "(exit status 2): Error: The type of file")
    assert "bad.vtt" in str(caught.value) and "lesson 'demo-13'" in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.vtt"]


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


def test_chapter_xml_escapes_titles_and_keeps_the_ffmetadata_milliseconds() -> None:
    """mkvmerge's chapter XML: `<`, `&` survive as text, times at millisecond precision past
    an hour, UIDs 1..n (read back by mkvmerge itself in the master tests above)."""
    xml = master.chapters_xml([Chapter(0.0, 61.2346, Bilingual("A <b> & C", "甲")),
                               Chapter(3723.5, 3724.0, Bilingual("Late", ""))])
    assert "<ChapterString>甲 / A &lt;b&gt; &amp; C</ChapterString>" in xml
    assert "<ChapterTimeEnd>00:01:01.235000000</ChapterTimeEnd>" in xml
    assert "<ChapterTimeStart>01:02:03.500000000</ChapterTimeStart>" in xml
    assert re.findall(r"<ChapterUID>(\d+)</ChapterUID>", xml) == ["1", "2"]
