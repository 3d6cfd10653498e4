"""oEmbed (oembed.com): the JSON a CMS fetches to embed a pasted lesson URL.

A video lesson is type `video`, an audio-only one type `rich` (oEmbed has no audio type; its
`html` is the same player). `html` is the iframe of the embed page with a title and
`allow="fullscreen; picture-in-picture"`. Each lesson gets a static `oembed/<id>.json` at the
default size (a static host can serve it; the lesson page links it for discovery), and
`archiver serve` answers the endpoint form `/oembed?url=…&maxwidth=…&maxheight=…` with the
same document resized to the consumer's limits (`resized`): the spec says the provider must
respect them, for the `html`, `width`/`height` and the thumbnail alike, so the largest
thumbnail that fits is chosen and none is sent when none fits (thumbnails are optional, a
too-large one is not allowed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archiver.publish.markup import Markup, render
from archiver.publish.media import Thumbnail
from archiver.publish.published import Published, fit, text_of, title_of
from archiver.publish.siteconfig import SiteConfig

ALLOW = "fullscreen; picture-in-picture"


def iframe(src: str, width: int, height: int, title: str) -> Markup:
    """The embed snippet: the same markup in the lesson page, the oEmbed `html` and docs."""
    return render('<iframe src="{src}" width="{w}" height="{h}" title="{t}" allow="{allow}" '
                  'allowfullscreen loading="lazy"></iframe>',
                  src=src, w=width, h=height, t=title, allow=ALLOW)


def best_thumbnail(thumbnails: list[Thumbnail], max_width: int | None,
                   max_height: int | None) -> Thumbnail | None:
    """The largest thumbnail within the limits (None when none fits)."""
    fitting = [t for t in thumbnails
               if (max_width is None or t.width <= max_width)
               and (max_height is None or t.height <= max_height)]
    return max(fitting, key=lambda t: t.width * t.height, default=None)


@dataclass(frozen=True)
class Embeddable:
    """What an oEmbed answer is computed from; the site catalog keeps it for the endpoint."""

    embed_url: str                  # absolute
    media_width: int
    media_height: int
    thumbnails: tuple[Thumbnail, ...]   # URLs absolute

    @classmethod
    def of(cls, pub: Published, cfg: SiteConfig) -> Embeddable:
        return cls(cfg.embed_url(pub.urls["embed"]), pub.width, pub.height,
                   tuple(Thumbnail(cfg.url(t.url), t.width, t.height) for t in pub.thumbnails))


def resized(doc: dict[str, Any], what: Embeddable, max_width: int | None = None,
            max_height: int | None = None) -> dict[str, Any]:
    """`doc` (an oEmbed answer of this site) with its size, html and thumbnail fitted to the
    consumer's limits."""
    width, height = fit(what.media_width, what.media_height, max_width, max_height)
    out = {k: v for k, v in doc.items() if not k.startswith("thumbnail_")}
    out.update(width=width, height=height,
               html=str(iframe(what.embed_url, width, height, str(doc.get("title") or ""))))
    thumb = best_thumbnail(list(what.thumbnails), max_width, max_height)
    if thumb is not None:
        out.update(thumbnail_url=thumb.url, thumbnail_width=thumb.width,
                   thumbnail_height=thumb.height)
    return out


def document(pub: Published, cfg: SiteConfig) -> dict[str, Any]:
    """The static oEmbed answer for one lesson, at the default size."""
    lesson = pub.lesson
    doc: dict[str, Any] = {
        "version": "1.0", "type": "rich" if pub.audio_only else "video",
        "title": title_of(lesson),
        "provider_name": text_of(cfg.provider_name), "provider_url": cfg.provider_url,
        "cache_age": 86400,
    }
    speaker = text_of(lesson.speaker)
    if speaker:
        doc["author_name"] = speaker
    return resized(doc, Embeddable.of(pub, cfg))
