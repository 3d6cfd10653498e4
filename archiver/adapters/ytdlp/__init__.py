"""yt-dlp internals (see archiver.adapters for the pattern).

- `offline`: yt-dlp's HTML5-embed and HLS master-playlist parsers, run on bytes archiver
  fetched itself, with yt-dlp's own manifest downloads disabled.

Issue #8 (yt-dlp's extractors through archiver's transport: a RequestHandler bound to the
source's Session, the request-director hook, player-family extractors) belongs here too, one
module per concern, each covered by tests/test_adapters_ytdlp.py.
"""

from archiver.adapters.ytdlp.offline import html5_media_entries, m3u8_master_formats

__all__ = ["html5_media_entries", "m3u8_master_formats"]
