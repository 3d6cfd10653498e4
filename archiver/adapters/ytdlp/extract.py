"""Run yt-dlp's real extraction (`extract_info(download=False)`) over a source's Session.

Every extractor yt-dlp has is available, the generic one last (yt-dlp's own order), plus
archiver's player-family extractors (archiver.adapters.ytdlp.extractors), which the generic
extractor consults for each page through yt-dlp's public embed interface
(`extract_from_webpage`). yt-dlp never downloads anything here: it resolves, archiver
transfers and hashes (FIELD-NOTES "Hashing"). Its format choice is `bv*+ba/b`: the best
video with its best audio, so a video format without sound always comes with the audio
component it needs (DASH adaptation sets, HLS EXT-X-MEDIA renditions).
"""

from __future__ import annotations

from typing import Any, cast

from yt_dlp import YoutubeDL
from yt_dlp.networking.exceptions import RequestError
from yt_dlp.utils import DownloadError

from archiver import cancel
from archiver.adapters.ytdlp.extractors import EXTRACTORS, VendorOnly
from archiver.adapters.ytdlp.transport import SessionRH, install, network_cause
from archiver.errors import FetchError, Location, NoMediaError, TlsError
from archiver.fetch.http import Session, Transient

FORMAT = "bv*+ba/b"


class _Quiet:
    """yt-dlp's logger: messages are kept for the error, never printed over the run's log."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def debug(self, message: str) -> None:
        del message

    def info(self, message: str) -> None:
        del message

    def warning(self, message: str) -> None:
        self.messages.append(message)

    def error(self, message: str) -> None:
        self.messages.append(message)


def _params(timeout: float, logger: _Quiet) -> dict[str, Any]:
    return {"quiet": True, "no_warnings": True, "noprogress": True, "skip_download": True,
            "noplaylist": True, "format": FORMAT, "check_formats": False,
            "socket_timeout": timeout, "logger": logger, "cachedir": False,
            "extractor_retries": 0, "color": {"stdout": "never", "stderr": "never"}}


def _own_failure(handler: SessionRH, exc: BaseException | None) -> FetchError | None:
    """The most telling archiver error behind a failed extraction (TLS first)."""
    failures = list(handler.failures)
    cause = network_cause(exc) if exc is not None else None
    if cause is not None:
        failures.append(cause)
    for kind in (TlsError, Transient):
        found = next((f for f in failures if isinstance(f, kind)), None)
        if found is not None:
            return found
    return cause


def _vendor(exc: DownloadError) -> VendorOnly | None:
    cause = exc.exc_info[1] if exc.exc_info else None
    return cause if isinstance(cause, VendorOnly) else None


def extract(session: Session, url: str, *, timeout: float,
            body_limit: int) -> tuple[dict[str, Any], SessionRH]:
    """yt-dlp's processed info dict for `url` (formats chosen), and the handler it used."""
    logger = _Quiet()
    with YoutubeDL(_params(timeout, logger)) as ydl:
        handler = install(ydl, session, body_limit)
        for extractor in EXTRACTORS:
            ydl.add_info_extractor(extractor())
        try:
            info = ydl.extract_info(url, download=False)
        except DownloadError as exc:
            cancel.check("while yt-dlp read the page")  # yt-dlp wraps our Interrupted
            own = _own_failure(handler, exc)
            if own is not None:
                raise own from exc
            vendor = _vendor(exc)
            if vendor is not None:
                raise NoMediaError(f"{url}: {vendor.orig_msg}",
                                   Location(lesson=session.lesson, key="sources.url")) from exc
            message = str(exc).removeprefix("ERROR: ").strip()
            raise NoMediaError(f"{url}: the page has no media yt-dlp can find ({message})",
                               Location(lesson=session.lesson, key="sources.url")) from exc
        except RequestError as exc:  # a body read inside an extractor broke a bound or stalled
            cancel.check("while yt-dlp read the page")
            own = _own_failure(handler, exc)
            raise (own or FetchError(f"{url}: {exc}", Location(lesson=session.lesson,
                                                                key="sources.url"))) from exc
        own = _own_failure(handler, None)
        if isinstance(own, TlsError | Transient):
            # an extractor may carry on without an optional request, but a refusal is still
            # a refusal, and a 429/5xx may have cost part of the answer: retry it whole
            raise own
        if not isinstance(info, dict):
            raise NoMediaError(f"{url}: yt-dlp returned no media",
                               Location(lesson=session.lesson, key="sources.url"))
        return cast(dict[str, Any], info), handler
