"""Lesson pages shaped like the ones real sites serve: one page (or chain of pages) per way of
embedding a video, each with the media a browser would play as its truth.

The shapes are the embeds yt-dlp and browsers meet on lecture sites: plain `<video>` and
`<source>`, WordPress's `[video]` shortcode (MediaElement.js markup), lazy-loading attributes,
iframes to a player on another host (depth 1 and 2), Open Graph and JSON-LD metadata, JW
Player and video.js, the Chinese players (ckplayer, DPlayer, Aliplayer, TCPlayer, including
their vendor-token configs that cannot be resolved without the vendor's API), direct media,
HLS with a separate audio rendition, an HLS media playlist and DASH with separate adaptation
sets. Every page is wrapped in the kind of markup real sites have around the player
(navigation, analytics snippets, inline JSON state, related lessons, comments), so a
resolver cannot rely on the player being the only thing on the page.

Four hosts play their real-world roles: the lecture site, a player host, a second embed host
(depth-2 iframes) and a media CDN. The player libraries themselves (JW Player, video.js,
ckplayer, ...) are not shipped: their script URLs answer 404, so on those pages a browser
plays nothing and the truth is what the player configuration names.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SITE = "lessons.example.edu"         # the lecture site an archivist points at
PLAYER = "player.example.net"        # a video platform's player pages (iframe targets)
EMBED = "embed.example.org"          # a second embed host (iframe inside the player page)
CDN = "media.example-cdn.com"        # where the media files are
HOSTS = (SITE, PLAYER, EMBED, CDN)

# media paths (on CDN unless said otherwise) and the corpus variants they are copies of
MEDIA_FILES = {
    "/v/lesson-13.mp4": "mp4-h264-aac-44100-stereo",
    "/v/lesson-13.webm": "webm-vp9-opus-48000-stereo",
    "/a/lesson-13.m4a": "m4a-aac-16000-mono",
}
SITE_MEDIA = {"/media/lesson-13.mp4": "mp4-h264-aac-44100-stereo",
              "/media/lesson-13.m4a": "m4a-aac-16000-mono",
              "/wp-content/uploads/2023/05/lesson-13.mp4": "mp4-h264-aac-44100-stereo"}
POSTER = "/img/lesson-13.jpg"
VENDOR_ERROR = "vendor"  # the resolver's error must say the config needs the vendor's API


@dataclass(frozen=True)
class PageShape:
    """One way a page offers its lesson, and what resolving it must give.

    `media`: the URL(s) a browser plays: one progressive file, or for split sources the video
    and the audio component (HLS: the variant and the audio rendition playlists; DASH: the
    manifest, with `segments` per component). `audio`: "muxed" (in the same file), "separate"
    (a component of its own), "none" (a silent video) or "only" (no picture). `error`: instead
    of media, a fragment the resolver's error message must contain.
    """

    id: str
    url: str
    description: str
    media: tuple[str, ...] = ()
    protocol: str = "http"            # "http", "hls" or "dash"
    audio: str = "muxed"
    error: str | None = None
    browser_plays: bool = False       # the page itself plays in a browser, no vendor script
    chain: tuple[str, ...] = ()       # the pages from `url` to the player, in order
    alternatives: tuple[str, ...] = ()  # other encodings of the same lesson on the page
    segments: dict[str, tuple[str, ...]] = field(default_factory=dict)  # component -> URLs

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host a resolver must contact, in first-use order."""
        seen: dict[str, None] = {}
        urls = (self.url, *self.chain, *self.media, *(u for s in self.segments.values()
                                                      for u in s))
        for url in urls:
            seen.setdefault(urlsplit(url).hostname or "", None)
        return tuple(seen)


@dataclass(frozen=True)
class Urls:
    """The origins the pages link to (the test server's port is part of them)."""

    origin: Callable[[str], str]

    def site(self, path: str) -> str:
        return self.origin(SITE) + path

    def player(self, path: str) -> str:
        return self.origin(PLAYER) + path

    def embed(self, path: str) -> str:
        return self.origin(EMBED) + path

    def cdn(self, path: str) -> str:
        return self.origin(CDN) + path


@dataclass
class Pages:
    """The rendered pages per host (path -> HTML) and the shapes they implement."""

    html: dict[str, dict[str, str]] = field(default_factory=lambda: {h: {} for h in HOSTS})
    shapes: list[PageShape] = field(default_factory=list)

    def add(self, host: str, path: str, text: str) -> str:
        self.html[host][path] = text
        return path


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def wrap(title: str, body: str, head: str = "", urls: Urls | None = None) -> str:
    """A lecture-site page around `body`: the clutter real pages have around the player."""
    state = {"user": None, "locale": "zh-CN", "course": {"id": "digital-china", "lesson": 13,
             "next": "/lesson-14.html", "thumbnail": "/img/lesson-14.jpg"},
             "ads": {"slot": "sidebar-1", "enabled": False}}
    origin = urls.site("") if urls else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} - 数字中国建设 公开课</title>
<link rel="stylesheet" href="/static/site.css?v=3.2.1">
<link rel="preload" href="/static/fonts/noto-sans-sc.woff2" as="font" crossorigin>
<link rel="canonical" href="{origin}/lesson-13.html">
{head}
<script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}}
gtag('js', new Date()); gtag('config', 'G-TEST0000');</script>
<script id="__STATE__" type="application/json">{json.dumps(state)}</script>
</head>
<body class="lesson single-post">
<header class="site-header"><nav><a href="/">首页</a> | <a href="/courses/">课程</a> |
<a href="/about/">关于我们</a> | <a href="/login?next=%2Flesson-13.html">登录</a></nav>
<form class="search" action="/search"><input name="q" placeholder="搜索课程"></form></header>
<main>
<article>
<h1>{_e(title)}</h1>
<p class="meta">发布于 2023-05-23 · 阅读 1.2万 · <a href="#comments">评论 (3)</a></p>
{body}
<p>本讲介绍数字中国建设的整体布局。讲义与字幕见下方附件。</p>
</article>
<aside class="related"><h2>相关课程</h2><ul>
<li><a href="/lesson-12.html"><img src="/img/lesson-12.jpg" alt="">第十二讲</a></li>
<li><a href="/lesson-14.html"><img src="/img/lesson-14.jpg" alt="">第十四讲</a></li>
</ul></aside>
<section id="comments"><h2>评论</h2><ol>
<li><b>学员A</b>: 讲得很清楚，谢谢老师！</li><li><b>学员B</b>: 字幕什么时候上线？</li>
</ol></section>
</main>
<footer><p>© 2023 公开课平台 · <a href="/privacy">隐私政策</a> · 京ICP备00000000号</p></footer>
<script src="/static/site.min.js?v=3.2.1" defer></script>
</body>
</html>
"""


def _player_page(body: str, head: str = "") -> str:
    """A video platform's bare embed page (what an iframe loads)."""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Player</title>
<style>html,body{{margin:0;background:#000}}video,iframe{{width:100%;height:100%}}</style>
{head}</head>
<body>{body}
<script>window.__PLAYER_CONFIG__ = {{"autoplay": false, "analytics": "/beacon"}};</script>
</body></html>
"""


LAZY_SCRIPT = """<script>
document.addEventListener('DOMContentLoaded', function () {
  var io = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (!entry.isIntersecting) return;
      var el = entry.target;
      var src = el.getAttribute('data-src') || el.getAttribute('data-lazy-src');
      if (src) { el.setAttribute('src', src); }
      el.querySelectorAll('source[data-src]').forEach(function (s) {
        s.setAttribute('src', s.getAttribute('data-src'));
      });
      el.load(); io.unobserve(el);
    });
  });
  document.querySelectorAll('video.lazyload, video[data-lazy-src]').forEach(function (v) {
    io.observe(v);
  });
});
</script>"""


def _html5_shapes(urls: Urls, pages: Pages) -> None:
    mp4, webm, site_mp4 = urls.cdn("/v/lesson-13.mp4"), urls.cdn("/v/lesson-13.webm"), \
        urls.site("/media/lesson-13.mp4")
    poster = urls.site(POSTER)
    page = pages.add(SITE, "/video-src.html", wrap("第十三讲 <video src>", (
        f'<video controls width="640" height="360" poster="{POSTER}" '
        'src="/media/lesson-13.mp4">您的浏览器不支持视频播放。</video>'), urls=urls))
    pages.shapes.append(PageShape("video-src", urls.site(page), "<video src> with a relative URL",
                                  (site_mp4,), browser_plays=True))
    page = pages.add(SITE, "/video-sources.html", wrap("第十三讲 <source>", (
        f'<video controls preload="metadata" poster="{_e(poster)}">'
        f'<source src="{mp4}" type="video/mp4">'
        f'<source src="{webm}" type="video/webm">'
        f'<p>请<a href="{mp4}">下载视频</a>观看。</p></video>'), urls=urls))
    pages.shapes.append(PageShape(
        "video-sources", urls.site(page), "<video> with an MP4 and a WebM <source> on a CDN: "
        "a browser plays the first one it supports", (mp4,), browser_plays=True,
        alternatives=(webm,)))
    wp = urls.site("/wp-content/uploads/2023/05/lesson-13.mp4")
    page = pages.add(SITE, "/wp-video-shortcode.html", wrap("第十三讲 WordPress", (
        "<div style=\"width: 640px;\" class=\"wp-video\"><!--[if lt IE 9]><script>"
        "document.createElement('video');</script><![endif]-->\n"
        '<video class="wp-video-shortcode" id="video-1313-1" width="640" height="360" '
        f'poster="{_e(poster)}" preload="metadata" controls="controls">'
        f'<source type="video/mp4" src="{wp}?_=1" /><a href="{wp}">{wp}</a></video></div>'),
        head=("<link rel='stylesheet' id='mediaelement-css' href='/wp-includes/js/mediaelement/"
              "mediaelementplayer-legacy.min.css?ver=4.2.17' media='all' />\n"
              "<script src='/wp-includes/js/mediaelement/mediaelement-and-player.min.js?"
              "ver=4.2.17' id='mediaelement-core-js'></script>\n"
              "<script id='mediaelement-js-extra'>var _wpmejsSettings = {\"pluginPath\":"
              "\"\\/wp-includes\\/js\\/mediaelement\\/\",\"classPrefix\":\"mejs-\"};</script>"),
        urls=urls))
    pages.shapes.append(PageShape(
        "wp-video-shortcode", urls.site(page), "WordPress [video] shortcode output "
        "(wp-video-shortcode, MediaElement.js; the library itself is not served)",
        (f"{wp}?_=1",), browser_plays=True))
    page = pages.add(SITE, "/lazy-data-src.html", wrap("第十三讲 懒加载", (
        f'<video class="lazyload" controls preload="none" data-poster="{POSTER}">'
        '<source data-src="/media/lesson-13.mp4" type="video/mp4"></video>'),
        head=LAZY_SCRIPT, urls=urls))
    pages.shapes.append(PageShape(
        "lazy-data-src", urls.site(page), "lazysizes-style <source data-src>, preload=none; "
        "a script sets src when the player scrolls into view", (site_mp4,),
        browser_plays=True))
    page = pages.add(SITE, "/lazy-data-lazy-src.html", wrap("第十三讲 懒加载 2", (
        '<video controls preload="none" data-lazy-src="/media/lesson-13.mp4" '
        f'data-poster="{POSTER}"></video>'), head=LAZY_SCRIPT, urls=urls))
    pages.shapes.append(PageShape(
        "lazy-data-lazy-src", urls.site(page), "WP Rocket-style data-lazy-src on <video>, no "
        "src until a script runs", (site_mp4,), browser_plays=True))
    page = pages.add(SITE, "/audio-element.html", wrap("第十三讲 音频", (
        '<audio controls preload="none" src="/media/lesson-13.m4a">'
        '<a href="/media/lesson-13.m4a">下载音频</a></audio>'), urls=urls))
    pages.shapes.append(PageShape(
        "audio-element", urls.site(page), "an audio-only lesson in <audio src>",
        (urls.site("/media/lesson-13.m4a"),), audio="only", browser_plays=True))


def _iframe_shapes(urls: Urls, pages: Pages) -> None:
    mp4 = urls.cdn("/v/lesson-13.mp4")
    player = pages.add(PLAYER, "/embed/lesson-13", _player_page(
        f'<video controls playsinline poster="{urls.site(POSTER)}" src="{mp4}"></video>'))
    page = pages.add(SITE, "/iframe-player.html", wrap("第十三讲 嵌入播放器", (
        f'<div class="embed-responsive"><iframe src="{urls.player(player)}" width="640" '
        'height="360" frameborder="0" allow="autoplay; fullscreen" allowfullscreen></iframe>'
        '</div>'), urls=urls))
    pages.shapes.append(PageShape(
        "iframe-player", urls.site(page), "an iframe to a player page on another host",
        (mp4,), browser_plays=True, chain=(urls.site(page), urls.player(player))))
    inner = pages.add(EMBED, "/player/13", _player_page(
        f'<video controls playsinline><source src="{mp4}" type="video/mp4"></video>'))
    outer = pages.add(PLAYER, "/wrap/lesson-13", _player_page(
        f'<iframe src="{urls.embed(inner)}" frameborder="0" allowfullscreen></iframe>'))
    page = pages.add(SITE, "/iframe-depth2.html", wrap("第十三讲 两层嵌入", (
        f'<iframe src="{urls.player(outer)}" width="640" height="360" allowfullscreen>'
        '</iframe>'), urls=urls))
    pages.shapes.append(PageShape(
        "iframe-depth2", urls.site(page), "an iframe whose player page iframes a third host "
        "(depth 2)", (mp4,), browser_plays=True,
        chain=(urls.site(page), urls.player(outer), urls.embed(inner))))
    page = pages.add(SITE, "/jsonld-embedurl.html", wrap("第十三讲 JSON-LD embedUrl", (
        '<div id="player-slot" data-embed="lesson-13"></div>'), head=_jsonld({
            "embedUrl": urls.player(player), "thumbnailUrl": urls.site(POSTER)}), urls=urls))
    pages.shapes.append(PageShape(
        "jsonld-embedurl", urls.site(page), "JSON-LD VideoObject with only an embedUrl (the "
        "player page holds the media)", (mp4,),
        chain=(urls.site(page), urls.player(player))))


def _jsonld(extra: dict[str, str]) -> str:
    data = {"@context": "https://schema.org", "@type": "VideoObject",
            "name": "第十三讲：数字中国建设的整体布局", "description": "数字中国建设",
            "uploadDate": "2023-05-23T08:00:00+08:00", "duration": "PT5S", **extra}
    breadcrumbs = {"@context": "https://schema.org", "@type": "BreadcrumbList",
                   "itemListElement": [{"@type": "ListItem", "position": 1, "name": "课程",
                                        "item": "/courses/"}]}
    return (f'<script type="application/ld+json">{json.dumps(breadcrumbs)}</script>\n'
            f'<script type="application/ld+json">{json.dumps(data, ensure_ascii=False)}'
            '</script>')


def _metadata_shapes(urls: Urls, pages: Pages) -> None:
    mp4 = urls.cdn("/v/lesson-13.mp4")
    page = pages.add(SITE, "/og-video.html", wrap("第十三讲 og:video", (
        '<div class="share-card">分享到微信</div>'), head=(
        '<meta property="og:type" content="video.other">\n'
        '<meta property="og:title" content="第十三讲">\n'
        f'<meta property="og:image" content="{urls.site(POSTER)}">\n'
        f'<meta property="og:video" content="{mp4}">\n'
        '<meta property="og:video:type" content="video/mp4">\n'
        '<meta property="og:video:width" content="256">'), urls=urls))
    pages.shapes.append(PageShape("og-video", urls.site(page),
                                  "Open Graph og:video only (no player on the page)", (mp4,)))
    insecure = mp4.replace("https://", "http://", 1)
    page = pages.add(SITE, "/og-video-secure.html", wrap("第十三讲 og:video:secure_url", (
        '<div class="share-card"></div>'), head=(
        '<meta property="og:type" content="video.other">\n'
        f'<meta property="og:video" content="{insecure}">\n'
        f'<meta property="og:video:secure_url" content="{mp4}">\n'
        '<meta property="og:video:type" content="video/mp4">'), urls=urls))
    pages.shapes.append(PageShape(
        "og-video-secure", urls.site(page), "og:video with a plain-http URL (not served) and "
        "og:video:secure_url with the https one", (mp4,)))
    page = pages.add(SITE, "/jsonld-contenturl.html", wrap("第十三讲 JSON-LD", (
        '<div id="player-slot"></div>'), head=_jsonld({
            "contentUrl": mp4, "thumbnailUrl": urls.site(POSTER),
            "embedUrl": urls.player("/embed/lesson-13")}), urls=urls))
    pages.shapes.append(PageShape(
        "jsonld-contenturl", urls.site(page), "JSON-LD VideoObject with contentUrl (and an "
        "embedUrl) next to a BreadcrumbList", (mp4,)))


def _script_page(pages: Pages, urls: Urls, name: str, title: str, div: str, library: str,
                 script: str) -> str:
    path = pages.add(SITE, f"/{name}.html", wrap(title, div + (
        f'\n<script src="{library}"></script>\n<script>\n{script}\n</script>'), urls=urls))
    return urls.site(path)


def _player_shapes(urls: Urls, pages: Pages, hls_muxed: str,
                   muxed_segments: tuple[str, ...]) -> None:
    mp4, webm, poster = urls.cdn("/v/lesson-13.mp4"), urls.cdn("/v/lesson-13.webm"), \
        urls.site(POSTER)

    def shape(name: str, title: str, div: str, library: str, script: str, description: str,
              media: tuple[str, ...] = (mp4,), error: str | None = None,
              alternatives: tuple[str, ...] = ()) -> None:
        url = _script_page(pages, urls, name, title, div, library, script)
        hls = bool(media) and media[0].endswith(".m3u8")
        pages.shapes.append(PageShape(
            name, url, description, media, protocol="hls" if hls else "http", error=error,
            alternatives=alternatives, segments={"muxed": muxed_segments} if hls else {}))

    shape("jwplayer-file", "JW Player", '<div id="lesson-player"></div>',
          urls.player("/jwplayer/8.26.0/jwplayer.js"),
          'jwplayer("lesson-player").setup({\n  file: "' + mp4 + '",\n  image: "' + poster +
          '",\n  title: "第十三讲",\n  width: "100%",\n  aspectratio: "16:9"\n});',
          "JW Player setup({file: …})")
    shape("jwplayer-playlist", "JW Player playlist", '<div id="jw"></div>',
          urls.player("/jwplayer/8.26.0/jwplayer.js"),
          'var playerInstance = jwplayer("jw");\nplayerInstance.setup({\n  playlist: [{\n'
          f'    title: "第十三讲",\n    image: "{poster}",\n    sources: [\n'
          f'      {{file: "{mp4}", label: "144p", type: "video/mp4", "default": true}},\n'
          f'      {{file: "{webm}", label: "144p WebM", type: "video/webm"}}\n    ]\n  }}],\n'
          '  primary: "html5"\n});', "JW Player playlist: [{sources: […]}]",
          alternatives=(webm,))
    setup = json.dumps({"fluid": True, "poster": poster,
                        "sources": [{"src": mp4, "type": "video/mp4"}]})
    shape("videojs-data-setup", "video.js data-setup", (
        f"<video id=\"vjs-lesson\" class=\"video-js vjs-big-play-centered\" controls "
        f"preload=\"auto\" data-setup='{setup}'></video>"), urls.player("/videojs/8/video.min.js"),
        "/* video.js reads data-setup on load */", "video.js data-setup with sources and no "
        "<source> (plays only with video.js)")
    shape("videojs-element", "video.js <video-js>", (
        f'<video-js id="lesson" class="vjs-default-skin" controls poster="{poster}">'
        f'<source src="{mp4}" type="video/mp4"></video-js>'),
        urls.player("/videojs/8/video.min.js"), "videojs('lesson');",
        "video.js custom element <video-js> with a <source>")
    shape("ckplayer", "ckplayer", '<div class="video" style="width:600px;height:400px"></div>',
          "/ckplayer/js/ckplayer.js",
          "var videoObject = {\n  container: '.video',\n  variable: 'player',\n"
          f"  poster: '{poster}',\n  video: '{mp4}'\n}};\nvar player = new ckplayer(videoObject);",
          "ckplayer: new ckplayer({video: …})")
    shape("dplayer", "DPlayer", '<div id="dplayer"></div>', "/static/DPlayer.min.js",
          "const dp = new DPlayer({\n  container: document.getElementById('dplayer'),\n"
          "  screenshot: true,\n  video: {\n"
          f"    url: '{mp4}',\n    pic: '{poster}',\n    type: 'auto'\n  }}\n}});",
          "DPlayer: new DPlayer({video: {url: …}})")
    shape("aliplayer", "Aliplayer", '<div class="prism-player" id="player-con"></div>',
          "https://g.alicdn.com/apsara-media-box/imp-web-player/2.16.3/aliplayer-min.js",
          'var player = new Aliplayer({\n  "id": "player-con",\n'
          f'  "source": "{mp4}",\n  "cover": "{poster}",\n  "width": "100%",\n'
          '  "height": "500px",\n  "autoplay": false,\n  "isLive": false,\n'
          '  "rePlay": false,\n  "playsinline": true,\n  "preload": true,\n'
          '  "useH5Prism": true\n}, function (player) {\n  console.log("created");\n});',
          "Aliplayer: new Aliplayer({source: …})")
    shape("aliplayer-vid-playauth", "Aliplayer VOD", '<div id="player-con"></div>',
          "https://g.alicdn.com/apsara-media-box/imp-web-player/2.16.3/aliplayer-min.js",
          'var player = new Aliplayer({\n  id: "player-con",\n'
          '  vid: "1e067a2831b641db90d570b6480fbc40",\n'
          '  playauth: "eyJTZWN1cml0eVRva2VuIjoiQ0FJU2h3TjFxNkZ0NUIyeWZTaklyNWZ3In0=",\n'
          f'  cover: "{poster}",\n  encryptType: 1\n}});',
          "Aliplayer with only a vod id and playauth token: needs Aliyun's VOD API", (),
          error=VENDOR_ERROR)
    shape("tcplayer-sources", "TCPlayer", '<video id="player-container-id" preload="auto" '
          'playsinline webkit-playsinline></video>', "/static/tcplayer.v5.1.0.min.js",
          "var player = TCPlayer('player-container-id', {\n"
          f"  sources: [{{src: '{mp4}'}}],\n  poster: '{poster}',\n  licenseUrl: ''\n}});",
          "TCPlayer('id', {sources: [{src: …}]})")
    shape("tcplayer-src", "TCPlayer src()", '<video id="tcp" preload="auto"></video>',
          "/static/tcplayer.v5.1.0.min.js",
          f"var player = TCPlayer('tcp', {{}});\nplayer.src('{hls_muxed}');",
          "TCPlayer with player.src(…) naming an HLS media playlist", (hls_muxed,))
    shape("tcplayer-fileid", "TCPlayer VOD", '<video id="player-container-id"></video>',
          "/static/tcplayer.v5.1.0.min.js",
          "var player = TCPlayer('player-container-id', {\n  fileID: '5285890799710670616',\n"
          "  appID: '1500005830',\n  psign: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9'\n});",
          "TCPlayer with only fileID + appID: needs Tencent Cloud VOD's API", (),
          error=VENDOR_ERROR)


def build_pages(urls: Urls, streams: dict[str, dict[str, tuple[str, ...]]]) -> Pages:
    """Render every page shape for these origins.

    `streams`: per stream shape ("hls-split", "hls-muxed", "dash") the URL of its entry
    playlist or manifest under "entry", and its components' segment URLs under "video",
    "audio" or "muxed" (listed by the caller from the files ffmpeg wrote).
    """
    pages = Pages()
    _html5_shapes(urls, pages)
    _iframe_shapes(urls, pages)
    _metadata_shapes(urls, pages)
    hls_muxed = streams["hls-muxed"]["entry"][0]
    _player_shapes(urls, pages, hls_muxed, streams["hls-muxed"]["muxed"])
    mp4 = urls.cdn("/v/lesson-13.mp4")
    pages.shapes.append(PageShape("direct-media", mp4, "a direct media URL", (mp4,)))
    split = streams["hls-split"]
    pages.shapes.append(PageShape(
        "hls-master-split-audio", split["entry"][0], "HLS master whose variant has no audio: "
        "the sound is an EXT-X-MEDIA TYPE=AUDIO rendition (AUDIO=\"group_audio\")",
        (split["video-playlist"][0], split["audio-playlist"][0]), protocol="hls",
        audio="separate", segments={"video": split["video"], "audio": split["audio"]}))
    pages.shapes.append(PageShape(
        "hls-media", hls_muxed, "an HLS media playlist, audio and video in every segment",
        (hls_muxed,), protocol="hls", segments={"muxed": streams["hls-muxed"]["muxed"]}))
    dash = streams["dash"]
    pages.shapes.append(PageShape(
        "dash-mpd", dash["entry"][0], "DASH MPD with separate video and audio adaptation sets",
        (dash["entry"][0],), protocol="dash", audio="separate",
        segments={"video": dash["video"], "audio": dash["audio"]}))
    return pages
