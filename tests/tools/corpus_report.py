"""What the archiver does today with every corpus page shape and media variant: two tables.

    .venv/bin/python tests/tools/corpus_report.py [--work DIR] [--only shapes|media]

Serves the corpus (archiver.demo.corpus) on 127.0.0.1, writes one manifest lesson per page
shape (source = the shape's URL, tls = the test CA) and one per media variant (source = the
clip as a direct URL on the CDN host, transcript = its own), runs the real `archiver archive`
as a subprocess, and reads every lesson's stage records back. The archiver reaches the fake
host names with its own `--resolve HOST:PORT:ADDRESS` (curl's meaning; TLS still checks the
host names) and judges every host by the test CA (`tls` plus `tls_hosts`). Prints Markdown
tables (and writes them to DIR/report.md): shape -> resolved media (equal to the truth,
extractor, audio) -> outcome, and variant -> packaged? (first cue error against the
transcript's truth).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from archiver.demo.corpus.media import BURSTS  # noqa: E402
from archiver.demo.corpus.pages import CDN, HOSTS  # noqa: E402
from archiver.demo.corpus.site import CorpusSite, build_corpus, serve_corpus  # noqa: E402
from archiver.demo.manifest import render_manifest  # noqa: E402
from archiver.demo.server import Resource  # noqa: E402
from archiver.store import Store  # noqa: E402

STAGES = ("fetch", "subtitles", "package")


def _lessons(site: CorpusSite, only: str | None) -> list[dict[str, Any]]:
    media = site.corpus.media
    transcript = str(media["mp4-h264-aac-44100-stereo"].transcript)
    tls = f"ca:{site.certs.ca}"
    lessons: list[dict[str, Any]] = []
    if only in (None, "shapes"):
        for shape in site.shapes.values():
            lessons.append({"id": f"shape-{shape.id}", "title": {"en": shape.id},
                            "transcript": transcript,
                            "sources": [{"url": shape.url, "kind": "original", "tls": tls,
                                         "tls_hosts": {h: tls for h in HOSTS}}]})
    if only in (None, "media"):
        for vid, built in media.variants.items():
            path = f"/matrix/{built.path.name}"
            site.server.sites[CDN][path] = Resource(built.path, "application/octet-stream")
            lessons.append({"id": f"media-{vid}", "title": {"en": vid},
                            "transcript": str(built.transcript),
                            "sources": [{"url": site.server.site_url(CDN, path),
                                         "kind": "original", "tls": tls,
                                         "tls_hosts": {h: tls for h in HOSTS}}]})
    return lessons


def _cue_start(text: str) -> float | None:
    for line in text.splitlines():
        if "-->" in line:
            h, m, s = (["0", *line.split("-->")[0].strip().split(":")])[-3:]
            return int(h) * 3600 + int(m) * 60 + float(s)
    return None


def _first_cues(store: Store, lesson: str) -> tuple[float | None, float | None]:
    """The zh-Hans track's first cue start: in the .vtt the stage wrote, and read back from
    the master (its first subtitle stream, decoded by ffmpeg on the master's timeline)."""
    vtt = next(iter(sorted(store.lesson_dir(lesson).rglob("*.zh-Hans.vtt"))), None)
    written = _cue_start(vtt.read_text("utf-8")) if vtt else None
    master = next(iter(sorted(store.package_dir(lesson).rglob("master/*.mk[av]"))), None)
    read_back = _read_back(master) if master is not None else None
    return written, read_back


def _read_back(master: Path) -> float | None:
    """The first cue of the master's first subtitle track as mkvextract reads it (the
    master's S_TEXT/WEBVTT), or ffmpeg where mkvextract refuses (an older D_WEBVTT master)."""
    info = json.loads(subprocess.run(["mkvmerge", "-J", str(master)], capture_output=True,
                                     text=True, check=False).stdout or "{}")
    ids = [t["id"] for t in info.get("tracks", []) if t.get("type") == "subtitles"]
    if ids:
        with tempfile.TemporaryDirectory(prefix="corpus-report-") as tmp:
            out = Path(tmp) / "first.vtt"
            subprocess.run(["mkvextract", str(master), "tracks", f"{ids[0]}:{out}"],
                           capture_output=True, check=False)
            if out.is_file():
                found = _cue_start(out.read_text("utf-8", errors="replace"))
                if found is not None:
                    return found
    proc = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(master), "-map",
                           "0:s:0", "-f", "webvtt", "-"], capture_output=True, text=True,
                          check=False)
    return _cue_start(proc.stdout) if proc.returncode == 0 else None


def _first_av_pts(path: Path) -> tuple[float, float] | None:
    """(container start, earliest packet pts of the first video-or-audio stream, video
    first) as ffprobe reads them."""
    info = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams",
                                      "-of", "json", str(path)], capture_output=True,
                                     text=True, check=False).stdout or "{}")
    streams = sorted((s for s in info.get("streams", []) if s["codec_type"] in ("video", "audio")
                      and not (s.get("disposition") or {}).get("attached_pic")),
                     key=lambda s: (s["codec_type"] != "video", s["index"]))
    if not streams:
        return None
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", str(streams[0]["index"]),
                          "-show_entries", "packet=pts_time", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=False).stdout
    times = [float(t.strip(",")) for t in out.split() if t.strip(",") not in ("", "N/A")]
    start = float(info.get("format", {}).get("start_time") or 0.0)
    return (start, min(times)) if times else None


def presentation_shift(master: Path, original: Path) -> float | None:
    """How much later the master shows the original's content than a player of the original
    does (Matroska has no edit list: AAC's priming moves every stream, cues included)."""
    mine, theirs = _first_av_pts(original), _first_av_pts(master)
    if mine is None or theirs is None:
        return None
    return theirs[1] - (mine[1] - mine[0])


def _has_audio(path: Path) -> bool:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of",
                          "csv=p=0", str(path)], capture_output=True, text=True, check=False)
    return "audio" in out.stdout


def _outcome(store: Store, lesson: str) -> tuple[str, str]:
    """(last stage reached and its status, the error of the first failure)."""
    reached, error = "not run", ""
    for stage in STAGES:
        result = store.load_result(lesson, stage)
        if result is None:
            break
        reached = f"{stage}: {result.status}"
        if result.status == "failed":
            error = (result.error or "").rsplit("': ", 1)[-1]  # drop path and lesson prefix
            error = error.replace("|", "/").replace("\n", " ")[:150]
            break
    return reached, error


def _shape_rows(site: CorpusSite, store: Store) -> list[str]:
    rows = ["| shape | truth | resolved media | = truth | extractor | audio | audio in media "
            "| outcome | error |", "|---|---|---|---|---|---|---|---|---|"]
    for shape in site.shapes.values():
        lesson = f"shape-{shape.id}"
        truth = ", ".join(m.rsplit("/", 2)[-1] for m in shape.media) or shape.error or ""
        fetch = store.load_result(lesson, "fetch")
        record = fetch.details if fetch is not None and fetch.status == "ok" else None
        details: dict[str, Any] = record.to_json() if record is not None else {}
        components = [c["url"] for c in details.get("components") or []] or \
            ([details["media_url"]] if details.get("media_url") else [])
        resolved = ", ".join(u.rsplit("/", 2)[-1] for u in components)
        got = tuple(dict.fromkeys(components)) == tuple(shape.media)
        media = store.lesson_dir(lesson) / details["media"] if details.get("media") else None
        audio_in = ("yes" if _has_audio(media) else "no") if media and media.is_file() else "-"
        extractor = (details.get("resolution") or {}).get("extractor", "")
        reached, error = _outcome(store, lesson)
        rows.append(f"| {shape.id} | {truth} | {resolved or '-'} | "
                    f"{('yes' if got else 'no') if shape.media else '-'} | {extractor} | "
                    f"{details.get('audio', '-')} | {audio_in} | {reached} | {error} |")
    return rows


def _media_rows(site: CorpusSite, store: Store) -> list[str]:
    rows = ["| variant | outcome | first cue .vtt - truth (s) | first cue in master - truth (s)"
            " | master's shift (s) | on the master's presentation timeline - truth (s) "
            "| error |", "|---|---|---|---|---|---|---|"]
    for vid, built in site.corpus.media.variants.items():
        lesson = f"media-{vid}"
        reached, error = _outcome(store, lesson)
        cues = _first_cues(store, lesson)
        written, read_back = (f"{c - BURSTS[0]:+.3f}" if c is not None else "-" for c in cues)
        master = next(iter(sorted(store.package_dir(lesson).rglob("master/*.mk[av]"))), None)
        shift = presentation_shift(master, built.path) if master is not None else None
        timeline = (f"{cues[1] - shift - BURSTS[0]:+.3f}"
                    if cues[1] is not None and shift is not None else "-")
        shown = f"{shift:+.3f}" if shift is not None else "-"
        rows.append(f"| {vid} | {reached} | {written} | {read_back} | {shown} | {timeline} "
                    f"| {error} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.mkdtemp(prefix="corpus-")))
    parser.add_argument("--only", choices=("shapes", "media"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    corpus = build_corpus(args.work / "corpus")
    with serve_corpus(corpus, args.work / "certs") as site:
        manifest = args.work / "manifest.toml"
        manifest.write_text(render_manifest(_lessons(site, args.only), "corpus"), "utf-8")
        output = args.work / "output"
        env = {"PATH": "/usr/bin:/bin"}
        proc = subprocess.run([sys.executable, "-m", "archiver", "archive", "--manifest",
                               str(manifest), "--output", str(output), "--jobs",
                               str(args.jobs), *site.resolve_args()], capture_output=True,
                              text=True, env=env, timeout=3600, check=False, cwd=ROOT)
        (args.work / "archive.log").write_text(proc.stdout + proc.stderr, "utf-8")
        store = Store(output)
        report = []
        if args.only in (None, "shapes"):
            report += ["## Page shapes", "", *_shape_rows(site, store), ""]
        if args.only in (None, "media"):
            report += ["## Media variants", "", *_media_rows(site, store), ""]
    text = "\n".join(report)
    (args.work / "report.md").write_text(text, "utf-8")
    print(text)
    print(f"(archive exit {proc.returncode}; log, manifest and output in {args.work})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
