"""Mux time for a lesson-length file against `cp` of the same original (target ≤ 2× cp).

A 643 s (10:43, the published length of lesson 13) 640x360 H.264 + AAC file is generated once
in the work folder, with three WebVTT tracks (a cue every ~4 s, CJK text), six chapters and a
provenance attachment. Nothing is re-encoded except the MP4's subtitles (mov_text), so a mux
should cost about one read and one write of the file, like `cp`. Each timing is the best of
`REPEAT` runs with the original in the page cache (an untimed `cp` warms it). Our timings are
`archiver.package.mux.run`, i.e. ffmpeg plus writing to a temporary name, fsync and rename;
`cp` does not fsync, so a "cp + sync" row is given as well, and `cp` copies inside the kernel
(copy_file_range), so a `dd bs=1M` row shows a copy through user space. The
post-mux checks (probe.check: ffprobe, streamhash of both files, cue extraction) are timed
separately: they read the output and the original once more each.
"""

from __future__ import annotations

import json
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

from archiver.model import TRACKS, Bilingual, Chapter, Track
from archiver.package import chapters, mux, probe

SECONDS = 643
REPEAT = 3


def _media(workdir: Path) -> Path:
    path = workdir / "lesson-643s.mp4"
    if not path.is_file():
        subprocess.run(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={SECONDS}",
             "-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=44100:duration={SECONDS}",
             "-c:v", "libx264", "-preset", "veryfast", "-crf", "30", "-pix_fmt", "yuv420p",
             "-g", "50", "-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart",
             str(path)], check=True)
    return path


def _stamp(t: float) -> str:
    ms = round(t * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def _tracks(workdir: Path) -> list[Track]:
    texts = {"zh-Hans": "数字中国建设 &lt;第{n}句&gt; &amp; 整体谋划",
             "en": "Digital China &lt;line {n}&gt; &amp; planning",
             "zh-Hans-en": "数字中国 {n}\n<lang en>Digital China {n}</lang>"}
    tracks = []
    for spec in TRACKS:
        cues = [f"{_stamp(t)} --> {_stamp(t + 3.5)}\n{texts[spec.key].format(n=i)}"
                for i, t in enumerate(range(2, SECONDS - 4, 4))]
        path = workdir / f"bench.{spec.key}.vtt"
        path.write_text("WEBVTT\n\n" + "\n\n".join(cues) + "\n", "utf-8")
        tracks.append(Track(spec, path))
    return tracks


def _best(action: Any) -> tuple[float, float]:
    """Best wall time and best CPU time (user + sys of the child processes) of REPEAT runs."""
    walls, cpus = [], []
    for _ in range(REPEAT):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        action()
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(walls), min(cpus)


def _row(measure: str, ours: float, reference: str, ref: float, target: str) -> dict[str, Any]:
    return {"measure": measure, "ours_s": round(ours, 3), "reference": reference,
            "reference_s": round(ref, 3), "ratio": round(ours / ref, 2) if ref else None,
            "target": target}


def run(workdir: Path) -> list[dict[str, Any]]:
    workdir.mkdir(parents=True, exist_ok=True)
    original = _media(workdir)
    tracks = _tracks(workdir)
    chapter_list = [Chapter(i * 107.0, min((i + 1) * 107.0, SECONDS),
                            Bilingual(en=f"Part {i}", zh=f"第{i}部分"))
                    for i in range(6)]
    tags = {"title": "数字中国建设系列之十三", "title-eng": "Lesson 13", "archived_at": "bench"}
    meta = workdir / "bench.ffmeta"
    meta.write_text(chapters.ffmetadata(tags, chapter_list), "utf-8")
    attachment = workdir / "provenance.json"
    attachment.write_text(json.dumps({"bench": True}), "utf-8")
    copy = workdir / "copy.mp4"

    def cp() -> None:
        subprocess.run(["cp", str(original), str(copy)], check=True)

    def dd() -> None:  # a copy through user space (cp uses in-kernel copy_file_range)
        subprocess.run(["dd", f"if={original}", f"of={copy}", "bs=1M", "status=none"],
                       check=True)

    def cp_sync() -> None:
        subprocess.run(["cp", str(original), str(copy)], check=True)
        subprocess.run(["sync", str(copy)], check=True)

    jobs = {kind: mux.MuxJob(kind, original, 2, tracks, meta, workdir / f"out.{kind}",  # type: ignore[arg-type]
                             attachment=attachment if kind == "mkv" else None)
            for kind in ("mkv", "mp4")}
    cp()  # warm the page cache
    cp_s, cp_sync_s, dd_s = _best(cp), _best(cp_sync), _best(dd)
    mkv_s = _best(lambda: mux.run(jobs["mkv"]))
    mp4_s = _best(lambda: mux.run(jobs["mp4"]))
    orig_info = probe.ffprobe(original)
    hashes = probe.streamhashes(original)
    problems: list[str] = []

    def check_both() -> None:
        problems.clear()
        for kind, job in jobs.items():
            exp = probe.Expected(kind, tracks, [c.label for c in chapter_list],  # type: ignore[arg-type]
                                 tags, attachment if kind == "mkv" else None)
            problems.extend(probe.check(job.output, original, exp, workdir, orig_info,
                                        hashes).problems)

    checks_s = _best(check_both)
    if problems:
        raise RuntimeError(f"benchmark output failed its checks: {problems}")
    size = original.stat().st_size
    label = f"cp {size / 1e6:.0f} MB original"
    return [
        _row("mux MKV master, 643 s lesson (wall)", mkv_s[0], label, cp_s[0], "<= 2x cp"),
        _row("mux MP4 access copy, 643 s lesson (wall)", mp4_s[0], label, cp_s[0], "<= 2x cp"),
        _row("mux MKV master (wall) vs cp + sync", mkv_s[0], "cp + sync", cp_sync_s[0],
             "<= 2x cp+sync"),
        _row("mux MKV master (wall) vs dd bs=1M", mkv_s[0], "dd bs=1M (user-space copy)",
             dd_s[0], "(informative)"),
        _row("mux MKV master (CPU user+sys)", mkv_s[1], label + " (CPU)", cp_s[1],
             "(informative)"),
        _row("mux MP4 access copy (CPU user+sys)", mp4_s[1], label + " (CPU)", cp_s[1],
             "(informative)"),
        _row("post-mux checks, both files (wall)", checks_s[0], label, cp_s[0],
             "(informative)"),
    ]
