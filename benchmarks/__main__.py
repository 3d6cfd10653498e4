"""`make bench`: every performance claim, measured against a reference in the same run.

Each benchmark module exposes `run(workdir) -> list[row]`, a row being
{measure, ours_s, reference, reference_s, ratio, target}. Results go to the terminal as a
table and to `<output>/reports/bench.json`. Not part of `make test`: it needs minutes and GBs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from archiver.model import utcnow
from archiver.store import atomic_write_json

BENCHES = ("fetch", "fetch_process", "mux", "verify", "subtitles", "rerun", "memory", "mirror",
           "matrix")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("output"))
    parser.add_argument("--only", nargs="+", choices=BENCHES, default=list(BENCHES))
    parser.add_argument("--workdir", type=Path, default=None,
                        help="scratch folder (default: a temporary folder, removed after)")
    parser.add_argument("--fetch-mb", type=int, default=None, metavar="MIB",
                        help="size of the file the fetch and fetch_process rows download "
                        "(default: $ARCHIVER_BENCH_FETCH_MB, else 512); small for a quick run")
    args = parser.parse_args(argv)
    if args.fetch_mb is not None:
        os.environ["ARCHIVER_BENCH_FETCH_MB"] = str(args.fetch_mb)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="archiver-bench-"))
    rows: list[dict[str, Any]] = []
    try:
        for name in args.only:
            module = importlib.import_module(f"benchmarks.{name}")
            print(f"running {name} ...", file=sys.stderr, flush=True)
            bench_dir = workdir / name
            bench_dir.mkdir(parents=True, exist_ok=True)
            rows.extend(module.run(bench_dir))
            if args.workdir is None:
                shutil.rmtree(bench_dir, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report = {"generated": utcnow(), "machine": {"platform": platform.platform(),
              "python": platform.python_version(), "cpus": os.cpu_count(),
              "loadavg": os.getloadavg()},
              "rows": rows}
    atomic_write_json(args.output / "reports" / "bench.json", report)
    print_rows(rows)
    return 0


def print_rows(rows: list[dict[str, Any]]) -> None:
    header = f"{'measure':<44} {'ours':>9} {'reference':<26} {'ref':>9} {'ratio':>7}  target"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['measure']:<44} {row['ours_s']:>9.3f} {row['reference']:<26} "
              f"{(row['reference_s'] or 0):>9.3f} {(row['ratio'] or 0):>7.2f}  {row['target']}")


if __name__ == "__main__":
    sys.exit(main())
