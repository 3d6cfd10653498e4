"""The package stage end to end: real ffmpeg, real bagit validation, versioning, catalog."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import bagit
import pytest
from test_package_helpers import VTT_EN, context, fake_fetch, fake_subtitles, lesson

from archiver.batch import run_stages
from archiver.errors import MuxError, PackageError
from archiver.package import stage
from archiver.pipeline import Context
from archiver.publish.reasons import public_reason
from archiver.store import TEMP_MARK

pytestmark = pytest.mark.slow  # real mkvmerge/ffmpeg muxes and BagIt builds per test


def _tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """path -> (size, mtime_ns, sha256) of every file under root."""
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns,
                                             hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def packaged(tmp_path: Path, tiny_media: Path) -> tuple[Path, Context]:
    item = lesson()
    ctx = context(tmp_path / "out", [item])
    fake_fetch(ctx.store, item, tiny_media)
    fake_subtitles(ctx.store, item)
    result = stage.run(item, ctx)
    assert result.status == "ok"
    return tmp_path / "out", ctx


def test_package_layout_bag_info_provenance_and_catalog(packaged: tuple[Path, Context]) -> None:
    out, _ = packaged
    bag_dir = out / "packages" / "demo-13"
    bag = bagit.Bag(str(bag_dir))
    bag.validate(processes=1)
    assert set(bag.algorithms) == {"sha256", "sha512"}
    payload = sorted(p.relative_to(bag_dir / "data").as_posix()
                     for p in (bag_dir / "data").rglob("*") if p.is_file())
    assert payload == sorted([
        "access/demo-13.mp4", "master/demo-13.mkv", "original/original.mp4",
        "capture/capture.json", "capture/capture.warc.gz", "capture/capture.wacz",
        "provenance.json", "videoobject.json", "subtitles/chapters.json", "subtitles/quality.json",
        "subtitles/transcript.json", "subtitles/demo-13.en.srt", "subtitles/demo-13.en.vtt",
        "subtitles/demo-13.zh-Hans-en.vtt", "subtitles/demo-13.zh-Hans.srt",
        "subtitles/demo-13.zh-Hans.vtt"])
    info = bag.info
    assert info["Source-Organization"] == "Beijing Party Member Education Network / 北京党员教育网"
    assert info["External-Identifier"] == ["demo-13", "https://127.0.0.1:8443/lesson/13"]
    assert "lesson 13" in info["External-Description"]
    assert info["Bagging-Date"] == info["Archived-At"][:10]
    assert info["Bag-Software-Agent"].startswith("lesson-archiver ")
    total = sum((bag_dir / "data" / p).stat().st_size for p in payload)
    assert info["Payload-Oxum"] == f"{total}.{len(payload)}"
    assert info["Internal-Sender-Identifier"] == "demo-13/v1"
    # provenance names every other payload file by its checksum
    prov = json.loads((bag_dir / "data" / "provenance.json").read_text("utf-8"))
    manifest = {k.removeprefix("data/"): v for k, v in bag.entries.items()
                if k.startswith("data/")}
    assert prov["files"] == {p: manifest[p]["sha256"] for p in payload if p != "provenance.json"}
    kinds = [n.get("eventType") for n in prov["@graph"] if n.get("@type") == "premis:Event"]
    for kind in ("capture", "message digest calculation", "format identification",
                 "normalization", "validation"):
        assert kind in kinds
    ids = [n["@id"] for n in prov["@graph"]]
    assert len(ids) == len(set(ids))  # one node per thing (JSON-LD would merge duplicates)
    assert prov["tls"]["outcome"] == "verified" and prov["source"]["description"]
    assert any(n.get("@type") == "prov:Activity" and n["schema:name"] == "mux"
               for n in prov["@graph"])
    # the master as MKVToolNix reads it: Matroska's WebVTT codec, BCP 47 tags, one default,
    # the series' spoken language (`zh`) on audio and video
    identity = json.loads(subprocess.run(["mkvmerge", "-J", str(bag_dir / "data/master/"
                                                                "demo-13.mkv")],
                                         capture_output=True, check=True).stdout)
    assert [(t["type"], t["properties"]["codec_id"], t["properties"]["language_ietf"],
             t["properties"]["language"], t["properties"]["default_track"])
            for t in identity["tracks"]][:2] == [("video", "V_MPEG4/ISO/AVC", "zh", "chi", True),
                                                 ("audio", "A_AAC", "zh", "chi", True)]
    assert [(t["properties"]["codec_id"], t["properties"]["language_ietf"],
             t["properties"]["language"], t["properties"]["default_track"])
            for t in identity["tracks"][2:]] == [
        ("S_TEXT/WEBVTT", "zh-Hans", "chi", True), ("S_TEXT/WEBVTT", "en", "eng", False),
        ("S_TEXT/WEBVTT", "zh-Hans-x-en", "mul", False)]
    assert not list((out / "lessons/demo-13/package").glob(f"*{TEMP_MARK}*"))  # A/V, chapters
    state = json.loads((out / "lessons/demo-13/state/package.json").read_text("utf-8"))
    for tool in ("mkvmerge", "mkvextract", "mkvpropedit"):  # "74.0.0": `<tool> --version`
        assert state["tool_versions"][tool].replace(".", "").isdigit(), state["tool_versions"]
    programs = [Path(c[0]).name for c in state["commands"]]
    at = programs.index("mkvmerge")  # the master (A/V part, subtitles, languages), then access
    assert programs[at - 1:at + 3] == ["ffmpeg", "mkvmerge", "mkvpropedit", "ffmpeg"], programs
    # the attached record inside the MKV is the one the package provenance names
    attached = out / "attached.json"
    subprocess.run(["mkvextract", str(bag_dir / "data/master/demo-13.mkv"), "attachments",
                    f"1:{attached}"], check=True, capture_output=True)
    assert hashlib.sha256(attached.read_bytes()).hexdigest() == \
        prov["attachedProvenance"]["sha256"]
    events = [json.loads(line) for line in
              (bag_dir / "premis-events.jsonl").read_text("utf-8").splitlines()]
    assert [e["eventType"] for e in events][-2:] == ["creation", "validation"]
    assert "premis-events.jsonl" in bag.entries  # covered by the tag manifests
    video = json.loads((bag_dir / "data" / "videoobject.json").read_text("utf-8"))
    assert video["@type"] == "VideoObject" and video["duration"] == "PT3S"
    assert video["uploadDate"] == "2025-04-11" and len(video["caption"]) == 3
    assert [c["inLanguage"] for c in video["caption"]] == ["zh-Hans", "en", "zh-Hans-x-en"]
    assert video["subtitleLanguage"] == ["en", "zh-Hans"]
    assert {"@value": "加强数字中国整体谋划统筹推进", "@language": "zh-Hans"} in video["name"]
    catalog = json.loads((out / "catalog.json").read_text("utf-8"))
    assert catalog["schema"] == "lesson-archiver/catalog/1"
    entry = catalog["lessons"][0]
    assert entry["status"] == "archived" and entry["package"] == "packages/demo-13"
    files = entry["files"]
    for item in [files[k] for k in ("original", "master", "access", "provenance",
                                    "videoobject", "capture", "transcript", "chapters")] + \
            list(files["tracks"].values()):
        assert hashlib.sha256((out / item["path"]).read_bytes()).hexdigest() == item["sha256"]
    assert set(files["tracks"]) == {"zh-Hans", "en", "zh-Hans-en"}
    assert entry["source"]["tls"]["outcome"] == "verified"


def test_flipping_a_byte_in_any_payload_file_fails_validation(
        packaged: tuple[Path, Context]) -> None:
    out, _ = packaged
    bag_dir = out / "packages" / "demo-13"
    files = [p for p in (bag_dir / "data").rglob("*") if p.is_file()]
    assert len(files) == 16
    for path in files:
        data = bytearray(path.read_bytes())
        original = bytes(data)
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(bagit.BagValidationError) as caught:
            bagit.Bag(str(bag_dir)).validate(processes=1)
        assert any(isinstance(d, bagit.ChecksumMismatch) for d in caught.value.details), path
        path.write_bytes(original)
    bagit.Bag(str(bag_dir)).validate(processes=1)


def test_unchanged_rerun_changes_nothing(packaged: tuple[Path, Context]) -> None:
    out, ctx = packaged
    before = _tree(out)
    again = stage.run(lesson(), ctx)
    assert again.status == "unchanged"
    assert _tree(out) == before


def test_changed_transcript_makes_new_version_and_keeps_the_old(
        packaged: tuple[Path, Context]) -> None:
    out, ctx = packaged
    old_master = (out / "packages/demo-13/data/master/demo-13.mkv").read_bytes()
    fake_subtitles(ctx.store, lesson(), en=VTT_EN.replace("Second, global", "Second: overall"))
    result = stage.run(lesson(), ctx)
    assert result.details is not None
    assert result.status == "ok" and result.details.version == 2
    old = out / "packages/.versions/demo-13/v1"
    bagit.Bag(str(old)).validate(processes=1)
    bagit.Bag(str(out / "packages/demo-13")).validate(processes=1)
    assert (old / "data/master/demo-13.mkv").read_bytes() == old_master
    assert "overall" in (out / "packages/demo-13/data/subtitles/demo-13.en.vtt").read_text()
    assert "overall" not in (old / "data/subtitles/demo-13.en.vtt").read_text()
    prov = json.loads((out / "packages/demo-13/data/provenance.json").read_text("utf-8"))
    assert prov["supersedes"] == "demo-13/v1"
    entry = json.loads((out / "catalog.json").read_text("utf-8"))["lessons"][0]
    assert entry["version"] == 2
    assert entry["previous_versions"] == ["packages/.versions/demo-13/v1"]


def test_failed_mux_leaves_no_final_file_and_previous_package_intact(
        packaged: tuple[Path, Context], tmp_path: Path) -> None:
    out, ctx = packaged
    before = _tree(out / "packages")
    saved = tmp_path / "saved-fetch"
    shutil.copytree(out / "lessons/demo-13/fetch", saved / "fetch")
    shutil.copy2(out / "lessons/demo-13/state/fetch.json", saved / "fetch.json")
    corrupt = tmp_path / "corrupt.mp4"
    good = (out / "lessons/demo-13/fetch/original.mp4").read_bytes()
    corrupt.write_bytes(good[:200] + b"\x00" * 5000)  # moov-less garbage: ffprobe/ffmpeg fail
    fake_fetch(ctx.store, lesson(), corrupt)
    with pytest.raises(MuxError) as caught:
        stage.run(lesson(), ctx)
    # what ffprobe finds in the truncated MP4: only a data stream
    assert "the original original.mp4 has no video or audio stream; ffprobe finds data " \
        in str(caught.value) and "lesson 'demo-13'" in str(caught.value)
    assert _tree(out / "packages") == before
    leftovers = [p for p in out.rglob("*") if TEMP_MARK in p.name]
    assert leftovers == []
    entry = json.loads((out / "catalog.json").read_text("utf-8"))["lessons"][0]
    assert entry["status"] == "failed" and entry["package"] == "packages/demo-13"
    recorded = ctx.store.load_result("demo-13", "package")
    assert recorded is not None and recorded.status == "failed"
    # the same inputs as the intact package again: no new version, nothing rebuilt
    shutil.rmtree(out / "lessons/demo-13/fetch")
    shutil.copytree(saved / "fetch", out / "lessons/demo-13/fetch")
    shutil.copy2(saved / "fetch.json", out / "lessons/demo-13/state/fetch.json")
    again = stage.run(lesson(), ctx)
    assert again.details is not None
    assert again.status == "unchanged" and again.details.version == 1
    assert _tree(out / "packages") == before
    entry = json.loads((out / "catalog.json").read_text("utf-8"))["lessons"][0]
    assert entry["status"] == "archived"


def test_unreadable_original_quotes_ffprobe_and_keeps_the_old_package(
        packaged: tuple[Path, Context], tmp_path: Path) -> None:
    """Bytes ffmpeg cannot read: the error names the lesson and the file and quotes ffprobe,
    in the state record and the log; its public form is one line without local paths; the
    package archived before is untouched."""
    out, ctx = packaged
    before = _tree(out / "packages")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(bytes(range(256)) * 40)
    fake_fetch(ctx.store, lesson(), garbage)
    with pytest.raises(MuxError) as caught:
        stage.run(lesson(), ctx)
    message = str(caught.value)
    assert "lesson 'demo-13'" in message
    assert "ffmpeg cannot read the original original.mp4; ffprobe said: " in message
    assert "Invalid data found when processing input" in message
    recorded = ctx.store.load_result("demo-13", "package")
    assert recorded is not None and recorded.status == "failed" and recorded.error == message
    stream = ctx.log.stream
    assert isinstance(stream, io.StringIO)
    logged = stream.getvalue()
    assert "ffprobe said: " in logged and "Invalid data found" in logged
    public = public_reason(recorded.error, "MuxError")
    assert public is not None and "\n" not in public
    assert public.startswith("MuxError: ffmpeg cannot read the original original.mp4; ffprobe ")
    assert str(out) not in public and str(tmp_path) not in public
    assert _tree(out / "packages") == before
    assert [p for p in out.rglob("*") if TEMP_MARK in p.name] == []


def test_post_mux_mismatch_fails_the_lesson_and_keeps_the_old_package(
        packaged: tuple[Path, Context]) -> None:
    """A cue ending before it starts cannot survive muxing as written (ffmpeg rewrites its end):
    the check catches it, the lesson fails, nothing is published, the old package stays."""
    out, ctx = packaged
    before = _tree(out / "packages")
    backwards = VTT_EN.replace("00:00:01.000 --> 00:00:01.800", "00:00:01.000 --> 00:00:00.950")
    fake_subtitles(ctx.store, lesson(), en=backwards)
    with pytest.raises(MuxError) as caught:
        stage.run(lesson(), ctx)
    message = str(caught.value)
    assert "demo-13.mkv is not what was intended" in message
    assert "mkv track en cue 2" in message and "lesson 'demo-13'" in message
    assert _tree(out / "packages") == before
    assert [p for p in out.rglob("*") if TEMP_MARK in p.name] == []
    assert not list((out / "lessons/demo-13/package").glob("*.mkv"))


def test_malformed_chapters_are_a_clear_error(tmp_path: Path, tiny_media: Path) -> None:
    """A chapter ending before it starts is refused with the file and the entry named."""
    item = lesson()
    ctx = context(tmp_path / "out", [item])
    fake_fetch(ctx.store, item, tiny_media)
    fake_subtitles(ctx.store, item, chapters=[{"start": 2, "end": 1, "title": {"en": "x"}}])
    with pytest.raises(PackageError) as caught:
        stage.run(item, ctx)
    assert "chapters.json" in str(caught.value) and "[0]" in str(caught.value)
    assert not (tmp_path / "out/packages/demo-13").exists()


def test_lesson_without_subtitles_is_packaged_without_tracks(
        tmp_path: Path, tiny_media: Path) -> None:
    item = lesson()
    ctx = context(tmp_path / "out", [item])
    fake_fetch(ctx.store, item, tiny_media)
    result = stage.run(item, ctx)
    assert result.details is not None
    assert result.status == "ok" and result.details.tracks == []
    master = tmp_path / "out/packages/demo-13/data/master/demo-13.mkv"
    info = json.loads(subprocess.run(["mkvmerge", "-J", str(master)], capture_output=True,
                                     check=True).stdout)
    assert [t["type"] for t in info["tracks"]] == ["video", "audio"]
    assert info["attachments"][0]["content_type"] == "application/json"
    entry = json.loads((tmp_path / "out/catalog.json").read_text("utf-8"))["lessons"][0]
    assert entry["status"] == "archived" and entry["files"]["tracks"] == {}


def test_lessons_without_media_are_skipped_with_catalog_status(tmp_path: Path) -> None:
    no_source, not_fetched = lesson("demo-01", sources=False), lesson("demo-02")
    ctx = context(tmp_path / "out", [no_source, not_fetched])
    assert stage.run(no_source, ctx).status == "skipped"
    assert stage.run(not_fetched, ctx).status == "skipped"
    entries = json.loads((tmp_path / "out/catalog.json").read_text("utf-8"))["lessons"]
    assert [(e["id"], e["status"], e["package"]) for e in entries] == [
        ("demo-01", "no-source", None), ("demo-02", "not-fetched", None)]


def test_concurrent_lessons_all_reach_the_catalog(tmp_path: Path, tiny_media: Path) -> None:
    items = [lesson(f"demo-{n:02d}") for n in range(1, 4)]
    ctx = context(tmp_path / "out", items)
    ctx.jobs = 3
    for item in items:
        fake_fetch(ctx.store, item, tiny_media)
        fake_subtitles(ctx.store, item)
    outcomes = run_stages(items, ["package"], ctx)
    assert [r[0].status for r in outcomes.values()] == ["ok", "ok", "ok"], outcomes
    entries = json.loads((tmp_path / "out/catalog.json").read_text("utf-8"))["lessons"]
    assert [e["status"] for e in entries] == ["archived"] * 3
    for item in items:
        bagit.Bag(str(tmp_path / "out/packages" / item.id)).validate(processes=1)
    assert not list(Path.cwd().glob("data"))  # no bagit chdir leaked into this process
    shutil.rmtree(tmp_path / "out")


def test_mpegts_original_is_packaged_and_checked_by_decoded_frames(
        tmp_path: Path, tiny_media: Path) -> None:
    """An HLS original (.ts) cannot keep its packet framing in MKV/MP4; the check then compares
    decoded frames, and the timeline (TS starts at ~1.4 s) is compared from each file's start."""
    ts = tmp_path / "media.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(tiny_media), "-c", "copy",
                    "-f", "mpegts", str(ts)], check=True)
    item = lesson()
    ctx = context(tmp_path / "out", [item])
    fake_fetch(ctx.store, item, ts)
    fake_subtitles(ctx.store, item)
    result = stage.run(item, ctx)
    assert result.status == "ok"
    assert any("streamhash" in c and "-c" not in c for c in result.commands)  # decoded compare
    bagit.Bag(str(tmp_path / "out/packages/demo-13")).validate(processes=1)
    assert (tmp_path / "out/packages/demo-13/data/original/original.ts").is_file()


def test_fetch_record_naming_a_missing_file_is_a_clear_error(
        tmp_path: Path, tiny_media: Path) -> None:
    item = lesson()
    ctx = context(tmp_path / "out", [item])
    fake_fetch(ctx.store, item, tiny_media)
    (tmp_path / "out/lessons/demo-13/fetch/original.mp4").unlink()
    with pytest.raises(PackageError) as caught:
        stage.run(item, ctx)
    message = str(caught.value)
    assert "state/fetch.json" in message and "key 'media'" in message
    assert "lesson 'demo-13'" in message and "original.mp4" in message
    assert not (tmp_path / "out/packages").exists()


def test_original_changed_since_fetch_is_refused(tmp_path: Path, tiny_media: Path) -> None:
    item = lesson()
    ctx = context(tmp_path / "out", [item])
    fake_fetch(ctx.store, item, tiny_media)
    fake_subtitles(ctx.store, item)
    original = tmp_path / "out/lessons/demo-13/fetch/original.mp4"
    data = bytearray(original.read_bytes())
    data[-10] ^= 0xFF  # same size, different bytes (still a playable file)
    original.write_bytes(bytes(data))
    with pytest.raises(PackageError) as caught:
        stage.run(item, ctx)
    assert "changed since it was fetched" in str(caught.value)
    assert not (tmp_path / "out/packages/demo-13").exists()
    assert [p for p in (tmp_path / "out").rglob("*") if TEMP_MARK in p.name] == []
