"""Bookkeeping at scale: the no-op rerun and `verify --fast` at 1,000 and 10,000 lessons.

Setup: tests/synthetic_archive.py builds an archive of N tiny but real lessons (one real
archived lesson, cloned: valid bags, valid state records, every stage reusable), once per
size, cached in the bench folder.

Measures, each the best of `ROUNDS` runs of a whole child process (interpreter start
included), interleaved between the sizes so load from other processes falls on both:
- the no-op rerun of the lesson chain: `python -m benchmarks.scale noop MANIFEST OUTPUT`
  runs `archiver.batch.run_stages` with fetch, subtitles and package over every lesson,
  exactly what `archiver archive` runs before publish. Publish itself is left out: publishing
  a new site is a full rebuild (an ffmpeg poster per lesson, ~1 s each here), and the synthetic
  archive has no site; the no-op publish check is one stat per site file. The child asserts
  that every stage of every lesson was `unchanged` and counts the programs it started (0).
- `archiver verify --fast --no-event --keep 0` over the same archive.
Wall time on a machine shared with other work is mostly waiting for a core, so each row
also gives the child's CPU time (user + system, `getrusage(RUSAGE_CHILDREN)`).
Growth is the ratio of the larger size's time to the smaller's, for 10× the lessons; the
targets (≤ 2.2× for 2×, i.e. linear) are checked as a per-lesson slope: t(10k)/t(1k) ≤ 11.

Run alone: `.venv/bin/python -m benchmarks --only scale` (env ARCHIVER_BENCH_SCALE="1000 10000"
sets the sizes).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

ROUNDS = 3
SIZES = tuple(int(n) for n in os.environ.get("ARCHIVER_BENCH_SCALE", "1000 10000").split())
TIMEOUT = 1800.0


def noop(manifest: Path, output: Path) -> dict[str, Any]:
    """In this process: the lesson chain over every lesson, which must do nothing."""
    started: list[str] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "subprocess.Popen":
            started.append(str(args[0]))

    sys.addaudithook(hook)
    from archiver.batch import run_stages
    from archiver.log import EventLog
    from archiver.manifest import load_manifest
    from archiver.pipeline import LESSON_CHAIN, Context
    from archiver.store import Store

    loaded = load_manifest(manifest)
    store = Store(output)
    with open(os.devnull, "w") as sink:
        ctx = Context(store=store, manifest=loaded, log=EventLog(stream=sink), jobs=2)
        with store.locked():
            outcomes = run_stages(loaded.lessons, LESSON_CHAIN, ctx)
    redone = sorted(lid for lid, results in outcomes.items()
                    if [r.status for r in results] != ["unchanged"] * len(LESSON_CHAIN))
    return {"lessons": len(outcomes), "redone": redone[:5], "programs_started": started}


def _timed(argv: list[str]) -> tuple[float, str, float]:
    """Wall seconds, stdout and CPU seconds (user + system) of one run of `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    seconds = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[1:4]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, proc.stdout, cpu


def _row(measure: str, ours: float, reference: str, ref: float, target: str, met: bool,
         **extra: Any) -> dict[str, Any]:
    return {"measure": measure, "ours_s": round(ours, 3), "reference": reference,
            "reference_s": round(ref, 3), "ratio": round(ours / ref, 2) if ref else None,
            "target": target, "met": met, **extra}


def run(workdir: Path) -> list[dict[str, Any]]:
    from synthetic_archive import build

    small, large = SIZES
    archives = {n: build(workdir, n) for n in SIZES}
    commands: dict[str, list[str]] = {}
    for n, (manifest, output) in archives.items():
        commands[f"noop-{n}"] = [sys.executable, "-m", "benchmarks.scale", "noop",
                                 str(manifest), str(output)]
        commands[f"fast-{n}"] = [sys.executable, "-m", "archiver", "verify", "--output",
                                 str(output), "--fast", "--no-event", "--keep", "0"]
    best: dict[str, tuple[float, str, float]] = {}
    for _ in range(ROUNDS):
        for name, argv in commands.items():
            result = _timed(argv)
            if name not in best or result[0] < best[name][0]:
                best[name] = result
    checks = {n: json.loads(best[f"noop-{n}"][1].splitlines()[-1]) for n in SIZES}
    for n, check in checks.items():
        if check["lessons"] != n or check["redone"] or check["programs_started"]:
            raise RuntimeError(f"the no-op rerun of {n} lessons did work: {check}")
    grow = large / small
    limit = 1.1 * grow  # 2.2× for 2× lessons: at most 10 % worse than linear
    rows = []
    for kind, label in (("noop", "no-op rerun (lesson chain)"), ("fast", "verify --fast")):
        t_small, t_large = best[f"{kind}-{small}"][0], best[f"{kind}-{large}"][0]
        met = t_large / t_small <= limit and (kind != "noop" or t_large < 30.0)
        target = f"ratio <= {limit:.1f} for {grow:g}x lessons" + \
            (", and < 30 s" if kind == "noop" else "")
        rows.append(_row(f"{label}, {large} lessons", t_large, f"same, {small} lessons",
                         t_small, target, met, per_lesson_ms={
                             small: round(1000 * t_small / small, 3),
                             large: round(1000 * t_large / large, 3)},
                         cpu_s={small: round(best[f"{kind}-{small}"][2], 2),
                                large: round(best[f"{kind}-{large}"][2], 2)}))
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["noop"]:
        print(json.dumps(noop(Path(sys.argv[2]), Path(sys.argv[3]))))
    else:
        print(json.dumps(run(Path(sys.argv[1])), indent=2))
