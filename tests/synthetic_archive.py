"""A synthetic archive of thousands of tiny but real lessons, for scale tests and `make bench`.

Why not archive 10,000 lessons for real: one short lesson costs ~1 s of ffmpeg and bagit, so
a 10,000-lesson archive would take hours. Instead ONE lesson is archived for real (the short
demo lesson of stress_support, through `archiver archive` against the demo mirror), and every
other lesson is a clone of it:
- media files (the original, the MKV master, the MP4 access copy, the WARC) are hard links to
  the template's: no extra disk, and their digests in every manifest stay right;
- every text file that names the template's id (records, VTT/SRT, provenance, bag-info,
  BagIt manifests...) is rewritten with the clone's id, which has the same length, so every
  size (and the bag's Payload-Oxum) stays right;
- then every digest that changed with it is replaced wherever it appears (the state records'
  outputs, the package details, the BagIt payload and tag manifests), and so are the stage
  fingerprints that depend on the id (fetch: `lesson_fingerprint`; package: `gather` on the
  clone's own files, also in bag-info's Archiver-Inputs-Fingerprint), repeated until nothing
  changes (a file never holds its own digest, so this ends after a few rounds).
The result is what a real run would have made for that manifest, so `archiver verify` finds
every bag valid and a rerun finds every stage unchanged (tests/test_scale.py checks both),
except that binary media keep the template's id in their embedded title tag.

`build(folder, count)` is cached per folder: a second call with the same count reuses it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from stress_support import make_short_demo

from archiver.demo.command import serving
from archiver.demo.manifest import lesson_table, toml_dumps
from archiver.fetch.stage import lesson_fingerprint
from archiver.manifest import load_manifest
from archiver.model import Lesson, Manifest
from archiver.package import catalog
from archiver.package.inputs import gather
from archiver.store import TEMP_MARK, Store

TEMPLATE = "lesson-00001"
TIMEOUT = 1800.0
JOBS = 2  # clone processes
TEXT_LIMIT = 1 << 20  # larger files are media: linked, never rewritten


def lesson_id(n: int) -> str:
    """The id of the n-th lesson (1-based): all ids have the template's length."""
    return f"lesson-{n:05d}"


def write_manifest(path: Path, served: Path, count: int) -> list[str]:
    """A manifest of `count` clones of the demo lesson in `served` (its mirror URL and pin)."""
    source = load_manifest(served)
    demo = source.lessons[0]
    tables, ids = [], []
    for n in range(1, count + 1):
        lesson = dataclasses.replace(demo, id=lesson_id(n), number=n)
        ids.append(lesson.id)
        tables.append(lesson_table(lesson, [{"url": s.url, "kind": s.kind, "tls": str(s.tls)}
                                            for s in demo.sources]))
    series = {"id": source.series.id,
              "title": {"en": source.series.title.en or "", "zh": source.series.title.zh or ""},
              "publisher": {"en": source.series.publisher.en or "",
                            "zh": source.series.publisher.zh or ""}}
    path.write_text(toml_dumps({"series": series, "lessons": tables},
                               frozenset({"series", "lessons", "lessons.sources"})), "utf-8")
    return ids


def _archive(manifest: Path, output: Path, command: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "archiver", command, "--manifest",
                           str(manifest), "--output", str(output)],
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"archiver {command} failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")


@dataclasses.dataclass
class _File:
    rel: str            # relative to the output folder, with the template id
    text: str | None    # the template's text (None: binary, always a link)
    digests: tuple[str, str]  # sha256, sha512 of the template's bytes
    keys: tuple[str, ...] = ()  # the template strings (id, fingerprints, digests) it holds


def _digests(data: bytes) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest()


def _template_files(output: Path) -> list[_File]:
    files = []
    for top in (output / "lessons" / TEMPLATE, output / "packages" / TEMPLATE):
        for path in sorted(top.rglob("*")):
            if not path.is_file() or TEMP_MARK in path.name:
                continue
            data = path.read_bytes()
            try:
                text: str | None = data.decode("utf-8") if len(data) <= TEXT_LIMIT else None
            except UnicodeDecodeError:
                text = None
            files.append(_File(path.relative_to(output).as_posix(), text, _digests(data)))
    return files


@dataclasses.dataclass
class _Plan:
    """How to clone the template, worked out once: the text files in an order where every
    file comes after the files whose digests it holds (and all files that hold the package
    fingerprint after those it is computed from), each with the strings to replace."""

    files: list[_File]
    package_fp: str
    fetch_fp: str
    needs_package_fp: set[str]


def _plan(output: Path, template: Lesson) -> _Plan:
    files = _template_files(output)
    record = Store(output).load_result(TEMPLATE, "package")
    if record is None:
        raise RuntimeError("the template lesson has no package record")
    fetch_fp, package_fp = lesson_fingerprint(template), record.fingerprint
    owner = {d: f.rel for f in files for d in f.digests}
    texts = [f for f in files if f.text is not None]
    for item in texts:
        assert item.text is not None
        item.keys = tuple(k for k in (TEMPLATE, fetch_fp, package_fp, *owner)
                          if k in item.text and owner.get(k) != item.rel)
    by_rel = {f.rel: f for f in texts}
    ordered: list[_File] = []
    seen: set[str] = set()

    def visit(item: _File) -> None:
        if item.rel in seen:
            return
        seen.add(item.rel)
        for key in item.keys:
            if key in owner and owner[key] in by_rel:
                visit(by_rel[owner[key]])
        ordered.append(item)

    for item in texts:
        visit(item)
    needs: set[str] = set()
    for item in ordered:  # dependencies first, so one pass settles it
        if package_fp in item.keys or any(owner.get(k) in needs for k in item.keys):
            needs.add(item.rel)
    ordered.sort(key=lambda f: f.rel in needs)  # stable: the order holds within each part
    binaries = [f for f in files if f.text is None]
    return _Plan(binaries + ordered, package_fp, fetch_fp, needs)


def _clone(output: Path, manifest: Manifest, plan: _Plan, lesson: Lesson) -> None:
    store = Store(output)
    values = {TEMPLATE: lesson.id, plan.fetch_fp: lesson_fingerprint(lesson)}
    for item in plan.files:
        dest = output / item.rel.replace(TEMPLATE, lesson.id)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if item.text is None:
            if not dest.exists():
                os.link(output / item.rel, dest)
            continue
        if item.rel in plan.needs_package_fp and plan.package_fp not in values:
            inputs = gather(lesson, manifest.series, store)  # from the files written so far
            if inputs is None:
                raise RuntimeError(f"the clone {lesson.id} has no fetched media")
            values[plan.package_fp] = inputs.fingerprint
        text = item.text
        for key in item.keys:
            text = text.replace(key, values.get(key, key))
        data = text.encode("utf-8")
        new = _digests(data)
        values.update(zip(item.digests, new, strict=True))
        if new == item.digests:
            if not dest.exists():
                os.link(output / item.rel, dest)
        else:
            dest.write_bytes(data)


def _clone_range(output: Path, manifest_path: Path, first: int, last: int) -> int:
    """Clone lessons first..last (1-based, inclusive): one worker process's share."""
    manifest = load_manifest(manifest_path)
    plan = _plan(output, manifest.lessons[0])
    for lesson in manifest.lessons[first - 1:last]:
        _clone(output, manifest, plan, lesson)
    return last - first + 1


def build(folder: Path, count: int) -> tuple[Path, Path]:
    """An archive of `count` lessons under `folder` (cached): returns (manifest, output).

    A real archive of the template, its clones, the catalog built once. No site: publishing
    is a full rebuild with an ffmpeg poster per lesson (~1 s each), hours at 10,000 lessons;
    the template's own site (one lesson) is removed so nothing describes a stale site."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path, output = folder / f"synthetic-{count}.toml", folder / f"archive-{count}"
    done = folder / f".done-{count}"
    if done.is_file() and output.is_dir():
        return manifest_path, output
    shutil.rmtree(output, ignore_errors=True)
    setup = make_short_demo(folder / "template")
    with serving(setup, port=0) as (_server, served):
        write_manifest(folder / "template.toml", served, 1)
        write_manifest(manifest_path, served, count)
        _archive(folder / "template.toml", output, "archive")
    shutil.rmtree(output / "site")
    (output / "reports" / "publish.json").unlink()
    manifest = load_manifest(manifest_path)
    share = -(-(count - 1) // JOBS)
    ranges = [(2 + i * share, min(count, 1 + (i + 1) * share)) for i in range(JOBS)]
    with ProcessPoolExecutor(JOBS) as pool:
        done_count = sum(pool.map(_clone_range, *zip(*[(output, manifest_path, a, b)
                                                        for a, b in ranges if a <= b],
                                                      strict=True)))
    if done_count != count - 1:
        raise RuntimeError(f"{done_count} clones made, {count - 1} expected")
    catalog.rebuild(Store(output), manifest)
    done.write_text(f"{count}\n")
    return manifest_path, output


def subset(folder: Path, count: int, first: int) -> tuple[Path, Path]:
    """The first `first` lessons of the cached `count`-lesson archive as an archive of their
    own (hard links: every write of a run is a rename, so the source stays as it was)."""
    manifest_path, output = build(folder, count)
    small_manifest, small = folder / f"subset-{first}.toml", folder / f"subset-{first}"
    shutil.rmtree(small, ignore_errors=True)
    for top in ("lessons", "packages"):
        (small / top).mkdir(parents=True)
        for n in range(1, first + 1):
            subprocess.run(["cp", "-al", str(output / top / lesson_id(n)), str(small / top)],
                           check=True)
    text = manifest_path.read_text("utf-8")
    cut = text.find(f'id = "{lesson_id(first + 1)}"')
    kept = text if cut < 0 else text[:text.rfind("[[lessons]]", 0, cut)]
    small_manifest.write_text(kept, "utf-8")
    manifest = load_manifest(small_manifest)
    if len(manifest.lessons) != first:
        raise RuntimeError(f"the subset manifest has {len(manifest.lessons)} lessons")
    catalog.rebuild(Store(small), manifest)
    return small_manifest, small


if __name__ == "__main__":
    import time

    began = time.perf_counter()
    print(build(Path(sys.argv[1]), int(sys.argv[2])), f"{time.perf_counter() - began:.1f} s")
