"""The command line as scripts and cron jobs see it: help, exit codes, the run lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import lock_held_elsewhere

pytestmark = pytest.mark.slow  # `archiver` started in child processes

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifests" / "digital-china.toml"


def archiver(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archiver", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_help_lists_every_command() -> None:
    proc = archiver("--help")
    assert proc.returncode == 0
    for command in ("archive", "fetch", "subtitles", "package", "status"):
        assert command in proc.stdout
    assert "Exit codes" in proc.stdout


def test_unknown_command_is_usage_error() -> None:
    assert archiver("frobnicate").returncode == 2


def test_second_run_on_the_same_output_is_refused_clearly(tmp_path: Path) -> None:
    with lock_held_elsewhere(tmp_path) as pid:
        proc = archiver("fetch", "--manifest", str(MANIFEST), "--output", str(tmp_path),
                        "--only", "digital-china-03")
    assert proc.returncode == 1
    assert f"in use by pid {pid}" in proc.stderr and "--wait" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "lessons").exists()


def test_output_that_is_a_file_is_a_clear_usage_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "archive"
    not_a_folder.write_text("")
    for command in ("fetch", "publish"):
        proc = archiver(command, "--manifest", str(MANIFEST), "--output", str(not_a_folder))
        assert proc.returncode == 2, proc.stderr
        assert f"--output {not_a_folder}: cannot be used as the archive folder" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_numbers_must_be_positive() -> None:
    for flag, value in (("--timeout", "-1"), ("--retries", "0"), ("--max-bytes", "0"),
                        ("--jobs", "0"), ("--timeout", "soon")):
        proc = archiver("fetch", flag, value)
        assert proc.returncode == 2 and flag in proc.stderr, (flag, proc.stderr)


def test_every_stage_option_has_its_flag_on_every_command_that_runs_the_stage() -> None:
    from archiver.cli import build_parser
    from archiver.options import FetchOptions, PublishOptions, SubtitlesOptions, from_args
    from archiver.publish import command

    parser = build_parser({"publish": command})
    args = parser.parse_args(["archive", "--timeout", "7", "--retries", "2", "--max-bytes", "9",
                              "--pause-method", "silencedetect", "--base-url", "https://x.test"])
    options = from_args(args)
    assert options.fetch == FetchOptions(max_bytes=9, timeout=7.0, retries=2)
    assert options.subtitles == SubtitlesOptions(pause_method="silencedetect")
    assert options.publish == PublishOptions(base_url="https://x.test")
    assert options.publish.site_base == "https://x.test/"
    assert from_args(parser.parse_args(["subtitles"])).subtitles.pause_method == "levels"
    assert not hasattr(parser.parse_args(["fetch"]), "pause_method")  # fetch does not time


def test_an_unknown_pause_method_is_a_usage_error() -> None:
    proc = archiver("subtitles", "--pause-method", "vad")
    assert proc.returncode == 2 and "--pause-method" in proc.stderr and "silencedetect" in \
        proc.stderr


def test_a_stage_command_does_not_import_the_module_commands(tmp_path: Path) -> None:
    # why: they cost ~0.4 s of CPU at every start (benchmarks/fetch_process.py); `--help` and
    # the module commands still get all of them
    probe = ("import sys; from archiver.cli import main; "
             f"code = main(['status', '--manifest', {str(MANIFEST)!r}, '--output', "
             f"{str(tmp_path / 'out')!r}]); "
             "print(code, sorted(m for m in ('archiver.publish.command', 'archiver.verify."
             "command', 'archiver.demo.command', 'iiif_prezi3') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[-2] == "0 []", proc.stdout
    listed = archiver("--help").stdout
    for command in ("publish", "serve", "verify", "check-sources", "demo"):
        assert command in listed, command
    assert archiver("verify", "--help").returncode == 0
