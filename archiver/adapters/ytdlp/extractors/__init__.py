"""archiver's own yt-dlp extractors, one module per player family, registered for each run.

Each is an `InfoExtractor` with `_VALID_URL = False` (never chosen for a URL itself) whose
`_extract_from_webpage` yt-dlp's generic extractor calls on every page it reads (yt-dlp's
public embed interface); so they only add shapes the generic extractor does not know, and
yt-dlp's site extractors keep priority.
"""

from __future__ import annotations

from typing import Any

EXTRACTORS: tuple[type[Any], ...] = ()
