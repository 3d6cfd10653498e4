"""The site's HTML: index, lesson page, embed page and IIIF viewer page (`markup`, autoescaped).

Pages load only files from the site itself (no third-party resources; a CSP meta tag makes
that a rule the browser enforces), mark every Chinese and English text with `lang`, and give the
player a fixed aspect-ratio box (width/height attributes) so nothing moves when it loads. The
lesson page's head carries what other sites read: the VideoObject (jsonld.py), the Open Graph
and Twitter cards (social.py), the oEmbed discovery link (oembed.py) and the canonical URL.

An audio-only lesson is played by a `<video>` element too, with the waveform as its poster:
an `<audio>` element renders no cues, and the subtitles are the point of the site.
"""

from __future__ import annotations

from typing import Any

from archiver.model import DEFAULT_TRACK, Bilingual, track
from archiver.publish import oembed
from archiver.publish.inputs import LessonData
from archiver.publish.jsonld import media_object
from archiver.publish.markup import Markup, clock, esc, iso_duration, join, json_for_script, render
from archiver.publish.published import Published, title_of
from archiver.publish.reasons import public_reason
from archiver.publish.siteconfig import SiteConfig
from archiver.publish.social import meta_tags

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'none'")

# the viewer's Video.js carries its icon font as a data: URL
VIEWER_CSP = CSP.replace("default-src 'self';", "default-src 'self'; font-src 'self' data:;")

NOTHING = Markup("")


def _head(title: str, prefix: str, extra: Markup = NOTHING, csp: str = CSP) -> Markup:
    return render(
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<title>{title}</title>\n<link rel="stylesheet" href="{prefix}assets/site.css">\n'
        '<link rel="icon" href="data:,">\n'
        '{extra}</head>\n', csp=csp, title=title, prefix=prefix, extra=extra)


def both(text: Bilingual, tag: str = "span", cls: str = "") -> Markup:
    """The Chinese and English forms of a text, each marked with its language."""
    parts = []
    klass = f' class="{cls}"' if cls else ""
    if text.zh:
        parts.append(render(f'<{tag} lang="zh-Hans"{klass}>{{t}}</{tag}>', t=text.zh))
    if text.en:
        parts.append(render(f'<{tag} lang="en"{klass}>{{t}}</{tag}>', t=text.en))
    return join(parts, " ")


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

def lesson_tls(lesson: LessonData) -> dict[str, Any]:
    """The TLS evidence summary of the capture (the catalog's, over the capture record's)."""
    tls: dict[str, Any] = {}
    for record in (lesson.capture.get("tls"), lesson.source.get("tls")):  # catalog wins
        if isinstance(record, dict):
            tls.update(record)
    return tls


def tls_line(lesson: LessonData) -> str:
    """The TLS status at capture in one line, as the page and the IIIF metadata show it."""
    tls = lesson_tls(lesson)
    return tls_sentence(tls) + (f" (valid until {tls['not_after']})"
                                if tls.get("not_after") else "")


def failure_reason(lesson: LessonData) -> str | None:
    """The public one-line reason of a failed lesson (error class and message, no paths)."""
    if lesson.status != "failed":
        return None
    entry = lesson.entry
    error, error_class = entry.get("error"), entry.get("error_class")
    return public_reason(error if isinstance(error, str) else None,
                         error_class if isinstance(error_class, str) else None) or "failed"


def video_element(pub: Published, prefix: str) -> Markup:
    """The player: a `<video>` with its poster, the access copy (video or sound) and one
    `<track>` per subtitle track, `srclang` from the track table."""
    lid = pub.lesson.id
    keys = pub.lesson.tracks
    default = DEFAULT_TRACK.key if DEFAULT_TRACK.key in keys else (keys[0] if keys else "")
    tracks = [render('<track kind="subtitles" id="track-{key}" srclang="{src}" label="{label}" '
                     'src="{url}"{default}>', key=key, src=track(key).bcp47,
                     label=track(key).label, url=prefix + pub.urls[key],
                     default=Markup(" default") if key == default else Markup(""))
              for key in keys]
    return render('<video id="player" class="{kind}" data-lesson="{lid}" controls '
                  'preload="metadata" crossorigin="anonymous" playsinline width="{w}" '
                  'height="{h}" poster="{poster}">\n'
                  '<source src="{src}" type="{type}">\n{tracks}\n</video>',
                  kind="audio" if pub.audio_only else "video", lid=lid, w=pub.width,
                  h=pub.height, poster=prefix + pub.urls["poster"],
                  src=prefix + pub.urls["video"], type=pub.info.mime_type, tracks=join(tracks))


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
    return render('<ol class="transcript" id="transcript" aria-label="Transcript" tabindex="0">'
                  '{items}</ol>', items=join(items))


def _chapters(pub: Published) -> Markup:
    if not pub.lesson.chapters:
        return NOTHING
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


def _hash(digest: object, size: object) -> Markup:
    """A digest that wraps at character boundaries in its own box, with the size beside it."""
    return render('<code class="hash">{s}</code> <span class="bytes">{b} bytes</span>',
                  s=digest, b=size)


def _provenance(pub: Published) -> Markup:
    lesson, urls = pub.lesson, pub.urls
    source = lesson.source
    original = (lesson.entry.get("files") or {}).get("original") or {}
    rows = [
        ("Source", render('<a href="{u}" rel="nofollow noreferrer">{u}</a> ({k})',
                          u=source.get("url", ""), k=source.get("kind", "unknown"))
         if source.get("url") else "unknown"),
        ("Captured", source.get("captured") or lesson.capture.get("ended") or "unknown"),
        ("TLS at capture", tls_line(lesson)),
        ("Original file sha256", _hash(original.get("sha256"), original.get("bytes"))
         if original else "unknown"),
        (f"This {'recording' if pub.audio_only else 'video'} sha256",
         _hash(pub.access_sha256, pub.access_bytes)),
        ("Records", join([render('<a href="{u}">{n}</a>', u=urls[key], n=name)
                          for key, name in (("provenance", "provenance (JSON-LD)"),
                                            ("capture", "capture record"),
                                            ("bag-info", "package info"),
                                            ("manifest", "package checksums"),
                                            ("iiif", "IIIF manifest"))
                          if key in urls], " · ")),
        ("Package", render("<code>{p}</code> in the archive (BagIt)",
                           p=lesson.entry.get("package") or f"packages/{lesson.id}")),
    ]
    items = join(render('<div class="row"><dt>{k}</dt><dd>{v}</dd></div>', k=k, v=v)
                 for k, v in rows)
    return render('<section aria-labelledby="h-prov"><h2 id="h-prov">Provenance 来源</h2>'
                  '<dl class="prov">{items}</dl></section>', items=items)


def _lesson_head(pub: Published, cfg: SiteConfig) -> Markup:
    return render(
        '<link rel="canonical" href="{page}">\n'
        '<link rel="alternate" type="application/json+oembed" href="{oembed}" title="{t}">\n'
        '{meta}\n<script type="application/ld+json">{j}</script>\n'
        '<script src="assets/player.js" defer></script>\n',
        page=cfg.url(pub.urls["page"]), oembed=cfg.url(pub.urls["oembed"]),
        t=title_of(pub.lesson), meta=meta_tags(pub, cfg),
        j=json_for_script(media_object(pub, cfg)))


def _switch(lesson: LessonData) -> Markup:
    choices = [(key, track(key).label) for key in lesson.tracks]
    if not choices:
        return Markup('<p class="hint">No subtitles yet.</p>')
    return render('<fieldset class="subs"><legend>Subtitles 字幕</legend>{radios}</fieldset>',
                  radios=join(render('<label><input type="radio" name="subs" value="{v}"{c}> '
                                     '<span>{lab}</span></label>', v=v, lab=lab,
                                     c=Markup(" checked") if i == 0 else Markup(""))
                              for i, (v, lab) in enumerate([*choices, ("off", "Off 关闭")])))


VIEWER_PAGE = "viewer/index.html"


def viewer_link(iiif_rel: str) -> str:
    """The viewer page's URL (relative to the site root) showing one of the site's manifests."""
    return f"{VIEWER_PAGE}?manifest=../{iiif_rel}"


def _reuse(pub: Published, cfg: SiteConfig, viewer: bool) -> Markup:
    """The embed snippet and the machine-readable ways to reuse the lesson."""
    width, height = pub.embed_size()
    snippet = oembed.iframe(cfg.embed_url(pub.urls["embed"]), width, height,
                            title_of(pub.lesson))
    links = [render('<a href="{u}">oEmbed</a>', u=pub.urls["oembed"]),
             render('<a href="{u}">IIIF manifest</a>', u=pub.urls["iiif"])]
    if viewer:
        links.append(render('<a href="{u}">open in the IIIF viewer</a>',
                            u=viewer_link(pub.urls["iiif"])))
    return render('<section aria-labelledby="h-embed"><h2 id="h-embed">Embed 嵌入</h2>'
                  '<label for="embed-code">Copy this into your page:</label>'
                  '<textarea id="embed-code" readonly rows="4">{snippet}</textarea>'
                  '<p class="reuse">{links}</p></section>',
                  snippet=str(snippet),  # shown as text: the snippet's markup, escaped once more
                  links=join(links, " · "))


def _failure_note(lesson: LessonData) -> Markup:
    reason = failure_reason(lesson)
    if reason is None:
        return NOTHING
    return render('<p class="note" role="note">The last archiving run of this lesson failed '
                  '({r}); this page shows its previous, intact package.</p>\n', r=reason)


def lesson_page(pub: Published, cfg: SiteConfig, viewer: bool = False) -> Markup:
    lesson = pub.lesson
    meta = [("Lesson", str(lesson.number)), ("Released", lesson.released or "unknown"),
            ("Duration", clock(pub.duration))]
    if pub.audio_only:
        meta.append(("Recording", "audio only (the picture is its waveform)"))
    head = _head(f"{title_of(lesson)} · {lesson.title.zh}".strip(" ·"), "",
                 _lesson_head(pub, cfg))
    speaker = both(lesson.speaker) if (lesson.speaker.en or lesson.speaker.zh) else "unknown"
    synopsis = render('<section aria-labelledby="h-syn"><h2 id="h-syn">Synopsis 简介</h2>{t}'
                      '</section>', t=both(lesson.synopsis, "p")) if lesson.synopsis else ""
    body = render(
        '<body>\n<header class="top"><a href="index.html">← All lessons 全部课程</a></header>\n'
        '<main class="lesson">\n<h1>{title}</h1>\n{note}<div class="player">{video}</div>\n'
        '{switch}\n'
        '<dl class="meta">{meta}<dt>Speaker</dt><dd>{speaker}</dd></dl>\n{synopsis}\n'
        '{chapters}\n<section class="tr" aria-labelledby="h-tr"><h2 id="h-tr">Transcript 文字稿'
        '</h2><p class="hint">Select a timestamp (or click a passage) to play from there.</p>'
        '{transcript}</section>\n{terms}\n{reuse}\n{prov}\n</main>\n</body>\n</html>\n',
        title=both(lesson.title), note=_failure_note(lesson), video=video_element(pub, ""),
        switch=_switch(lesson),
        meta=join(render("<dt>{k}</dt><dd>{v}</dd>", k=k, v=v) for k, v in meta),
        speaker=speaker, synopsis=synopsis, chapters=_chapters(pub),
        transcript=_transcript(pub), terms=_terms(lesson), reuse=_reuse(pub, cfg, viewer),
        prov=_provenance(pub))
    return Markup(head + body)


def embed_page(pub: Published) -> Markup:
    """A chrome-free player for iframes: the player with its three tracks and nothing else."""
    head = _head(title_of(pub.lesson), "../", Markup(
        '<script src="../assets/player.js" defer></script>\n'))
    return Markup(head + render('<body class="embed">\n{video}\n</body>\n</html>\n',
                                video=video_element(pub, "../")))


def viewer_page(assets: list[str]) -> Markup:
    """The IIIF AV viewer page: shows the manifest its `?manifest=` names (same site only)."""
    styles = join(render('<link rel="stylesheet" href="{u}">', u=a) for a in assets
                  if a.endswith(".css"))
    scripts = join(render('<script src="{u}" defer></script>', u=a) for a in assets
                   if a.endswith(".js"))
    head = _head("IIIF viewer · lesson-archiver", "../", Markup(f"{styles}\n{scripts}\n"),
                 VIEWER_CSP)
    return Markup(head + Markup(
        '<body class="viewer">\n<header class="top"><a href="../index.html">← All lessons '
        '全部课程</a></header>\n<main class="viewer"><div id="iiif-viewer">'
        '<p class="hint">Loading the IIIF manifest…</p></div></main>\n</body>\n</html>\n'))


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
            length = clock(pub.duration) + (" · audio only" if pub.audio_only else "")
        else:
            picture = Markup('<div class="noposter" aria-hidden="true"></div>')
            heading = both(lesson.title) if (lesson.title.en or lesson.title.zh) else esc(
                "(title not known)")
            length = lesson.duration_published or "unknown"
        reason = failure_reason(lesson)
        why = render('<p class="reason">{r}</p>', r=reason) if reason else NOTHING
        cards.append(render(
            '<li class="card status-{st}">{pic}<h2><span class="num">{n}.</span> {head}</h2>'
            '<p class="facts">{length} · released {rel} · <span class="status">{st}</span>'
            '</p>{why}</li>', st=lesson.status, pic=picture, n=lesson.number, head=heading,
            length=length, rel=lesson.released or "unknown", why=why))
    head = _head(title.en or title.zh or "Lessons", "")
    return Markup(head + render(
        '<body>\n<main class="index">\n<h1>{title}</h1>\n<p class="publisher">{pub}</p>\n'
        '<ol class="cards">{cards}</ol>\n<p><a href="catalog.json">catalog.json</a> '
        '(machine-readable) · <a href="iiif/collection.json">IIIF collection</a></p>\n'
        '</main>\n</body>\n</html>\n',
        title=both(title), pub=both(publisher), cards=join(cards)))
