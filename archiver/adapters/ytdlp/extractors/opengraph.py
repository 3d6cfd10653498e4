"""Open Graph: `og:video:secure_url` is the URL a browser uses when the page is https.

yt-dlp's generic extractor takes `og:video` (often the plain-http twin), which an https
source under a TLS policy must not fetch; so where a secure URL is given it is preferred.
"""

from __future__ import annotations

import re

from archiver.adapters.ytdlp.extractors.common import PageShapeIE

META = re.compile(r"<meta\b[^>]*>", re.I)


def _attr(tag: str, name: str) -> str | None:
    match = re.search(rf"\b{name}\s*=\s*([\"'])(?P<v>[^\"']*)\1", tag, re.I)
    return match.group("v") if match else None


class OpenGraphSecureIE(PageShapeIE):
    IE_NAME = "archiver:og-video-secure"
    PLAYER = "Open Graph"

    def found(self, url: str, webpage: str) -> list[tuple[str, str | None]]:
        meta: dict[str, str] = {}
        for tag in META.finditer(webpage):
            key = _attr(tag.group(0), "property") or _attr(tag.group(0), "name")
            value = _attr(tag.group(0), "content")
            if key and value:
                meta.setdefault(key.lower(), value)
        secure = meta.get("og:video:secure_url")
        return [(secure, meta.get("og:image"))] if secure else []
