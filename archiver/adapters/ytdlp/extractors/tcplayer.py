"""TCPlayer (Tencent Cloud): `TCPlayer(id, {sources: [{src}]})` and `player.src('…')`;
`fileID` + `appID` only is a vendor token (Tencent's VOD API: out of scope, said so)."""

from __future__ import annotations

import re

from archiver.adapters.ytdlp.extractors.common import (
    PageShapeIE,
    VendorOnly,
    constructor_configs,
    media_urls,
)

CALL = r"\bTCPlayer\s*\(\s*(['\"])[^'\"]+\1\s*,\s*"
SRC_CALL = re.compile(r"\.src\s*\(\s*(['\"])(?P<src>[^'\"]+)\1\s*\)")
TOKENS = ("fileID", "appID", "psign")


class TcPlayerIE(PageShapeIE):
    IE_NAME = "archiver:tcplayer"
    PLAYER = "TCPlayer"

    def found(self, url: str, webpage: str) -> list[tuple[str, str | None]]:
        if not re.search(r"\bTCPlayer\s*\(", webpage):
            return []
        found: list[tuple[str, str | None]] = []
        vendor: list[str] = []
        for config in constructor_configs(webpage, CALL):
            poster = config.get("poster") if isinstance(config.get("poster"), str) else None
            urls = media_urls(config.get("sources"), ("src",))
            found += [(u, poster) for u in urls]
            vendor += [k for k in TOKENS if k in config]
        found += [(m.group("src"), None) for m in SRC_CALL.finditer(webpage)]
        if not found and vendor:
            raise VendorOnly(self.PLAYER, vendor)
        return found
