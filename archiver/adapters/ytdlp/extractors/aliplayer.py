"""Aliplayer (Alibaba Cloud): `new Aliplayer({source: '…'})`; `vid` + `playauth` only is a
vendor token (its media comes from Alibaba's VOD API: out of scope, said so)."""

from __future__ import annotations

from archiver.adapters.ytdlp.extractors.common import (
    PageShapeIE,
    VendorOnly,
    constructor_configs,
    media_urls,
)

CALL = r"new\s+Aliplayer\s*\(\s*"
TOKENS = ("vid", "playauth", "accessKeyId", "securityToken")


class AliplayerIE(PageShapeIE):
    IE_NAME = "archiver:aliplayer"
    PLAYER = "Aliplayer"

    def found(self, url: str, webpage: str) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        for config in constructor_configs(webpage, CALL):
            cover = config.get("cover") if isinstance(config.get("cover"), str) else None
            urls = media_urls(config.get("source"), ("src", "url"))
            if not urls and any(k in config for k in TOKENS):
                raise VendorOnly(self.PLAYER, [k for k in TOKENS if k in config])
            found += [(u, cover) for u in urls]
        return found
