"""`archiver demo`: archive lesson 13 end to end with no network at all.

The real pages are unreachable offline and their certificates are broken in ways a demo must
show, so the demo builds a stand-in: a generated mirror of the lesson (cached), served over
HTTPS on 127.0.0.1 with a certificate that is both expired and from an unknown issuer, and a
manifest whose only source pins that certificate. Then it runs `archiver archive` on it while
the server runs, which exercises fetch (TLS evidence, WARC), subtitles, package and publish
exactly as on a real site.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from archiver.demo.certs import CertSet, cached_certs
from archiver.demo.manifest import write_demo_manifest
from archiver.demo.mirror import Mirror, build_mirror, spec_for_lesson
from archiver.demo.server import MediaServer, Resource
from archiver.errors import ArchiverError, UsageError
from archiver.log import EventLog
from archiver.manifest import load_manifest
from archiver.model import Manifest

HELP = ("archive lesson 13 offline: build a generated mirror (cached), serve it over HTTPS "
        "with an expired, untrusted certificate, and run the whole pipeline on it")
NEEDS_MANIFEST = False
DEFAULT_PORT = 47443
DEFAULT_LESSON = "digital-china-13"
CERT_KIND = "expired-untrusted"
SOURCE_MANIFEST = Path("manifests/digital-china.toml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source-manifest", type=Path, default=None,
                        help="the real manifest the lesson's facts come from; default: "
                        f"{SOURCE_MANIFEST} (here, else beside the installed package)")
    parser.add_argument("--lesson", default=DEFAULT_LESSON,
                        help="lesson to mirror (needs a duration and a transcript); "
                        "default: %(default)s")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="HTTPS port on 127.0.0.1 (a free one is used when it is busy); "
                        "default: %(default)s")
    parser.add_argument("--rebuild-mirror", action="store_true",
                        help="regenerate the mirror even when its inputs are unchanged")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--mirror-only", action="store_true",
                      help="build (or reuse) the mirror, write the demo manifest, and stop")
    mode.add_argument("--serve-only", action="store_true",
                      help="build the mirror and serve it until Ctrl-C without archiving, "
                      "for `archiver archive --manifest <output>/demo.toml` in another shell")


@dataclass
class DemoSetup:
    """What a demo run serves and archives; other tools (tests, benchmarks) reuse it."""

    output: Path
    mirror: Mirror
    certs: CertSet
    source: Manifest
    lesson_id: str

    @property
    def manifest_path(self) -> Path:
        return self.output / "demo.toml"


def find_source_manifest(given: Path | None) -> Path:
    """The real manifest: as given, else in the working folder, else in the source tree."""
    if given is not None:
        return given
    if SOURCE_MANIFEST.is_file():
        return SOURCE_MANIFEST
    beside_package = Path(__file__).resolve().parents[2] / SOURCE_MANIFEST
    return beside_package if beside_package.is_file() else SOURCE_MANIFEST


def prepare(output: Path, source_manifest: Path | None = None, lesson_id: str = DEFAULT_LESSON,
            jobs: int = 2, rebuild: bool = False, log: EventLog | None = None) -> DemoSetup:
    """Build (or reuse) the mirror of `lesson_id` and its server identity under `output`."""
    source = load_manifest(find_source_manifest(source_manifest))
    try:
        lesson = source.lesson(lesson_id)
    except KeyError:
        raise UsageError(f"--lesson {lesson_id!r} is not in {source.path}") from None
    folder = output / "mirror"
    if log:
        log.info("mirror", lesson=lesson.id, message=f"checking the mirror in {folder}")
    mirror = build_mirror(folder, spec_for_lesson(lesson), jobs=jobs, force=rebuild)
    if log:
        if mirror.built:
            log.info("mirror-built", lesson=lesson.id, seconds=mirror.seconds,
                     media=str(mirror.media), truth=str(mirror.truth))
        else:
            log.info("mirror-reused", lesson=lesson.id, media=str(mirror.media))
    certs, made = cached_certs(folder / "certs", CERT_KIND)
    if log:
        log.info("certificate", lesson=lesson.id, kind=CERT_KIND,
                 state="made" if made else "reused", sha256=certs.fingerprint)
    return DemoSetup(output=output, mirror=mirror, certs=certs, source=source,
                     lesson_id=lesson.id)


def resources(mirror: Mirror) -> dict[str, Resource]:
    """The served files, streamed from disk (truth.json and the keys are not served)."""
    served = {}
    for name, content_type in mirror.files.items():
        path = mirror.folder / name
        served["/" + name] = Resource(path, content_type,
                                      last_modified=path.stat().st_mtime)
    return served


def start_server(setup: DemoSetup, port: int = DEFAULT_PORT) -> MediaServer:
    """Serve the mirror on `port`, or on a free port when that one is taken."""
    try:
        server = MediaServer(resources(setup.mirror), setup.certs, port=port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE or port == 0:
            raise ArchiverError(f"cannot listen on 127.0.0.1:{port}: {exc}") from None
        server = MediaServer(resources(setup.mirror), setup.certs, port=0)
    return server.start()


@contextlib.contextmanager
def serving(setup: DemoSetup, port: int = DEFAULT_PORT) -> Iterator[tuple[MediaServer, Path]]:
    """Run the server and write the demo manifest that points at it (its URL and pin)."""
    server = start_server(setup, port)
    try:
        url = server.url("/" + setup.mirror.spec.page_name)
        write_demo_manifest(setup.manifest_path, setup.source.series,
                            setup.source.lesson(setup.lesson_id), url, setup.certs.fingerprint)
        yield server, setup.manifest_path
    finally:
        server.stop()


def _archive_argv(args: argparse.Namespace, manifest: Path) -> list[str]:
    argv = ["archive", "--manifest", str(manifest), "--output", str(args.output),
            "--jobs", str(args.jobs)]
    if args.json_log:
        argv.append("--json-log")
    if args.debug:
        argv.append("--debug")
    return argv


def _report(setup: DemoSetup, code: int) -> None:
    """Tell the user where to look: the evidence of the broken certificate and the package."""
    lesson_dir = setup.output / "lessons" / setup.lesson_id
    places = [
        ("demo manifest", setup.manifest_path),
        ("mirror page", setup.mirror.page),
        ("alignment truth", setup.mirror.truth),
        ("TLS evidence", lesson_dir / "fetch" / "capture.json"),
        ("WARC capture", lesson_dir / "fetch" / "capture.warc.gz"),
        ("WARC of media", lesson_dir / "fetch" / "capture-media.warc"),
        ("WACZ (replay)", setup.output / "packages" / setup.lesson_id / "data" / "capture"
         / "capture.wacz"),
        ("subtitles", lesson_dir / "subtitles"),
        ("package", setup.output / "packages" / setup.lesson_id),
        ("catalog", setup.output / "catalog.json"),
        ("site", setup.output / "site" / "index.html"),
    ]
    print(f"archiver demo finished with exit code {code}")
    for label, path in places:
        state = "" if path.exists() else "  (not written)"
        print(f"  {label:16} {path}{state}")
    try:
        tls = json.loads((lesson_dir / "fetch" / "capture.json").read_text("utf-8"))["tls"]
        print(f"  certificate problems: {', '.join(tls['problems']) or 'none'}; "
              f"outcome under {tls['policy']}: {tls['outcome']}")
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no capture yet (fetch failed or does not exist): the table above says why


def run(args: argparse.Namespace, log: EventLog) -> int:
    from archiver.cli import main as cli_main  # the CLI imports this module lazily

    started = time.monotonic()
    output: Path = args.output
    setup = prepare(output, args.source_manifest, args.lesson, jobs=args.jobs,
                    rebuild=args.rebuild_mirror, log=log)
    with serving(setup, args.port) as (server, manifest):
        log.info("serving", lesson=setup.lesson_id, url=server.base_url,
                 certificate=f"{CERT_KIND} sha256:{setup.certs.fingerprint}")
        if args.mirror_only:
            log.info("mirror-only", message=f"demo manifest written to {manifest}; "
                     "the server stops now, so rerun without --mirror-only to archive")
            return 0
        if args.serve_only:
            log.info("serve-only", message=f"serving until Ctrl-C; archive with: archiver "
                     f"archive --manifest {manifest} --output {output}")
            while True:  # ends with KeyboardInterrupt; the CLI turns that into exit 130
                time.sleep(3600)
        code = cli_main(_archive_argv(args, manifest))
    log.info("demo-finished", lesson=setup.lesson_id, exit_code=code,
             seconds=round(time.monotonic() - started, 1), requests=len(server.requests))
    _report(setup, code)
    return code
