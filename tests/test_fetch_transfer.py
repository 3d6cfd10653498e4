"""Transfers against a hostile loopback HTTPS server: cuts, stalls, lies, loops, floods."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_fetch_support import MB, capture, context, events, fake_mp4, lesson

from archiver.demo.certs import CertSet
from archiver.demo.server import Fault, MediaServer, Resource
from archiver.errors import FetchError
from archiver.fetch.http import Transient
from archiver.fetch.stage import run
from archiver.store import TEMP_MARK

Serve = Callable[..., MediaServer]
Certs = Callable[[str], CertSet]



BODY = fake_mp4(3 * MB)
SHA = hashlib.sha256(BODY).hexdigest()


def _serve(serve: Serve, certs: Certs, *faults: Fault, body: bytes = BODY) -> MediaServer:
    return serve({"/v/a.mp4": Resource(body, "video/mp4", faults=list(faults))},
                 certs("self-signed"))


def _src(server: MediaServer, path: str = "/v/a.mp4") -> tuple[str, str]:
    return server.url(path), "insecure"


def _gets(server: MediaServer, path: str = "/v/a.mp4") -> list[tuple[str | None, int]]:
    return [(r.headers.get("Range"), r.status) for r in server.requests if r.path == path]


def _no_final_partials(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file() and TEMP_MARK not in path.name:
            assert "partial" not in path.name


def test_connection_cut_mid_body_resumes_with_range(serve: Serve, cert_factory: Certs,
                                                    tmp_path: Path) -> None:
    server = _serve(serve, cert_factory, Fault(cut_after=MB + 12345))
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", _src(server)), ctx)
    gets = _gets(server)
    assert [status for _r, status in gets] == [200, 206]
    assert gets[1][0] is not None and gets[1][0].startswith("bytes=")
    offset = int(gets[1][0][6:-1])
    assert 0 < offset <= MB + 12345
    request = [r for r in server.requests if r.path == "/v/a.mp4"][1]
    assert request.headers.get("If-Range", "").startswith('"')  # strong ETag, never a splice
    assert result.details is not None
    assert result.details.sha256 == SHA
    assert result.details.sha512 == hashlib.sha512(BODY).hexdigest()
    # resumed within the run: the hashes stayed in memory, nothing was read back from disk
    assert result.details.transfer is not None
    assert result.details.transfer.rehashed_bytes == 0
    media = ctx.store.lesson_dir("l1") / result.details.media
    assert media.read_bytes() == BODY


def test_interrupted_run_leaves_a_partial_that_the_next_run_resumes(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    server = _serve(serve, cert_factory, Fault(cut_after=2 * MB), Fault(status=503),
                    Fault(status=503))
    ctx, _log = context(tmp_path, [], retries=2)
    the_lesson = lesson("l1", _src(server))
    with pytest.raises(Transient):
        run(the_lesson, ctx)
    folder = ctx.store.stage_dir("l1", "fetch")
    partials = sorted(p.name for p in folder.iterdir())
    assert partials == [f".media{TEMP_MARK}partial", f".media{TEMP_MARK}partial.json",
                        "last-failure.json"]
    kept = (folder / partials[0]).stat().st_size
    assert 0 < kept <= 2 * MB
    before = len(server.requests)
    result = run(the_lesson, ctx)  # the next run
    resumed = [r for r in server.requests[before:] if r.path == "/v/a.mp4"]
    assert len(resumed) == 1 and resumed[0].headers["Range"] == f"bytes={kept}-"
    assert resumed[0].status == 206
    assert result.details is not None
    assert result.details.sha256 == SHA
    assert result.details.transfer is not None
    assert result.details.transfer.resumed_from == kept
    assert result.details.transfer.rehashed_bytes == kept  # hash state is re-derived
    assert sorted(p.name for p in folder.iterdir()) == [
        "capture-media.warc", "capture.json", "capture.warc.gz", "original.mp4"]


def test_503_burst_is_retried_with_backoff(serve: Serve, cert_factory: Certs,
                                           tmp_path: Path) -> None:
    server = _serve(serve, cert_factory, Fault(status=503), Fault(status=502),
                    Fault(status=503))
    ctx, log = context(tmp_path, [], retries=4)
    result = run(lesson("l1", _src(server)), ctx)
    assert [s for _r, s in _gets(server)] == [503, 502, 503, 200]
    assert result.details is not None
    assert result.details.sha256 == SHA
    assert len([e for e in events(log) if e["event"] == "retry"]) == 3


def test_503_forever_fails_after_the_retry_budget(serve: Serve, cert_factory: Certs,
                                                  tmp_path: Path) -> None:
    server = _serve(serve, cert_factory, *[Fault(status=503)] * 10)
    ctx, _log = context(tmp_path, [], retries=3)
    with pytest.raises(FetchError, match="503"):
        run(lesson("l1", _src(server)), ctx)
    assert len(_gets(server)) == 3


def test_404_is_not_retried(serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    server = _serve(serve, cert_factory, Fault(status=404), Fault(status=404))
    ctx, _log = context(tmp_path, [], retries=4)
    with pytest.raises(FetchError, match="404"):
        run(lesson("l1", _src(server)), ctx)
    assert len(_gets(server)) == 1


def test_429_retry_after_is_honoured(serve: Serve, cert_factory: Certs,
                                     tmp_path: Path) -> None:
    server = _serve(serve, cert_factory, Fault(status=429, retry_after="1"))
    ctx, log = context(tmp_path, [])  # backoff 0.01 s: only Retry-After can explain a wait
    started = time.monotonic()
    result = run(lesson("l1", _src(server)), ctx)
    assert [e["fields"]["wait"] for e in events(log) if e["event"] == "retry"] == [1.0]
    assert time.monotonic() - started >= 1.0  # a lower bound: it really slept, not a budget
    assert [s for _r, s in _gets(server)] == [429, 200]
    assert result.details is not None
    assert result.details.sha256 == SHA


def test_429_with_an_unreasonable_retry_after_fails_clearly(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    server = _serve(serve, cert_factory, Fault(status=429, retry_after="86400"))
    ctx, _log = context(tmp_path, [], retry_after_max=5)
    with pytest.raises(FetchError, match="Retry-After 86400 s exceeds"):
        run(lesson("l1", _src(server)), ctx)


def test_body_shorter_than_content_length_is_detected_then_refetched(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    server = _serve(serve, cert_factory, Fault(declare_extra=5000))
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", _src(server)), ctx)
    statuses = [s for _r, s in _gets(server)]
    # the full body arrived but fewer bytes than announced: the next Range is beyond the real
    # end (416), which proves the size lied; restart from zero rather than trust either
    assert statuses == [200, 416, 200]
    assert result.details is not None
    assert result.details.sha256 == SHA
    assert result.details.bytes == len(BODY)
    assert result.details.transfer is not None
    assert result.details.transfer.restarts == 1


def test_body_always_shorter_than_announced_fails(serve: Serve, cert_factory: Certs,
                                                  tmp_path: Path) -> None:
    server = _serve(serve, cert_factory, *[Fault(declare_extra=5000)] * 20)
    ctx, _log = context(tmp_path, [], retries=2)
    with pytest.raises(FetchError,
                       match=r"closed early after \d+ of \d+ bytes|range not satisfiable"):
        run(lesson("l1", _src(server)), ctx)
    assert len(_gets(server)) < 20  # bounded
    assert not list(ctx.store.stage_dir("l1", "fetch").glob("original*"))


def test_content_changed_between_ranges_restarts_not_splices(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    new = fake_mp4(len(BODY), seed=2)
    server = _serve(serve, cert_factory, Fault(cut_after=MB), Fault(body=new))
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", _src(server)), ctx)
    assert [s for _r, s in _gets(server)] == [200, 200]  # If-Range did not match: whole body
    assert result.details is not None
    assert result.details.sha256 == hashlib.sha256(new).hexdigest()
    assert result.details.transfer is not None
    assert result.details.transfer.restarts == 1


def test_stall_times_out_then_resumes(serve: Serve, cert_factory: Certs,
                                      tmp_path: Path) -> None:
    server = _serve(serve, cert_factory, Fault(cut_after=MB, stall=10.0))
    ctx, log = context(tmp_path, [], timeout=0.5)
    result = run(lesson("l1", _src(server)), ctx)
    # our read timeout ended the wait, not the server giving up 10 s later (that would be a
    # connection closed early): the retry says why it resumed
    retries = [e["fields"]["message"] for e in events(log) if e["event"] == "retry"]
    assert len(retries) == 1 and "stalled (read timeout) after 1048576 of" in retries[0]
    gets = _gets(server)
    assert gets[-1][0] is not None and gets[-1][1] == 206
    assert result.details is not None
    assert result.details.sha256 == SHA


def test_endless_body_is_bounded_by_max_bytes(serve: Serve, cert_factory: Certs,
                                              tmp_path: Path) -> None:
    server = _serve(serve, cert_factory, Fault(endless=True))
    ctx, _log = context(tmp_path, [], max_bytes=4 * MB)
    with pytest.raises(FetchError, match="max-bytes"):
        run(lesson("l1", _src(server)), ctx)
    folder = ctx.store.stage_dir("l1", "fetch")
    assert not [p for p in folder.iterdir() if "partial" in p.name or "original" in p.name]


def test_announced_size_over_max_bytes_is_refused_before_the_body(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    server = _serve(serve, cert_factory)
    ctx, _log = context(tmp_path, [], max_bytes=MB)
    with pytest.raises(FetchError, match="exceeds --max-bytes"):
        run(lesson("l1", _src(server)), ctx)


def test_html_error_page_with_200_is_not_archived(serve: Serve, cert_factory: Certs,
                                                  tmp_path: Path) -> None:
    page = b"<!DOCTYPE html><html><body>Service temporarily unavailable</body></html>"
    server = _serve(serve, cert_factory, Fault(body=page, content_type="text/html"))
    ctx, _log = context(tmp_path, [])
    with pytest.raises(FetchError, match="expected media but the server sent text/html"):
        run(lesson("l1", _src(server)), ctx)
    folder = ctx.store.stage_dir("l1", "fetch")
    assert not [p for p in folder.iterdir() if "original" in p.name or "partial" in p.name]


def test_html_disguised_as_video_is_detected_by_its_bytes(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    page = b"\n  <html><body>login required</body></html>"
    server = _serve(serve, cert_factory, Fault(body=page))  # Content-Type stays video/mp4
    ctx, _log = context(tmp_path, [])
    with pytest.raises(FetchError, match="expected media"):
        run(lesson("l1", _src(server)), ctx)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/a.mp4",
                                    "javascript:alert(1)"])
def test_redirect_to_other_scheme_is_refused(target: str, serve: Serve, cert_factory: Certs,
                                             tmp_path: Path) -> None:
    server = _serve(serve, cert_factory, Fault(status=302, location=target))
    ctx, _log = context(tmp_path, [])
    with pytest.raises(FetchError, match="only http and https"):
        run(lesson("l1", _src(server)), ctx)


def test_redirect_loop_is_bounded(serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    loop = {"/v/a.mp4": Resource(BODY, "video/mp4",
                                 faults=[Fault(status=302, location="/v/b.mp4")] * 50),
            "/v/b.mp4": Resource(BODY, "video/mp4",
                                 faults=[Fault(status=301, location="/v/a.mp4")] * 50)}
    server = serve(loop, cert_factory("self-signed"))
    ctx, _log = context(tmp_path, [])
    with pytest.raises(FetchError, match="redirect loop"):
        run(lesson("l1", _src(server)), ctx)
    assert len(server.requests) <= 3


def test_redirects_are_followed_and_recorded(serve: Serve, cert_factory: Certs,
                                             tmp_path: Path) -> None:
    resources = {"/old.mp4": Resource(b"", faults=[Fault(status=301, location="/v/a.mp4")]),
                 "/v/a.mp4": Resource(BODY, "video/mp4")}
    server = serve(resources, cert_factory("self-signed"))
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", _src(server, "/old.mp4")), ctx)
    media = next(e for e in capture(ctx, "l1")["exchanges"] if e["role"] == "media")
    assert media["requested_url"].endswith("/old.mp4")
    assert media["final_url"].endswith("/v/a.mp4")
    assert media["redirects"][0]["status"] == 301
    assert result.details is not None
    assert result.details.sha256 == SHA


def test_large_random_file_round_trip(serve: Serve, cert_factory: Certs,
                                      tmp_path: Path) -> None:
    body = fake_mp4(8 * MB + 7, seed=int.from_bytes(os.urandom(2), "big"))
    server = _serve(serve, cert_factory, body=body)
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", _src(server)), ctx)
    assert result.details is not None
    assert result.details.bytes == len(body)
    assert result.details.sha256 == hashlib.sha256(body).hexdigest()
    _no_final_partials(ctx.output)


def test_plain_http_body_with_bytes_buffered_behind_the_head(serve: Serve,
                                                             tmp_path: Path) -> None:
    """Over plain TCP the head and the first body bytes arrive in one read: the direct body
    reader must start with the bytes h11 already buffered (and a cut must still resume)."""
    body = fake_mp4(2 * MB + 3, seed=9)
    server = serve({"/v/a.mp4": Resource(body, "video/mp4",
                                         faults=[Fault(cut_after=MB // 2)])})
    ctx, _log = context(tmp_path, [])
    result = run(lesson("l1", (server.url("/v/a.mp4"), "verify")), ctx)
    assert result.details is not None
    assert result.details.sha256 == hashlib.sha256(body).hexdigest()
    assert result.details.tls is None  # nothing to record for plain http
    assert [s for _r, s in _gets(server)] == [200, 206]


def test_a_partial_of_another_url_is_never_resumed(serve: Serve, cert_factory: Certs,
                                                   tmp_path: Path) -> None:
    server = _serve(serve, cert_factory)
    ctx, _log = context(tmp_path, [])
    folder = ctx.store.stage_dir("l1", "fetch")
    folder.mkdir(parents=True)
    (folder / f".media{TEMP_MARK}partial").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"x" * 999)
    (folder / f".media{TEMP_MARK}partial.json").write_text(
        '{"url": "https://elsewhere.example/a.mp4", "validator": "\\"v1\\""}')
    result = run(lesson("l1", _src(server)), ctx)
    assert [r for r, _s in _gets(server)] == [None]  # a fresh download, no Range
    assert result.details is not None
    assert result.details.sha256 == SHA
    assert result.details.transfer is not None
    assert result.details.transfer.resumed_from == 0


def test_head_and_body_in_one_segment_are_read_in_order(tmp_path: Path) -> None:
    """A server that sends head and body in one write: h11 holds the first body bytes when
    the head is parsed; the direct body reader must yield them first."""
    import socket
    import threading

    body = fake_mp4(MB + 5, seed=11)
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {len(body)}\r\n"
            'ETag: "one"\r\nConnection: close\r\n\r\n').encode()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        connection, _addr = listener.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(4096)
            connection.sendall(head + body)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        ctx, _log = context(tmp_path, [])
        result = run(lesson("l1", (f"http://127.0.0.1:{port}/a.mp4", "verify")), ctx)
    finally:
        thread.join(timeout=5)
        listener.close()
    assert result.details is not None
    assert result.details.sha256 == hashlib.sha256(body).hexdigest()
