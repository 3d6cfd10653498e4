"""The media matrix (archiver.demo.corpus.media, the clips tests/test_corpus_media.py packages):
what it costs to make it, and to mux and check every variant's master and access copy.

Same generator as the tests (`build_media`), so the figures describe the very clips the tests
judge. Per variant: the MKV/MKA master and the MP4/M4A access copy as the package stage makes
them (`access.plan` decides copy or transcode), then `probe.check` on both, without subtitle
tracks (the subtitle side has its own bench). The reference is a plain `ffmpeg -c copy`
remux of the same clip to Matroska: the floor for a stream-copying master. Informative rows:
the matrix is 5 s clips, so process start-up dominates.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from archiver.demo.corpus.media import VARIANTS, build_media
from archiver.package import access, mux, probe


def _row(measure: str, ours: float, reference: str, ref: float, target: str) -> dict[str, Any]:
    return {"measure": measure, "ours_s": round(ours, 3), "reference": reference,
            "reference_s": round(ref, 3), "ratio": round(ours / ref, 2) if ref else None,
            "target": target}


def package_variant(original: Path, workdir: Path) -> list[str]:
    """Mux and check one clip's master and access copy; returns the problems found."""
    info = probe.ffprobe(original, exact=True)
    av = probe.av_streams(info)
    plan = access.plan(av)
    meta = workdir / "empty.ffmeta"
    meta.write_text(";FFMETADATA1\n", "utf-8")
    master = "mka" if plan.suffix == "m4a" else "mkv"
    jobs = [mux.MuxJob("mkv", original, len(av), [], meta, workdir / f"master.{master}"),
            mux.MuxJob("mp4", original, len(av), [], meta, workdir / f"access.{plan.suffix}",
                       extra=dict(plan.options))]
    problems: list[str] = []
    hashes = probe.streamhashes(original)
    for job in jobs:
        mux.run(job)
        exp = probe.Expected(job.kind, [], [], {}, None,
                             plan.transcoded if job.kind == "mp4" else {})
        problems += probe.check(job.output, original, exp, workdir, info, hashes).problems
    return problems


def run(workdir: Path) -> list[dict[str, Any]]:
    began = time.perf_counter()
    corpus = build_media(workdir / "media")
    build_s = time.perf_counter() - began
    ours = ref = 0.0
    failures: dict[str, list[str]] = {}
    for vid, clip in corpus.variants.items():
        scratch = workdir / vid
        scratch.mkdir(exist_ok=True)
        start = time.perf_counter()
        problems = package_variant(clip.path, scratch)
        ours += time.perf_counter() - start
        if problems:
            failures[vid] = problems
        start = time.perf_counter()
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(clip.path), "-map",
                        "0", "-c", "copy", "-f", "matroska", str(scratch / "remux.mkv")],
                       check=True)
        ref += time.perf_counter() - start
    if failures:
        raise RuntimeError(f"matrix variants failed their checks: {failures}")
    n = len(corpus.variants)
    return [
        _row(f"media matrix: build {n} clips (cached: 0)", build_s, "(none)", 0.0,
             "(informative)"),
        _row(f"media matrix: mux + check {n} masters + access", ours,
             f"ffmpeg -c copy remux x{n}", ref, "(informative)"),
    ]


__all__ = ["VARIANTS", "package_variant", "run"]
