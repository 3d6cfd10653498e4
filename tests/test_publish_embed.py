"""What other sites read from a lesson: oEmbed (file and endpoint), the discovery link, Open
Graph and Twitter cards, the VideoObject against Google's rich-results rules, the base URL,
frame-ancestors, and the public reason of a failed lesson.

The site is published for a real `archiver serve` on loopback (publish_support.served_site),
and read over HTTP the way a CMS, a link-preview bot or a crawler reads it: the discovery link
is followed from the page, the endpoint is called with the page URL, tags are parsed with
html.parser (not regexes over our own markup).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from publish_support import (
    AUDIO,
    add_audio_lesson,
    audio_clip,
    publish_with,
    rich_result_problems,
    served_site,
)
from test_publish_site import CUE_COUNTS, LESSON, MANIFEST, build_archive

from archiver.errors import ManifestError, UsageError
from archiver.manifest import load_manifest
from archiver.options import PublishOptions
from archiver.publish.serve import SiteServer, frame_ancestors
from archiver.publish.siteconfig import DEFAULT_BASE_URL

pytestmark = pytest.mark.slow  # archives packaged with real media, then published


class Head(HTMLParser):
    """The <meta>, <link> and JSON-LD of a page, as a crawler collects them."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: list[tuple[str, str]] = []
        self.links: list[dict[str, str]] = []
        self.ld: list[str] = []
        self._in_ld = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "meta" and ("property" in a or "name" in a):
            self.meta.append((a.get("property") or a["name"], a.get("content", "")))
        elif tag == "link":
            self.links.append(a)
        elif tag == "script" and a.get("type") == "application/ld+json":
            self._in_ld = True
            self.ld.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_ld = False

    def handle_data(self, data: str) -> None:
        if self._in_ld:
            self.ld[-1] += data

    def first(self, key: str) -> str:
        return next(v for k, v in self.meta if k == key)

    def all(self, key: str) -> list[str]:
        return [v for k, v in self.meta if k == key]


def head_of(html: str) -> Head:
    parser = Head()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("embed")
    output, manifest = build_archive(root)
    add_audio_lesson(output, manifest, audio_clip(root / "corpus"))
    with served_site(output, manifest) as server, \
            httpx.Client(base_url=server.url, timeout=20) as client:
        yield {"url": server.url, "client": client, "output": output, "manifest": manifest}


def test_oembed_discovery_and_document(site: dict[str, Any]) -> None:
    client, base = site["client"], site["url"]
    page = client.get(f"{LESSON}.html")
    head = head_of(page.text)
    link = next(x for x in head.links if x.get("type") == "application/json+oembed")
    assert link["rel"] == "alternate" and link["href"] == f"{base}oembed/{LESSON}.json"
    doc = httpx.get(link["href"], timeout=20).json()  # followed as a CMS follows it
    assert doc["type"] == "video" and doc["version"] == "1.0"
    assert (doc["width"], doc["height"]) == (640, 360)
    assert doc["title"].startswith("Lesson </script>")  # JSON text, not HTML
    assert doc["author_name"] == "讲者 (A Speaker)"
    assert (doc["provider_name"], doc["provider_url"]) == ("lesson-archiver", base)
    assert doc["thumbnail_url"] == f"{base}media/{LESSON}/poster.jpg"
    assert (doc["thumbnail_width"], doc["thumbnail_height"]) == (320, 180)
    thumb = client.get(doc["thumbnail_url"].removeprefix(base))
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    iframe = _iframe(doc["html"])
    assert iframe["src"] == f"{base}embed/{LESSON}.html"
    assert iframe["allow"] == "fullscreen; picture-in-picture" and iframe["title"] == doc["title"]
    assert (iframe["width"], iframe["height"]) == ("640", "360")
    # the endpoint answers the same document for the page URL and for the embed URL
    for url in (f"{base}{LESSON}.html", f"{base}embed/{LESSON}.html"):
        assert client.get("oembed", params={"url": url}).json() == doc


def _iframe(html: str) -> dict[str, str]:
    found: list[dict[str, str]] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "iframe":
                found.append({k: v or "" for k, v in attrs})

    Parser().feed(html)
    assert len(found) == 1 and "<script" not in html, html
    return found[0]


@pytest.mark.parametrize(("limits", "size", "thumb"), [
    ({"maxwidth": "400"}, (400, 225), (320, 180)),
    ({"maxheight": "100"}, (178, 100), (160, 90)),
    ({"maxwidth": "1000", "maxheight": "1000"}, (640, 360), (320, 180)),
    ({"maxwidth": "120"}, (120, 68), None),  # no thumbnail fits: none is sent
])
def test_oembed_endpoint_respects_limits(site: dict[str, Any], limits: dict[str, str],
                                         size: tuple[int, int],
                                         thumb: tuple[int, int] | None) -> None:
    answer = site["client"].get("oembed", params={"url": f"{site['url']}{LESSON}.html",
                                                  **limits})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["access-control-allow-origin"] == "*"
    doc = answer.json()
    assert (doc["width"], doc["height"]) == size
    iframe = _iframe(doc["html"])
    assert (int(iframe["width"]), int(iframe["height"])) == size
    for key, limit in (("maxwidth", "width"), ("maxheight", "height")):
        if key in limits:
            assert doc[limit] <= int(limits[key]) and int(iframe[limit]) <= int(limits[key])
    if thumb is None:
        assert not any(k.startswith("thumbnail_") for k in doc)
    else:
        assert (doc["thumbnail_width"], doc["thumbnail_height"]) == thumb
        assert site["client"].get(doc["thumbnail_url"]).status_code == 200


@pytest.mark.parametrize(("params", "status"), [
    ({"url": "https://elsewhere.example/lesson-a.html"}, 404),
    ({"url": "{base}lesson-zz.html"}, 404),
    ({"url": "{base}catalog.json"}, 404),
    ({"url": "{base}lesson-a.html", "format": "xml"}, 501),
    ({"url": "{base}lesson-a.html", "maxwidth": "wide"}, 400),
    ({"url": "{base}lesson-a.html", "maxwidth": "0"}, 400),
    ({}, 400),
])
def test_oembed_endpoint_errors(site: dict[str, Any], params: dict[str, str],
                                status: int) -> None:
    answer = site["client"].get("oembed", params={k: v.format(base=site["url"])
                                                  for k, v in params.items()})
    assert answer.status_code == status and answer.json()["error"]


def test_audio_only_lesson_is_rich_and_og_audio(site: dict[str, Any]) -> None:
    client, base = site["client"], site["url"]
    doc = client.get("oembed", params={"url": f"{base}{AUDIO}.html"}).json()
    assert doc["type"] == "rich" and doc["author_name"] == "讲师 (A Lecturer)"
    assert _iframe(doc["html"])["src"] == f"{base}embed/{AUDIO}.html"
    head = head_of(client.get(f"{AUDIO}.html").text)
    assert head.first("og:audio") == f"{base}media/{AUDIO}/{AUDIO}.m4a"
    assert head.first("og:audio:type") == "audio/mp4"
    assert head.all("og:video") == [] and head.first("og:type") == "website"
    ld = json.loads(head.ld[0])
    assert ld["@type"] == "AudioObject" and "width" not in ld
    assert ld["contentUrl"] == f"{base}media/{AUDIO}/{AUDIO}.m4a"
    assert [c["inLanguage"] for c in ld["caption"]] == ["zh-Hans", "en", "zh-Hans-x-en"]
    media = client.get(ld["contentUrl"].removeprefix(base), headers={"Range": "bytes=0-11"})
    assert media.status_code == 206 and media.content[4:8] == b"ftyp"


def test_open_graph_and_twitter_player_card(site: dict[str, Any]) -> None:
    base = site["url"]
    head = head_of(site["client"].get(f"{LESSON}.html").text)
    assert head.first("og:type") == "video.other"
    assert head.first("og:url") == f"{base}{LESSON}.html"
    assert head.first("og:title").startswith("Lesson </script>")
    assert head.first("og:image") == f"{base}media/{LESSON}/poster.jpg"
    assert head.first("og:video") == f"{base}media/{LESSON}/{LESSON}.mp4"
    assert head.first("og:video:type") == "video/mp4"
    assert (head.first("og:video:width"), head.first("og:video:height")) == ("320", "180")
    assert head.first("og:locale") == "zh_CN" and head.all("og:locale:alternate") == ["en_US"]
    assert head.all("og:video:secure_url") == []  # served over http: no false secure URL
    assert head.first("twitter:card") == "player"
    assert head.first("twitter:player") == f"{base}embed/{LESSON}.html"
    assert (head.first("twitter:player:width"), head.first("twitter:player:height")) == (
        "640", "360")
    canonical = next(x for x in head.links if x.get("rel") == "canonical")
    assert canonical["href"] == f"{base}{LESSON}.html"
    for _, value in head.meta:  # every URL in a card is absolute and served
        if value.startswith("http"):
            assert site["client"].head(value.removeprefix(base)).status_code == 200, value


def test_secure_url_only_for_https_sites(tmp_path: Path) -> None:
    output, manifest = build_archive(tmp_path, seconds=2.0)
    publish_with(output, manifest, base_url="https://media.example.org/lessons")
    head = head_of((output / "site" / f"{LESSON}.html").read_text("utf-8"))
    url = f"https://media.example.org/lessons/media/{LESSON}/{LESSON}.mp4"
    assert head.first("og:video:secure_url") == url == head.first("og:video")


def test_video_object_meets_googles_rich_result_rules(site: dict[str, Any]) -> None:
    base = site["url"]
    head = head_of(site["client"].get(f"{LESSON}.html").text)
    assert len(head.ld) == 1
    ld = json.loads(head.ld[0])
    assert ld["@type"] == "VideoObject" and ld["@context"] == "https://schema.org"
    assert rich_result_problems(ld, f"{base}{LESSON}.html") == []
    assert ld["uploadDate"] == "2025-04-11" and ld["duration"] == "PT12S"
    assert ld["publisher"]["name"] == "Test Publisher"
    assert ld["inLanguage"] == "zh-Hans" and ld["transcript"].startswith("第一段。")
    assert [(c["name"], c["startOffset"], c["endOffset"], c["url"]) for c in ld["hasPart"]] == [
        ("Opening", 0, 8, f"{base}{LESSON}.html#t=0"),
        ("Second", 8, 12, f"{base}{LESSON}.html#t=8")]
    captions = {c["inLanguage"]: c for c in ld["caption"]}
    assert list(captions) == ["zh-Hans", "en", "zh-Hans-x-en"]
    for tag, caption in captions.items():
        assert caption["@type"] == "MediaObject" and caption["encodingFormat"] == "text/vtt"
        vtt = site["client"].get(caption["contentUrl"].removeprefix(base))
        assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT"), tag
    key = {"zh-Hans-x-en": "zh-Hans-en"}
    for tag in captions:  # each caption file is the track it says it is
        count = site["client"].get(captions[tag]["contentUrl"]).text.count("-->")
        assert count == CUE_COUNTS[key.get(tag, tag)]


def test_rich_result_checker_catches_what_google_rejects(site: dict[str, Any]) -> None:
    """The checker itself: a VideoObject broken in each way Google rejects fails it."""
    head = head_of(site["client"].get(f"{LESSON}.html").text)
    good = json.loads(head.ld[0])
    page = f"{site['url']}{LESSON}.html"
    clip = good["hasPart"][0]
    broken = [
        {k: v for k, v in good.items() if k != "uploadDate"},
        {**good, "thumbnailUrl": ["media/x/poster.jpg"]},
        {**good, "duration": "12 s"},
        {**good, "uploadDate": "11 April 2025"},
        {**good, "hasPart": [clip, {**clip, "name": "again"}]},
        {**good, "hasPart": [{**clip, "url": page + "#t=5"}]},
        {**good, "hasPart": [{k: v for k, v in clip.items() if k != "endOffset"}]},
    ]
    for doc in broken:
        assert rich_result_problems(doc, page), doc


def test_base_url_comes_from_flag_then_manifest_then_default(tmp_path: Path) -> None:
    output, manifest = build_archive(tmp_path, seconds=2.0)
    result = publish_with(output, manifest)
    assert any("no base URL set" in w and DEFAULT_BASE_URL in w for w in result.warnings)
    assert result.details.base_url == DEFAULT_BASE_URL
    catalog = json.loads((output / "site" / "catalog.json").read_text("utf-8"))
    assert catalog["base_url"] == DEFAULT_BASE_URL
    manifest.write_text('[site]\nbase_url = "https://media.example.org/a"\n'
                        'embed_base_url = "https://embed.example.org/a/"\n'
                        'provider_name = { en = "Test Archive", zh = "测试档案馆" }\n'
                        + MANIFEST, "utf-8")
    result = publish_with(output, manifest)
    assert result.warnings == [] and result.details.base_url == "https://media.example.org/a/"
    doc = json.loads((output / "site" / "oembed" / f"{LESSON}.json").read_text("utf-8"))
    assert _iframe(doc["html"])["src"] == f"https://embed.example.org/a/embed/{LESSON}.html"
    assert doc["provider_name"] == "测试档案馆 (Test Archive)"
    assert doc["thumbnail_url"].startswith("https://media.example.org/a/media/")
    publish_with(output, manifest, base_url="https://flag.example/")
    doc = json.loads((output / "site" / "oembed" / f"{LESSON}.json").read_text("utf-8"))
    assert doc["thumbnail_url"].startswith("https://flag.example/media/")
    assert _iframe(doc["html"])["src"].startswith("https://embed.example.org/a/")


@pytest.mark.parametrize(("site_table", "message"), [
    ('[site]\nbase_url = "media.example.org"\n', "absolute http(s) URL"),
    ('[site]\nbaseurl = "https://x.example/"\n', "unknown key 'baseurl'"),
    ('[site]\nprovider_name = 3\n', "expected"),
])
def test_site_table_is_validated(tmp_path: Path, site_table: str, message: str) -> None:
    path = tmp_path / "series.toml"
    path.write_text(site_table + MANIFEST, "utf-8")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.parametrize("url", ["media.example.org", "ftp://x.example/", "https://x/?q=1",
                                 "https://x.example/a b"])
def test_base_url_flag_is_validated(url: str) -> None:
    with pytest.raises(UsageError, match="--base-url must be an absolute"):
        PublishOptions(base_url=url)


def test_frame_ancestors_header(site: dict[str, Any], tmp_path: Path) -> None:
    client = site["client"]
    embed = client.get(f"embed/{LESSON}.html")
    assert embed.headers["content-security-policy"] == "frame-ancestors *"
    assert "x-frame-options" not in embed.headers
    assert client.get(f"{LESSON}.html").headers["content-security-policy"] == \
        "frame-ancestors 'self'"
    assert "content-security-policy" not in client.get("catalog.json").headers
    with SiteServer(site["output"] / "site",
                    ancestors="'self' https://cms.example.org") as strict:
        answer = httpx.get(f"{strict.url}embed/{LESSON}.html", timeout=20)
        assert answer.headers["content-security-policy"] == \
            "frame-ancestors 'self' https://cms.example.org"
    for bad in ("*; script-src *", "https://a.example,https://b.example", "", "'none' *",
                "x\r\nSet-Cookie: a=b"):
        with pytest.raises(UsageError, match="--frame-ancestors"):
            frame_ancestors(bad)


def test_failed_lesson_shows_a_short_public_reason(tmp_path: Path) -> None:
    output, manifest = build_archive(tmp_path, seconds=2.0)
    catalog = json.loads((output / "catalog.json").read_text("utf-8"))
    secret = f"{tmp_path}/output/lessons/lesson-c/state/fetch.json"
    catalog["lessons"][2].update(
        error=f"{secret}: lesson 'lesson-c': the server's certificate was refused: expired\n"
              "Traceback (most recent call last):\n  File \"/usr/lib/python3/x.py\", line 1",
        error_class="TlsError")
    (output / "catalog.json").write_text(json.dumps(catalog), "utf-8")
    publish_with(output, manifest)
    expected = "TlsError: the server's certificate was refused: expired"
    site = output / "site"
    public = {p: p.read_text("utf-8") for p in site.rglob("*")
              if p.suffix in (".html", ".json")}
    site_entry = json.loads(public[site / "catalog.json"])["lessons"][2]
    assert site_entry["error"] == expected and "error_class" not in site_entry
    assert expected in html.unescape(public[site / "index.html"])
    # the page of its previous, intact package says so
    assert expected in html.unescape(public[site / "lesson-c.html"])
    for path, text in public.items():
        assert str(tmp_path) not in text and "Traceback" not in text, path
        assert "/usr/lib" not in text, path


def test_catalog_keeps_what_the_endpoint_needs(site: dict[str, Any]) -> None:
    catalog = site["client"].get("catalog.json").json()
    entry = next(e for e in catalog["lessons"] if e["id"] == LESSON)
    assert entry["oembed"] == f"oembed/{LESSON}.json"
    assert entry["iiif"] == f"iiif/{LESSON}/manifest.json"
    assert entry["embed_url"] == f"{site['url']}embed/{LESSON}.html"
    assert re.fullmatch(r"video/mp4", entry["media_type"]) and entry["audio_only"] is False
    audio = next(e for e in catalog["lessons"] if e["id"] == AUDIO)
    assert audio["audio_only"] is True and audio["media_type"] == "audio/mp4"
    assert [(t["width"], t["height"]) for t in audio["thumbnails"]] == [
        (1280, 720), (640, 360), (320, 180), (160, 90)]


def test_error_class_comes_from_the_stage_record(tmp_path: Path) -> None:
    """catalog.json carries the error text; the class is read from the failed stage's record."""
    from archiver.model import StageResult
    from archiver.store import Store

    output, manifest = build_archive(tmp_path, seconds=2.0)
    catalog = json.loads((output / "catalog.json").read_text("utf-8"))
    error = f"{tmp_path}/output/packages/lesson-c/data/access/x.mp4: ffprobe found no stream"
    catalog["lessons"][2]["error"] = error
    (output / "catalog.json").write_text(json.dumps(catalog), "utf-8")
    Store(output).save_result(StageResult(stage="fetch", lesson="lesson-c", status="failed",
                                          error=error, error_class="MediaError"))
    publish_with(output, manifest)
    entry = json.loads((output / "site" / "catalog.json").read_text("utf-8"))["lessons"][2]
    assert entry["error"] == "MediaError: ffprobe found no stream"
