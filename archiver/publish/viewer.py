"""The IIIF AV viewer shipped in the site (`site/viewer/`): Samvera Ramp, built by `make viewer`.

Why Ramp: of the maintained IIIF viewers on npm (Universal Viewer, Clover IIIF, Ramp), it is
the one that shows everything a lesson's manifest says: the video or sound, each WebVTT
`supplementing` track as a selectable subtitle, the `structures` Ranges as a chapter list, and
the tracks as a transcript. Clover's browser-ready web component (3.3.8) lists no Ranges and
its annotation panel crashes; Universal Viewer 4.4's AV view reads no supplementing captions.
Ramp ships React components only, so `viewer/build.mjs` bundles it once with esbuild into one
script and one stylesheet (pinned by viewer/package-lock.json); publish copies that bundle.

The bundle lives outside the Python package (viewer/dist/, or `$LESSON_ARCHIVER_VIEWER`):
without it the site is still complete (pages, IIIF manifests for any other viewer) and the
publish log says how to add the viewer.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "LESSON_ARCHIVER_VIEWER"
FILES = ("ramp-viewer.js", "ramp-viewer.css", "LICENSES.txt")
MISSING = ("the IIIF viewer is not built (run `make viewer`, which needs node and npm): the "
           "site is published without site/viewer/; its IIIF manifests open in any IIIF viewer")


def bundle_dir() -> Path:
    """Where the built viewer is: `$LESSON_ARCHIVER_VIEWER`, else the checkout's viewer/dist."""
    given = os.environ.get(ENV)
    if given:
        return Path(given)
    return Path(__file__).resolve().parents[2] / "viewer" / "dist"


def bundle() -> list[Path] | None:
    """The viewer's files, or None when it is not built."""
    folder = bundle_dir()
    files = [folder / name for name in FILES]
    return files if all(f.is_file() for f in files) else None
