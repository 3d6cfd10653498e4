"""ckplayer: `new ckplayer({video: '…'})`, the config often in a variable (`videoObject`)."""

from __future__ import annotations

import re

from archiver.adapters.ytdlp.extractors.common import (
    PageShapeIE,
    constructor_configs,
    media_urls,
    variable_object,
)

CALL = r"new\s+ckplayer\s*\(\s*"


class CkPlayerIE(PageShapeIE):
    IE_NAME = "archiver:ckplayer"
    PLAYER = "ckplayer"

    def found(self, url: str, webpage: str) -> list[tuple[str, str | None]]:
        configs = list(constructor_configs(webpage, CALL))
        for name in re.findall(CALL + r"([A-Za-z_$][\w$]*)\s*\)", webpage):
            config = variable_object(webpage, name)
            if isinstance(config, dict):
                configs.append(config)
        return [(u, c.get("poster") if isinstance(c.get("poster"), str) else None)
                for c in configs for u in media_urls(c.get("video"), ("url", "file", "src"))]
