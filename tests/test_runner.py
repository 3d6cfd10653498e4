"""The runner owns the bookkeeping: crashes leave failure records (status and the catalog show
them), reuse and --force, tool versions probed once per run, skips and site records.

The stages are the real ones on real media; a crash (a bug, which cannot be made to exist
otherwise) is simulated by making one function of a stage raise an unexpected exception.
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from test_package_helpers import context, fake_fetch, fake_subtitles, lesson

from archiver.batch import run_lesson, run_stages
from archiver.cli import main as cli_main
from archiver.log import EventLog
from archiver.model import Lesson
from archiver.package import stage as package_stage
from archiver.publish.command import publish_site
from archiver.subtitles import stage as subtitles_stage

pytestmark = pytest.mark.slow  # whole stage chains on real media

TRANSCRIPT = "00:00\nHello, and welcome.\n你好，欢迎。\n00:01\nGoodbye.\n再见。\n"
MANIFEST = """[series]
id = "demo-series"
title = { en = "Digital China Construction Series", zh = "数字中国建设系列" }
publisher = { en = "Beijing Party Member Education Network", zh = "北京党员教育网" }

[[lessons]]
id = "demo-13"
number = 13
title = { en = "Strengthen Global Planning", zh = "加强数字中国整体谋划统筹推进" }

[[lessons.sources]]
url = "https://127.0.0.1:8443/lesson/13"
"""


def _with_transcript(item: Lesson, folder: Path) -> Lesson:
    path = folder / f"{item.id}.txt"
    path.write_text(TRANSCRIPT, "utf-8")
    return dataclasses.replace(item, transcript=path)


def _json_events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_crash_is_recorded_and_status_and_catalog_show_it(
        tmp_path: Path, tiny_media: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    item = lesson()
    ctx = context(out, [item])
    fake_fetch(ctx.store, item, tiny_media)
    fake_subtitles(ctx.store, item)
    good = package_stage.run(item, ctx)
    assert good.status == "ok" and good.details is not None
    entry_before = json.loads((out / "catalog.json").read_text("utf-8"))["lessons"][0]

    def bug(*_args: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(package_stage, "_build", bug)
    ctx.force = True
    ctx.log = EventLog(json_lines=True, stream=(log := io.StringIO()), progress=False)
    (result,) = run_lesson(item, ["package"], ctx)  # the pipeline: recorded, not raised
    assert result.status == "failed" and result.error_class == "ZeroDivisionError"
    assert result.error == "internal error: ZeroDivisionError: division by zero"
    state = json.loads((out / "lessons/demo-13/state/package.json").read_text("utf-8"))
    assert (state["status"], state["error_class"]) == ("failed", "ZeroDivisionError")
    # the failure record keeps the intact package: the catalog keeps pointing at it
    assert state["details"]["version"] == 1 and state["details"]["files"]
    assert not (out / "lessons/demo-13/package/current.json").exists()  # one authority
    entry = json.loads((out / "catalog.json").read_text("utf-8"))["lessons"][0]
    assert entry["status"] == "failed" and "ZeroDivisionError" in entry["error"]
    assert {k: entry[k] for k in ("package", "version", "files", "source")} == \
        {k: entry_before[k] for k in ("package", "version", "files", "source")}
    events = _json_events(log)
    crashed = [e for e in events if e["level"] == "error"]
    assert [(e["event"], e["lesson"], e["stage"]) for e in crashed] == [
        ("crashed", "demo-13", "package")]
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST, "utf-8")
    capsys.readouterr()
    assert cli_main(["status", "--manifest", str(manifest), "--output", str(out)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("demo-13"))
    assert "failed" in row and "package: failed" in row and "ZeroDivisionError" in row
    # a direct caller gets the exception itself, after the record was saved
    with pytest.raises(ZeroDivisionError):
        package_stage.run(item, ctx)
    # the bug fixed, the same inputs as the intact package: recognised, no new version
    monkeypatch.undo()
    ctx.force = False
    again = package_stage.run(item, ctx)
    assert again.status == "unchanged" and again.details == good.details
    state = json.loads((out / "lessons/demo-13/state/package.json").read_text("utf-8"))
    assert state["status"] == "ok" and state["details"]["version"] == 1
    assert json.loads((out / "catalog.json").read_text("utf-8"))["lessons"][0]["status"] == \
        "archived"


def test_reuse_and_force(tmp_path: Path, tiny_media: Path) -> None:
    item = _with_transcript(lesson(), tmp_path)
    ctx = context(tmp_path / "out", [item])
    fake_fetch(ctx.store, item, tiny_media)
    first = subtitles_stage.run(item, ctx)
    record = ctx.store.record_path(item.id, "subtitles")
    folder = ctx.store.stage_dir(item.id, "subtitles")
    stamp = {p.name: p.stat().st_mtime_ns for p in [record, *folder.iterdir()]}
    again = subtitles_stage.run(item, ctx)
    assert again.status == "unchanged" and again.fingerprint == first.fingerprint
    assert again.details == first.details
    assert {p.name: p.stat().st_mtime_ns for p in [record, *folder.iterdir()]} == stamp
    ctx.force = True
    forced = subtitles_stage.run(item, ctx)
    assert forced.status == "ok" and forced.fingerprint == first.fingerprint
    assert record.stat().st_mtime_ns != stamp[record.name]
    # an output that changed size is not reused, even without --force
    ctx.force = False
    (folder / f"{item.id}.en.vtt").write_text("WEBVTT\n", "utf-8")
    assert subtitles_stage.run(item, ctx).status == "ok"


def test_tool_versions_are_probed_once_per_run(
        tmp_path: Path, tiny_media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items = [_with_transcript(lesson(f"demo-{n:02d}"), tmp_path) for n in range(1, 4)]
    probes: Counter[str] = Counter()
    real_run = subprocess.run

    def counting(argv: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(argv, list) and argv[1:] == ["-version"]:
            probes[str(argv[0])] += 1
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting)
    ctx = context(tmp_path / "out", items)
    ctx.jobs = 3
    for item in items:
        fake_fetch(ctx.store, item, tiny_media)
    outcomes = run_stages(items, ["subtitles", "package"], ctx)
    assert [[r.status for r in results] for results in outcomes.values()] == [["ok", "ok"]] * 3
    assert probes == {"ffmpeg": 1, "ffprobe": 1}  # three lessons, two stages: one probe each
    versions = {r.tool_versions["ffmpeg"] for results in outcomes.values() for r in results}
    assert len(versions) == 1 and versions != {"unknown"}
    package = outcomes["demo-01"][1]
    assert {"ffprobe", "bagit-python", "lesson-archiver"} <= set(package.tool_versions)
    # a new run probes again (a tool may have been upgraded in between)
    ctx = context(tmp_path / "out", items, force=True)
    run_stages(items[:1], ["subtitles"], ctx)
    assert probes["ffmpeg"] == 2


def test_skips_and_site_failures_are_recorded(tmp_path: Path) -> None:
    no_source = lesson("demo-01", sources=False)
    ctx = context(tmp_path / "out", [no_source])
    results = run_lesson(no_source, ["fetch", "subtitles", "package"], ctx)
    assert [r.status for r in results] == ["skipped"] * 3
    states = {stage: json.loads(ctx.store.record_path(no_source.id, stage).read_text())
              for stage in ("fetch", "subtitles", "package")}
    assert {s: r["status"] for s, r in states.items()} == {
        "fetch": "skipped", "subtitles": "skipped", "package": "skipped"}
    assert states["fetch"]["warnings"] == ["no source known"]
    assert states["package"]["details"]["catalog_status"] == "no-source"
    assert publish_site(ctx).status == "ok"  # the package stage left a catalog to publish
    # publish without a catalog: a failure, recorded where its record always was
    ctx = context(tmp_path / "empty", [no_source])
    result = publish_site(ctx)
    assert result.status == "failed" and result.error_class == "PublishError"
    saved = json.loads((tmp_path / "empty/reports/publish.json").read_text("utf-8"))
    assert (saved["status"], saved["lesson"], saved["error_class"]) == (
        "failed", "(site)", "PublishError")
    loaded = ctx.store.load_result("(site)", "publish")
    assert loaded is not None and loaded.error == result.error
