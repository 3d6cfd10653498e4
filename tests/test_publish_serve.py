"""`archiver serve`: MIME types, byte ranges, CORS, path safety, and the command itself.

Real HTTP over loopback: httpx for ordinary requests, http.client where a path must reach the
server exactly as written (httpx normalises `..` away before sending).
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from test_publish_site import LESSON, build_archive, context

from archiver.publish.command import publish_site
from archiver.publish.serve import SiteServer

pytestmark = pytest.mark.slow  # a real site served over HTTP


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    output, manifest = build_archive(tmp_path_factory.mktemp("serve"), seconds=2.0)
    assert publish_site(context(output, manifest)).status == "ok"
    return output, manifest


def test_server_headers_range_and_safety(archive: tuple[Path, Path]) -> None:
    site = archive[0] / "site"
    video = site / "media" / LESSON / f"{LESSON}.mp4"
    with SiteServer(site) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        vtt = client.get(f"media/{LESSON}/{LESSON}.zh-Hans.vtt")
        assert vtt.status_code == 200
        assert vtt.headers["content-type"] == "text/vtt; charset=utf-8"
        assert vtt.headers["access-control-allow-origin"] == "*"
        assert vtt.text.startswith("WEBVTT")
        assert client.get("").headers["content-type"] == "text/html; charset=utf-8"
        assert client.get("catalog.json").headers["content-type"].startswith("application/json")
        part = client.get(f"media/{LESSON}/{LESSON}.mp4", headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == video.read_bytes()[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{video.stat().st_size}"
        assert part.headers["content-type"] == "video/mp4"
        assert part.headers["accept-ranges"] == "bytes"
        tail = client.get(f"media/{LESSON}/{LESSON}.mp4", headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == video.read_bytes()[-10:]
        beyond = client.get(f"media/{LESSON}/{LESSON}.mp4",
                            headers={"Range": f"bytes={video.stat().st_size + 5}-"})
        assert beyond.status_code == 416
        head = client.head(f"media/{LESSON}/{LESSON}.mp4")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == video.stat().st_size
        for raw in ("/../catalog.json", "/%2e%2e/catalog.json", "/media/../../catalog.json"):
            # http.client sends the path as written (httpx would normalise it first)
            conn = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]
                                                               .strip("/")), timeout=10)
            conn.request("GET", raw)
            assert conn.getresponse().status == 404, raw
            conn.close()
        assert client.get("missing.html").status_code == 404
        assert client.post("index.html").status_code == 405
        preflight = client.options(f"media/{LESSON}/{LESSON}.mp4")
        assert preflight.status_code == 204
        assert "Range" in preflight.headers["access-control-allow-headers"]
    with SiteServer(archive[0]) as server:  # hidden and temporary names are never served
        (archive[0] / ".hidden.tmp-x").write_text("secret")
        assert httpx.get(server.url + ".hidden.tmp-x").status_code == 404


def test_serve_command_runs_and_stops_on_ctrl_c(archive: tuple[Path, Path]) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "archiver", "serve", "--port", "0",
                             "--output", str(archive[0])], stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline() if proc.stderr else ""
        match = re.search(r"url=(http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        response = httpx.get(match.group(1) + f"media/{LESSON}/{LESSON}.en.vtt", timeout=10)
        assert response.headers["content-type"] == "text/vtt; charset=utf-8"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_never_follows_a_symlink_out_of_its_root(tmp_path: Path) -> None:
    """A site folder someone else can write into: links out of it, a FIFO, a hidden file."""
    root, outside = tmp_path / "site", tmp_path / "elsewhere"
    (root / "media").mkdir(parents=True)
    outside.mkdir()
    token = "SECRET-not-for-the-web"
    secret = outside / "secret.vtt"
    secret.write_text(f"WEBVTT\n\n00:00.000 --> 00:01.000\n{token}\n", "utf-8")
    secret.chmod(0o600)
    (root / "index.html").write_text("<!doctype html><title>site</title>", "utf-8")
    (root / "media" / "ok.vtt").write_text("WEBVTT\n", "utf-8")
    (root / "media" / "leak.vtt").symlink_to(secret)                 # a file link out
    (root / "linked").symlink_to(outside, target_is_directory=True)  # a folder link out
    (root / "etc-passwd.txt").symlink_to("/etc/passwd")
    (root / "inside.html").symlink_to(root / "index.html")          # even inside: not followed
    os.mkfifo(root / "media" / "pipe.vtt")
    with SiteServer(root) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("media/ok.vtt").status_code == 200
        for path in ("media/leak.vtt", "linked/secret.vtt", "linked/", "etc-passwd.txt",
                     "inside.html", "media/pipe.vtt"):
            for response in (client.get(path), client.get(path, headers={"Range": "bytes=0-"}),
                             client.head(path)):
                assert response.status_code == 404, (path, response.status_code)
                assert token not in response.text and "root:" not in response.text
        (root / "index.html").unlink()
        (root / "index.html").symlink_to(outside / "secret.vtt")  # the folder's own index
        front = client.get("")
        assert front.status_code == 404 and token not in front.text
