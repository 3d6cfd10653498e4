"""DPlayer: `new DPlayer({video: {url: '…', pic: '…'}})` (also `quality: [{url}]`)."""

from __future__ import annotations

from archiver.adapters.ytdlp.extractors.common import PageShapeIE, constructor_configs

CALL = r"new\s+DPlayer\s*\(\s*"


class DPlayerIE(PageShapeIE):
    IE_NAME = "archiver:dplayer"
    PLAYER = "DPlayer"

    def found(self, url: str, webpage: str) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        for config in constructor_configs(webpage, CALL):
            video = config.get("video")
            if not isinstance(video, dict):
                continue
            pic = video.get("pic") if isinstance(video.get("pic"), str) else None
            qualities = [q for q in video.get("quality") or [] if isinstance(q, dict)]
            chosen = video.get("defaultQuality")
            index = chosen if isinstance(chosen, int) else 0
            if qualities and 0 <= index < len(qualities) and qualities[index].get("url"):
                found.append((str(qualities[index]["url"]), pic))
            elif isinstance(video.get("url"), str):
                found.append((video["url"], pic))
        return found
