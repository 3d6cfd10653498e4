"""Every stage's options: one typed, validated dataclass each, and the CLI flags that set it.

Why typed and validated here: the stages are also driven from code (tests, benchmarks, other
tools), where no argparse checks the values; a zero timeout or byte limit would fail every
source with a misleading network or size error, zero retries would mean no request at all.
So an invalid value is refused with a `UsageError` naming its flag when the options are made,
before any stage runs. Each option has the flag that sets it, added by `add_*_arguments` to
every command that runs the stage.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from archiver.errors import Location, UsageError
from archiver.fetch.hostmap import parse_entry

PauseMethod = Literal["levels", "silencedetect"]
PAUSE_METHODS: tuple[str, ...] = get_args(PauseMethod)


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1 (jobs, retries, byte limits)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0 (timeouts in seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _require_positive(values: dict[str, tuple[Any, str]]) -> None:
    for value, flag in values.values():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise UsageError(f"{flag} must be a positive number, got {value!r}",
                             Location(key=flag))


@dataclass(frozen=True)
class FetchOptions:
    """How media is transferred (`--max-bytes`, `--timeout`, `--retries`) and the bounds on
    every input a source serves (`--max-segments`, `--max-redirects`, `--max-time`, and the
    stall detector `--speed-limit`/`--speed-time`, with curl's meaning: a transfer slower
    than `speed_limit` bytes/s for `speed_time` seconds is stalled). See archiver/fetch/limits.py.

    The backoff values have no flag: they exist so tests can shorten the waits.
    """

    max_bytes: int = 8 << 30
    timeout: float = 30.0
    retries: int = 5
    backoff: float = 1.0  # first wait in seconds, doubled per failed attempt
    backoff_max: float = 60.0
    retry_after_max: float = 120.0  # a longer Retry-After fails the source instead
    resolve: tuple[str, ...] = ()  # `--resolve HOST:PORT:ADDRESS`, for every source
    max_segments: int = 20_000  # HLS segments per playlist (2-10 s each: 11-55 hours)
    max_redirects: int = 10
    max_time: float = 300.0  # seconds for one page or playlist, start to last byte
    speed_limit: int = 1024  # bytes/s ...
    speed_time: float = 60.0  # ... averaged over this many seconds, or the transfer stalled

    def __post_init__(self) -> None:
        _require_positive({"timeout": (self.timeout, "--timeout"),
                           "max_bytes": (self.max_bytes, "--max-bytes"),
                           "retries": (self.retries, "--retries"),
                           "max_segments": (self.max_segments, "--max-segments"),
                           "max_redirects": (self.max_redirects, "--max-redirects"),
                           "max_time": (self.max_time, "--max-time"),
                           "speed_limit": (self.speed_limit, "--speed-limit"),
                           "speed_time": (self.speed_time, "--speed-time")})
        for name in ("backoff", "backoff_max", "retry_after_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise UsageError(f"fetch option {name} must be a number ≥ 0, got {value!r}",
                                 Location(key=name))
        for entry in self.resolve:
            parse_entry(entry, "--resolve")


@dataclass(frozen=True)
class SubtitlesOptions:
    """How subtitles are timed: `--pause-method levels|silencedetect` (see subtitles/audio.py),
    and the bounds on a transcript (issue 15): `--max-transcript-bytes` (a lesson's transcript
    is tens of KB; the default holds hundreds of hours) and `--max-paragraph-sentences` (per
    language; the alignment is linear, but the cue grouping and line breaking of one paragraph
    are not free, and a paragraph of thousands of sentences is a missing timestamp, not a
    lecture). A transcript over either bound fails its lesson with a clear error."""

    pause_method: PauseMethod = "levels"
    max_transcript_bytes: int = 8 << 20
    max_paragraph_sentences: int = 1000

    def __post_init__(self) -> None:
        if self.pause_method not in PAUSE_METHODS:
            raise UsageError(f"unknown pause method {self.pause_method!r} "
                             f"({' or '.join(PAUSE_METHODS)})", Location(key="--pause-method"))
        _require_positive({
            "max_transcript_bytes": (self.max_transcript_bytes, "--max-transcript-bytes"),
            "max_paragraph_sentences": (self.max_paragraph_sentences,
                                        "--max-paragraph-sentences")})


def _absolute_url(value: object, flag: str) -> str:
    """"" (not given) or an absolute http(s) URL, normalised to end with '/'."""
    if not isinstance(value, str):
        raise UsageError(f"{flag} must be a URL, got {value!r}", Location(key=flag))
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query \
            or parts.fragment or any(c.isspace() for c in value):
        raise UsageError(f"{flag} must be an absolute http(s) URL such as "
                         f"https://media.example.org/lessons/, got {value!r}", Location(key=flag))
    return value if value.endswith("/") else value + "/"


@dataclass(frozen=True)
class PublishOptions:
    """What the site is built for: `--base-url` (where the site will be served; every URL that
    leaves the site is absolute against it; "" = the manifest's `[site] base_url`, else
    `archiver serve`'s address), `--embed-base-url` (where the embed pages are served, when
    they have an origin of their own; "" = the manifest's, else the base URL) and `--only`
    (these lessons only; None = every lesson)."""

    base_url: str = ""
    only: tuple[str, ...] | None = None
    embed_base_url: str = ""

    def __post_init__(self) -> None:
        _absolute_url(self.base_url, "--base-url")
        _absolute_url(self.embed_base_url, "--embed-base-url")

    @property
    def site_base(self) -> str:
        """The base URL given on the command line: empty, or ending with '/'."""
        return _absolute_url(self.base_url, "--base-url")

    @property
    def embed_base(self) -> str:
        """The embed pages' base URL given on the command line: empty, or ending with '/'."""
        return _absolute_url(self.embed_base_url, "--embed-base-url")


@dataclass(frozen=True)
class Options:
    """The options of every stage of a run."""

    fetch: FetchOptions = field(default_factory=FetchOptions)
    subtitles: SubtitlesOptions = field(default_factory=SubtitlesOptions)
    publish: PublishOptions = field(default_factory=PublishOptions)


def add_fetch_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = FetchOptions()
    parser.add_argument("--max-bytes", type=positive_int, default=defaults.max_bytes,
                        help="refuse media larger than this many bytes; default: 8 GiB")
    parser.add_argument("--timeout", type=positive_float, default=defaults.timeout,
                        help="network timeout in seconds (connect and each read)")
    parser.add_argument("--retries", type=positive_int, default=defaults.retries,
                        help="attempts per source on transient errors; default: %(default)s")
    parser.add_argument("--resolve", action="append", default=[], metavar="HOST:PORT:ADDRESS",
                        help="connect to ADDRESS for HOST:PORT (curl's --resolve; TLS still "
                        "checks the certificate for HOST; recorded in the evidence); repeat "
                        "for more hosts. A source's manifest `resolve` entry wins for its host")
    parser.add_argument("--max-segments", type=positive_int, default=defaults.max_segments,
                        help="refuse an HLS playlist listing more segments; "
                        "default: %(default)s")
    parser.add_argument("--max-redirects", type=positive_int, default=defaults.max_redirects,
                        help="redirects followed per request; default: %(default)s")
    parser.add_argument("--max-time", type=positive_float, default=defaults.max_time,
                        help="seconds allowed for reading one page or playlist; "
                        "default: %(default)s")
    parser.add_argument("--speed-limit", type=positive_int, default=defaults.speed_limit,
                        metavar="BYTES",
                        help="a transfer slower than BYTES per second for --speed-time "
                        "seconds has stalled (as curl's option); default: %(default)s")
    parser.add_argument("--speed-time", type=positive_float, default=defaults.speed_time,
                        metavar="SECONDS", help="see --speed-limit; default: %(default)s")


def add_subtitles_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pause-method", choices=PAUSE_METHODS,
                        default=SubtitlesOptions().pause_method,
                        help="how pauses in the sound track are found to time the cues: "
                        "levels (short-term loudness, robust to music) or silencedetect "
                        "(ffmpeg's silence filter); default: %(default)s")
    parser.add_argument("--max-transcript-bytes", type=positive_int,
                        default=SubtitlesOptions().max_transcript_bytes,
                        help="refuse a transcript larger than this many bytes; default: 8 MiB")
    parser.add_argument("--max-paragraph-sentences", type=positive_int,
                        default=SubtitlesOptions().max_paragraph_sentences,
                        help="refuse a transcript paragraph of more sentences than this (in "
                        "either language); default: %(default)s")


def add_publish_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", default=PublishOptions().base_url,
                        help="absolute URL the site will be served from (e.g. "
                        "https://media.example.org/lessons/); every URL that leaves the site "
                        "(oEmbed, Open Graph, JSON-LD, IIIF, the embed snippet) is made "
                        "absolute against it. Default: the manifest's [site] base_url, else "
                        "http://127.0.0.1:8000/ (archiver serve)")
    parser.add_argument("--embed-base-url", default=PublishOptions().embed_base_url,
                        help="absolute URL the embed pages are served from when they have "
                        "an origin of their own (docs/serving.md). Default: the manifest's "
                        "[site] embed_base_url, else the base URL")


def from_args(args: argparse.Namespace, only: tuple[str, ...] | None = None) -> Options:
    """The options a parsed command line sets (flags the command lacks keep their defaults)."""
    fetch, subtitles, publish = FetchOptions(), SubtitlesOptions(), PublishOptions()
    if hasattr(args, "timeout"):
        fetch = FetchOptions(max_bytes=args.max_bytes, timeout=args.timeout,
                             retries=args.retries, resolve=tuple(getattr(args, "resolve", ())),
                             max_segments=args.max_segments,
                             max_redirects=args.max_redirects, max_time=args.max_time,
                             speed_limit=args.speed_limit, speed_time=args.speed_time)
    if hasattr(args, "pause_method"):
        subtitles = SubtitlesOptions(pause_method=args.pause_method,
                                     max_transcript_bytes=args.max_transcript_bytes,
                                     max_paragraph_sentences=args.max_paragraph_sentences)
    if hasattr(args, "base_url"):
        publish = PublishOptions(base_url=args.base_url, only=only,
                                 embed_base_url=getattr(args, "embed_base_url", ""))
    return Options(fetch=fetch, subtitles=subtitles, publish=publish)
