"""What archiver's page-shape extractors share: an embed-only InfoExtractor base.

`PageShapeIE` subclasses implement `found(url, webpage)`, returning media or page URLs (with
an optional poster); the base turns them into yt-dlp results. A media file with a known
extension becomes a format directly (no extra request); a manifest (m3u8, mpd) or a page
becomes a `url_result`, which yt-dlp extracts again through the same transport.
`VendorOnly` is raised for a player config that names only a vendor token: that media is
reachable only through the vendor's API, which is out of scope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

from yt_dlp.extractor.common import InfoExtractor
from yt_dlp.utils import ExtractorError, js_to_json

MEDIA_EXTS = {"mp4": "mp4", "m4v": "mp4", "mov": "mov", "webm": "webm", "mkv": "mkv",
              "flv": "flv", "ts": "ts", "mp3": "mp3", "m4a": "m4a", "ogv": "ogv",
              "ogg": "ogg", "opus": "opus"}
URL_KEYS = ("video", "url", "src", "source", "file")


class VendorOnly(ExtractorError):  # type: ignore[misc, unused-ignore]  # untyped yt-dlp
    """A player config that carries only a vendor token (fileID, vid + playauth)."""

    def __init__(self, player: str, keys: list[str]) -> None:
        super().__init__(
            f"the page's {player} player names no media URL, only the vendor token(s) "
            f"{', '.join(keys)}; that media is served only through {player}'s vendor API, "
            "which is out of scope for archiver (give the media or playlist URL as the "
            "source instead)", expected=True)


CALL_VALUE = re.compile(r"(:\s*)(?:new\s+)?[A-Za-z_$][\w$.]*\s*\([^()]*\)")
IDENT_VALUE = re.compile(r"(:\s*)(?!true\b|false\b|null\b)[A-Za-z_$][\w$]*(?:\.[\w$]+)+"
                         r"(?=\s*[,}])")


def js_object(text: str) -> Any:
    """A JavaScript object literal as Python data (yt-dlp's js_to_json), or None.

    Values that are code (`container: document.getElementById('x')`, `el: window.x`) are
    read as null: a player config mixes them with the data we need."""
    text = IDENT_VALUE.sub(r"\1null", CALL_VALUE.sub(r"\1null", text))
    try:
        return json.loads(js_to_json(text))
    except ValueError:
        return None


def balanced(text: str, start: int) -> str | None:
    """The `{...}` or `[...]` starting at `text[start]` (strings and nesting respected)."""
    opener = text[start]
    closer = {"{": "}", "[": "]"}[opener]
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return text[start:i + 1]
    return None


def constructor_configs(webpage: str, pattern: str) -> Iterator[Any]:
    """Each object literal passed to a constructor/call matched by `pattern` (its last
    argument that is an object), e.g. `new DPlayer({...})`, `TCPlayer('id', {...})`."""
    for match in re.finditer(pattern, webpage):
        brace = webpage.find("{", match.end())
        if brace < 0:
            continue
        literal = balanced(webpage, brace)
        if literal is not None:
            data = js_object(literal)
            if isinstance(data, dict):
                yield data


def variable_object(webpage: str, name: str) -> Any:
    """The object literal assigned to the JavaScript variable `name`, or None."""
    match = re.search(rf"\b(?:var|let|const)\s+{re.escape(name)}\s*=\s*", webpage)
    if match is None:
        return None
    brace = webpage.find("{", match.end())
    literal = balanced(webpage, brace) if brace >= 0 else None
    return js_object(literal) if literal else None


def media_urls(config: Any, keys: tuple[str, ...] = URL_KEYS) -> list[str]:
    """URLs under the usual keys of a player config (nested: video.url, sources[].src)."""
    found: list[str] = []
    if isinstance(config, str):
        return [config] if re.match(r"(?:https?:)?//|/", config) else []
    if isinstance(config, list):
        for item in config:
            found += media_urls(item, keys)
    elif isinstance(config, dict):
        for key in (*keys, "sources", "playlist"):
            if key in config:
                found += media_urls(config[key], keys)
    return found


class PageShapeIE(InfoExtractor):  # type: ignore[misc, unused-ignore]  # untyped yt-dlp
    """An embed-only extractor (`_VALID_URL = False`) for one player family."""

    _VALID_URL = False
    PLAYER = ""

    def found(self, url: str, webpage: str) -> list[tuple[str, str | None]]:
        """(media or page URL, poster) pairs this family's markup names on the page."""
        raise NotImplementedError

    def _extract_from_webpage(self, url: str, webpage: str) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for target, poster in self.found(url, webpage):
            absolute = urljoin(url, target)
            if absolute in seen or urlsplit(absolute).scheme not in ("http", "https"):
                continue
            seen.add(absolute)
            yield self.result(url, webpage, absolute, poster)

    def result(self, page: str, webpage: str, target: str,
               poster: str | None) -> dict[str, Any]:
        path = urlsplit(target).path.lower()
        ext = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
        title = self._generic_title(page, webpage)
        if ext in MEDIA_EXTS:
            return {"id": self._generic_id(target), "title": title, "url": target,
                    "ext": MEDIA_EXTS[ext], "thumbnail": urljoin(page, poster) if poster
                    else None, "http_headers": {"Referer": page}}
        result: dict[str, Any] = self.url_result(target, video_title=title)
        return result
