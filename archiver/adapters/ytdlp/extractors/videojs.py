"""video.js: `data-setup='{"sources": [...]}'` and the `<video-js>` element's `<source>`s."""

from __future__ import annotations

import html
import re

from archiver.adapters.ytdlp.extractors.common import PageShapeIE, js_object, media_urls

DATA_SETUP = re.compile(r"<video\b[^>]*\bdata-setup\s*=\s*(['\"])(?P<json>.*?)\1[^>]*>",
                        re.I | re.S)
ELEMENT = re.compile(r"<video-js\b(?P<attrs>[^>]*)>(?P<body>.*?)</video-js>", re.I | re.S)
SOURCE = re.compile(r"<source\b[^>]*\bsrc\s*=\s*([\"'])(?P<src>[^\"']+)\1", re.I)
POSTER = re.compile(r"\bposter\s*=\s*([\"'])(?P<src>[^\"']+)\1", re.I)


class VideoJsIE(PageShapeIE):
    IE_NAME = "archiver:videojs"
    PLAYER = "video.js"

    def found(self, url: str, webpage: str) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        for match in DATA_SETUP.finditer(webpage):
            config = js_object(html.unescape(match.group("json")))
            if isinstance(config, dict):
                poster = config.get("poster") if isinstance(config.get("poster"), str) else None
                found += [(u, poster) for u in media_urls(config.get("sources") or [],
                                                          ("src",))]
        for match in ELEMENT.finditer(webpage):
            poster = POSTER.search(match.group("attrs"))
            found += [(s.group("src"), poster.group("src") if poster else None)
                      for s in SOURCE.finditer(match.group("body"))]
        return found
