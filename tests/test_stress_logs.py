"""Logs a machine can parse and messages a person can act on.

One archive of two lessons, the second with a page the server does not have (an expected,
per-lesson failure), run three times on the same output: `--json-log`, `--json-log --debug`,
and human output with `--debug`. Every `--json-log` line is one JSON object with exactly the
keys time, level, lesson, stage, event, fields; an expected failure never shows a traceback
unless `--debug` asks for it; the outcome table lists every lesson. The same holds for
failures before any lesson runs (a broken manifest: exit 2, file and line).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from stress_support import json_events, make_short_demo, run_archiver, write_many_lessons

from archiver.demo.command import serving

pytestmark = pytest.mark.slow  # whole `archiver archive` runs in child processes

KEYS = {"time", "level", "lesson", "stage", "event", "fields"}
LEVELS = {"debug", "info", "warning", "error"}
GOOD, BAD = "lesson-01", "lesson-02"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        dict[str, subprocess.CompletedProcess[str]]]:
    root = tmp_path_factory.mktemp("logs")
    setup = make_short_demo(root)
    output = root / "out"
    with serving(setup, port=0) as (_server, demo_manifest):
        manifest = root / "two.toml"
        assert write_many_lessons(manifest, setup, demo_manifest, 2, broken=[1]) == [GOOD, BAD]
        common = ["--manifest", str(manifest), "--output", str(output), "--jobs", "1",
                  "--timeout", "10", "--retries", "2"]
        yield {
            "json": run_archiver("archive", *common, "--json-log"),
            "json-debug": run_archiver("archive", *common, "--json-log", "--debug"),
            "human-debug": run_archiver("archive", *common, "--debug"),
            "human": run_archiver("archive", *common),
        }


def _check_lines(stderr: str) -> list[dict[str, object]]:
    events = json_events(stderr)  # each line parses as one JSON object
    assert events, "no events at all"
    for event in events:
        assert set(event) == KEYS, event
        assert event["level"] in LEVELS, event
        assert isinstance(event["event"], str) and event["event"], event
        assert isinstance(event["fields"], dict), event
        assert event["lesson"] is None or isinstance(event["lesson"], str), event
        assert event["stage"] is None or isinstance(event["stage"], str), event
        stamp = str(event["time"])
        assert dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).tzinfo is not None, stamp
    return events


def _table(stdout: str) -> dict[str, str]:
    return {line.split()[0]: line for line in stdout.splitlines()
            if line.startswith(("lesson-", "(site)"))}


def test_json_log_lines_and_an_expected_failure_without_traceback(
        runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = runs["json"]
    assert run.returncode == 1, run.stdout + run.stderr
    events = _check_lines(run.stderr)
    assert "Traceback" not in run.stdout + run.stderr
    failed = [e for e in events if e["level"] == "error"]
    assert [(e["lesson"], e["stage"], e["event"]) for e in failed] == [(BAD, "fetch", "failed")]
    message = str(failed[0]["fields"]["message"])  # type: ignore[index]
    assert "missing-2.html" in message and "404" in message, message
    assert not [e for e in events if e["event"] == "traceback"]  # debug events are off
    table = _table(run.stdout)
    assert "ok" in table[GOOD].split()[1] and table[BAD].split()[1] == "failed", run.stdout


def test_debug_adds_the_traceback_as_an_event(
        runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = runs["json-debug"]
    assert run.returncode == 1
    events = _check_lines(run.stderr)
    (trace,) = [e for e in events if e["event"] == "traceback"]
    assert (trace["lesson"], trace["stage"], trace["level"]) == (BAD, "fetch", "debug")
    assert "Traceback (most recent call last)" in str(trace["fields"]["message"])  # type: ignore[index]
    redone = [e for e in events if e["lesson"] == GOOD and e["stage"] in
              ("fetch", "subtitles", "package") and e["event"] not in ("unchanged", "stage-start")]
    assert redone == [], redone  # the good lesson was not redone on the rerun


def test_human_output_one_line_per_failure_and_traceback_only_with_debug(
        runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    plain, debug = runs["human"], runs["human-debug"]
    assert plain.returncode == debug.returncode == 1
    (line,) = [x for x in plain.stderr.splitlines() if x.startswith("ERROR:")]
    assert line.startswith(f"ERROR: [{BAD}/fetch] failed ") and "404" in line, line
    assert "Traceback" not in plain.stderr + plain.stdout
    assert "Traceback (most recent call last)" in debug.stderr
    for run in (plain, debug):
        with pytest.raises(json.JSONDecodeError):
            json.loads(run.stderr.splitlines()[0])  # human lines, not JSON
        assert set(_table(run.stdout)) == {GOOD, BAD, "(site)"}, run.stdout


def test_a_broken_manifest_is_one_line_with_its_location(tmp_path: Path) -> None:
    manifest = tmp_path / "broken.toml"
    manifest.write_text('[series]\nid = "x"\n[[lessons]\nid = "a"\n', "utf-8")
    common = ["--manifest", str(manifest), "--output", str(tmp_path / "out")]
    plain = run_archiver("archive", *common, timeout=60)
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr + plain.stdout
    (line,) = plain.stderr.strip().splitlines()
    assert str(manifest) in line and ":3" in line, line
    as_json = run_archiver("archive", *common, "--json-log", timeout=60)
    (event,) = _check_lines(as_json.stderr)
    assert (event["level"], event["event"]) == ("error", "error") and as_json.returncode == 2
    debug = run_archiver("archive", *common, "--debug", timeout=60)
    assert debug.returncode == 2 and "Traceback (most recent call last)" in debug.stderr
    assert not (tmp_path / "out").exists()  # nothing was written for a manifest that failed
