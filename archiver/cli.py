"""Command line: parse arguments, call one function, map errors to exit codes.

Exit codes: 0 all good, 1 some lesson (or fixity check) failed, 2 bad usage or bad manifest,
130/143 stopped by SIGINT/SIGTERM (the run stops within seconds, resumably: archiver.cancel).
Expected failures print one line; `--debug` adds the traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from archiver import __version__, cancel
from archiver.batch import any_failed, run_stages
from archiver.cluster.spec import local_cluster, scheduler_address
from archiver.errors import ArchiverError, UsageError
from archiver.log import EventLog
from archiver.manifest import load_manifest, select
from archiver.model import Details, StageResult
from archiver.options import (
    add_fetch_arguments,
    add_publish_arguments,
    add_subtitles_arguments,
    from_args,
    positive_int,
)
from archiver.pipeline import ARCHIVE_CHAIN, LESSON_CHAIN, Context, load_stage
from archiver.report import outcome_rows, print_table
from archiver.store import Store

DEFAULT_MANIFEST = Path("manifests/digital-china.toml")
STAGE_COMMANDS = {
    "archive": ("fetch, make subtitles, package and publish every lesson", ARCHIVE_CHAIN),
    "fetch": ("download each lesson's media with TLS evidence and a WARC capture", ("fetch",)),
    "subtitles": ("turn transcripts into audio-aligned zh-Hans, en and bilingual WebVTT",
                  ("subtitles",)),
    "package": ("mux MKV master and MP4 access copy and build BagIt packages", ("package",)),
}
# commands implemented in their own modules: each has HELP, add_arguments(p), run(args, log)
MODULE_COMMANDS = {
    "publish": "archiver.publish.command",
    "serve": "archiver.publish.serve",
    "verify": "archiver.verify.command",
    "check-sources": "archiver.verify.sources",
    "demo": "archiver.demo.command",
}


def _common(parser: argparse.ArgumentParser, manifest: bool = True) -> None:
    if manifest:
        parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST,
                            help="series manifest (TOML); default: %(default)s")
        parser.add_argument("--only", nargs="+", metavar="ID",
                            help="only these lesson ids (default: every lesson)")
    parser.add_argument("--output", type=Path, default=Path("output"),
                        help="archive folder; default: %(default)s")
    parser.add_argument("--jobs", type=positive_int, default=min(4, os.cpu_count() or 2),
                        help="lessons (or files) processed at once; default: %(default)s")
    parser.add_argument("--json-log", action="store_true",
                        help="log one JSON object per line on stderr (for machines)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug events")


def build_parser(modules: dict[str, ModuleType] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archiver",
        description="Preserve lecture videos from fragile web pages: fetch (with TLS evidence "
        "and WARC capture), bilingual subtitles, BagIt packages, fixity checks and an "
        "embeddable static site.",
        epilog="Exit codes: 0 all good, 1 a lesson or check failed, 2 bad usage or manifest, "
        "130/143 stopped by SIGINT/SIGTERM (rerun to resume).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, _stages) in STAGE_COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _common(p)
        p.add_argument("--force", action="store_true",
                       help="redo the stage(s) even when inputs are unchanged")
        p.add_argument("--wait", action="store_true",
                       help="wait for another run's lock instead of refusing")
        if "fetch" in _stages:
            add_fetch_arguments(p)
        if "subtitles" in _stages:
            add_subtitles_arguments(p)
        if "publish" in _stages:
            add_publish_arguments(p)
        if name == "archive":
            where = p.add_mutually_exclusive_group()
            where.add_argument("--scheduler", dest="cluster", type=scheduler_address,
                               metavar="ADDRESS",
                               help="run the lessons on the Dask cluster of this scheduler "
                                    "(e.g. tcp://10.0.0.5:8786); see docs/scale.md")
            where.add_argument("--cluster", dest="cluster", type=local_cluster,
                               metavar="local:N",
                               help="run the lessons on a local Dask cluster of N worker "
                                    "processes")
    p = sub.add_parser("status", help="show every lesson's stage outcomes from the archive",
                       description="Show what the archive holds for each lesson.")
    _common(p)
    for name, module in (modules or {}).items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        _common(p, manifest=getattr(module, "NEEDS_MANIFEST", True))
        module.add_arguments(p)
    return parser


def _load_modules(argv: Sequence[str] | None = None) -> dict[str, ModuleType]:
    """The module commands the parser needs for `argv` (default: the process's arguments).

    Why not always all: importing them (publish pulls in iiif_prezi3 and pydantic, verify
    and demo more) costs ~0.4 s of CPU, a fifth of the fixed cost of an `archiver fetch`
    (benchmarks/fetch_process.py). A stage command or `status` parses without them; no
    command, `--help` or a module command gets every one, so the help lists them all.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    command = next((word for word in words if not word.startswith("-")), None)
    if command in STAGE_COMMANDS or command == "status":
        return {}
    return {name: importlib.import_module(path) for name, path in MODULE_COMMANDS.items()}


def _run_stages(args: argparse.Namespace, log: EventLog, program: bool = False) -> int:
    manifest = load_manifest(args.manifest)
    lessons = select(manifest, args.only, fail=UsageError)
    store = Store(args.output)
    options = from_args(args)  # refuses invalid values before the lock is taken
    with cancel.signals_cancel():
        if getattr(args, "cluster", None) is not None:
            from archiver.cluster.client import run_on_cluster

            outcomes = run_on_cluster(args.cluster, lessons, STAGE_COMMANDS[args.command][1],
                                      store, manifest, log, options, force=args.force,
                                      debug=args.debug, wait=args.wait)
        else:
            with store.locked(wait=args.wait):
                if program:  # once the lock is held: a waiting run imports nothing early
                    _settle(STAGE_COMMANDS[args.command][1])
                ctx = Context(store=store, manifest=manifest, log=log, jobs=args.jobs,
                              force=args.force, options=options)
                outcomes = run_stages(lessons, STAGE_COMMANDS[args.command][1], ctx)
    print_table(outcome_rows(outcomes))
    if cancel.cancelled():
        log.error("interrupted", message=f"stopped by {signal_name(cancel.signal_number())}; "
                  "rerun to resume")
        return 128 + cancel.signal_number()
    return 1 if any_failed(outcomes) else 0


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _status(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    store = Store(args.output)
    outcomes: dict[str, list[StageResult[Details]]] = {}
    for lesson in select(manifest, args.only, fail=UsageError):
        outcomes[lesson.id] = [r for stage in LESSON_CHAIN
                               if (r := store.load_result(lesson.id, stage)) is not None]
    print_table(outcome_rows(outcomes, show_missing=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; `argv` None: the process's own arguments (the `archiver` program).

    As the program, the process exits right after: `gc.freeze()` first moves every object
    to the collector's permanent generation, so the interpreter's final collections do not
    traverse the ~100k objects yt-dlp's extractors leave (0.3 s of CPU at every exit, a
    fifth of the fixed cost of an `archiver fetch`, benchmarks/fetch_process.py). Objects
    are still freed by reference counting and files closed by their `with` blocks; a caller
    passing `argv` (tests, scripts) keeps a normal collector.
    """
    code = _command(argv)
    if argv is None:
        gc.freeze()
    return code


def _settle(stages: Sequence[str]) -> None:
    """As the program, at the start of a local run: import the stages' modules now (the run
    would, from its worker threads) and `gc.freeze()` what the imports built.

    Why: yt-dlp's thousands of extractor classes and every module object are permanent, yet
    each full collection during the run traversed them again (~0.1 s of CPU per `archiver
    fetch`, then more at exit; benchmarks/fetch_process.py). Frozen, the collector only
    looks at what the run itself allocates.
    """
    for name in stages:
        load_stage(name)
    gc.freeze()


def _command(argv: Sequence[str] | None) -> int:
    modules = _load_modules(argv)
    parser = build_parser(modules)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): a code, also for callers
        return exc.code if isinstance(exc.code, int) else 2
    log = EventLog(json_lines=args.json_log, debug=args.debug)
    try:
        if args.command in STAGE_COMMANDS:
            return _run_stages(args, log, program=argv is None)
        if args.command == "status":
            return _status(args)
        return int(modules[args.command].run(args, log))
    except ArchiverError as exc:
        log.error("error", message=str(exc))
        if args.debug:
            traceback.print_exc()
        return 128 + cancel.signal_number() if isinstance(exc, cancel.Interrupted) \
            else exc.exit_code
    except OSError as exc:  # disk full, permissions: say what and where, no traceback
        log.error("error", message=f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        if args.debug:
            traceback.print_exc()
        return 1
    except KeyboardInterrupt:
        log.error("interrupted", message="stopped by the user; rerun to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
