"""yt-dlp's page and playlist parsers on bytes archiver already fetched (no yt-dlp networking).

Why: the TLS policy and the WARC must cover every request of a source, so archiver.fetch
fetches the page and playlists itself and hands the text to yt-dlp's parsers, which are
private `InfoExtractor` methods: `_parse_html5_media_entries` (the code behind the generic
extractor's `<video>`/`<audio>`/`<source>`/`<track>` handling) and
`_parse_m3u8_formats_and_subtitles`. The HTML5 parser would download an m3u8 or mpd `<source>`
with yt-dlp's own networking through `_extract_m3u8_formats`/`_extract_mpd_formats`; our
subclass overrides both to return the manifest URL unfetched.

Fail closed: an override of a method yt-dlp no longer has would be dead code, and yt-dlp
would then fetch the manifest outside the source's TLS policy. So every name is checked
against the installed yt-dlp before use, and a missing one raises ContractBroken instead.
"""

from __future__ import annotations

from typing import Any, cast

from yt_dlp import YoutubeDL
from yt_dlp.extractor.common import InfoExtractor
from yt_dlp.extractor.generic import GenericIE

from archiver.adapters.contract import ContractBroken, Internal

LIBRARIES = ("yt-dlp",)
PARSE_HTML5 = Internal("yt_dlp.extractor.common.InfoExtractor._parse_html5_media_entries",
                       "a method (base_url, webpage, video_id) -> list of entries", LIBRARIES)
PARSE_M3U8 = Internal("yt_dlp.extractor.common.InfoExtractor._parse_m3u8_formats_and_subtitles",
                      "a method (text, url, ext=...) -> (formats, subtitles)", LIBRARIES)
EXTRACT_M3U8 = Internal("yt_dlp.extractor.common.InfoExtractor._extract_m3u8_formats",
                        "the method the HTML5 parser calls for an m3u8 <source> (overridden "
                        "so that yt-dlp does not download it)", LIBRARIES)
EXTRACT_MPD = Internal("yt_dlp.extractor.common.InfoExtractor._extract_mpd_formats",
                       "the method the HTML5 parser calls for an mpd <source> (overridden so "
                       "that yt-dlp does not download it)", LIBRARIES)
INTERNALS = (PARSE_HTML5, PARSE_M3U8, EXTRACT_M3U8, EXTRACT_MPD)


def missing_internals() -> list[ContractBroken]:
    """Every internal this module needs that the installed yt-dlp lacks (empty when fine)."""
    broken = []
    for internal in INTERNALS:
        name = internal.attribute.rsplit(".", 1)[1]
        if not callable(getattr(InfoExtractor, name, None)):
            broken.append(ContractBroken(internal, "is missing or not callable"))
    return broken


class _OfflineGenericIE(GenericIE):  # type: ignore[misc, unused-ignore]  # untyped yt-dlp
    """yt-dlp's generic extractor with its manifest downloads disabled (see module doc)."""

    def _extract_m3u8_formats(self, url: str, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        del args, kwargs
        return [{"url": url, "protocol": "m3u8_native", "ext": "mp4"}]

    def _extract_mpd_formats(self, url: str, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        del args, kwargs
        return [{"url": url, "protocol": "http_dash_segments", "ext": "mp4"}]


def _extractor() -> _OfflineGenericIE:
    broken = missing_internals()
    if broken:
        raise broken[0]
    return _OfflineGenericIE(YoutubeDL({"quiet": True, "no_warnings": True,
                                        "skip_download": True}))


def html5_media_entries(page_url: str, html: str) -> list[dict[str, Any]]:
    """yt-dlp's entries (formats, subtitles, thumbnail) for the media embedded in `html`."""
    entries = _extractor()._parse_html5_media_entries(page_url, html, "lesson")
    return cast(list[dict[str, Any]], entries)


def m3u8_master_formats(text: str, url: str) -> list[dict[str, Any]]:
    """yt-dlp's formats for the variants of an HLS master playlist (already fetched)."""
    formats, _subtitles = _extractor()._parse_m3u8_formats_and_subtitles(text, url, ext="mp4")
    return cast(list[dict[str, Any]], formats)
