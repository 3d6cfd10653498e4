"""The demo mirror's no-op rebuild: an identical spec in a built folder does no work (< 1 s).

Why a bench row and not a test assert: tests/test_demo_mirror.py checks that the second build
builds nothing and touches no file (correctness); how long that check takes is a wall-clock
figure, which a loaded machine inflates and which therefore belongs here, measured against a
reference in the same run.

Input: the same short two-paragraph mirror the test builds (26 s of espeak-ng speech and ffmpeg
media), built once in the work folder. Ours: `build_mirror(folder, spec)` again, in-process,
from call to return: the tool-version probe (`ffmpeg -version`, `espeak-ng --version`), the
fingerprint, the build lock and the size check of every served file. Reference, same run: the
two version probes alone (`archiver.demo.mirror._tool_versions`'s programs, started the same
way), the floor for any build that must know which tools would render it. Best of `ROUNDS`,
interleaved.

Run alone: `.venv/bin/python -m benchmarks --only mirror`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROUNDS = 5
TIMEOUT = 600.0


def _probes() -> float:
    start = time.perf_counter()
    for command in (["ffmpeg", "-version"], ["espeak-ng", "--version"]):
        subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=True)
    return time.perf_counter() - start


def run(workdir: Path) -> list[dict[str, Any]]:
    from archiver.demo.mirror import MirrorSpec, build_mirror

    spec = MirrorSpec(
        lesson_id="digital-china-13", number=13, title_en="Bench",
        title_zh="数字中国建设系列之十三", duration=26.0,
        paragraphs=((5.0, "建设数字中国是数字时代推进中国式现代化的重要引擎,"
                          "是构筑国家竞争新优势的有力支撑。"),
                    (13.0, "仅2022年,国家正式发布的法律、部门规章以及配套规范文件就达38项。")))
    folder = workdir / "mirror"
    began = time.perf_counter()
    first = build_mirror(folder, spec)
    first_s = time.perf_counter() - began
    if not first.built:
        raise RuntimeError(f"{folder} already held a mirror: the first build must build")
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    ours, reference = float("inf"), float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        again = build_mirror(folder, spec)
        ours = min(ours, time.perf_counter() - start)
        if again.built:
            raise RuntimeError("the second build of an identical spec rebuilt the mirror")
        reference = min(reference, _probes())
    if {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} != before:
        raise RuntimeError("the no-op rebuild rewrote mirror files")
    return [{"measure": "demo mirror: second build, identical spec", "ours_s": round(ours, 3),
             "reference": "ffmpeg/espeak-ng version probes", "reference_s": round(reference, 3),
             "ratio": round(ours / reference, 2) if reference else None, "target": "ours < 1 s",
             "met": ours < 1.0, "first_build_s": round(first_s, 2)}]


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/archiver-bench-mirror")
    target.mkdir(parents=True, exist_ok=True)
    print(json.dumps(run(target), indent=2))
