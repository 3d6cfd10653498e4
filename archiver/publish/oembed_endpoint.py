"""The oEmbed endpoint `archiver serve` answers: `/oembed?url=…&maxwidth=…&maxheight=…`.

The answer is the site's static `oembed/<id>.json`, resized to the consumer's limits
(oembed.resized) with what the site catalog records for the lesson (embed URL, media size,
thumbnails). `url` names a lesson page or embed page under the site's base URL (or under the
address the server is reached at, for a preview on another port). Status codes are the
spec's: 404 for a URL this provider does not embed, 501 for a format other than JSON, 400 for
a malformed request. The files are read through `safefs`, like every file the server sends.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver import safefs
from archiver.publish.media import Thumbnail
from archiver.publish.oembed import Embeddable, resized

PAGE = re.compile(r"(?:embed/)?(?P<id>[a-z0-9][a-z0-9-]*)\.html")
MAX_DOCUMENT = 4 << 20  # a site catalog or oEmbed file larger than this is not ours


@dataclass(frozen=True)
class Answer:
    """An HTTP status and the JSON body to send (an `error` object unless 200)."""

    status: int
    body: dict[str, Any]


def _fail(status: int, message: str) -> Answer:
    return Answer(status, {"error": message})


def _limit(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or not 0 < int(value) <= 100_000:
        raise ValueError(f"{name} must be a positive whole number of pixels, got {value!r}")
    return int(value)


def _read_json(root: Path, rel: str) -> Any:
    return json.loads(safefs.read_bytes(root, rel, MAX_DOCUMENT))


def lesson_of(url: str, bases: list[str]) -> str | None:
    """The lesson id a page or embed URL under one of `bases` names, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return None
    bare = f"{parts.scheme}://{parts.netloc}{parts.path}"
    for base in bases:
        if bare.startswith(base):
            match = PAGE.fullmatch(bare[len(base):])
            if match:
                return match.group("id")
    return None


def _embeddable(entry: dict[str, Any]) -> Embeddable:
    thumbs = tuple(Thumbnail(str(t["url"]), int(t["width"]), int(t["height"]))
                   for t in entry.get("thumbnails") or [])
    return Embeddable(str(entry["embed_url"]), int(entry["width"]), int(entry["height"]),
                      thumbs)


def answer(root: Path, params: dict[str, str], own_url: str) -> Answer:
    """The endpoint's answer for the query `params`, for a server reached at `own_url`."""
    if params.get("format", "json") != "json":
        return _fail(501, "only format=json is provided")
    url = params.get("url")
    if not url:
        return _fail(400, "the url parameter is required")
    try:
        max_width = _limit(params.get("maxwidth"), "maxwidth")
        max_height = _limit(params.get("maxheight"), "maxheight")
        catalog = _read_json(root, "catalog.json")
    except ValueError as exc:
        return _fail(400, str(exc))
    except (OSError, safefs.UnsafePath):
        return _fail(404, "this site has no catalog.json")
    bases = [b for b in (catalog.get("base_url"), catalog.get("embed_base_url"), own_url)
             if isinstance(b, str) and b]
    lesson = lesson_of(url, bases)
    entries = {e.get("id"): e for e in catalog.get("lessons") or [] if isinstance(e, dict)}
    entry = entries.get(lesson)
    if lesson is None or entry is None or not entry.get("oembed"):
        return _fail(404, "not a lesson page of this site")
    try:
        doc = _read_json(root, str(entry["oembed"]))
        return Answer(200, resized(doc, _embeddable(entry), max_width, max_height))
    except (OSError, safefs.UnsafePath, ValueError, KeyError, TypeError):
        return _fail(404, "this lesson has no oEmbed document")
