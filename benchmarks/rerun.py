"""No-op rerun: `archiver archive` on a complete 13-lesson archive must do nothing, fast.

Setup: the short demo lesson (30 s of generated media, two paragraphs; tests/stress_support.py)
cloned into 13 lessons (`lesson-01`..`lesson-13`), all served by one demo mirror, archived
once. Then the mirror server is STOPPED and the rerun is timed: a rerun that tried to fetch
anything would fail, so "nothing fetched" is proven, not assumed. "Nothing re-hashed,
nothing re-muxed" is checked too: every stage of every lesson reports `unchanged`, no package
file's mtime moves, no older version appears, the rerun opens no media file and starts no
program (the CLI runs under a wrapper that records both), and the bytes it read (`rchar` of
/proc/self/io, which counts every read() of files and pipes), less what the same imports
alone read, stay far below the archive's media bytes (re-hashing one lesson would read
~2.5 MB, all of them ~32 MB). In rows whose measure says MB, ours_s/reference_s are MB.

Reference, measured in the same run: `archiver status` on the same archive (the same
interpreter start and imports, and it reads every lesson's state records: the floor for any
command that looks at the archive), and `python -c pass` (bare interpreter start).
Each command is run `ROUNDS` times, interleaved; the best wall time is kept.

Run alone: `.venv/bin/python -m benchmarks --only rerun`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from stress_support import make_short_demo, write_many_lessons

from archiver.demo.command import serving

LESSONS = 13
ROUNDS = 5
TIMEOUT = 900.0
# runs the CLI, then reports what the process read, which files it opened whose name says
# media, and which programs it started (ffmpeg for a mux, the bagit child...), as the last
# stderr line
WRAPPER = """
import builtins, io, json, subprocess, sys
opened, started = [], []
real_open, real_init = builtins.open, subprocess.Popen.__init__
def tracked_open(file, *args, **kwargs):
    opened.append(str(file))
    return real_open(file, *args, **kwargs)
def tracked_init(self, args, *rest, **kwargs):
    started.append(str(args if isinstance(args, str) else list(args)[:3]))
    real_init(self, args, *rest, **kwargs)
builtins.open = io.open = tracked_open
subprocess.Popen.__init__ = tracked_init
from archiver.cli import main
code = main(sys.argv[1:])
io_ = dict(line.split(": ") for line in real_open("/proc/self/io").read().splitlines())
media = [p for p in opened if p.endswith((".mp4", ".mkv", ".webm", ".m4a", ".ts"))]
report = {k: int(v) for k, v in io_.items()}
report.update({"media_opened": media, "started": started})
print("BENCH-IO " + json.dumps(report), file=sys.stderr)
sys.exit(code)
"""
# the same imports as the rerun, no work: what the interpreter itself reads
IMPORTS = """
import json, sys
import archiver.cli, archiver.fetch.stage, archiver.subtitles.stage, archiver.package.stage
import archiver.publish.command
io = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
print("BENCH-IO " + json.dumps({k: int(v) for k, v in io.items()}), file=sys.stderr)
"""


def _timed(argv: list[str]) -> tuple[float, dict[str, Any], str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[2:5]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    io: dict[str, Any] = {}
    for line in proc.stderr.splitlines():
        if line.startswith("BENCH-IO "):
            io = json.loads(line.removeprefix("BENCH-IO "))
    return seconds, io, proc.stdout


def _package_mtimes(output: Path) -> dict[str, int]:
    return {p.relative_to(output).as_posix(): p.stat().st_mtime_ns
            for p in sorted((output / "packages").rglob("*")) if p.is_file()}


def _row(measure: str, ours: float, reference: str, ref: float, target: str, met: bool,
         **extra: Any) -> dict[str, Any]:
    return {"measure": measure, "ours_s": round(ours, 3), "reference": reference,
            "reference_s": round(ref, 3), "ratio": round(ours / ref, 2) if ref else None,
            "target": target, "met": met, **extra}


def run(workdir: Path) -> list[dict[str, Any]]:
    setup = make_short_demo(workdir)
    output = workdir / "archive"
    manifest = workdir / "thirteen.toml"
    with serving(setup, port=0) as (_server, demo_manifest):
        ids = write_many_lessons(manifest, setup, demo_manifest, LESSONS)
        common = ["--manifest", str(manifest), "--output", str(output)]
        began = time.perf_counter()
        first = subprocess.run([sys.executable, "-m", "archiver", "archive", *common,
                                "--jobs", "2"], capture_output=True, text=True,
                               timeout=TIMEOUT, check=False)
        first_s = time.perf_counter() - began
        if first.returncode != 0:
            raise RuntimeError(f"the first archive run failed: {first.stdout[-3000:]}"
                               f"{first.stderr[-2000:]}")
    # the server is stopped: from here on, any network access would fail the rerun
    before = _package_mtimes(output)
    media_bytes = sum(p.stat().st_size for p in (output / "packages").rglob("*")
                      if p.suffix in (".mp4", ".mkv"))
    commands = {
        "rerun": [sys.executable, "-c", WRAPPER, "archive", *common],
        "status": [sys.executable, "-c", WRAPPER, "status", *common],
        "python": [sys.executable, "-c", "pass"],
        "imports": [sys.executable, "-c", IMPORTS],
    }
    best: dict[str, tuple[float, dict[str, Any], str]] = {}
    for _ in range(ROUNDS):
        for name, argv in commands.items():
            result = _timed(argv)
            if name not in best or result[0] < best[name][0]:
                best[name] = result
    rerun_s, rerun_io, table = best["rerun"]
    rows = [line for line in table.splitlines() if line.startswith("lesson-")]
    redone = [line for line in rows if "fetch: unchanged, subtitles: unchanged, "
              "package: unchanged" not in line]
    if len(rows) != LESSONS or redone:
        raise RuntimeError(f"the rerun did work: {redone or table}")
    if _package_mtimes(output) != before:
        raise RuntimeError("the rerun rewrote package files")
    status_s, status_io, _ = best["status"]
    python_s = best["python"][0]
    read = rerun_io.get("rchar", -1)
    beyond = read - best["imports"][1].get("rchar", 0)  # state records, catalog, tracks
    media, started = rerun_io.get("media_opened", []), rerun_io.get("started", [])
    extra = {"lessons": len(ids), "first_run_s": round(first_s, 2),
             "rerun_rchar_bytes": read, "status_rchar_bytes": status_io.get("rchar"),
             "imports_rchar_bytes": best["imports"][1].get("rchar"),
             "package_media_bytes": media_bytes}
    return [
        _row(f"no-op rerun of archive, {LESSONS} lessons", rerun_s,
             "archiver status (same archive)", status_s, "ours < 1 s", rerun_s < 1.0, **extra),
        _row(f"no-op rerun of archive, {LESSONS} lessons", rerun_s, "python -c pass",
             python_s, "ours < 1 s", rerun_s < 1.0, **extra),
        _row("no-op rerun: MB read beyond imports (in MB)", beyond / 1e6,
             "package media MB", media_bytes / 1e6,
             "no media file opened, no program started", not media and not started,
             unit="MB", media_opened=media, programs_started=started, **extra),
    ]


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-rerun-") as scratch:
        print(json.dumps(run(Path(scratch)), indent=2))
