"""`archiver verify` on real BagIt packages made by bagit-python around real ffmpeg media.

The packages are built here (not by the package stage) so these tests pin the fixity contract
alone: bagit-python writes the manifests, we damage the bag the way real archives rot, and
bagit-python judges the bag again after our event was appended.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import bagit
import pytest
from conftest import make_media

from archiver.cli import main

LESSON = "demo-01"


def build_bag(root: Path, media: Path, lesson: str = LESSON,
              master: Path | None = None) -> Path:
    """A package as DESIGN.md lays it out: master MKV (`master`, else a plain ffmpeg copy of
    `media`), access MP4, capture, event log."""
    root.mkdir(parents=True)
    for sub in ("original", "master", "access", "capture", "subtitles"):
        (root / sub).mkdir()
    shutil.copyfile(media, root / "original" / "original.mp4")
    shutil.copyfile(media, root / "access" / f"{lesson}.mp4")
    if master is not None:
        shutil.copyfile(master, root / "master" / f"{lesson}.mkv")
    else:
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(media), "-c",
                        "copy", str(root / "master" / f"{lesson}.mkv")], check=True)
    (root / "capture" / "capture.json").write_text(json.dumps({"lesson": lesson}), "utf-8")
    (root / "subtitles" / f"{lesson}.en.vtt").write_text(
        "WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n", "utf-8")
    bagit.make_bag(str(root), {"External-Identifier": lesson},
                   checksums=["sha256", "sha512"])
    creation = {"eventType": "creation", "eventDateTime": "2026-01-01T00:00:00Z",
                "eventOutcomeInformation": {"eventOutcome": "success"}}
    (root / "premis-events.jsonl").write_text(json.dumps(creation) + "\n", "utf-8")
    bagit.Bag(str(root)).save()  # tag manifests now cover premis-events.jsonl
    return root


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One archive folder with one valid package, built once; tests copy it."""
    base = tmp_path_factory.mktemp("pristine")
    media = make_media(base / "clip.mp4", seconds=2.0)
    out = base / "output"
    build_bag(out / "packages" / LESSON, media)
    bagit.Bag(str(out / "packages" / LESSON)).validate()
    return out


@pytest.fixture
def archive(pristine: Path, tmp_path: Path) -> Path:
    out = tmp_path / "output"
    shutil.copytree(pristine, out)
    return out


def verify(archive: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    report = archive.parent / "report.json"
    code = main(["verify", "--output", str(archive), "--jobs", "2", "--json", str(report),
                 *extra])
    return code, json.loads(report.read_text("utf-8"))


def events(bag: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (bag / "premis-events.jsonl").read_text().splitlines()]


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))


def test_clean_archive_passes_appends_event_and_stays_valid(archive: Path) -> None:
    bag = archive / "packages" / LESSON
    code, report = verify(archive)
    assert code == 0
    assert report["outcome"] == "ok"
    package = report["packages"][0]
    assert package["outcome"] == "ok" and package["path"] == f"packages/{LESSON}"
    assert package["algorithms"] == ["sha256", "sha512"]
    assert package["oxum"]["ok"] is True
    assert package["changed"] == [] and package["missing"] == [] and package["untracked"] == []
    assert package["event"]["recorded"] is True
    logged = events(bag)
    assert len(logged) == 2 and logged[0]["eventType"] == "creation"
    event = logged[1]
    assert event["eventType"] == "fixity check"
    assert event["eventOutcomeInformation"]["eventOutcome"] == "success"
    assert event["agent"]["name"] == "lesson-archiver" and event["agent"]["version"]
    assert event["eventIdentifier"]["eventIdentifierValue"] == package["event"]["identifier"]
    bagit.Bag(str(bag)).validate()  # raises if our append broke the package
    # a second run sees its own first event as part of the package, not as tampering
    code, report = verify(archive)
    assert code == 0 and len(events(bag)) == 3
    bagit.Bag(str(bag)).validate()


def test_flipped_byte_is_named_with_both_digests(archive: Path) -> None:
    target = archive / "packages" / LESSON / "data" / "access" / f"{LESSON}.mp4"
    flip_byte(target, 5000)
    code, report = verify(archive)
    assert code == 1
    package = report["packages"][0]
    assert package["outcome"] == "failed"
    changed = package["changed"]
    assert {c["path"] for c in changed} == {f"data/access/{LESSON}.mp4"}
    assert {c["algorithm"] for c in changed} == {"sha256", "sha512"}
    manifest = (archive / "packages" / LESSON / "manifest-sha256.txt").read_text()
    sha = next(c for c in changed if c["algorithm"] == "sha256")
    assert f"{sha['expected']}  data/access/{LESSON}.mp4" in manifest
    assert sha["actual"] != sha["expected"] and len(sha["actual"]) == 64
    assert package["oxum"]["ok"] is True  # same size: only the checksum can tell
    event = events(archive / "packages" / LESSON)[-1]
    assert event["eventOutcomeInformation"]["eventOutcome"] == "failure"
    assert event["eventOutcomeInformation"]["eventOutcomeDetail"]["changed"][0]["path"] == \
        f"data/access/{LESSON}.mp4"


def test_deleted_file_is_missing(archive: Path) -> None:
    (archive / "packages" / LESSON / "data" / "capture" / "capture.json").unlink()
    code, report = verify(archive)
    assert code == 1
    assert report["packages"][0]["missing"] == ["data/capture/capture.json"]
    assert report["packages"][0]["oxum"]["ok"] is False


def test_added_file_is_untracked(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (archive / "packages" / LESSON / "data" / "notes.txt").write_text("stray\n")
    code, report = verify(archive)
    assert code == 1
    assert report["packages"][0]["untracked"] == ["data/notes.txt"]
    assert f"UNTRACKED packages/{LESSON}/data/notes.txt" in capsys.readouterr().out


def test_truncated_master_is_changed_and_undecodable_with_deep(archive: Path) -> None:
    master = archive / "packages" / LESSON / "data" / "master" / f"{LESSON}.mkv"
    size = master.stat().st_size
    with open(master, "r+b") as handle:
        handle.truncate(size // 2)
    code, report = verify(archive, "--deep")
    assert code == 1
    package = report["packages"][0]
    assert f"data/master/{LESSON}.mkv" in {c["path"] for c in package["changed"]}
    deep = {d["path"]: d for d in package["deep"]}
    assert deep[f"data/master/{LESSON}.mkv"]["outcome"] == "undecodable"
    assert deep[f"data/master/{LESSON}.mkv"]["errors"] >= 1
    assert deep[f"data/access/{LESSON}.mp4"]["outcome"] == "ok"
    assert deep[f"data/access/{LESSON}.mp4"]["errors"] == 0


def test_clean_deep_check_decodes_both_copies(archive: Path) -> None:
    code, report = verify(archive, "--deep")
    assert code == 0
    deep = report["packages"][0]["deep"]
    assert [d["outcome"] for d in deep] == ["ok", "ok"]
    assert all(d["decoded_seconds"] >= 0.9 * d["declared_seconds"] for d in deep)


VTT = "WEBVTT\n\n1\n00:00.200 --> 00:01.000 line:80%\nHello &amp; 你好\n"


def _master_with_subtitles(media: Path, vtt: Path, target: Path, muxer: str) -> Path:
    """This release's master (mkvmerge: `S_TEXT/WEBVTT`, which ffmpeg 5.1 cannot decode) or an
    earlier release's (ffmpeg: `D_WEBVTT/SUBTITLES`), each with a WebVTT track."""
    if muxer == "mkvmerge":
        argv = ["mkvmerge", "-q", "-o", str(target), str(media), "--language", "0:zh-Hans",
                str(vtt)]
    else:
        argv = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(media), "-i", str(vtt),
                "-map", "0", "-map", "1", "-c", "copy", str(target)]
    subprocess.run(argv, check=True)
    return target


@pytest.mark.parametrize(("muxer", "codec_id"), [("mkvmerge", "S_TEXT/WEBVTT"),
                                                  ("ffmpeg", "D_WEBVTT/SUBTITLES")])
def test_deep_check_decodes_new_and_old_masters(tmp_path: Path, muxer: str,
                                                codec_id: str) -> None:
    """`--deep` maps only the master's audio and video: new masters (whose subtitle tracks
    make an unmapped ffmpeg run fail) and old ones both decode "ok", with no error line."""
    media = make_media(tmp_path / "clip.mp4", seconds=2.0)
    vtt = tmp_path / "t.vtt"
    vtt.write_text(VTT, "utf-8")
    master = _master_with_subtitles(media, vtt, tmp_path / "m.mkv", muxer)
    identity = json.loads(subprocess.run(["mkvmerge", "-J", str(master)], capture_output=True,
                                         check=True).stdout)
    assert [t["properties"]["codec_id"] for t in identity["tracks"]][-1] == codec_id
    everything = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(master),
                                 "-map", "0", "-f", "null", "-"], capture_output=True,
                                check=False)
    assert everything.returncode != 0  # why the map names audio and video only
    codecs = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "s", "-show_entries",
                             "stream=codec_name", "-of", "csv=p=0", str(master)],
                            capture_output=True, text=True, check=True).stdout.split()
    assert codecs == (["unknown"] if muxer == "mkvmerge" else ["webvtt"])
    out = tmp_path / "output"
    build_bag(out / "packages" / LESSON, media, master=master)
    code, report = verify(out, "--deep")
    assert code == 0
    deep = {d["path"]: d for d in report["packages"][0]["deep"]}
    checked = deep[f"data/master/{LESSON}.mkv"]
    assert (checked["outcome"], checked["errors"], checked["messages"]) == ("ok", 0, [])
    assert checked["decoded_seconds"] >= 0.9 * checked["declared_seconds"]
    assert checked["command"][-7:] == ["-map", "0:V?", "-map", "0:a?", "-f", "null", "-"]


def test_edited_tag_file_is_reported_and_stays_reported(archive: Path) -> None:
    bag = archive / "packages" / LESSON
    info = bag / "bag-info.txt"
    info.write_text(info.read_text() + "Contact-Name: someone else\n")
    code, report = verify(archive)
    assert code == 1
    changed = report["packages"][0]["changed"]
    assert {c["path"] for c in changed} == {"bag-info.txt"}
    # our event was appended, yet only its own line of the tag manifests was rewritten:
    code, report = verify(archive)
    assert code == 1
    assert {c["path"] for c in report["packages"][0]["changed"]} == {"bag-info.txt"}


def test_edited_event_log_is_reported_and_not_appended_to(archive: Path) -> None:
    bag = archive / "packages" / LESSON
    log = bag / "premis-events.jsonl"
    log.write_text(log.read_text().replace("success", "failure"))
    before = log.read_bytes()
    code, report = verify(archive)
    assert code == 1
    package = report["packages"][0]
    assert {c["path"] for c in package["changed"]} == {"premis-events.jsonl"}
    assert package["event"]["recorded"] is False
    assert log.read_bytes() == before


def test_interrupted_event_append_is_repaired_not_reported(archive: Path) -> None:
    bag = archive / "packages" / LESSON
    assert verify(archive)[0] == 0
    # simulate a run killed between writing the log and rewriting the tag manifests:
    tagmanifests = {p: p.read_bytes() for p in bag.glob("tagmanifest-*.txt")}
    assert verify(archive)[0] == 0
    for path, data in tagmanifests.items():
        path.write_bytes(data)
    code, report = verify(archive, "--no-event")  # recognised, even without writing
    assert code == 0 and "next run" in report["packages"][0]["notes"][0]
    code, report = verify(archive)
    assert code == 0
    assert "interrupted" in report["packages"][0]["notes"][0]
    bagit.Bag(str(bag)).validate()


def test_fast_checks_size_and_tags_not_checksums(archive: Path) -> None:
    bag = archive / "packages" / LESSON
    flip_byte(bag / "data" / "access" / f"{LESSON}.mp4", 100)
    code, report = verify(archive, "--fast")
    assert code == 0  # same size, no checksum read: by design a fast check cannot see this
    assert report["mode"] == "fast"
    assert report["summary"]["hashed_bytes"] < 20_000  # tag files only
    with open(bag / "data" / "original" / "original.mp4", "ab") as handle:
        handle.write(b"x")
    code, report = verify(archive, "--fast")
    assert code == 1
    assert report["packages"][0]["oxum"]["ok"] is False
    assert report["packages"][0]["changed"] == []


def test_json_report_schema(archive: Path) -> None:
    code, report = verify(archive)
    assert code == 0
    assert report["schema"] == "lesson-archiver/verify/1"
    assert set(report) >= {"schema", "tool", "command", "output", "mode", "deep", "jobs",
                           "started", "ended", "outcome", "summary", "packages"}
    assert set(report["summary"]) >= {"packages", "ok", "failed", "files", "bytes",
                                      "hashed_bytes", "seconds", "hash_seconds",
                                      "bytes_per_second"}
    package = report["packages"][0]
    assert set(package) >= {"path", "lesson", "outcome", "algorithms", "files", "bytes",
                            "oxum", "changed", "missing", "untracked", "errors", "notes",
                            "deep", "event"}
    assert package["lesson"] == LESSON
    assert package["files"] == 5
    assert package["deep"] is None
    assert report["summary"]["hashed_bytes"] > package["bytes"]  # payload + tag files


def test_reports_are_kept_with_timestamps_and_pruned(archive: Path) -> None:
    for _ in range(3):
        assert main(["verify", "--output", str(archive), "--keep", "2"]) == 0
    assert main(["verify", "--output", str(archive), "--fast", "--keep", "2"]) == 0
    reports = sorted(p.name for p in (archive / "reports").iterdir())
    assert len([r for r in reports if r.startswith("verify-full-")]) == 2
    assert len([r for r in reports if r.startswith("verify-fast-")]) == 1
    stored = json.loads((archive / "reports" / reports[-1]).read_text())
    assert stored["schema"] == "lesson-archiver/verify/1"


def test_older_versions_are_checked_too(archive: Path) -> None:
    shutil.copytree(archive / "packages" / LESSON, archive / "packages" / "old" / f"{LESSON}-v1")
    (archive / "packages" / "old" / f"{LESSON}-v1" / "data" / "master" / f"{LESSON}.mkv").unlink()
    code, report = verify(archive)
    assert code == 1
    outcomes = {p["path"]: p["outcome"] for p in report["packages"]}
    assert outcomes == {f"packages/{LESSON}": "ok", f"packages/old/{LESSON}-v1": "failed"}


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert main(["verify", "--output", str(tmp_path / "nowhere")]) == 2
    assert main(["verify", "--output", str(tmp_path), "--jobs", "0"]) == 2
    assert main(["verify", "--output", str(tmp_path), "--report-url", "ftp://x"]) == 2


def test_empty_archive_is_a_failure(tmp_path: Path) -> None:
    assert main(["verify", "--output", str(tmp_path), "--keep", "0"]) == 1


def test_no_event_leaves_the_package_untouched(archive: Path) -> None:
    bag = archive / "packages" / LESSON
    before = {p.name: p.read_bytes() for p in bag.iterdir() if p.is_file()}
    code, report = verify(archive, "--no-event", "--keep", "0")
    assert code == 0 and report["packages"][0]["event"] is None
    assert {p.name: p.read_bytes() for p in bag.iterdir() if p.is_file()} == before
    assert not (archive / "reports").exists()


def test_malformed_manifest_line_is_named_with_file_and_line(archive: Path) -> None:
    manifest = archive / "packages" / LESSON / "manifest-sha256.txt"
    lines = manifest.read_text().splitlines()
    lines[1] = "not-a-digest ../../etc/passwd"
    manifest.write_text("\n".join(lines) + "\n")
    code, report = verify(archive)
    assert code == 1
    errors = report["packages"][0]["errors"]
    assert any(e.startswith(f"packages/{LESSON}/manifest-sha256.txt:2: malformed or unsafe")
               for e in errors), errors


def test_json_to_stdout_keeps_the_table_on_stderr(
        archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--output", str(archive), "--json", "-", "--keep", "0"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["outcome"] == "ok"
    assert "packages/demo-01" in captured.err
