"""`--report-url`: the JSON report is POSTed to a real loopback HTTP receiver, with retries."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bagit
import pytest
from test_verify_fixity import LESSON, build_bag

from archiver.cli import main
from archiver.verify.report import prune


class Receiver(http.server.ThreadingHTTPServer):
    """Answers the first `failures` POSTs with 503, then 200; keeps every body."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.bodies: list[bytes] = []
        self.statuses: list[int] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.bodies.append(body)
        status = 503 if len(self.server.bodies) <= self.server.failures else 200
        self.server.statuses.append(status)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=1)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def archive(tmp_path: Path, tiny_media: Path) -> Path:
    out = tmp_path / "output"
    build_bag(out / "packages" / LESSON, tiny_media)
    return out


def test_report_is_posted_after_one_503(archive: Path, receiver: Receiver,
                                        tmp_path: Path) -> None:
    host, port = receiver.server_address[:2]
    assert isinstance(host, str)
    url = f"http://{host}:{port}/fixity"
    report_file = tmp_path / "report.json"
    code = main(["verify", "--output", str(archive), "--json", str(report_file),
                 "--report-url", url])
    assert code == 0
    assert receiver.statuses == [503, 200]
    posted = json.loads(receiver.bodies[-1])
    assert posted == json.loads(report_file.read_text("utf-8"))
    assert posted["outcome"] == "ok" and posted["schema"] == "lesson-archiver/verify/1"


def test_undeliverable_report_fails_the_run_but_damages_nothing(archive: Path) -> None:
    closed = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there any more: connection refused
    code = main(["verify", "--output", str(archive), "--report-url",
                 f"http://127.0.0.1:{port}/fixity"])
    assert code == 1
    bag = archive / "packages" / LESSON
    bagit.Bag(str(bag)).validate()
    assert len((bag / "premis-events.jsonl").read_text().splitlines()) == 2
    assert len(list((archive / "reports").glob("verify-full-*.json"))) == 1


def test_prune_keeps_newest_of_one_kind_only(tmp_path: Path) -> None:
    names = ["verify-full-20260101T000000.000000Z.json", "verify-full-20260102T000000.000000Z.json",
             "verify-full-20260103T000000.000000Z.json", "verify-fast-20260101T000000.000000Z.json",
             "check-sources-20260101T000000.000000Z.json", "verify-full-notes.json"]
    for name in names:
        (tmp_path / name).write_text("{}")
    deleted = prune(tmp_path, "verify-full", 2)
    assert [p.name for p in deleted] == ["verify-full-20260101T000000.000000Z.json"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(set(names) - {"verify-full-20260101T000000.000000Z.json"})
