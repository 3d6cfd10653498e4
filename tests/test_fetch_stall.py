"""A dripping server no longer holds a worker (issue 15 item 4): curl's --speed-limit and
--speed-time on pages and media, --max-time on pages, --max-redirects, the progress ETA.
Real HTTPS servers on 127.0.0.1 sending a byte per second; small flag values keep each test
to a few seconds, and the server threads stop with the test."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_fetch_support import context, fake_mp4, lesson, page

from archiver.demo.certs import CertSet
from archiver.demo.server import Fault, MediaServer, Resource
from archiver.errors import FetchError, Location, UsageError
from archiver.fetch.limits import SpeedMeter, Stalled
from archiver.fetch.stage import run
from archiver.log import EventLog, eta_column
from archiver.store import TEMP_MARK

pytestmark = pytest.mark.slow  # drip servers: each case waits out --speed-time or --max-time

Serve = Callable[..., MediaServer]
Certs = Callable[[str], CertSet]
SLOW = {"speed_limit": 1000, "speed_time": 1.0, "retries": 2}


def test_speed_meter_has_curls_meaning() -> None:
    now = [0.0]
    meter = SpeedMeter(100, 2.0, "u", Location(), clock=lambda: now[0])
    for _ in range(10):  # 150 bytes/s for 5 s: above the limit, never stalled
        now[0] += 0.5
        meter.feed(75)
    with pytest.raises(Stalled, match="below --speed-limit 100"):
        for _ in range(10):  # then 20 bytes/s: stalled once a whole window is that slow
            now[0] += 0.5
            meter.feed(10)
    assert now[0] <= 5.0 + 2.5


def test_a_one_byte_per_second_page_stalls_instead_of_holding_the_worker(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    body = page("media/a.mp4")
    server = serve({"/lesson": Resource(body, "text/html", faults=[Fault(rate=1)] * 5)},
                   cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [], **SLOW)
    started = time.monotonic()
    with pytest.raises(FetchError, match="transfer stalled"):
        run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
    assert time.monotonic() - started < 15  # 2 attempts of ~1 s (the page has 300+ bytes)
    assert [r.path for r in server.requests].count("/lesson") == 2


def test_a_one_byte_per_second_media_stalls_and_keeps_its_resumable_partial(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    media = fake_mp4(200_000)
    # 1 byte/s, then 600 bytes/s: both below --speed-limit 1000 over --speed-time 2
    served = Resource(media, "video/mp4", faults=[Fault(rate=1), Fault(rate=600)])
    server = serve({"/lesson": Resource(page("media/a.mp4"), "text/html"),
                    "/media/a.mp4": served}, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [], **{**SLOW, "speed_time": 2.0})
    started = time.monotonic()
    with pytest.raises(FetchError, match="transfer stalled"):
        run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
    # every attempt progressed a little, yet stalls count against --retries
    assert time.monotonic() - started < 15
    folder = ctx.store.lesson_dir("l1") / "fetch"
    assert not list(folder.glob("original*"))
    partial = folder / f".media{TEMP_MARK}partial"
    assert partial.stat().st_size > 512 and (folder / f"{partial.name}.json").is_file()
    served.faults.clear()
    result = run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)  # resumes
    assert result.details is not None
    assert (ctx.store.lesson_dir("l1") / result.details.media).read_bytes() == media
    assert server.requests[-1].range is not None


def test_max_time_bounds_a_page_that_is_fast_enough_but_endless_in_practice(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    body = page("media/a.mp4", "<!--" + "x" * 20_000 + "-->")
    server = serve({"/lesson": Resource(body, "text/html", faults=[Fault(rate=5000)] * 3)},
                   cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [], speed_limit=1, max_time=1.0)
    with pytest.raises(FetchError, match=r"page not read within --max-time 1 s"):
        run(lesson("l1", (server.url("/lesson"), "insecure")), ctx)
    assert [r.path for r in server.requests].count("/lesson") == 1  # not retried


def test_redirects_are_bounded_by_max_redirects(
        serve: Serve, cert_factory: Certs, tmp_path: Path) -> None:
    resources = {f"/r{n}": Resource(b"", redirect=f"/r{n + 1}") for n in range(5)}
    resources["/r5"] = Resource(page("media/a.mp4"), "text/html")
    server = serve(resources, cert_factory("self-signed"))
    ctx, _log = context(tmp_path / "run", [], max_redirects=3)
    with pytest.raises(FetchError, match="more than --max-redirects 3 redirects"):
        run(lesson("l1", (server.url("/r0"), "insecure")), ctx)
    assert [r.path for r in server.requests] == ["/r0", "/r1", "/r2", "/r3"]


def test_progress_shows_no_eta_when_the_rate_says_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("archiver.log.time.monotonic", lambda: now[0])
    stream = io.StringIO()
    log = EventLog(json_lines=True, stream=stream, progress=False)
    total = 100_000_000
    log.progress("l1", "fetch", 0, total)  # starts the clock
    now[0] += 10
    log.progress("l1", "fetch", 10, total)  # 1 byte/s: an ETA of three years is noise
    now[0] += 10
    log.progress("l1", "fetch", 50_000_000, total)  # 2.5 MB/s: a real forecast
    etas = [json.loads(line)["fields"]["eta"] for line in stream.getvalue().splitlines()]
    assert etas == ["-", "20s"]


def test_progress_bars_hide_a_meaningless_eta() -> None:
    from rich.progress import Progress

    column = eta_column()
    bars = Progress(column, disable=True)
    task_id = bars.add_task("l1/fetch", total=10_000_000)
    bars.update(task_id, completed=10)
    [task] = bars.tasks
    assert column.render(task).plain == "-:--:--"  # just started: no ETA


def test_every_bound_has_its_flag_and_refuses_nonsense() -> None:
    from archiver.cli import build_parser
    from archiver.options import FetchOptions, from_args

    parser = build_parser({})
    for command in ("archive", "fetch"):
        args = parser.parse_args([command, "--max-segments", "5", "--max-redirects", "4",
                                  "--max-time", "3", "--speed-limit", "10", "--speed-time",
                                  "2"])
        assert from_args(args).fetch == FetchOptions(max_segments=5, max_redirects=4,
                                                     max_time=3.0, speed_limit=10,
                                                     speed_time=2.0)
    for flag in ("--max-segments", "--max-redirects", "--max-time", "--speed-limit",
                 "--speed-time"):
        with pytest.raises(SystemExit):
            parser.parse_args(["fetch", flag, "0"])
        field = flag.lstrip("-").replace("-", "_")
        with pytest.raises(UsageError, match=flag):
            FetchOptions(**{field: 0})  # type: ignore[arg-type]  # each is numeric
