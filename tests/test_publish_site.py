"""Publish without a browser: the site's files, catalog, escaping, provenance, atomic swap.

`build_archive` writes a small archive by hand as docs/DESIGN.md fixes it (catalog.json and a
package's data folder); the browser tests (test_publish_browser.py) reuse it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import make_media

from archiver import store
from archiver.cli import main as cli_main
from archiver.log import EventLog
from archiver.manifest import load_manifest
from archiver.pipeline import Context
from archiver.publish.command import publish_site
from archiver.publish.markup import Markup, esc, json_for_script, render
from archiver.publish.pages import tls_sentence
from archiver.store import Store, sha256_file

pytestmark = pytest.mark.slow  # archives packaged with real media, then published

LESSON = "lesson-a"
XSS_EN = "<script>window.__xss=1</script>"
XSS_ZH = '"><img src=x onerror="window.__xss=2">'
TITLE_EN = "Lesson </script><script>window.__xss=3</script> & more"
FINGERPRINT = "ab" * 32
PARAGRAPHS = [
    {"start": 0.5, "end": 4.0, "en": "First passage.", "zh": "第一段。"},
    {"start": 4.0, "end": 8.0, "en": XSS_EN, "zh": XSS_ZH},
    {"start": 8.0, "end": 11.5, "en": "Second, improve the system.", "zh": "二是健全体制机制。"},
]
ZH_CUES = [(0.5, 2.0, "第一段。"), (2.0, 4.0, "第一段继续。"),
           (4.0, 8.0, "&lt;script&gt;不是代码"), (8.0, 9.5, "二是健全体制机制。"),
           (9.5, 11.5, "最后一句。")]
EN_CUES = [(0.5, 4.0, "First passage."), (4.0, 8.0, "&lt;script&gt; is not code"),
           (8.0, 11.5, "Second, improve the system.")]
BOTH_CUES = [(s, e, f"{zh}\n<lang en>{en}</lang>") for (s, e, zh), (_, _, en)
             in zip(ZH_CUES, [EN_CUES[0], EN_CUES[0], EN_CUES[1], EN_CUES[2], EN_CUES[2]],
                    strict=True)]
CUE_COUNTS = {"zh-Hans": len(ZH_CUES), "en": len(EN_CUES), "zh-Hans-en": len(BOTH_CUES)}


def _vtt(cues: list[tuple[float, float, str]]) -> str:
    def ts(t: float) -> str:
        return f"00:{int(t // 60):02d}:{t % 60:06.3f}"
    return "WEBVTT\n\n" + "\n".join(f"{i + 1}\n{ts(s)} --> {ts(e)}\n{text}\n"
                                    for i, (s, e, text) in enumerate(cues))


MANIFEST = f"""
[series]
id = "test-series"
title = {{ en = "Test Series", zh = "测试系列" }}
publisher = {{ en = "Test Publisher", zh = "测试出版社" }}

[[lessons]]
id = "{LESSON}"
number = 1
title = {{ en = {json.dumps(TITLE_EN)}, zh = "第一课:测试" }}
released = 2025-04-11
duration = "00:12"
speaker = {{ en = "A Speaker", zh = "讲者" }}
synopsis = {{ en = "Synopsis <b>bold?</b>", zh = "简介。" }}
footnotes = ["A note with <i>markup</i>."]
terms = [ {{ en = "organizational system", zh = "体制机制", note = 1 }} ]

[[lessons]]
id = "lesson-b"
number = 2
released = 2025-04-11

[[lessons]]
id = "lesson-c"
number = 3
title = {{ en = "Packaged before its transcript" }}
"""


def build_archive(root: Path, seconds: float = 12.0) -> tuple[Path, Path]:
    """Write `root/output` (catalog + one package) and `root/series.toml`; return both."""
    output = root / "output"
    pkg = output / "packages" / LESSON
    data = pkg / "data"
    for sub in ("access", "subtitles", "capture", "original"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    make_media(data / "access" / f"{LESSON}.mp4", seconds=seconds, size="320x180")
    (data / "original" / "original.mp4").write_bytes((data / "access" / f"{LESSON}.mp4")
                                                      .read_bytes())
    for lang, cues in (("zh-Hans", ZH_CUES), ("en", EN_CUES), ("zh-Hans-en", BOTH_CUES)):
        (data / "subtitles" / f"{LESSON}.{lang}.vtt").write_text(_vtt(cues), "utf-8")
    (data / "subtitles" / "transcript.json").write_text(
        json.dumps(PARAGRAPHS, ensure_ascii=False), "utf-8")
    (data / "subtitles" / "chapters.json").write_text(json.dumps(
        [{"start": 0.5, "end": 8.0, "title": {"en": "Opening", "zh": "开篇"}},
         {"start": 8.0, "end": 11.5, "title": {"en": "Second", "zh": "二是健全体制机制"}}],
        ensure_ascii=False), "utf-8")
    tls = {"policy": f"pin:sha256:{FINGERPRINT}", "outcome": "pinned", "problems": ["expired"],
           "sha256_fingerprint": FINGERPRINT, "verified": False,
           "not_after": "2024-01-01T00:00:00Z"}
    (data / "capture" / "capture.json").write_text(json.dumps(
        {"lesson": LESSON, "source": {"url": "https://old.example/lesson-a"}, "tls": tls,
         "started": "2026-01-02T03:04:05Z", "ended": "2026-01-02T03:04:09Z"}), "utf-8")
    (data / "provenance.json").write_text(json.dumps({"@context": {}, "@graph": []}), "utf-8")
    (data / "videoobject.json").write_text(json.dumps(
        {"@context": "https://schema.org", "@type": "VideoObject", "identifier": LESSON,
         "associatedMedia": {"contentUrl": "master/x.mkv"}, "sha256": "0" * 64}),
        "utf-8")
    (data / "capture" / "capture.warc.gz").write_bytes(b"\x1f\x8b not json")
    # lesson-c: packaged before its transcript existed (no tracks, transcript or chapters)
    (output / "packages" / "lesson-c" / "data" / "access").mkdir(parents=True)
    (output / "packages" / "lesson-c" / "data" / "access" / "lesson-c.mp4").write_bytes(
        (data / "access" / f"{LESSON}.mp4").read_bytes())
    (output / "packages" / "lesson-c" / "data" / "provenance.json").write_text("{}")
    (pkg / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (pkg / "bag-info.txt").write_text("Source-Organization: Test\n")
    (pkg / "manifest-sha256.txt").write_text("0  data/x\n")

    def entry(rel: str) -> dict[str, object]:
        path = output / rel
        return {"path": rel, "bytes": path.stat().st_size, "sha256": sha256_file(path)}

    base = f"packages/{LESSON}/data/"
    catalog = {
        "schema": "lesson-archiver/catalog/1", "generated": "2026-01-02T03:05:00Z",
        "series": {"id": "test-series", "title": {"en": "Test Series", "zh": "测试系列"},
                   "publisher": {"en": "Test Publisher", "zh": "测试出版社"}},
        "lessons": [
            {"id": LESSON, "number": 1, "title": {"en": TITLE_EN, "zh": "第一课:测试"},
             "released": "2025-04-11", "duration": seconds, "status": "archived",
             "package": f"packages/{LESSON}",
             "files": {"original": entry(base + "original/original.mp4"),
                       "access": entry(base + f"access/{LESSON}.mp4"),
                       "provenance": entry(base + "provenance.json"),
                       "videoobject": entry(base + "videoobject.json"),
                       "capture": entry(base + "capture/capture.warc.gz"),
                       "capture_record": entry(base + "capture/capture.json"),
                       "transcript": entry(base + "subtitles/transcript.json"),
                       "chapters": entry(base + "subtitles/chapters.json"),
                       "tracks": {lang: entry(base + f"subtitles/{LESSON}.{lang}.vtt")
                                  for lang in CUE_COUNTS}},
             "source": {"url": "https://old.example/lesson-a", "kind": "original",
                        "captured": "2026-01-02T03:04:09Z",
                        "tls": {"outcome": "pinned", "problems": ["expired"],
                                "sha256_fingerprint": FINGERPRINT}}},
            {"id": "lesson-b", "number": 2, "status": "not-fetched", "released": "2025-04-11",
             "package": None, "files": {}, "source": None},
            {"id": "lesson-c", "number": 3, "status": "failed", "error": "fetch failed",
             "package": "packages/lesson-c",
             "files": {"access": entry("packages/lesson-c/data/access/lesson-c.mp4"),
                       "tracks": {}, "transcript": None}, "source": None},
        ],
    }
    (output / "catalog.json").write_text(json.dumps(catalog, ensure_ascii=False), "utf-8")
    manifest = root / "series.toml"
    manifest.write_text(MANIFEST, "utf-8")
    return output, manifest


def context(output: Path, manifest: Path, force: bool = False) -> Context:
    return Context(store=Store(output), manifest=load_manifest(manifest),
                   log=EventLog(progress=False), force=force)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    output, manifest = build_archive(tmp_path_factory.mktemp("publish"))
    result = publish_site(context(output, manifest))
    assert result.status == "ok", result.error
    return output, manifest


def test_site_layout_and_catalog(archive: tuple[Path, Path]) -> None:
    site = archive[0] / "site"
    for rel in ("index.html", f"{LESSON}.html", f"embed/{LESSON}.html", "catalog.json",
                "assets/site.css", "assets/player.js", f"media/{LESSON}/{LESSON}.mp4",
                f"media/{LESSON}/provenance.json", f"media/{LESSON}/package/bag-info.txt"):
        assert (site / rel).is_file(), rel
    assert (site / f"media/{LESSON}/poster.jpg").read_bytes()[:2] == b"\xff\xd8"  # JPEG
    catalog = json.loads((site / "catalog.json").read_text("utf-8"))
    assert catalog["schema"] == "lesson-archiver/site-catalog/1"
    a, b, c = catalog["lessons"]
    assert (a["page"], a["embed"], b["status"]) == (f"{LESSON}.html", f"embed/{LESSON}.html",
                                                    "not-fetched")
    assert "page" not in b and not (site / "lesson-b.html").exists()
    assert c["page"] == "lesson-c.html" and c["files"]["tracks"] == {}
    urls = [a["files"]["access"], *a["files"]["tracks"].values(), a["files"]["transcript"]]
    for item in urls:  # every URL is relative to the site and its digest is the file's
        assert not item["url"].startswith(("/", "http")) and ".." not in item["url"]
        assert sha256_file(site / item["url"]) == item["sha256"]
    assert str(archive[0]) not in (site / "catalog.json").read_text("utf-8")
    index = (site / "index.html").read_text("utf-8")
    assert "测试系列" in index and "Test Publisher" in index and "not-fetched" in index
    # the site is readable by a web server running as another user
    assert (site / "index.html").stat().st_mode & 0o004


def test_lesson_page_escapes_every_text(archive: tuple[Path, Path]) -> None:
    page = (archive[0] / "site" / f"{LESSON}.html").read_text("utf-8")
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=&quot;window.__xss=2&quot;&gt;" in page
    assert "<img src=x" not in page and "<script>window" not in page
    assert "<b>bold?</b>" not in page and "&lt;b&gt;bold?&lt;/b&gt;" in page
    assert "&lt;i&gt;markup&lt;/i&gt;" in page
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 2  # the JSON-LD block and the player script (empty body)
    ld = json.loads(scripts[0])
    assert ld["@type"] == "VideoObject" and ld["name"] == TITLE_EN
    assert ld["identifier"] == LESSON and ld["duration"] == "PT12S"
    # without --base-url or [site] base_url, absolute URLs point at `archiver serve`
    assert ld["contentUrl"] == f"http://127.0.0.1:8000/media/{LESSON}/{LESSON}.mp4"
    assert ld["sha256"] == sha256_file(archive[0] / "site" / "media" / LESSON / f"{LESSON}.mp4")
    assert "associatedMedia" not in ld  # a package-relative path means nothing in the site
    assert [c["inLanguage"] for c in ld["caption"]] == ["zh-Hans", "en", "zh-Hans-x-en"]
    assert re.findall(r'<track [^>]*srclang="([^"]+)"', page) == ["zh-Hans", "en", "zh-Hans-x-en"]


def test_pages_load_nothing_from_elsewhere(archive: tuple[Path, Path]) -> None:
    site = archive[0] / "site"
    for rel in ("index.html", f"{LESSON}.html", f"embed/{LESSON}.html", "viewer/index.html"):
        html = (site / rel).read_text("utf-8")
        # what a browser loads (canonical and oEmbed discovery links are for other sites and
        # are never fetched by the page)
        html = re.sub(r'<link rel="(?:canonical|alternate)"[^>]*>', "", html)
        loads = re.findall(r'<(?:script|img|video|source|track|link|iframe)\b[^>]*?'
                           r'(?:src|href|poster)="([^"]*)"', html)
        assert loads, rel
        for url in loads:
            if url == "data:,":  # the empty favicon: no request at all
                continue
            assert "://" not in url and not url.startswith("//"), (rel, url)
            assert (site / rel).parent.joinpath(url).resolve().is_file(), (rel, url)
        assert "Content-Security-Policy" in html


def test_provenance_is_visible(archive: tuple[Path, Path]) -> None:
    page = (archive[0] / "site" / f"{LESSON}.html").read_text("utf-8")
    assert f"certificate was expired; pinned fingerprint sha256 {FINGERPRINT}" in page
    assert "https://old.example/lesson-a" in page and "2026-01-02T03:04:09Z" in page
    assert f'href="media/{LESSON}/provenance.json"' in page
    assert f"packages/{LESSON}" in page
    access = archive[0] / "packages" / LESSON / "data" / "access" / f"{LESSON}.mp4"
    assert sha256_file(access) in page


def test_lesson_without_subtitles_still_gets_a_page(archive: tuple[Path, Path]) -> None:
    page = (archive[0] / "site" / "lesson-c.html").read_text("utf-8")
    assert "<track" not in page and "No subtitles yet." in page and "No transcript." in page
    assert "no TLS evidence recorded" in page
    embed = (archive[0] / "site" / "embed" / "lesson-c.html").read_text("utf-8")
    assert 'src="../media/lesson-c/lesson-c.mp4"' in embed


def test_markup_helpers() -> None:
    assert esc('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"
    assert render("<p>{x}</p>", x="<i>") == "<p>&lt;i&gt;</p>"
    assert render("<p>{x}</p>", x=Markup("<i>ok</i>")) == "<p><i>ok</i></p>"
    text = json_for_script({"t": "</script><script>x</script>&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"t": "</script><script>x</script>&"}


@pytest.mark.parametrize(("tls", "expected"), [
    ({"outcome": "pinned", "problems": ["expired"], "sha256_fingerprint": "ff"},
     "certificate was expired; pinned fingerprint sha256 ff"),
    ({"outcome": "verified", "problems": [], "sha256_fingerprint": "ee"},
     "certificate had no problems; verified against the system's trusted CAs (sha256 ee)"),
    ({"outcome": "pinned", "problems": ["untrusted-issuer", "expired"],
      "sha256_fingerprint": "cc"},
     "certificate was from an untrusted issuer and expired; pinned fingerprint sha256 cc"),
    ({"outcome": "insecure", "problems": ["self-signed", "expired"], "sha256_fingerprint": "dd"},
     "certificate was self-signed and expired; NOT verified (insecure policy chosen in the "
     "manifest; sha256 dd)"),
    ({}, "no TLS evidence recorded (plain HTTP or not captured)"),
])
def test_tls_sentence(tls: dict[str, object], expected: str) -> None:
    assert tls_sentence(tls) == expected


def test_unchanged_inputs_reuse_the_site(archive: tuple[Path, Path]) -> None:
    output, manifest = archive
    before = (output / "site" / "index.html").stat().st_ino
    result = publish_site(context(output, manifest))
    assert result.status == "unchanged" and result.lesson == "(site)"
    assert (output / "site" / "index.html").stat().st_ino == before


def test_failed_publish_keeps_the_previous_site(tmp_path: Path) -> None:
    output, manifest = build_archive(tmp_path, seconds=2.0)
    assert publish_site(context(output, manifest)).status == "ok"
    site = output / "site"
    snapshot = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    transcript = output / "packages" / LESSON / "data" / "subtitles" / "transcript.json"
    transcript.write_text('[{"start": 1, "end": 0.5, "en": "x", "zh": "y"}]', "utf-8")
    result = publish_site(context(output, manifest, force=True))
    assert result.status == "failed" and result.stage == "publish"
    assert str(transcript) in (result.error or "") and "lesson-a" in (result.error or "")
    assert "[0].end" in (result.error or "")
    transcript.write_text("[{", "utf-8")
    result = publish_site(context(output, manifest, force=True))
    assert result.status == "failed" and "not valid JSON" in (result.error or "")
    after = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert after == snapshot
    assert not [p for p in output.iterdir() if ".tmp-" in p.name]
    # fixed input: the new site replaces the old one in one swap
    transcript.write_text('[{"start": 0, "end": 1, "en": "Fixed.", "zh": "修好了。"}]', "utf-8")
    assert publish_site(context(output, manifest, force=True)).status == "ok"
    assert "修好了。" in (site / f"{LESSON}.html").read_text("utf-8")
    assert not [p for p in output.iterdir() if ".tmp-" in p.name]


def test_swap_without_renameat2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where RENAME_EXCHANGE is unsupported (e.g. some network file systems): two renames."""

    monkeypatch.setattr(store, "_exchange", lambda a, b: False)
    output, manifest = build_archive(tmp_path, seconds=1.0)
    assert publish_site(context(output, manifest)).status == "ok"
    old = (output / "site" / "index.html").stat().st_ino
    assert publish_site(context(output, manifest, force=True)).status == "ok"
    assert (output / "site" / "index.html").stat().st_ino != old
    assert sorted(p.name for p in output.iterdir() if p.name.startswith(".site")) == []


def test_publish_without_catalog_says_what_to_do(tmp_path: Path) -> None:
    _, manifest = build_archive(tmp_path, seconds=1.0)
    empty = tmp_path / "empty"
    result = publish_site(context(empty, manifest))
    assert result.status == "failed" and "run `archiver package`" in (result.error or "")
    assert not (empty / "site").exists()


def test_cli_publish_and_exit_codes(tmp_path: Path) -> None:
    output, manifest = build_archive(tmp_path, seconds=1.0)
    args = ["publish", "--manifest", str(manifest), "--output", str(output)]
    assert cli_main([*args, "--only", LESSON, "--base-url", "https://media.example.org/l"]) == 0
    page = (output / "site" / f"{LESSON}.html").read_text("utf-8")
    assert not (output / "site" / "lesson-c.html").exists()
    assert f'"contentUrl": "https://media.example.org/l/media/{LESSON}/{LESSON}.mp4"' in page
    # the snippet is text to copy: its own attribute escaping survives (title has `<` and `&`)
    assert (f'&lt;iframe src=&quot;https://media.example.org/l/embed/{LESSON}.html&quot; '
            'width=&quot;640&quot; height=&quot;360&quot; title=&quot;Lesson '
            '&amp;lt;/script&amp;gt;') in page
    assert "allow=&quot;fullscreen; picture-in-picture&quot;" in page
    assert cli_main(args) == 0  # the inputs changed (no --only): rebuilt with every lesson
    assert (output / "site" / "lesson-c.html").is_file()
    (output / "catalog.json").write_text("{}", "utf-8")
    assert cli_main([*args, "--force"]) == 1
    assert (output / "site" / f"{LESSON}.html").is_file()


def test_commands_follow_the_cli_contract() -> None:
    from archiver.cli import build_parser
    from archiver.publish import command, serve

    parser = build_parser({"publish": command, "serve": serve})
    args = parser.parse_args(["serve", "--port", "9000"])
    assert (args.host, args.port, args.root) == ("127.0.0.1", 9000, None)
    assert not hasattr(args, "manifest")  # NEEDS_MANIFEST = False
    args = parser.parse_args(["publish", "--only", LESSON, "--base-url", "https://x.test/"])
    assert (args.only, args.base_url, args.force) == ([LESSON], "https://x.test/", False)
    assert args.embed_base_url == ""
    assert parser.parse_args(["serve"]).frame_ancestors == "*"
