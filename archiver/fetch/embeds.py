"""The page's own resources a replay needs beside the media: poster image and `<track>` files.

Why fetch them at all (the subtitles are made by us, the poster is not archived as a file): a
web archive of the lesson page must replay the page as it was, and a `<video>` whose poster
and tracks were never captured replays with holes. They are fetched once through the source's
`Session` (so the TLS policy holds and every exchange lands in the WARC as a full response),
bounded like a page. A resource that fails is a warning, not a failed lesson: the media is
what the lesson is archived for, and the failure itself is recorded in the capture.
"""

from __future__ import annotations

from collections.abc import Callable

from archiver.errors import FetchError
from archiver.fetch.http import Session
from archiver.fetch.resolve import Resolution, read_small


def page_resources(res: Resolution) -> list[tuple[str, str]]:
    """(role, URL) of the poster and every track the page names, each URL once."""
    wanted: list[tuple[str, str]] = []
    if res.poster:
        wanted.append(("poster", res.poster))
    for urls in res.tracks.values():
        wanted.extend(("track", url) for url in urls)
    seen: set[str] = {res.media_url, *([res.page_url] if res.page_url else [])}
    unique = []
    for role, url in wanted:
        if url not in seen and url.lower().startswith(("http://", "https://")):
            seen.add(url)
            unique.append((role, url))
    return unique


def capture_resources(session: Session, res: Resolution,
                      warn: Callable[[str], None]) -> int:
    """Fetch the poster and tracks into the session's exchanges; returns how many failed."""
    failed = 0
    for role, url in page_resources(res):
        try:
            read_small(session, url, role)
        except FetchError as exc:
            failed += 1
            warn(f"{role} {url} not captured: {exc.message}")
    return failed
