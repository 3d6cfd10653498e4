"""Cluster throughput and overhead: 8 lessons on 2 local workers vs 1, and 1 lesson on a
local cluster vs a plain run.

Setup: the short demo lesson (30 s of generated media; tests/stress_support.py) cloned into 8
lessons served by one demo mirror over HTTPS on 127.0.0.1. Each measure is a whole
`archiver archive` into a fresh output folder (fetch, subtitles, package, publish), so
publish (run by the client in both cases) is in every figure:
- throughput: `--cluster local:1` vs `--cluster local:2`, ratio = time(1) / time(2) (the
  target is > 1: two workers finish sooner; this machine has 2 cores shared with others);
- overhead: 1 lesson with `--cluster local:1` vs the plain run (`--jobs 1`): what starting a
  LocalCluster, shipping the task and replaying its events costs.
One round each (a round of 8 lessons takes minutes); runs alternate so load falls on both.

Run alone: `.venv/bin/python -m benchmarks --only cluster`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from stress_support import make_short_demo, write_many_lessons

from archiver.demo.command import serving

LESSONS = 8
TIMEOUT = 1800.0


def _archive(manifest: Path, output: Path, *extra: str) -> float:
    shutil.rmtree(output, ignore_errors=True)
    began = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "archiver", "archive", "--manifest",
                           str(manifest), "--output", str(output), *extra],
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    seconds = time.perf_counter() - began
    rows = [line for line in proc.stdout.splitlines() if line.startswith("lesson-")]
    if proc.returncode != 0 or not rows or any("package: ok" not in r for r in rows):
        raise RuntimeError(f"archive {extra} failed: {proc.stdout[-2000:]}"
                           f"{proc.stderr[-2000:]}")
    return seconds


def _row(measure: str, ours: float, reference: str, ref: float, target: str, met: bool,
         ratio: float, **extra: Any) -> dict[str, Any]:
    return {"measure": measure, "ours_s": round(ours, 3), "reference": reference,
            "reference_s": round(ref, 3), "ratio": round(ratio, 2), "target": target,
            "met": met, **extra}


def run(workdir: Path) -> list[dict[str, Any]]:
    setup = make_short_demo(workdir)
    with serving(setup, port=0) as (_server, served):
        eight, one = workdir / "eight.toml", workdir / "one.toml"
        write_many_lessons(eight, setup, served, LESSONS)
        write_many_lessons(one, setup, served, 1)
        plain = _archive(one, workdir / "plain", "--jobs", "1")
        single = _archive(one, workdir / "single", "--cluster", "local:1")
        one_worker = _archive(eight, workdir / "w1", "--cluster", "local:1")
        two_workers = _archive(eight, workdir / "w2", "--cluster", "local:2")
    throughput = one_worker / two_workers
    return [
        _row(f"{LESSONS} lessons on 2 local workers", two_workers, "on 1 local worker",
             one_worker, "ratio (1 worker / 2 workers) > 1", throughput > 1.0, throughput),
        _row("1 lesson on --cluster local:1", single, "plain archive --jobs 1", plain,
             "informational (overhead = ours - reference)", True, single / plain,
             overhead_s=round(single - plain, 2)),
    ]


if __name__ == "__main__":
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as scratch:
        print(json.dumps(run(Path(scratch)), indent=2))
