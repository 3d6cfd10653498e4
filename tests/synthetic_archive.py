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
                text: str | None = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if len(data) > TEXT_LIMIT:
                text = None
            files.append(_File(path.relative_to(output).as_posix(), text, _digests(data)))
    return files


def _resolve(files: list[_File], mapping: dict[str, str]) -> dict[str, bytes]:
    """Every text file of the clone, with `mapping` (old -> new strings) grown by the digests
    of the files it changes, until it is stable; returns rel -> new bytes."""
    while True:
        contents: dict[str, bytes] = {}
        grown = False
        for item in files:
            if item.text is None:
                continue
            text = item.text
            for old, new in mapping.items():
                if old in text:
                    text = text.replace(old, new)
            data = text.encode("utf-8")
            contents[item.rel] = data
            for old, new in zip(item.digests, _digests(data), strict=True):
                if old != new and mapping.get(old) != new:
                    mapping[old] = new
                    grown = True
        if not grown:
            return contents


def _write(output: Path, files: list[_File], contents: dict[str, bytes], clone: str) -> None:
    for item in files:
        dest = output / item.rel.replace(TEMPLATE, clone)
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = contents.get(item.rel)
        if data is not None and _digests(data) != item.digests:
            dest.write_bytes(data)
        elif not dest.exists():
            os.link(output / item.rel, dest)  # unchanged from the template


def _clone(output: Path, manifest: Manifest, files: list[_File], template: Lesson,
           lesson: Lesson) -> None:
    store = Store(output)
    template_package = store.load_result(TEMPLATE, "package")
    if template_package is None:
        raise RuntimeError("the template lesson has no package record")
    mapping = {TEMPLATE: lesson.id, lesson_fingerprint(template): lesson_fingerprint(lesson)}
    work_files = [f for f in files if f.rel.startswith("lessons/")]
    _write(output, work_files, _resolve(work_files, dict(mapping)), lesson.id)
    inputs = gather(lesson, manifest.series, store)  # the package fingerprint of the clone
    if inputs is None:
        raise RuntimeError(f"the clone {lesson.id} has no fetched media")
    mapping[template_package.fingerprint] = inputs.fingerprint
    _write(output, files, _resolve(files, mapping), lesson.id)


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
    files = _template_files(output)
    template = manifest.lessons[0]
    for lesson in manifest.lessons[1:]:
        _clone(output, manifest, files, template, lesson)
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
