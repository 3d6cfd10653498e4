"""archiver's own yt-dlp extractors, one module per player family, registered for each run.

Each is an embed-only `InfoExtractor` (`_VALID_URL = False`: never chosen for a URL itself)
whose `_extract_from_webpage` yt-dlp's generic extractor calls on every page it reads
(yt-dlp's public embed interface, as for its own embed extractors). So they only add shapes
the generic extractor does not know, and yt-dlp's site extractors keep priority. A player
config that carries only a vendor token raises `VendorOnly` (out of scope, said so).
"""

from __future__ import annotations

from typing import Any

from archiver.adapters.ytdlp.extractors.aliplayer import AliplayerIE
from archiver.adapters.ytdlp.extractors.ckplayer import CkPlayerIE
from archiver.adapters.ytdlp.extractors.common import VendorOnly
from archiver.adapters.ytdlp.extractors.dplayer import DPlayerIE
from archiver.adapters.ytdlp.extractors.iframes import IframePlayerIE
from archiver.adapters.ytdlp.extractors.lazy import LazyMediaIE
from archiver.adapters.ytdlp.extractors.opengraph import OpenGraphSecureIE
from archiver.adapters.ytdlp.extractors.tcplayer import TcPlayerIE
from archiver.adapters.ytdlp.extractors.videojs import VideoJsIE

EXTRACTORS: tuple[type[Any], ...] = (
    LazyMediaIE, OpenGraphSecureIE, VideoJsIE, CkPlayerIE, DPlayerIE, AliplayerIE, TcPlayerIE,
    IframePlayerIE)

__all__ = ["EXTRACTORS", "VendorOnly"]
