"""The package's WACZ (`data/capture/capture.wacz`): the capture as one replayable web archive.

Why a WACZ beside the WARCs: it is what ReplayWeb.page and pywb open directly (a zip holding
the WARCs, a CDXJ index, the list of pages and a datapackage.json with every file's sha256),
so an archivist replays the lesson page without running an indexer. It is built with
webrecorder's own `wacz` (PyPI) in a child process: `wacz create` prints as it goes and keeps
state in module globals, neither of which belongs in our process.

The pages list names the lesson page (or, for a direct media source, the media URL) with the
lesson's title, so the WACZ opens on the lesson rather than on an arbitrary record. The media
WARC is stored, not deflated (wacz stores archives as they are): video does not compress.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from archiver import cancel
from archiver.errors import Location, PackageError
from archiver.store import atomic_write_text

NAME = "capture.wacz"
PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "Pages"}


def command(output: Path, pages: Path, warcs: list[Path], title: str) -> list[str]:
    """`wacz create` with our pages list (no `--url`: wacz would list that page twice)."""
    return [sys.executable, "-m", "wacz.main", "create", "-o", str(output), "-p", str(pages),
            "--title", title, "--hash-type", "sha256", *map(str, warcs)]


def write_pages(path: Path, url: str, title: str) -> None:
    """pages.jsonl as the WACZ spec's json-pages-1.0: a header line, then the lesson page."""
    lines = [PAGES_HEADER, {"url": url, "title": title}]
    atomic_write_text(path, "".join(json.dumps(line, ensure_ascii=False) + "\n"
                                    for line in lines))


def build(output: Path, warcs: list[Path], url: str, title: str, work: Path,
          lesson_id: str) -> list[str]:
    """Write the WACZ of `warcs` to `output` with `url` as its page; returns the argv used.

    A page wacz could not match to a record is an error, not a WACZ without its page: the
    capture would then not hold the lesson page it claims to."""
    pages = work / "pages.jsonl"
    write_pages(pages, url, title)
    argv = command(output, pages, warcs, title)
    proc = cancel.run(argv, capture_output=True, text=True, errors="replace", check=False,
                      timeout=3600)
    said = proc.stdout + proc.stderr
    if proc.returncode != 0 or not output.is_file():
        # its last line is the error itself; the lines before it are a Python traceback
        lines = said.strip().splitlines()
        raise PackageError(f"wacz could not build {output.name}: "
                           f"{lines[-1].strip() if lines else f'exit status {proc.returncode}'}",
                           Location(output, lesson=lesson_id))
    if "Invalid passed page" in said:
        raise PackageError(f"wacz found no record of the page {url} in the capture; "
                           f"{output.name} would not replay the lesson",
                           Location(output, lesson=lesson_id))
    return argv
