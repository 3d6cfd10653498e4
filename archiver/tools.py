"""Versions of the tools a run uses, probed once per run (not once per lesson).

A stage names the tools it used (`Stage.tools`, or `Done.tools`); the runner records their
versions in each StageResult from this probe, which runs `ffmpeg -version` and the like at
most once per `Context` (one command = one run) however many lessons use them. Thread-safe:
lessons run concurrently.
"""

from __future__ import annotations

import platform
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterable
from importlib import metadata

from archiver import __version__


def _distribution(name: str) -> Callable[[], str]:
    def probe() -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"
    return probe


def _program(name: str) -> Callable[[], str]:
    """`<name> -version`'s version word (ffmpeg/ffprobe: "ffmpeg version 5.1.6-0+deb12u1 …")."""
    def probe() -> str:
        try:
            out = subprocess.run([name, "-version"], capture_output=True, text=True,
                                 check=False, timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired):
            return "unavailable"
        words = out.split("\n", 1)[0].split(" ")
        return words[2] if len(words) > 2 and words[1] == "version" else "unknown"
    return probe


def _mkvtoolnix(name: str) -> Callable[[], str]:
    """`<name> --version`'s version word (MKVToolNix: "mkvmerge v74.0.0 ('You Oughta Know')
    64-bit" -> "74.0.0")."""
    def probe() -> str:
        try:
            out = subprocess.run([name, "--version"], capture_output=True, text=True,
                                 check=False, timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired):
            return "unavailable"
        words = out.split()
        return words[1].removeprefix("v") if len(words) > 1 and words[0] == name else "unknown"
    return probe


def _bagit() -> str:
    import bagit  # only the package stage needs it

    return str(bagit.VERSION)


PROBES: dict[str, Callable[[], str]] = {
    "archiver": lambda: __version__,
    "lesson-archiver": lambda: __version__,
    "python": platform.python_version,
    "openssl": lambda: ssl.OPENSSL_VERSION,
    "yt-dlp": _distribution("yt-dlp"),
    "httpx": _distribution("httpx"),
    "warcio": _distribution("warcio"),
    "tenacity": _distribution("tenacity"),
    "ffmpeg-python": _distribution("ffmpeg-python"),
    "bagit-python": _bagit,
    "wacz": _distribution("wacz"),
    "ffmpeg": _program("ffmpeg"),
    "ffprobe": _program("ffprobe"),
    "mkvmerge": _mkvtoolnix("mkvmerge"),
    "mkvextract": _mkvtoolnix("mkvextract"),
    "mkvpropedit": _mkvtoolnix("mkvpropedit"),
}


class ToolVersions:
    """The versions known so far in this run; each tool is probed on first use only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, str] = {}

    def version(self, name: str) -> str:
        with self._lock:
            if name not in self._known:
                self._known[name] = PROBES[name]()
            return self._known[name]

    def versions(self, names: Iterable[str]) -> dict[str, str]:
        return {name: self.version(name) for name in names}
