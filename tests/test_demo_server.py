"""`archiver demo` parts on a short lesson: the cached broken identity, the served mirror (page
and media with Range over the expired, untrusted certificate), the manifest's pin, the port
fallback, and the command itself."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest
from conftest import SHORT_TRANSCRIPT
from cryptography import x509

from archiver.cli import main as cli_main
from archiver.demo.certs import cached_certs, leaf_fingerprint
from archiver.demo.command import DemoSetup, prepare, serving, start_server
from archiver.manifest import load_manifest

pytestmark = pytest.mark.slow  # the demo mirror built with espeak-ng and ffmpeg, served over HTTPS

TRANSCRIPT = SHORT_TRANSCRIPT
MANIFEST = """[series]
id = "demo-series"
title = { en = "Short \\"demo\\" series", zh = "数字中国建设系列" }
publisher = { en = "Publisher", zh = "出版者" }

[[lessons]]
id = "short-13"
number = 13
title = { en = "Short lesson", zh = "短课" }
released = 2025-04-11
duration = "0:26"
speaker = { en = "Speaker", zh = "讲者" }
transcript = "short-13.txt"
sha256 = "%s"
""" % ("ab" * 32)


@pytest.fixture(scope="module")
def source_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("source")
    (folder / "short-13.txt").write_text(TRANSCRIPT, "utf-8")
    (folder / "series.toml").write_text(MANIFEST, "utf-8")
    return folder / "series.toml"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, source_manifest: Path) -> DemoSetup:
    return prepare(tmp_path_factory.mktemp("demo"), source_manifest, "short-13")


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_identity_is_expired_untrusted_and_cached(tmp_path: Path) -> None:
    certs, made = cached_certs(tmp_path / "certs", "expired-untrusted")
    assert made and leaf_fingerprint(certs.chain) == certs.fingerprint
    leaf = x509.load_pem_x509_certificate(certs.chain.read_bytes())
    assert leaf.not_valid_after_utc < dt.datetime.now(dt.UTC)
    issuer = x509.load_pem_x509_certificate(certs.ca.read_bytes())
    assert leaf.issuer != issuer.subject and leaf.issuer != leaf.subject
    again, made_again = cached_certs(tmp_path / "certs", "expired-untrusted")
    assert not made_again and again == certs
    (tmp_path / "certs" / "key.pem").unlink()  # damaged cache: a fresh identity, not a crash
    fresh, made_fresh = cached_certs(tmp_path / "certs", "expired-untrusted")
    assert made_fresh and fresh.fingerprint != certs.fingerprint
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_served_mirror_page_media_range_and_pin(setup: DemoSetup) -> None:
    with serving(setup, port=0) as (server, manifest_path):
        manifest = load_manifest(manifest_path)
        (source,) = manifest.lesson("short-13").sources
        assert source.url == server.url("/lesson-13.html") and source.kind == "mirror"
        assert source.tls.pin_sha256 == setup.certs.fingerprint
        assert manifest.lesson("short-13").sha256 is None
        # a verifying client refuses the certificate; OpenSSL names only the unknown issuer
        with pytest.raises(httpx.ConnectError) as refused:
            httpx.get(source.url, verify=ssl.create_default_context(cafile=str(setup.certs.ca)))
        assert "unable to get local issuer certificate" in str(refused.value)
        media = setup.mirror.media.read_bytes()
        with httpx.Client(verify=_unverified()) as client:
            with client.stream("GET", source.url) as page:
                ssl_object = page.extensions["network_stream"].get_extra_info("ssl_object")
                served_leaf = ssl_object.getpeercert(True)
                body = page.read().decode("utf-8")
            assert hashlib.sha256(served_leaf).hexdigest() == source.tls.pin_sha256
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert '<source src="media/lesson-13.mp4" type="video/mp4">' in body
            media_url = server.url("/media/lesson-13.mp4")
            part = client.get(media_url, headers={"Range": "bytes=1000-"})
            assert part.status_code == 206 and part.content == media[1000:]
            assert part.headers["content-range"] == f"bytes 1000-{len(media) - 1}/{len(media)}"
            whole = client.get(media_url)
            assert whole.headers["content-type"] == "video/mp4" and whole.content == media
            assert client.get(server.url("/truth.json")).status_code == 404
            assert client.get(server.url("/certs/key.pem")).status_code == 404


def test_yt_dlp_finds_the_video_on_the_page(setup: DemoSetup) -> None:
    from yt_dlp import YoutubeDL

    with serving(setup, port=0) as (server, _), YoutubeDL(
            {"quiet": True, "no_warnings": True, "nocheckcertificate": True}) as ydl:
        info = ydl.extract_info(server.url("/lesson-13.html"), download=False)
    entries = info.get("entries") or [info]
    assert entries[0]["url"] == server.url("/media/lesson-13.mp4")
    assert entries[0].get("thumbnail") == server.url("/media/poster.jpg")


def test_busy_port_falls_back_to_a_free_one(setup: DemoSetup) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        server = start_server(setup, port=busy)
        try:
            assert server.server_address[1] not in (busy, 0)
        finally:
            server.stop()


def test_mirror_only_builds_nothing_twice_and_writes_the_manifest(
        setup: DemoSetup, source_manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["demo", "--output", str(setup.output), "--source-manifest", str(source_manifest),
            "--lesson", "short-13", "--port", "0", "--mirror-only", "--json-log"]
    assert cli_main(argv) == 0
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    names = [e["event"] for e in events]
    assert "mirror-reused" in names and "mirror-built" not in names
    certificate = next(e for e in events if e["event"] == "certificate")
    assert certificate["fields"]["state"] == "reused"
    document = tomllib.loads(setup.manifest_path.read_text("utf-8"))
    assert document["lessons"][0]["sources"][0]["tls"] == f"pin:sha256:{setup.certs.fingerprint}"


def test_unknown_lesson_is_a_usage_error(tmp_path: Path, source_manifest: Path) -> None:
    argv = ["demo", "--output", str(tmp_path), "--source-manifest", str(source_manifest),
            "--lesson", "nope", "--mirror-only"]
    assert cli_main(argv) == 2
    assert not (tmp_path / "mirror").exists()


def test_demo_archives_the_mirror_through_the_broken_certificate(
        setup: DemoSetup, source_manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole command on the short lesson: the pipeline runs while the server does, and the
    demo's exit code is the archive run's."""
    from archiver.store import Store, sha256_file

    argv = ["demo", "--output", str(setup.output), "--source-manifest", str(source_manifest),
            "--lesson", "short-13", "--port", "0", "--jobs", "1"]
    code = cli_main(argv)
    printed = capsys.readouterr().out
    assert f"archiver demo finished with exit code {code}" in printed
    (problems,) = [line for line in printed.splitlines() if "certificate problems:" in line]
    assert "expired" in problems and "untrusted-issuer" in problems
    assert problems.endswith(f"pin:sha256:{setup.certs.fingerprint}: pinned")
    store = Store(setup.output)
    fetch = store.load_result("short-13", "fetch")
    assert fetch is not None and fetch.status == "ok", fetch
    capture = json.loads((store.lesson_dir("short-13") / "fetch" / "capture.json").read_text())
    tls = capture["tls"]
    assert tls["outcome"] == "pinned" and tls["verified"] is False
    assert {"expired", "untrusted-issuer"} <= set(tls["problems"])
    assert tls["sha256_fingerprint"] == setup.certs.fingerprint
    assert capture["media"]["sha256"] == sha256_file(setup.mirror.media)
    results = [store.load_result("short-13", s) for s in ("fetch", "subtitles", "package")]
    all_ok = all(r is not None and r.status in ("ok", "unchanged") for r in results)
    assert code == (0 if all_ok and (setup.output / "site").is_dir() else 1)


def test_serve_only_serves_until_interrupted(setup: DemoSetup, source_manifest: Path) -> None:
    command = [sys.executable, "-m", "archiver", "demo", "--output", str(setup.output),
               "--source-manifest", str(source_manifest), "--lesson", "short-13",
               "--port", "0", "--serve-only", "--json-log"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            event = json.loads(line)
            if event["event"] == "serving":
                url = event["fields"]["url"]
        assert url is not None, "the server never said where it listens"
        page = httpx.get(url + "/lesson-13.html", verify=_unverified())
        assert page.status_code == 200 and "<video" in page.text
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 130
        with pytest.raises(httpx.ConnectError):  # the server stopped with the command
            httpx.get(url + "/lesson-13.html", verify=_unverified(), timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
