"""The site's HTML: index, lesson page and embed page, built with `markup` (autoescaped).

Pages load only files from the site itself (no third-party resources; a CSP meta tag makes
that a rule the browser enforces), mark every Chinese and English text with `lang`, and give the
video a fixed aspect-ratio box (width/height attributes) so nothing moves when it loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archiver.model import DEFAULT_TRACK, Bilingual, track
from archiver.publish.inputs import LessonData
from archiver.publish.markup import Markup, clock, esc, iso_duration, join, json_for_script, render

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'")


@dataclass
class Published:
    """An archived lesson as placed in the site: URLs are relative to the site root."""

    lesson: LessonData
    urls: dict[str, str]
    width: int
    height: int
    duration: float
    access_sha256: str
    access_bytes: int


NOTHING = Markup("")


def _head(title: str, prefix: str, extra: Markup = NOTHING) -> Markup:
    return render(
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<title>{title}</title>\n<link rel="stylesheet" href="{prefix}assets/site.css">\n'
        '<link rel="icon" href="data:,">\n'
        '{extra}</head>\n', csp=CSP, title=title, prefix=prefix, extra=extra)


def both(text: Bilingual, tag: str = "span", cls: str = "") -> Markup:
    """The Chinese and English forms of a text, each marked with its language."""
    parts = []
    klass = f' class="{cls}"' if cls else ""
    if text.zh:
        parts.append(render(f'<{tag} lang="zh-Hans"{klass}>{{t}}</{tag}>', t=text.zh))
    if text.en:
        parts.append(render(f'<{tag} lang="en"{klass}>{{t}}</{tag}>', t=text.en))
    return join(parts, " ")


def title_of(lesson: LessonData) -> str:
    return lesson.title.en or lesson.title.zh or f"Lesson {lesson.number}"


# problem names recorded by fetch (archiver/fetch/tls.py), in words for people
PROBLEM_WORDS = {"self-signed": "self-signed", "untrusted-issuer": "from an untrusted issuer",
                 "expired": "expired", "not-yet-valid": "not yet valid",
                 "hostname-mismatch": "issued for another host name",
                 "other": "otherwise invalid"}


def tls_sentence(tls: dict[str, Any]) -> str:
    """The TLS status at capture in words, e.g. "certificate was expired; pinned fingerprint …"."""
    if not tls:
        return "no TLS evidence recorded (plain HTTP or not captured)"
    outcome = str(tls.get("outcome") or "unknown")
    problems = [PROBLEM_WORDS.get(str(p), str(p)) for p in tls.get("problems") or []]
    fp = str(tls.get("sha256_fingerprint") or "")
    was = f"certificate was {' and '.join(problems)}" if problems else "certificate had no problems"
    if outcome == "pinned":
        return f"{was}; pinned fingerprint sha256 {fp}"
    if outcome == "verified":
        return f"{was}; verified against the system's trusted CAs (sha256 {fp})"
    if outcome == "trusted-by-ca-bundle":
        return f"{was}; trusted through the manifest's CA bundle (sha256 {fp})"
    if outcome == "insecure":
        return f"{was}; NOT verified (insecure policy chosen in the manifest; sha256 {fp})"
    return f"{was}; outcome {outcome} (sha256 {fp})"


def video_element(pub: Published, prefix: str) -> Markup:
    lid = pub.lesson.id
    keys = pub.lesson.tracks
    default = DEFAULT_TRACK.key if DEFAULT_TRACK.key in keys else (keys[0] if keys else "")
    tracks = [render('<track kind="subtitles" id="track-{key}" srclang="{src}" label="{label}" '
                     'src="{url}"{default}>', key=key, src=track(key).bcp47,
                     label=track(key).label, url=prefix + pub.urls[key],
                     default=Markup(" default") if key == default else Markup(""))
              for key in keys]
    return render('<video id="player" data-lesson="{lid}" controls preload="metadata" '
                  'crossorigin="anonymous" playsinline width="{w}" height="{h}" '
                  'poster="{poster}">\n<source src="{src}" type="video/mp4">\n{tracks}\n'
                  '</video>', lid=lid, w=pub.width, h=pub.height,
                  poster=prefix + pub.urls["poster"], src=prefix + pub.urls["video"],
                  tracks=join(tracks))


def json_ld(pub: Published, base_url: str) -> dict[str, Any]:
    """schema.org VideoObject: the package's record, pointed at the copies in this site."""
    lesson = pub.lesson

    def url(rel: str) -> str:
        return base_url + rel

    data: dict[str, Any] = dict(lesson.videoobject)
    # the package's record names files inside the package (the master MKV, the original's
    # digest); in the site, contentUrl is the access copy, so the digest must be that file's
    data.pop("associatedMedia", None)
    data.update({
        "sha256": pub.access_sha256, "contentSize": str(pub.access_bytes),
        "@context": "https://schema.org", "@type": "VideoObject",
        "name": title_of(lesson),
        "alternateName": lesson.title.zh or None,
        "description": (lesson.synopsis.en or lesson.synopsis.zh) if lesson.synopsis else
        title_of(lesson),
        "thumbnailUrl": url(pub.urls["poster"]), "contentUrl": url(pub.urls["video"]),
        "embedUrl": url(pub.urls["embed"]), "url": url(pub.urls["page"]),
        "duration": iso_duration(pub.duration), "uploadDate": lesson.released,
        "inLanguage": "zh-Hans", "encodingFormat": "video/mp4", "width": pub.width,
        "height": pub.height,
        "caption": [{"@type": "MediaObject", "encodingFormat": "text/vtt",
                     "inLanguage": track(key).bcp47, "name": track(key).label,
                     "contentUrl": url(pub.urls[key])} for key in lesson.tracks],
    })
    return {k: v for k, v in data.items() if v is not None}


def _transcript(pub: Published) -> Markup:
    items = [render('<li class="para" data-start="{s}" data-end="{e}" id="t{i}">'
                    '<button type="button" class="ts" aria-label="Play from {c}">'
                    '<time datetime="{iso}">{c}</time></button>'
                    '<p lang="zh-Hans">{zh}</p><p lang="en">{en}</p></li>',
                    s=f"{p.start:.3f}", e=f"{p.stop:.3f}", i=i, c=clock(p.start),
                    iso=iso_duration(p.start), zh=p.zh, en=p.en)
             for i, p in enumerate(pub.lesson.paragraphs)]
    if not items:
        return Markup("<p>No transcript.</p>")
    return render('<ol class="transcript" id="transcript" aria-label="Transcript">{items}</ol>',
                  items=join(items))


def _chapters(pub: Published) -> Markup:
    if not pub.lesson.chapters:
        return Markup("")
    items = [render('<li><button type="button" data-seek="{s}"><time>{c}</time> {t}</button>'
                    '</li>', s=f"{ch.start:.3f}", c=clock(ch.start), t=both(ch.title))
             for ch in pub.lesson.chapters]
    return render('<section aria-labelledby="h-ch"><h2 id="h-ch">Chapters 章节</h2>'
                  '<ol class="chapters">{items}</ol></section>', items=join(items))


def _terms(lesson: LessonData) -> Markup:
    out = []
    if lesson.terms:
        rows = [render('<tr><td lang="zh-Hans">{zh}</td><td lang="en">{en}</td><td>{note}</td>'
                       '</tr>', zh=t.zh, en=t.en,
                       note=render('<a href="#fn-{n}">[{n}]</a>', n=t.note) if t.note else "")
                for t in lesson.terms]
        out.append(render('<section aria-labelledby="h-terms"><h2 id="h-terms">Terminology 术语'
                          '</h2><div class="scroll-x"><table><thead><tr><th>中文</th>'
                          '<th>English</th><th>Note</th></tr></thead><tbody>{rows}</tbody>'
                          '</table></div></section>', rows=join(rows)))
    if lesson.footnotes:
        notes = [render('<li id="fn-{n}" lang="en">{t}</li>', n=i + 1, t=text)
                 for i, text in enumerate(lesson.footnotes)]
        out.append(render('<section aria-labelledby="h-notes"><h2 id="h-notes">Notes</h2>'
                          '<ol class="notes">{n}</ol></section>', n=join(notes)))
    return join(out)


def _provenance(pub: Published) -> Markup:
    lesson, urls = pub.lesson, pub.urls
    source = lesson.source
    tls: dict[str, Any] = {}
    for record in (lesson.capture.get("tls"), source.get("tls")):  # catalog wins
        if isinstance(record, dict):
            tls.update(record)
    original = (lesson.entry.get("files") or {}).get("original") or {}
    rows = [
        ("Source", render('<a href="{u}" rel="nofollow noreferrer">{u}</a> ({k})',
                          u=source.get("url", ""), k=source.get("kind", "unknown"))
         if source.get("url") else "unknown"),
        ("Captured", source.get("captured") or lesson.capture.get("ended") or "unknown"),
        ("TLS at capture", tls_sentence(tls) + (
            f" (valid until {tls['not_after']})" if tls.get("not_after") else "")),
        ("Original file sha256", render('<code>{s}</code> ({b} bytes)', s=original.get("sha256"),
                                        b=original.get("bytes")) if original else "unknown"),
        ("This video sha256", render('<code>{s}</code> ({b} bytes)', s=pub.access_sha256,
                                     b=pub.access_bytes)),
        ("Records", join([render('<a href="{u}">{n}</a>', u=urls[key], n=name)
                          for key, name in (("provenance", "provenance (JSON-LD)"),
                                            ("capture", "capture record"),
                                            ("bag-info", "package info"),
                                            ("manifest", "package checksums"))
                          if key in urls], " · ")),
        ("Package", render("<code>{p}</code> in the archive (BagIt)",
                           p=lesson.entry.get("package") or f"packages/{lesson.id}")),
    ]
    items = join(render("<dt>{k}</dt><dd>{v}</dd>", k=k, v=v) for k, v in rows)
    return render('<section aria-labelledby="h-prov"><h2 id="h-prov">Provenance 来源</h2>'
                  '<dl class="prov">{items}</dl></section>', items=items)


def lesson_page(pub: Published, base_url: str) -> Markup:
    lesson = pub.lesson
    meta = [("Lesson", str(lesson.number)), ("Released", lesson.released or "unknown"),
            ("Duration", clock(pub.duration))]
    head = _head(f"{title_of(lesson)} · {lesson.title.zh}".strip(" ·"), "", render(
        '<script type="application/ld+json">{j}</script>\n<script src="assets/player.js" '
        'defer></script>\n', j=json_for_script(json_ld(pub, base_url))))
    embed = render('<iframe src="{u}" width="{w}" height="{h}" title="{t}" '
                   'allow="fullscreen" allowfullscreen loading="lazy"></iframe>',
                   u=base_url + pub.urls["embed"], w=640, h=round(640 * pub.height / pub.width),
                   t=title_of(lesson))
    choices = [(key, track(key).label) for key in lesson.tracks]
    switch = render('<fieldset class="subs"><legend>Subtitles 字幕</legend>{radios}</fieldset>',
                    radios=join(render('<label><input type="radio" name="subs" value="{v}"{c}> '
                                       '<span>{lab}</span></label>', v=v, lab=lab,
                                       c=Markup(" checked") if i == 0 else Markup(""))
                                for i, (v, lab) in enumerate([*choices, ("off", "Off 关闭")]))
                    ) if choices else Markup('<p class="hint">No subtitles yet.</p>')
    speaker = both(lesson.speaker) if (lesson.speaker.en or lesson.speaker.zh) else "unknown"
    synopsis = render('<section aria-labelledby="h-syn"><h2 id="h-syn">Synopsis 简介</h2>{t}'
                      '</section>', t=both(lesson.synopsis, "p")) if lesson.synopsis else ""
    body = render(
        '<body>\n<header class="top"><a href="index.html">← All lessons 全部课程</a></header>\n'
        '<main class="lesson">\n<h1>{title}</h1>\n<div class="player">{video}</div>\n'
        '{switch}\n'
        '<dl class="meta">{meta}<dt>Speaker</dt><dd>{speaker}</dd></dl>\n{synopsis}\n'
        '{chapters}\n<section aria-labelledby="h-tr"><h2 id="h-tr">Transcript 文字稿</h2>'
        '<p class="hint">Select a timestamp (or click a passage) to play from there.</p>'
        '{transcript}</section>\n{terms}\n<section aria-labelledby="h-embed"><h2 id="h-embed">'
        'Embed 嵌入</h2><label for="embed-code">Copy this into your page:</label>'
        '<textarea id="embed-code" readonly rows="3" data-embed="{embed_url}">{embed}</textarea>'
        '</section>\n{prov}\n</main>\n</body>\n</html>\n',
        title=both(lesson.title), video=video_element(pub, ""), switch=switch,
        meta=join(render("<dt>{k}</dt><dd>{v}</dd>", k=k, v=v) for k, v in meta),
        speaker=speaker, synopsis=synopsis, chapters=_chapters(pub),
        transcript=_transcript(pub), terms=_terms(lesson), embed_url=pub.urls["embed"],
        embed=str(embed),  # shown as text: the snippet's markup, escaped once more
        prov=_provenance(pub))
    return Markup(head + body)


def embed_page(pub: Published) -> Markup:
    """A chrome-free player for iframes: the video with its three tracks and nothing else."""
    head = _head(title_of(pub.lesson), "../", Markup(
        '<script src="../assets/player.js" defer></script>\n'))
    return Markup(head + render('<body class="embed">\n{video}\n</body>\n</html>\n',
                                video=video_element(pub, "../")))


def index_page(series: dict[str, Any], lessons: list[LessonData],
               published: dict[str, Published]) -> Markup:
    title = Bilingual(en=str((series.get("title") or {}).get("en", "")),
                      zh=str((series.get("title") or {}).get("zh", "")))
    publisher = Bilingual(en=str((series.get("publisher") or {}).get("en", "")),
                          zh=str((series.get("publisher") or {}).get("zh", "")))
    cards = []
    for lesson in lessons:
        pub = published.get(lesson.id)
        if pub is not None:
            picture = render('<img src="{src}" width="{w}" height="{h}" alt="" loading="lazy">',
                             src=pub.urls["poster"], w=pub.width, h=pub.height)
            heading = render('<a href="{u}">{t}</a>', u=pub.urls["page"], t=both(lesson.title))
            length = clock(pub.duration)
        else:
            picture = Markup('<div class="noposter" aria-hidden="true"></div>')
            heading = both(lesson.title) if (lesson.title.en or lesson.title.zh) else esc(
                "(title not known)")
            length = lesson.duration_published or "unknown"
        cards.append(render(
            '<li class="card status-{st}">{pic}<h2><span class="num">{n}.</span> {head}</h2>'
            '<p class="facts">{length} · released {rel} · <span class="status">{st}</span>'
            '</p></li>', st=lesson.status, pic=picture, n=lesson.number, head=heading,
            length=length, rel=lesson.released or "unknown"))
    head = _head(title.en or title.zh or "Lessons", "")
    return Markup(head + render(
        '<body>\n<main class="index">\n<h1>{title}</h1>\n<p class="publisher">{pub}</p>\n'
        '<ol class="cards">{cards}</ol>\n<p><a href="catalog.json">catalog.json</a> '
        '(machine-readable)</p>\n</main>\n</body>\n</html>\n',
        title=both(title), pub=both(publisher), cards=join(cards)))
