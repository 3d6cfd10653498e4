"""`archiver fetch` end to end in a subprocess: exit codes, rerun, a write failure."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_fetch_support import page

from archiver.demo.certs import CertSet
from archiver.demo.manifest import render_manifest
from archiver.demo.server import MediaServer, Resource

pytestmark = pytest.mark.slow  # `archiver fetch` runs in child processes

Serve = Callable[..., MediaServer]
Certs = Callable[[str], CertSet]


def _manifest(path: Path, good: str, ca: Path, bad: str) -> Path:
    path.write_text(render_manifest([
        {"id": "good", "sources": [{"url": good, "kind": "mirror", "tls": f"ca:{ca}"}]},
        {"id": "broken", "sources": [{"url": bad, "tls": "verify"}]},
        {"id": "unknown", "title": {"en": "No source yet"}},
    ]), encoding="utf-8")
    return path


def _fetch(manifest: Path, output: Path, *extra: str, fsize: int | None = None
           ) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "archiver", "fetch", "--manifest", str(manifest), "--output",
         str(output), "--json-log", "--retries", "2", "--timeout", "5", *extra],
        capture_output=True, text=True, timeout=120, preexec_fn=limit, check=False)


def test_cli_fetch_outcomes_rerun_and_a_write_failure(
        serve: Serve, cert_factory: Certs, tiny_media: Path, tmp_path: Path) -> None:
    valid, expired = cert_factory("valid"), cert_factory("expired")
    good = serve({"/lesson": Resource(page("a.mp4"), "text/html"),
                  "/a.mp4": Resource(tiny_media, "video/mp4")}, valid)
    bad = serve({"/lesson": Resource(page("a.mp4"), "text/html")}, expired)
    manifest = _manifest(tmp_path / "m.toml", good.url("/lesson"), valid.ca, bad.url("/lesson"))
    output = tmp_path / "out"

    first = _fetch(manifest, output)
    assert first.returncode == 1, first.stderr  # one lesson failed
    state = json.loads((output / "lessons/good/state/fetch.json").read_text())
    assert state["status"] == "ok" and state["details"]["tls"]["outcome"] == "trusted-by-ca-bundle"
    broken = json.loads((output / "lessons/broken/state/fetch.json").read_text())
    assert broken["status"] == "failed" and "expired" in broken["error"]
    unknown = json.loads((output / "lessons/unknown/state/fetch.json").read_text())
    assert unknown["status"] == "skipped" and unknown["warnings"] == ["no source known"]
    original = output / "lessons/good/fetch/original.mp4"
    assert original.read_bytes() == tiny_media.read_bytes()

    requests = len(good.requests)
    again = _fetch(manifest, output, "--only", "good")
    assert again.returncode == 0, again.stderr
    assert len(good.requests) == requests  # complete: no request at all

    # a write failure (file size limit) fails the lesson cleanly; the earlier copy stays
    before = original.stat().st_mtime_ns
    good.resources["/a.mp4"] = Resource(b"\x00\x00\x00\x18ftypmp42" + bytes(3 << 20),
                                        "video/mp4")
    limited = _fetch(manifest, output, "--only", "good", "--force", fsize=1 << 20)
    assert limited.returncode == 1
    assert "cannot write" in limited.stderr and "Traceback" not in limited.stderr
    assert original.stat().st_mtime_ns == before
    assert original.read_bytes() == tiny_media.read_bytes()
