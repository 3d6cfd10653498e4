"""Shared parts of the whole-pipeline stress tests (crash, concurrency, logs) and benchmarks.

A SHORT demo lesson (two transcript paragraphs, 30 s of generated media) keeps one complete
`archiver archive` run to a couple of seconds, so a test can afford dozens of them. Every run is
the real command in a child process (`python -m archiver ...`) against the real demo mirror
served over HTTPS on 127.0.0.1: that is the only way a SIGKILL, a lock held by another process
or an RLIMIT_FSIZE hits the code the way it would hit a user.

`archive_fingerprint` is the yardstick of "the same archive": the bytes of every reproducible
file; for files that carry the time of the run (`TIME_BEARING`), that they are complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from conftest import SHORT_TRANSCRIPT

from archiver.demo.command import DemoSetup, prepare
from archiver.demo.manifest import lesson_table, toml_dumps
from archiver.store import TEMP_MARK
from archiver.store import sha256_file as sha256

LESSON_ID = "short-13"
TRANSCRIPT = SHORT_TRANSCRIPT
MANIFEST = """[series]
id = "stress-series"
title = { en = "Stress series", zh = "数字中国建设系列" }
publisher = { en = "Publisher", zh = "出版者" }

[[lessons]]
id = "short-13"
number = 13
title = { en = "Short lesson", zh = "短课" }
released = 2025-04-11
duration = "0:30"
speaker = { en = "Speaker", zh = "讲者" }
transcript = "short-13.txt"
"""
RUN_TIMEOUT = 120.0  # seconds for one complete run of the short lesson (normally ~2 s)


def make_short_demo(folder: Path) -> DemoSetup:
    """The demo mirror of a 30-second, two-paragraph lesson (built once per folder)."""
    source = folder / "source"
    source.mkdir(parents=True, exist_ok=True)
    (source / "short-13.txt").write_text(TRANSCRIPT, "utf-8")
    (source / "series.toml").write_text(MANIFEST, "utf-8")
    return prepare(folder / "demo", source / "series.toml", LESSON_ID)


def write_many_lessons(path: Path, setup: DemoSetup, manifest: Path, count: int,
                       broken: Sequence[int] = ()) -> list[str]:
    """A manifest of `count` lessons cloned from the demo lesson, all served by the one mirror
    named in the demo `manifest` (ids `lesson-01`...; same page, same pinned certificate).
    Lessons whose 0-based index is in `broken` point at a page the server does not have (404),
    an expected per-lesson failure. Returns the lesson ids."""
    from archiver.manifest import load_manifest

    served = load_manifest(manifest)
    demo = served.lesson(setup.lesson_id)
    source = demo.sources[0]
    ids, tables = [], []
    for n in range(count):
        lesson = dataclasses.replace(demo, id=f"lesson-{n + 1:02d}", number=n + 1)
        ids.append(lesson.id)
        url = source.url.rsplit("/", 1)[0] + f"/missing-{n + 1}.html" if n in broken \
            else source.url
        tables.append(lesson_table(lesson, [{"url": url, "kind": "mirror",
                                             "tls": str(source.tls)}]))
    bilingual = {"title": served.series.title, "publisher": served.series.publisher}
    series = {"id": served.series.id, **{k: {"en": v.en or "", "zh": v.zh or ""}
                                        for k, v in bilingual.items()}}
    path.write_text(toml_dumps({"series": series, "lessons": tables},
                               frozenset({"series", "lessons", "lessons.sources"})), "utf-8")
    load_manifest(path)  # a manifest that does not load is a bug here, not in the test
    return ids


def archiver_argv(command: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "archiver", command, *args]


def run_archiver(command: str, *args: str, timeout: float = RUN_TIMEOUT,
                 **popen: Any) -> subprocess.CompletedProcess[str]:
    """One CLI command to completion (bounded); stdout and stderr captured as text."""
    return subprocess.run(archiver_argv(command, *args), capture_output=True, text=True,
                          timeout=timeout, check=False, **popen)


def json_events(stderr: str) -> list[dict[str, Any]]:
    """The `--json-log` events of a run; raises ValueError on a line that is not one object."""
    events = []
    for number, line in enumerate(stderr.splitlines(), 1):
        record = json.loads(line)
        if not isinstance(record, dict):
            raise ValueError(f"stderr line {number} is not a JSON object: {line!r}")
        events.append(record)
    return events


# -- watching a run: which stage is it in? ---------------------------------------------------
# The pipeline logs no event when a stage *starts* (fetch logs "resolved", the others only
# their outcome), so a phase is recognised by the first trace it leaves in the output folder;
# each marker below is created by the code that starts the phase (see the stage modules).
def _staging(output: Path) -> list[Path]:
    return list((output / "lessons" / LESSON_ID / "package").glob(f".bag{TEMP_MARK}*"))


def phase_markers(output: Path) -> dict[str, Callable[[], bool]]:
    lesson = output / "lessons" / LESSON_ID
    return {
        # fetch/stage.py: `folder.mkdir` right after the reuse check
        "fetch": lambda: (lesson / "fetch").is_dir(),
        # pipeline: subtitles runs once fetch's record is saved
        "subtitles": lambda: (lesson / "state" / "fetch.json").is_file(),
        "package-prep": lambda: (lesson / "state" / "subtitles.json").is_file(),
        # package/stage.py: `job.output.parent.mkdir` just before the first ffmpeg mux
        "mux": lambda: any((s / "master").is_dir() for s in _staging(output)),
        # package/stage.py writes provenance.json into staging right before `bag.make`, which
        # then moves the payload into data/
        "bagging": lambda: any((s / "provenance.json").exists() or (s / "data").is_dir()
                               for s in _staging(output)),
        # bag.publish renamed the staging folder into packages/<id>/
        "rename": lambda: (output / "packages" / LESSON_ID / "bagit.txt").is_file(),
        "publish": lambda: (lesson / "state" / "package.json").is_file(),
    }


PHASE_ORDER = ("fetch", "subtitles", "package-prep", "mux", "bagging", "rename", "publish")


@dataclasses.dataclass
class Watched:
    """One run of a command: its exit, the JSON events, when each phase marker appeared."""

    pid: int
    code: int | None
    stdout: str
    stderr: str
    seconds: float
    seen: dict[str, float]          # phase -> seconds after start when first seen
    killed_at: float | None = None  # seconds after start, when SIGKILLed
    killed_in: str | None = None    # the last phase seen when killed


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes in process group `pgid` (from /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def end_orphans(pgid: int, grace: float = 30.0) -> list[int]:
    """Let the children a killed run left behind (ffmpeg, the bagit child) finish, bounded;
    SIGKILL by pid whatever is still there after `grace` seconds. Returns who was seen."""
    seen = group_members(pgid)
    deadline = time.monotonic() + grace
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return seen


def watch(argv: Sequence[str], output: Path, kill_phase: str | None = None,
          delay: float = 0.0, timeout: float = RUN_TIMEOUT, poll: float = 0.001,
          group: bool = True, **popen: Any) -> Watched:
    """Run `argv` in its own process group, noting when each phase starts; with `kill_phase`,
    SIGKILL it `delay` seconds after that phase starts ("start" = the launch).

    By default the whole group is killed (ffmpeg, the bagit child) as a power cut would; with
    `group=False` only the archiver process, as `kill -9 <pid>` or the OOM killer would, and
    its children run on as orphans (the caller ends them with `end_orphans(pid)`). The kernel
    releases the run lock with the process either way."""
    markers = phase_markers(output)
    started = time.monotonic()
    process = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True, **popen)
    out: list[str] = []
    err: list[str] = []
    readers = [threading.Thread(target=lambda s=stream, b=buf: b.append(s.read()), daemon=True)
               for stream, buf in ((process.stdout, out), (process.stderr, err))]
    for reader in readers:
        reader.start()
    seen: dict[str, float] = {"start": 0.0}
    killed_at = killed_in = None
    try:
        while process.poll() is None:
            now = time.monotonic() - started
            if now > timeout:
                raise TimeoutError(f"{argv} still running after {timeout:.0f} s")
            for name, present in markers.items():
                if name not in seen and present():
                    seen[name] = now
            if kill_phase is not None and kill_phase in seen and \
                    now >= seen[kill_phase] + delay:
                if group:
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    os.kill(process.pid, signal.SIGKILL)
                killed_at = now
                killed_in = max((p for p in seen if p in PHASE_ORDER),
                                key=PHASE_ORDER.index, default="start")
                break
            time.sleep(poll)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:  # still ours (not reaped), so the group id is still ours
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    for reader in readers:
        reader.join(timeout=30)
    return Watched(process.pid, code, "".join(out), "".join(err), time.monotonic() - started,
                   seen, killed_at, killed_in)


# -- what must be the same after any crash and rerun -----------------------------------------
# Files that carry the time of the run, a random id, or a measured duration, so two
# uninterrupted runs already differ: WARC records (WARC-Date, record ids), capture.json
# (started/ended of each exchange), state records (started/ended), provenance / videoobject /
# catalog / current.json (archivedAt, capture time, tool timings), the ffmetadata and bag-info
# (archived_at, Bagging-Date), the bag's manifests and PREMIS log (digests and dates of the
# files above), the site's pages and reports. For these only completeness is checked (they
# parse; verify covers the bag's own manifests). quality.json is reproducible except its
# measured timings (`*_seconds`). The MKV master and MP4 access copy carry `archived_at` as a
# tag, the MKV a random segment UID and the attached provenance (time-bearing, so its length
# varies), so they are compared stream by stream (ffmpeg streamhash of every packet) and by
# their ffprobe description minus that tag and those lengths: the same media, tracks, chapters
# and tags; the attachment is extracted and must parse.
TIME_BEARING = ("capture.json", "capture.warc.gz", "capture-media.warc", "capture.wacz",
                "provenance.json",
                "videoobject.json", "catalog.json", "current.json", "metadata.ffmeta",
                "bag-info.txt",
                "manifest-sha256.txt", "manifest-sha512.txt", "tagmanifest-sha256.txt",
                "tagmanifest-sha512.txt", "premis-events.jsonl", "publish.json")
MEDIA = (".mkv", ".mp4")
IGNORED_TOP = ("reports", ".lock", ".catalog.lock")


def temp_leftovers(output: Path) -> list[str]:
    """Every path under `output` whose name marks it temporary (relative, sorted)."""
    return sorted(p.relative_to(output).as_posix() for p in output.rglob(f"*{TEMP_MARK}*"))


def _probe(path: Path) -> str:
    proc = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_format",
                           "-show_streams", "-show_chapters", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        return f"complete:ffprobe failed: {proc.stderr.strip()[-300:]}"
    info = json.loads(proc.stdout)
    for key in ("filename", "size", "bit_rate"):  # the attachment's length varies (below)
        info["format"].pop(key, None)
    tags = info["format"].get("tags", {})
    for key in [k for k in tags if k.lower() == "archived_at"]:
        del tags[key]
    attachments = [s for s in info["streams"] if s.get("codec_type") == "attachment"]
    for stream in attachments:
        stream.pop("extradata_size", None)
    for n, _stream in enumerate(attachments):  # the attached provenance is time-bearing JSON
        dumped = path.parent / f".probe{TEMP_MARK}{n}.json"
        try:
            subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y",
                            f"-dump_attachment:t:{n}", str(dumped), "-i", str(path)],
                           capture_output=True, timeout=60, check=False)
            _stream["attachment_check"] = _complete(dumped)
        finally:
            dumped.unlink(missing_ok=True)
    streams = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0",
                              "-c", "copy", "-f", "streamhash", "-hash", "sha256", "-"],
                             capture_output=True, text=True, timeout=60, check=False)
    digest = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()[:16]
    return f"probe:{digest} streams:{streams.stdout.strip().replace(chr(10), ' ')}"


def _complete(path: Path) -> str:
    """'ok' when a time-bearing file is complete and well-formed, else what is wrong."""
    try:
        if path.suffix == ".json":
            json.loads(path.read_text("utf-8"))
        elif path.suffix == ".jsonl":
            for line in path.read_text("utf-8").splitlines():
                json.loads(line)
        elif path.name.endswith((".gz", ".warc")):
            from warcio.archiveiterator import ArchiveIterator

            if path.name.endswith(".gz"):
                with gzip.open(path, "rb") as handle:
                    handle.read()  # raises on a truncated member
            with open(path, "rb") as handle:
                kinds = [r.rec_type for r in ArchiveIterator(handle)]
            if "response" not in kinds:
                return f"no response record in {kinds}"
        elif path.suffix == ".wacz":
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()  # reads every member, checks its CRC
                if bad is not None or "datapackage.json" not in archive.namelist():
                    return f"damaged WACZ (member {bad})"
        elif path.stat().st_size == 0:
            return "empty"
        elif path.suffix == ".html" and not path.read_text("utf-8").rstrip().endswith("</html>"):
            return "truncated HTML"
    except (ValueError, OSError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        return f"damaged: {type(exc).__name__}: {exc}"
    return "ok"


def _kind(rel: str, path: Path) -> str:
    if path.name == "quality.json":
        return "quality"
    if path.suffix in MEDIA and ("/data/master/" in rel or "/data/access/" in rel
                                 or rel.startswith("site/media/")):
        return "media"
    if (path.name in TIME_BEARING or "/state/" in rel or path.suffix == ".html"
            or rel.startswith("site/iiif/")):  # IIIF manifests name the capture time
        return "time-bearing"
    return "exact"


def archive_fingerprint(output: Path) -> dict[str, str]:
    """relative path -> comparable digest of every final file (temporary names excluded):
    `sha256:` exact bytes, `probe:` media description + stream hashes, `complete:` for
    time-bearing files (`complete:ok` or what is wrong)."""
    found: dict[str, str] = {}
    for path in sorted(output.rglob("*")):
        rel = path.relative_to(output).as_posix()
        if not path.is_file() or TEMP_MARK in rel or rel.split("/")[0] in IGNORED_TOP:
            continue
        kind = _kind(rel, path)
        if kind == "quality":
            try:
                data = json.loads(path.read_text("utf-8"))
                timing = data.get("timing", {})
                for key in [k for k in timing if k.endswith("_seconds")]:
                    del timing[key]  # how long detection took: measured, not derived
                digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
                found[rel] = f"sha256:{digest}"
            except ValueError as exc:
                found[rel] = f"complete:damaged: {exc}"
        elif kind == "media":
            found[rel] = _probe(path)
        elif kind == "time-bearing":
            found[rel] = f"complete:{_complete(path)}"
        else:
            found[rel] = f"sha256:{sha256(path)}"
    return found


def compare(reference: dict[str, str], got: dict[str, str]) -> list[str]:
    """Differences between two archive fingerprints, one line each."""
    problems = [f"missing: {rel}" for rel in sorted(set(reference) - set(got))]
    problems += [f"unexpected file: {rel}" for rel in sorted(set(got) - set(reference))]
    problems += [f"differs: {rel}: {got[rel]} (uninterrupted run: {reference[rel]})"
                 for rel in sorted(set(reference) & set(got)) if reference[rel] != got[rel]]
    return problems


def packages(output: Path) -> list[str]:
    """Every bag under packages/ (a `bagit.txt` marks one, older versions included)."""
    return sorted(p.parent.relative_to(output).as_posix()
                  for p in (output / "packages").rglob("bagit.txt"))


def verify(output: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_archiver("verify", "--output", str(output), "--keep", "0", *extra)


def catalog_problems(output: Path, lesson_ids: Iterable[str]) -> list[str]:
    """The catalog lists each lesson as archived, and its file digests match the files."""
    problems, catalog = [], json.loads((output / "catalog.json").read_text("utf-8"))
    entries = {e["id"]: e for e in catalog["lessons"]}
    for lesson_id in lesson_ids:
        entry = entries.get(lesson_id)
        if entry is None or entry.get("status") != "archived":
            problems.append(f"catalog: {lesson_id} is {entry and entry.get('status')}")
            continue
        files = {k: v for k, v in entry["files"].items() if k != "tracks" and v}
        files.update({f"track {k}": v for k, v in (entry["files"].get("tracks") or {}).items()})
        for key, info in files.items():
            path = output / info["path"]
            if not path.is_file() or sha256(path) != info["sha256"]:
                problems.append(f"catalog: {lesson_id} {key} {info['path']} does not match")
    return problems
