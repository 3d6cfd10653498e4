"""Open Graph and Twitter player-card tags: what a shared lesson link shows as a card.

Open Graph (ogp.me): `og:type` is `video.other` for a lecture with video; an audio-only lesson
is a `website` carrying `og:audio` (Open Graph has no lecture-audio type, and `music.song`
would be false). `og:video`/`og:audio` name the media file itself (what ogp.me defines and
what Facebook plays); `og:*:secure_url` is written only when the site is served over HTTPS
(an http URL there would be a lie). The locale is the speech's, zh_CN, with the English
translation as the alternate. Twitter's `player` card points at the embed page, the documented
way to play media inline; `twitter:player:stream` adds the file. All URLs are absolute.
"""

from __future__ import annotations

from archiver.publish.markup import Markup, join, render
from archiver.publish.published import Published, title_of
from archiver.publish.siteconfig import SiteConfig


def _description(pub: Published) -> str:
    lesson = pub.lesson
    synopsis = lesson.synopsis
    text = (synopsis.en or synopsis.zh) if synopsis else ""
    return text or f"Lesson {lesson.number} of the series, with Chinese and English subtitles."


def properties(pub: Published, cfg: SiteConfig) -> list[tuple[str, str, str]]:
    """(attribute, name, content) of every tag: `property` for Open Graph, `name` for Twitter."""
    lesson = pub.lesson
    page, embed = cfg.url(pub.urls["page"]), cfg.embed_url(pub.urls["embed"])
    media, poster = cfg.url(pub.urls["video"]), cfg.url(pub.urls["poster"])
    kind = "audio" if pub.audio_only else "video"
    width, height = pub.embed_size()
    og = [("og:title", title_of(lesson)), ("og:description", _description(pub)),
          ("og:type", "website" if pub.audio_only else "video.other"), ("og:url", page),
          ("og:site_name", cfg.provider_name.en or cfg.provider_name.zh),
          ("og:locale", "zh_CN"), ("og:locale:alternate", "en_US"),
          ("og:image", poster), ("og:image:width", str(pub.width)),
          ("og:image:height", str(pub.height)),
          ("og:image:alt", f"{'Waveform' if pub.audio_only else 'Frame'} of {title_of(lesson)}"),
          (f"og:{kind}", media)]
    if cfg.secure:
        og.append((f"og:{kind}:secure_url", media))
    og.append((f"og:{kind}:type", pub.info.mime_type))
    if not pub.audio_only:
        og += [("og:video:width", str(pub.width)), ("og:video:height", str(pub.height))]
    twitter = [("twitter:card", "player"), ("twitter:title", title_of(lesson)),
               ("twitter:description", _description(pub)), ("twitter:image", poster),
               ("twitter:player", embed), ("twitter:player:width", str(width)),
               ("twitter:player:height", str(height)),
               ("twitter:player:stream", media),
               ("twitter:player:stream:content_type", pub.info.mime_type)]
    return [("property", k, v) for k, v in og] + [("name", k, v) for k, v in twitter]


def meta_tags(pub: Published, cfg: SiteConfig) -> Markup:
    """The `<meta>` tags for the lesson page's head."""
    return join(render('<meta {a}="{k}" content="{v}">', a=Markup(attr), k=key, v=value)
                for attr, key, value in properties(pub, cfg))
