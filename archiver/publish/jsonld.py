"""schema.org VideoObject (AudioObject for audio-only lessons) for the lesson page.

Google's video rich results are the bar (developers.google.com/search/docs/appearance/
structured-data/video): `name`, `thumbnailUrl` and `uploadDate` are required; `description`,
`duration`, `contentUrl`, `embedUrl` and `hasPart` are recommended; key moments are `Clip`s
with `name`, `startOffset` and a `url` that opens the watch page at that second (`#t=`), plus
`endOffset`. Every URL is absolute (`SiteConfig.url`), durations are ISO 8601, and each clip
starts at a distinct whole second (Google rejects clips sharing a start).

The package's own VideoObject (videoobject.json) is the starting point, so its identifier,
creator, series and source stay; what names files inside the package is replaced by the copies
this site serves.
"""

from __future__ import annotations

import math
from typing import Any

from archiver.model import DEFAULT_TRACK, Chapter, track
from archiver.publish.markup import iso_duration
from archiver.publish.published import Published, title_of
from archiver.publish.siteconfig import SiteConfig

SPOKEN_LANGUAGE = DEFAULT_TRACK.bcp47  # the lectures are in Chinese; its track is the speech


def upload_date(pub: Published) -> str | None:
    """The release date; when it is unknown, the day the archive captured the lesson (the
    first day this copy existed), which is still a truthful 'first online' for this copy."""
    lesson = pub.lesson
    if lesson.released:
        return lesson.released
    captured = lesson.source.get("captured") or lesson.capture.get("ended")
    return str(captured)[:10] if captured else None


def clips(pub: Published, cfg: SiteConfig) -> list[dict[str, Any]]:
    """One `Clip` per chapter, at whole seconds (the `#t=` of its URL), distinct starts."""
    page = cfg.url(pub.urls["page"])
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    chapters: list[Chapter] = pub.lesson.chapters
    for chapter in chapters:
        start = math.floor(chapter.start)
        if start in seen:
            continue
        seen.add(start)
        end = max(start + 1, min(math.ceil(chapter.end), math.ceil(pub.duration)))
        out.append({"@type": "Clip", "name": chapter.title.en or chapter.title.zh,
                    "startOffset": start, "endOffset": end, "url": f"{page}#t={start}",
                    **({"alternateName": chapter.title.zh}
                       if chapter.title.en and chapter.title.zh else {})})
    return out


def transcript_text(pub: Published) -> str | None:
    """The package's transcript text, or the paragraphs (Chinese, then English) when absent."""
    given = pub.lesson.videoobject.get("transcript")
    if isinstance(given, str) and given.strip():
        return given
    if not pub.lesson.paragraphs:
        return None
    return "\n\n".join("\n".join(t for t in (p.zh, p.en) if t) for p in pub.lesson.paragraphs)


def _publisher(cfg: SiteConfig) -> dict[str, Any]:
    name = cfg.publisher.en or cfg.publisher.zh
    return {"@type": "Organization", "name": name,
            **({"alternateName": cfg.publisher.zh} if cfg.publisher.en and cfg.publisher.zh
               else {})}


def media_object(pub: Published, cfg: SiteConfig) -> dict[str, Any]:
    """The lesson's VideoObject or AudioObject, every URL absolute."""
    lesson = pub.lesson
    data: dict[str, Any] = dict(lesson.videoobject)
    # the package's record names files inside the package (the master MKV, the original's
    # digest); in the site, contentUrl is the access copy, so the digest must be that file's
    data.pop("associatedMedia", None)
    description = (lesson.synopsis.en or lesson.synopsis.zh) if lesson.synopsis else None
    data.update({
        "@context": "https://schema.org",
        "@type": "AudioObject" if pub.audio_only else "VideoObject",
        "name": title_of(lesson),
        "alternateName": lesson.title.zh if lesson.title.en and lesson.title.zh else None,
        "description": description or f"{title_of(lesson)} (lesson {lesson.number})",
        "thumbnailUrl": [cfg.url(t.url) for t in pub.thumbnails[:2]] or
        [cfg.url(pub.urls["poster"])],
        "uploadDate": upload_date(pub),
        "duration": iso_duration(pub.duration),
        "contentUrl": cfg.url(pub.urls["video"]), "embedUrl": cfg.embed_url(pub.urls["embed"]),
        "url": cfg.url(pub.urls["page"]),
        "encodingFormat": pub.info.mime_type,
        "width": None if pub.audio_only else pub.width,
        "height": None if pub.audio_only else pub.height,
        "inLanguage": SPOKEN_LANGUAGE,
        "publisher": _publisher(cfg),
        "sha256": pub.access_sha256, "contentSize": str(pub.access_bytes),
        "transcript": transcript_text(pub),
        "caption": [{"@type": "MediaObject", "encodingFormat": "text/vtt",
                     "inLanguage": track(key).bcp47, "name": track(key).label,
                     "contentUrl": cfg.url(pub.urls[key])} for key in lesson.tracks] or None,
        "hasPart": clips(pub, cfg) or None,
    })
    return {k: v for k, v in data.items() if v is not None}
