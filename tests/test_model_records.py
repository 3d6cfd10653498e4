"""Typed records: every details record round-trips through JSON, records written by an older
archiver (main at 19644b1, captured in tests/records_data/) still read with every documented
field, an old archive gives the same catalog, and malformed records are refused with the file,
the lesson and the key named.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from archiver.errors import PackageError, RecordError
from archiver.manifest import load_manifest
from archiver.model import (
    DETAILS,
    Bilingual,
    Chapter,
    Details,
    FetchDetails,
    FileEntry,
    Output,
    PackageDetails,
    PackageFiles,
    PackageSkip,
    PackageSource,
    Paragraph,
    PublishDetails,
    ResolutionRecord,
    SourceRecord,
    StageResult,
    Status,
    SubtitlesDetails,
    TlsSummary,
    TransferRecord,
    chapters_json,
    json_bytes,
    read_chapters_json,
    read_transcript_json,
    transcript_json,
)
from archiver.model.jsonio import dump
from archiver.package import catalog
from archiver.store import Store

OLD = Path(__file__).parent / "records_data" / "main-19644b1"
LESSON = "short-13"
ENTRY = FileEntry("packages/l1/data/x", 3, "c" * 64)

SAMPLES: list[Details] = [
    FetchDetails(
        media="fetch/original.mp4", bytes=12, sha256="a" * 64, sha512="b" * 128,
        source=SourceRecord(url="https://x.test/l1", kind="mirror", tls="pin:sha256:" + "d" * 64,
                            description="a mirror", legacy_renegotiation=True,
                            tls_hosts={"cdn.x.test": "verify"},
                            resolve=["x.test:443:127.0.0.1"]),
        media_url="https://x.test/m.mp4", content_type="video/mp4", page_url="https://x.test/p",
        source_index=1, capture="fetch/capture.json", warc="fetch/capture.warc.gz",
        warc_media="fetch/capture-media.warc",
        tls={"outcome": "pinned", "problems": ["expired"], "verified": False},
        attempts=[{"source": "https://y.test", "outcome": "failed", "error": "FetchError"}],
        resolution=ResolutionRecord(kind="page", media_url="https://x.test/m.mp4",
                                    page_url="https://x.test/p",
                                    tracks={"zh-Hans": ["https://x.test/zh.vtt"]},
                                    poster="https://x.test/p.jpg", extractor="Generic",
                                    audio="separate", chain=["https://x.test/p"]),
        transfer=TransferRecord(attempts=2, resumed_from=5, rehashed_bytes=5, restarts=1),
        audio="separate",
        components=[{"role": "video", "url": "https://x.test/v.m3u8", "bytes": 1},
                    {"role": "audio", "url": "https://x.test/a.m3u8", "bytes": 1}],
        derivative={"path": "fetch/merged.mp4", "command": ["ffmpeg", "-c", "copy"]}),
    SubtitlesDetails(
        tracks={"zh-Hans": "subtitles/l1.zh-Hans.vtt"}, transcript_json="subtitles/t.json",
        chapters="subtitles/c.json", quality="subtitles/q.json",
        srt={"zh-Hans": "subtitles/l1.zh-Hans.srt"}, source_transcript="/m/l1.txt",
        transcript_sha256="e" * 64, transcript_format="seed", media="fetch/original.mp4",
        timing="audio-snapped", timing_reason="why", pause_method="levels",
        cues={"zh-Hans": 4}, violations={"zh-Hans": 1}, seconds=0.25),
    PackageDetails(
        package="packages/l1", version=2, archived_at="2026-01-01T00:00:00Z",
        master="packages/l1/data/master/l1.mkv", access="packages/l1/data/access/l1.mp4",
        provenance="packages/l1/data/provenance.json",
        videoobject="packages/l1/data/videoobject.json",
        premis_events="packages/l1/premis-events.jsonl", duration=3.5, chapters=2,
        tracks=["zh-Hans", "en"], previous_version="packages/.versions/l1/v1",
        catalog="elsewhere.json", adopted="adopted after a crash", fingerprint="f" * 64,
        duration_seconds=3.5, previous_versions=["packages/.versions/l1/v1"],
        files=PackageFiles(original=ENTRY, master=ENTRY, access=ENTRY, provenance=ENTRY,
                           videoobject=ENTRY, capture=ENTRY, wacz=ENTRY, capture_record=ENTRY,
                           transcript=ENTRY, chapters=ENTRY, quality=ENTRY,
                           tracks={"en": ENTRY}),
        source=PackageSource(url="https://x.test/l1", kind="mirror", captured="2026-01-01",
                             tls=TlsSummary(outcome="pinned", problems=["expired"],
                                            sha256_fingerprint="d" * 64))),
    PackageSkip(catalog_status="no-source"),
    PublishDetails(lessons=3, site="elsewhere/", base_url="https://media.example/"),
]


def _not_default(record: Any) -> list[str]:
    """Fields of a record (recursively) still at their default: the sample misses them."""
    missing = []
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        default = field.default if field.default is not dataclasses.MISSING else (
            field.default_factory() if field.default_factory is not dataclasses.MISSING
            else dataclasses.MISSING)
        if value == default:
            missing.append(field.name)
        if dataclasses.is_dataclass(value):
            missing += [f"{field.name}.{name}" for name in _not_default(value)]
    return missing


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: type(s).__name__)
def test_every_details_record_round_trips_through_json(sample: Details) -> None:
    assert _not_default(sample) == []  # every field is exercised (a new field must be too)
    text = json.dumps(sample.to_json(), ensure_ascii=False)
    data = json.loads(text)
    assert data["schema"] == f"lesson-archiver/{sample.STAGE}-details/1"
    assert type(sample).from_json(data) == sample
    status: Status = "skipped" if isinstance(sample, PackageSkip) else "ok"
    result: StageResult[Details] = StageResult(
        stage=sample.STAGE, lesson="l1", status=status, fingerprint="9" * 64,
        outputs=[Output("fetch/x", 1, "0" * 64)], commands=[["ffmpeg", "-i", "x"]],
        tool_versions={"ffmpeg": "5.1"}, started="s", ended="e", warnings=["w"],
        error="boom", error_class="FetchError", details=sample)
    assert StageResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def _old_records() -> list[Path]:
    return sorted(OLD.glob("archive-*/lessons/*/state/*.json")) + \
        sorted(OLD.glob("archive-*/reports/*.json"))


@pytest.mark.parametrize("path", _old_records(), ids=lambda p: str(p.relative_to(OLD)))
def test_records_written_by_main_read_typed_with_every_field(path: Path) -> None:
    raw = json.loads(path.read_text("utf-8"))
    assert "schema" not in raw["details"]  # written before records carried one: version 1
    result = StageResult.from_json(raw)
    if raw["details"]:
        assert isinstance(result.details, DETAILS[raw["stage"]])
        for key, value in raw["details"].items():  # every documented field, with its value
            assert dump(getattr(result.details, key)) == value, key
    else:
        assert raw["status"] == "failed" and result.details is None
    written = result.to_json()
    assert {k: written[k] for k in raw if k != "details"} == \
        {k: v for k, v in raw.items() if k != "details"}
    assert {k: written["details"][k] for k in raw["details"]} == raw["details"]
    assert written.get("error_class") is None  # not known for old failures


def _copy_archive(tmp_path: Path, name: str) -> tuple[Store, Path]:
    shutil.copytree(OLD / name, tmp_path / name)
    for extra in ("demo.toml", "short-13.txt"):
        shutil.copy(OLD / extra, tmp_path / extra)
    return Store(tmp_path / name), tmp_path / "demo.toml"


@pytest.mark.parametrize("name", ["archive-ok", "archive-failed"])
def test_an_old_archive_gives_the_same_catalog(tmp_path: Path, name: str) -> None:
    store, manifest_path = _copy_archive(tmp_path, name)
    manifest = load_manifest(manifest_path)
    before = store.catalog_path.read_bytes()
    assert catalog.rebuild(store, manifest) is False  # nothing differs: the file is kept
    assert store.catalog_path.read_bytes() == before
    store.catalog_path.unlink()
    assert catalog.rebuild(store, manifest) is True
    old, new = json.loads(before), json.loads(store.catalog_path.read_text("utf-8"))
    assert {k: v for k, v in new.items() if k != "generated"} == \
        {k: v for k, v in old.items() if k != "generated"}
    entry = new["lessons"][0]
    if name == "archive-failed":  # the failure, and the intact package it left, from current.json
        assert entry["status"] == "failed" and entry["package"] == f"packages/{LESSON}"
        assert "no video stream" in entry["error"] and entry["files"]["master"]["sha256"]
    else:
        assert entry["status"] == "archived" and entry["version"] == 1


def test_a_damaged_record_names_file_lesson_and_key(tmp_path: Path) -> None:
    store, _ = _copy_archive(tmp_path, "archive-ok")
    path = store.record_path(LESSON, "fetch")
    data = json.loads(path.read_text("utf-8"))
    data["details"]["source"]["url"] = 5
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(RecordError) as caught:
        store.load_details(LESSON, FetchDetails)
    message = str(caught.value)
    assert str(path) in message and f"lesson '{LESSON}'" in message
    assert "key 'details.source.url'" in message and "expected a string, got 5" in message
    assert store.load_result(LESSON, "fetch") is None  # for reuse: damaged = redo the stage
    del data["details"]["sha256"]
    data["details"]["source"]["url"] = "https://x.test"
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(RecordError, match=re.escape("key 'details.sha256': required but")):
        store.load_details(LESSON, FetchDetails)


@pytest.mark.parametrize(("change", "message"), [
    ({"bytes": True}, "key 'details.bytes': expected an integer, got True"),
    ({"bytes": "12"}, "key 'details.bytes': expected an integer, got '12'"),
    ({"attempts": {}}, "key 'details.attempts': expected a list"),
    ({"transfer": {"attempts": 1.5}}, "key 'details.transfer.attempts': expected an integer"),
    ({"schema": "lesson-archiver/fetch-details/9"}, "newer than this archiver reads"),
    ({"schema": "lesson-archiver/package-details/1"}, "unknown schema"),
])
def test_wrong_values_are_refused_with_their_key(change: dict[str, Any], message: str) -> None:
    data = {**SAMPLES[0].to_json(), **change}
    with pytest.raises(RecordError, match=re.escape(message)):
        FetchDetails.from_json(data)


def test_hand_off_files_round_trip_and_share_one_rule_set(tmp_path: Path) -> None:
    paragraphs = [Paragraph(0.0, "Hello.", "你好。", end=1.5), Paragraph(1.5, "Bye.", "再见。",
                                                                       end=2.25)]
    chapters = [Chapter(0.0, 1.5, Bilingual("Opening", "开场")),
                Chapter(1.5, 1.5, Bilingual("Empty", "空"))]
    (tmp_path / "t.json").write_bytes(json_bytes(transcript_json(paragraphs)))
    (tmp_path / "c.json").write_bytes(json_bytes(chapters_json(chapters)))
    assert read_transcript_json(tmp_path / "t.json") == paragraphs
    assert read_chapters_json(tmp_path / "c.json") == chapters
    bad = tmp_path / "bad.json"
    for text, key in [('[{"start": 2, "end": 1, "title": {}}]', "[0].end"),
                      ('[{"start": -1, "end": 1}]', "[0].start"),
                      ('[{"start": true, "end": 1}]', "[0].start"),
                      ('[{"start": 0, "end": 1, "title": {"en": 3}}]', "[0].title.en"),
                      ('[{"start": 0, "end": 1, "title": "x"}]', "[0].title"),
                      ('[{"start": 0}]', "[0].end"), ("[3]", "[0]")]:
        bad.write_text(text, "utf-8")
        with pytest.raises(PackageError) as caught:  # the caller's error class
            read_chapters_json(bad, "l1", PackageError)
        assert f"key '{key}'" in str(caught.value) and str(bad) in str(caught.value), text
    bad.write_text('[{"start": 0, "end": 1, "en": "a", "zh": 7}]', "utf-8")
    with pytest.raises(RecordError, match=r"key '\[0\].zh': expected a string"):
        read_transcript_json(bad, "l1")
    bad.write_text("[{", "utf-8")
    with pytest.raises(RecordError, match=r"bad.json:1: lesson 'l1': not valid JSON"):
        read_transcript_json(bad, "l1")
