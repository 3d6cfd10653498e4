"""Lazy-loading attributes on `<video>`/`<source>` that yt-dlp's HTML5 parser does not read.

A lazy-loading script copies `data-lazy-src` (or `data-original`, `data-video-src`) into
`src` when the player scrolls into view; a browser then plays exactly that URL.
"""

from __future__ import annotations

import re

from archiver.adapters.ytdlp.extractors.common import PageShapeIE

TAG = re.compile(r"<(?:video|source|audio)\b[^>]*>", re.I)
LAZY = re.compile(r"\bdata-(?:lazy-src|original|video-src|lazy)\s*=\s*([\"'])(?P<src>[^\"']+)\1",
                  re.I)
POSTER = re.compile(r"\bdata-poster\s*=\s*([\"'])(?P<src>[^\"']+)\1", re.I)


class LazyMediaIE(PageShapeIE):
    IE_NAME = "archiver:lazy-media"
    PLAYER = "lazy-loading"

    def found(self, url: str, webpage: str) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        for tag in TAG.finditer(webpage):
            lazy = LAZY.search(tag.group(0))
            if lazy and not re.search(r"\ssrc\s*=", tag.group(0), re.I):
                poster = POSTER.search(tag.group(0))
                found.append((lazy.group("src"), poster.group("src") if poster else None))
        return found
