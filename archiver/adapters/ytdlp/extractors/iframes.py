"""Iframes to player pages (and JSON-LD `embedUrl`), followed up to depth 2.

Why a depth limit: a player page may frame another (a wrapper, then the real player), and
a page can frame itself or ads; two levels cover the lecture sites seen, and the limit keeps
a hostile page from leading the extraction on. Depth is counted per run (the extractor
instance is the run's); the chain of pages read is recorded by the fetch stage from the
requests this run made.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from archiver.adapters.ytdlp.extractors.common import PageShapeIE

MAX_DEPTH = 2
IFRAME = re.compile(r"<iframe\b[^>]*?\bsrc\s*=\s*([\"'])(?P<src>[^\"']+)\1", re.I)
LD_JSON = re.compile(r"<script[^>]+type=[\"']application/ld\+json[\"'][^>]*>(?P<json>.*?)"
                     r"</script>", re.I | re.S)


def _ld_objects(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return [o for item in data for o in _ld_objects(item)]
    if isinstance(data, dict):
        return [data, *_ld_objects(data.get("@graph"))]
    return []


def jsonld_embeds(webpage: str) -> list[str]:
    """`embedUrl` of VideoObjects that name no `contentUrl` (yt-dlp reads contentUrl)."""
    urls = []
    for match in LD_JSON.finditer(webpage):
        try:
            data = json.loads(match.group("json"))
        except ValueError:
            continue
        for obj in _ld_objects(data):
            kind = obj.get("@type")
            kinds = kind if isinstance(kind, list) else [kind]
            if "VideoObject" in kinds and not obj.get("contentUrl") and \
                    isinstance(obj.get("embedUrl"), str):
                urls.append(obj["embedUrl"])
    return urls


class IframePlayerIE(PageShapeIE):
    """Player pages in iframes, and JSON-LD embed pages; depth ≤ 2 (see module doc)."""

    IE_NAME = "archiver:iframe"
    PLAYER = "iframe"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parents: dict[str, str] = {}

    def depth(self, url: str) -> int:
        depth, seen = 0, {url}
        while url in self.parents:
            url = self.parents[url]
            if url in seen:
                break
            seen.add(url)
            depth += 1
        return depth

    def found(self, url: str, webpage: str) -> list[tuple[str, str | None]]:
        if self.depth(url) >= MAX_DEPTH:
            return []
        targets = [m.group("src") for m in IFRAME.finditer(webpage)] + jsonld_embeds(webpage)
        found: list[tuple[str, str | None]] = []
        for target in targets:
            absolute = urljoin(url, target.strip())
            if urlsplit(absolute).scheme not in ("http", "https") or absolute == url:
                continue
            self.parents.setdefault(absolute, url)
            found.append((absolute, None))
        return found
