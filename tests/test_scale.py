"""Bookkeeping that stays linear (issue 13): a no-op rerun reads O(1) files per lesson.

Counted, not timed: the no-op rerun of the lesson chain (what `archiver archive` runs before
publish) over synthetic archives of 2, 4 and 8 lessons (tests/synthetic_archive.py: one real
archived lesson, cloned into valid bags and records) under a Python audit hook that counts
every file opened inside the archive and every program started. The per-lesson count must be
the same from 2 to 4 as from 4 to 8 lessons (before issue 13 the catalog was rebuilt from all
lessons after each one: the count grew with the square). The figures at 1,000 and 10,000
lessons are bench rows (benchmarks/scale.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from synthetic_archive import build, subset

from archiver.batch import run_stages
from archiver.log import EventLog
from archiver.manifest import load_manifest
from archiver.pipeline import LESSON_CHAIN, Context
from archiver.store import Store

pytestmark = [pytest.mark.slow,  # a synthetic archive cloned from a really archived lesson
              pytest.mark.timeout(900)]
SIZES = (2, 4, 8)


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("synthetic")
    build(folder, max(SIZES))
    return {n: subset(folder, max(SIZES), n) for n in SIZES}


class Counter:
    """Audit hook: files opened under `root`, programs started; only while `active`."""

    def __init__(self) -> None:
        self.root = ""
        self.active = False
        self.opened: list[str] = []
        self.started: list[str] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event == "open" and isinstance(args[0], str | Path) and \
                str(args[0]).startswith(self.root):
            self.opened.append(str(args[0])[len(self.root):])
        elif event == "subprocess.Popen" or event == "os.posix_spawn":
            self.started.append(str(args[0]))


COUNTER = Counter()
sys.addaudithook(COUNTER)  # hooks cannot be removed; inactive outside `_noop`


def _noop(manifest: Path, output: Path) -> tuple[list[str], list[str], dict[str, list[Any]]]:
    loaded = load_manifest(manifest)
    store = Store(output)
    with open(os.devnull, "w") as sink:
        ctx = Context(store=store, manifest=loaded, log=EventLog(stream=sink), jobs=2)
        COUNTER.root, COUNTER.opened, COUNTER.started = str(output) + "/", [], []
        COUNTER.active = True
        try:
            outcomes = run_stages(loaded.lessons, LESSON_CHAIN, ctx)
        finally:
            COUNTER.active = False
    statuses = {lid: [r.status for r in results] for lid, results in outcomes.items()}
    return COUNTER.opened, COUNTER.started, statuses


def test_synthetic_archive_is_valid(archives: dict[int, tuple[Path, Path]]) -> None:
    """The clones are real: every bag validates in full, status lists every lesson."""
    manifest, output = archives[max(SIZES)]
    verify = subprocess.run([sys.executable, "-m", "archiver", "verify", "--output",
                             str(output), "--no-event", "--keep", "0"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert verify.returncode == 0, verify.stdout[-3000:]
    assert f"{max(SIZES)}/{max(SIZES)} packages ok" in verify.stdout + verify.stderr
    status = subprocess.run([sys.executable, "-m", "archiver", "status", "--manifest",
                             str(manifest), "--output", str(output)],
                            capture_output=True, text=True, timeout=300, check=True)
    listed = [line for line in status.stdout.splitlines() if line.startswith("lesson-")]
    assert len(listed) == max(SIZES)
    assert all("package: ok" in line for line in listed), status.stdout


def test_noop_rerun_reads_constant_files_per_lesson(
        archives: dict[int, tuple[Path, Path]]) -> None:
    counts = {}
    for n in SIZES:
        manifest, output = archives[n]
        catalog_before = (output / "catalog.json").stat().st_mtime_ns
        opened, started, statuses = _noop(manifest, output)
        assert statuses == {lid: ["unchanged"] * 3 for lid in statuses}
        assert len(statuses) == n
        assert started == []  # no ffmpeg, no bagit child, nothing
        assert not [p for p in opened if p.endswith((".mp4", ".mkv", ".m4a"))]
        assert (output / "catalog.json").stat().st_mtime_ns == catalog_before  # not rewritten
        per_lesson: dict[str, list[str]] = {}
        for path in opened:
            parts = path.split("/")
            if parts[0] in ("lessons", "packages") and len(parts) > 1:
                rest = "/".join(parts[2:]).replace(parts[1], "<id>")
                per_lesson.setdefault(parts[1], []).append(rest)
        assert len(per_lesson) == n
        shapes = {lid: sorted(files) for lid, files in per_lesson.items()}
        first = next(iter(shapes.values()))
        assert all(files == first for files in shapes.values()), shapes  # the same per lesson
        counts[n] = len(opened)
    # opens = a + b·n: the same growth per lesson from 2 to 4 as from 4 to 8
    small, middle, large = SIZES
    per_lesson_low = (counts[middle] - counts[small]) / (middle - small)
    per_lesson_high = (counts[large] - counts[middle]) / (large - middle)
    assert per_lesson_low == per_lesson_high, counts
    assert per_lesson_high <= 40, counts  # small files: records, tracks, bag-info, catalog
