"""Helpers for the package tests: fake (but real-file) fetch and subtitles results.

The fetch and subtitles stages are written elsewhere; these helpers record what DESIGN.md says
those stages record (StageResult details and files), so the package stage is tested against
the contract. The tracks hold CJK text and cues with `<`, `&` and `-->`-like text (escaped as
WebVTT requires), identifiers and cue settings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

from archiver.fetch.http import Exchange
from archiver.fetch.warc import MediaPart, write_warc
from archiver.log import EventLog
from archiver.model import (
    TRACKS,
    Bilingual,
    FetchDetails,
    Lesson,
    Manifest,
    Output,
    Series,
    Source,
    SourceRecord,
    StageResult,
    SubtitlesDetails,
)
from archiver.package.probe import parse_cues, plain
from archiver.pipeline import Context
from archiver.store import Store

VTT_ZH = """WEBVTT

zh-1
00:00:00.200 --> 00:00:00.900
数字中国 &lt;建设&gt; &amp; 发展

zh-2
00:00:01.000 --> 00:00:01.800 line:85%
一是 a --&gt; b 的关系
第二行文字

zh-3
00:00:02.000 --> 00:00:02.700
二是加强整体谋划
"""
VTT_EN = """WEBVTT

en-1
00:00:00.200 --> 00:00:00.900
Digital China &lt;construction&gt; &amp; development

en-2
00:00:01.000 --> 00:00:01.800
First, a --&gt; b relations

en-3
00:00:02.000 --> 00:00:02.700
Second, global planning
"""
VTT_BI = """WEBVTT

00:00:00.200 --> 00:00:00.900
数字中国 &lt;建设&gt; &amp; 发展
<lang en>Digital China &lt;construction&gt; &amp; development</lang>

00:00:01.000 --> 00:00:01.800
一是 a --&gt; b 的关系
<lang en>First, a --&gt; b relations</lang>

00:00:02.000 --> 00:00:02.700
二是加强整体谋划
<lang en>Second, global planning</lang>
"""
CHAPTERS = [
    {"start": 0.0, "end": 1.0, "title": {"en": "Opening", "zh": "开场"}},
    {"start": 1.0, "end": 2.0, "title": {"en": "First", "zh": "一是"}},
    {"start": 2.0, "end": 3.5, "title": {"en": "Second = #2; end", "zh": "二是"}},
]
TLS = {"policy": "verify", "protocol": "TLSv1.3", "outcome": "verified", "verified": True,
       "problems": [], "sha256_fingerprint": "ab" * 32, "subject": "CN=127.0.0.1"}
SERIES = Series(id="demo-series", title=Bilingual("Digital China Construction Series",
                                                  "数字中国建设系列"),
                publisher=Bilingual("Beijing Party Member Education Network", "北京党员教育网"),
                language="zh")


def lesson(lesson_id: str = "demo-13", sources: bool = True) -> Lesson:
    return Lesson(
        id=lesson_id, number=13,
        title=Bilingual("Strengthen Global Planning", "加强数字中国整体谋划统筹推进"),
        released=dt.date(2025, 4, 11), duration="00:03",
        speaker=Bilingual("", "北京国恒智林文化传播有限公司"),
        synopsis=Bilingual("A lesson.", "一课。"),
        sources=(Source(url="https://127.0.0.1:8443/lesson/13", kind="mirror",
                        description="write-up page embedding the video"),) if sources else ())


def context(root: Path, lessons: list[Lesson], force: bool = False) -> Context:
    manifest = Manifest(path=root / "manifest.toml", series=SERIES, lessons=tuple(lessons))
    return Context(store=Store(root), manifest=manifest, log=EventLog(stream=io.StringIO()),
                   force=force)


def _sha(data: bytes, algo: str = "sha256") -> str:
    return hashlib.new(algo, data).hexdigest()


def fake_fetch(store: Store, item: Lesson, media: Path) -> StageResult[FetchDetails]:
    """Write what fetch writes (original, WARC, capture.json) and record its result."""
    folder = store.stage_dir(item.id, "fetch")
    folder.mkdir(parents=True, exist_ok=True)
    original = folder / f"original{media.suffix}"
    shutil.copyfile(media, original)
    data = original.read_bytes()
    source: dict[str, Any] = {"url": item.sources[0].url, "kind": "mirror", "tls": "verify",
              "description": item.sources[0].description}
    media_url = "https://127.0.0.1:8443/media/13.mp4"
    page_url = item.sources[0].url
    html = (f'<!doctype html><title>{item.title.zh}</title>'
            f'<video controls src="{media_url}"></video>').encode()
    exchanges = [
        Exchange(role="page", requested_url=page_url, final_url=page_url, status=200,
                 reason="OK", bytes=len(html), sha256=_sha(html), outcome="ok",
                 started="2026-01-01T00:00:00Z", warc_payload=html,
                 raw_request=[("Host", "127.0.0.1:8443")],
                 raw_response=[("Content-Type", "text/html; charset=utf-8"),
                               ("Content-Length", str(len(html)))]),
        Exchange(role="media", requested_url=media_url, final_url=media_url, status=200,
                 reason="OK", bytes=len(data), sha256=_sha(data), outcome="ok",
                 started="2026-01-01T00:00:01Z", raw_request=[("Host", "127.0.0.1:8443")],
                 raw_response=[("Content-Type", "video/mp4"),
                               ("Content-Length", str(len(data)))])]
    warcs = write_warc(folder / "capture.warc.gz", exchanges, tls=TLS, tools={},
                       media=[MediaPart(original, media_url, _sha(data))], lesson=item.id)
    capture = {"lesson": item.id, "source": source, "source_index": 0, "attempts": [],
               "exchanges": [], "tls": TLS,
               "media": {"path": "fetch/" + original.name, "bytes": len(data),
                         "sha256": _sha(data), "sha512": _sha(data, "sha512"),
                         "content_type": "video/mp4"},
               "started": "2026-01-01T00:00:00Z", "ended": "2026-01-01T00:00:05Z"}
    (folder / "capture.json").write_text(json.dumps(capture), "utf-8")
    result = StageResult(
        stage="fetch", lesson=item.id, status="ok", fingerprint="f" * 64,
        outputs=[Output("fetch/" + original.name, len(data), _sha(data)),
                 *(Output(f"fetch/{w.path.name}", w.bytes, w.sha256) for w in warcs),
                 Output("fetch/capture.json", (folder / "capture.json").stat().st_size,
                        _sha((folder / "capture.json").read_bytes()))],
        tool_versions={"httpx": "0.27", "yt-dlp": "2024.12"},
        started="2026-01-01T00:00:00Z", ended="2026-01-01T00:00:05Z",
        details=FetchDetails(
            media="fetch/" + original.name, bytes=len(data), sha256=_sha(data),
            sha512=_sha(data, "sha512"), source=SourceRecord(**source), media_url=media_url,
            page_url=item.sources[0].url, content_type="video/mp4",
            capture="fetch/capture.json", warc="fetch/capture.warc.gz",
            warc_media="fetch/capture-media.warc", tls=TLS))
    store.save_result(result)
    return result


def fake_subtitles(store: Store, item: Lesson, en: str = VTT_EN,
                   chapters: object = CHAPTERS) -> StageResult[SubtitlesDetails]:
    """Write the subtitles stage's files (tracks, SRTs, transcript, chapters, quality)."""
    folder = store.stage_dir(item.id, "subtitles")
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"{item.id}.zh-Hans.vtt": VTT_ZH, f"{item.id}.en.vtt": en,
             f"{item.id}.zh-Hans-en.vtt": VTT_BI,
             f"{item.id}.zh-Hans.srt": _srt(VTT_ZH), f"{item.id}.en.srt": _srt(en),
             "transcript.json": json.dumps([{"start": 0.2, "end": 2.7, "en": "Digital China",
                                             "zh": "数字中国"}], ensure_ascii=False),
             "chapters.json": json.dumps(chapters, ensure_ascii=False),
             "quality.json": json.dumps({"problems": []})}
    outputs = []
    for name, text in files.items():
        (folder / name).write_text(text, "utf-8")
        outputs.append(Output(f"subtitles/{name}", len(text.encode()), _sha(text.encode())))
    details = SubtitlesDetails(
        tracks={t.key: f"subtitles/{t.vtt_name(item.id)}" for t in TRACKS},
        srt={t.key: f"subtitles/{t.srt_name(item.id)}" for t in TRACKS if t.srt},
        transcript_json="subtitles/transcript.json", chapters="subtitles/chapters.json",
        quality="subtitles/quality.json")
    result = StageResult(stage="subtitles", lesson=item.id, status="ok", fingerprint="s" * 64,
                         outputs=outputs, tool_versions={"webvtt-py": "0.6.0"},
                         started="2026-01-01T00:01:00Z", ended="2026-01-01T00:01:02Z",
                         details=details)
    store.save_result(result)
    return result


def _srt(vtt: str) -> str:
    blocks = []
    for i, cue in enumerate(parse_cues(vtt), 1):
        blocks.append(f"{i}\n{_stamp(cue.start)} --> {_stamp(cue.end)}\n{plain(cue.text)}\n")
    return "\n".join(blocks)


def _stamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def test_cue_parser_keeps_ids_settings_and_escapes() -> None:
    cues = parse_cues(VTT_ZH)
    assert [c.identifier for c in cues] == ["zh-1", "zh-2", "zh-3"]
    assert cues[1].settings == "line:85%"
    assert cues[1].text == "一是 a --&gt; b 的关系\n第二行文字"
    assert (cues[0].start, cues[0].end) == (0.2, 0.9)
    assert plain(parse_cues(VTT_BI)[0].text) == "数字中国 <建设> & 发展\nDigital China " \
        "<construction> & development"
