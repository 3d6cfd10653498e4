"""Shared by the publish tests: an audio-only lesson, a site served at its own base URL, and
the rules of Google's video rich results as a checker.

`add_audio_lesson` adds `lesson-d` to an archive made by test_publish_site.build_archive: its
access copy is the corpus's audio-only lecture (archiver.demo.corpus, the 16 kHz mono AAC M4A
a podcast feed serves, Mandarin speech at 1.0 s and 3.0 s), laid out as the package stage lays
out an audio-only package (an M4A access copy, docs/package.md).

`served_site` publishes with `--base-url` set to the address of a real `archiver serve`
(SiteServer on a free loopback port), because every URL leaving the site is absolute: the
players, viewers and clients under test then follow the same URLs a real host would publish.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver.demo.corpus.media import VARIANTS, build_media
from archiver.log import EventLog
from archiver.manifest import load_manifest
from archiver.options import Options, PublishOptions
from archiver.pipeline import Context
from archiver.publish.command import publish_site
from archiver.publish.serve import SiteServer
from archiver.store import Store, sha256_file

AUDIO = "lesson-d"
AUDIO_VARIANT = "m4a-aac-16000-mono"
AUDIO_ZH = [(1.0, 2.4, "数字中国。"), (3.0, 4.4, "共同推进。")]
AUDIO_EN = [(1.0, 2.4, "Digital China."), (3.0, 4.4, "Advance it together.")]
AUDIO_MANIFEST = f"""
[[lessons]]
id = "{AUDIO}"
number = 4
title = {{ en = "An audio-only lecture", zh = "音频讲座" }}
released = 2025-05-01
speaker = {{ en = "A Lecturer", zh = "讲师" }}
"""


def _vtt(cues: list[tuple[float, float, str]]) -> str:
    def ts(t: float) -> str:
        return f"00:{int(t // 60):02d}:{t % 60:06.3f}"
    return "WEBVTT\n\n" + "\n".join(f"{i + 1}\n{ts(s)} --> {ts(e)}\n{text}\n"
                                    for i, (s, e, text) in enumerate(cues))


def audio_clip(folder: Path) -> Path:
    """The corpus's audio-only lecture (built once per folder, cached by the corpus)."""
    variant = next(v for v in VARIANTS if v.id == AUDIO_VARIANT)
    return build_media(folder, [variant])[AUDIO_VARIANT].path


def add_audio_lesson(output: Path, manifest: Path, clip: Path) -> None:
    """Add the audio-only `lesson-d` (package files, catalog entry, manifest lesson)."""
    data = output / "packages" / AUDIO / "data"
    for sub in ("access", "subtitles"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    (data / "access" / f"{AUDIO}.m4a").write_bytes(clip.read_bytes())
    both = [(s, e, f"{zh}\n<lang en>{en}</lang>") for (s, e, zh), (_, _, en)
            in zip(AUDIO_ZH, AUDIO_EN, strict=True)]
    for key, cues in (("zh-Hans", AUDIO_ZH), ("en", AUDIO_EN), ("zh-Hans-en", both)):
        (data / "subtitles" / f"{AUDIO}.{key}.vtt").write_text(_vtt(cues), "utf-8")
    (data / "subtitles" / "transcript.json").write_text(json.dumps(
        [{"start": s, "end": e, "zh": zh, "en": en}
         for (s, e, zh), (_, _, en) in zip(AUDIO_ZH, AUDIO_EN, strict=True)],
        ensure_ascii=False), "utf-8")
    (data / "subtitles" / "chapters.json").write_text(json.dumps(
        [{"start": 1.0, "end": 3.0, "title": {"en": "Digital China", "zh": "数字中国"}},
         {"start": 3.0, "end": 5.0, "title": {"en": "Together", "zh": "共同推进"}}],
        ensure_ascii=False), "utf-8")
    (data / "provenance.json").write_text("{}", "utf-8")
    (output / "packages" / AUDIO / "bagit.txt").write_text(
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")

    def entry(rel: str) -> dict[str, object]:
        return {"path": rel, "bytes": (output / rel).stat().st_size,
                "sha256": sha256_file(output / rel)}

    base = f"packages/{AUDIO}/data/"
    catalog = json.loads((output / "catalog.json").read_text("utf-8"))
    catalog["lessons"].append({
        "id": AUDIO, "number": 4, "status": "archived", "package": f"packages/{AUDIO}",
        "title": {"en": "An audio-only lecture", "zh": "音频讲座"}, "released": "2025-05-01",
        "files": {"access": entry(base + f"access/{AUDIO}.m4a"),
                  "provenance": entry(base + "provenance.json"),
                  "transcript": entry(base + "subtitles/transcript.json"),
                  "chapters": entry(base + "subtitles/chapters.json"),
                  "tracks": {k: entry(base + f"subtitles/{AUDIO}.{k}.vtt")
                             for k in ("zh-Hans", "en", "zh-Hans-en")}},
        "source": {"url": "https://podcast.example/lecture.m4a", "kind": "original",
                   "captured": "2026-01-03T04:05:06Z"}})
    (output / "catalog.json").write_text(json.dumps(catalog, ensure_ascii=False), "utf-8")
    with manifest.open("a", encoding="utf-8") as handle:
        handle.write(AUDIO_MANIFEST)


def publish_with(output: Path, manifest: Path, base_url: str = "", force: bool = True,
                 embed_base_url: str = "") -> Any:
    ctx = Context(store=Store(output), manifest=load_manifest(manifest),
                  log=EventLog(progress=False), force=force,
                  options=replace(Options(), publish=PublishOptions(
                      base_url=base_url, embed_base_url=embed_base_url)))
    result = publish_site(ctx)
    assert result.status == "ok", result.error
    return result


@contextmanager
def served_site(output: Path, manifest: Path, ancestors: str = "*") -> Iterator[SiteServer]:
    """`archiver serve` on a free port, with the site published for exactly that address."""
    site = output / "site"
    site.mkdir(parents=True, exist_ok=True)
    with SiteServer(site, ancestors=ancestors) as server:
        publish_with(output, manifest, base_url=server.url)
        yield server


# -- Google's video rich results, as rules ------------------------------------------------
# developers.google.com/search/docs/appearance/structured-data/video: VideoObject requires
# name, thumbnailUrl, uploadDate; recommends description, duration, contentUrl, embedUrl,
# hasPart (key moments: Clip with name, startOffset, url; endOffset recommended), plus
# expires/interactionStatistic/regionsAllowed, which do not apply to an archive.
REQUIRED = ("name", "thumbnailUrl", "uploadDate")
RECOMMENDED = ("description", "duration", "contentUrl", "embedUrl", "hasPart")
ISO_DURATION = re.compile(r"P(?!$)(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                      r"(?:Z|[+-]\d{2}:\d{2}))?")


def _absolute(url: object) -> bool:
    parts = urlsplit(str(url))
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def rich_result_problems(obj: dict[str, Any], page_url: str) -> list[str]:
    """Every way `obj` falls short of Google's video rich results (empty: eligible)."""
    problems = [f"missing required {k}" for k in REQUIRED if not obj.get(k)]
    problems += [f"missing recommended {k}" for k in RECOMMENDED if not obj.get(k)]
    thumbs = obj.get("thumbnailUrl") or []
    for url in [thumbs] if isinstance(thumbs, str) else thumbs:
        if not _absolute(url):
            problems.append(f"thumbnailUrl not absolute: {url}")
    for key in ("contentUrl", "embedUrl", "url"):
        if key in obj and not _absolute(obj[key]):
            problems.append(f"{key} not absolute: {obj[key]}")
    if obj.get("duration") and not ISO_DURATION.fullmatch(str(obj["duration"])):
        problems.append(f"duration not ISO 8601: {obj['duration']}")
    if obj.get("uploadDate") and not ISO_DATE.fullmatch(str(obj["uploadDate"])):
        problems.append(f"uploadDate not ISO 8601: {obj['uploadDate']}")
    starts: set[float] = set()
    for i, clip in enumerate(obj.get("hasPart") or []):
        problems += [f"hasPart[{i}]: {p}" for p in _clip_problems(clip, page_url, starts)]
    return problems


def _clip_problems(clip: dict[str, Any], page_url: str, starts: set[float]) -> list[str]:
    out = []
    if clip.get("@type") != "Clip":
        out.append("not a Clip")
    for key in ("name", "startOffset", "url", "endOffset"):
        if key not in clip:
            out.append(f"no {key}")
    start, end = clip.get("startOffset"), clip.get("endOffset")
    if not isinstance(start, int | float) or not isinstance(end, int | float) or end <= start:
        out.append(f"offsets not numbers with end > start: {start}, {end}")
        return out
    if start in starts:
        out.append(f"two clips start at {start}")
    starts.add(start)
    url = str(clip.get("url"))
    if not (url.startswith(page_url + "#t=") and float(url.rsplit("=", 1)[1]) == start):
        out.append(f"url does not open the watch page at startOffset: {url}")
    return out


# -- lesson 13 as the series publishes it --------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
SERIES_MANIFEST = REPO / "manifests" / "digital-china.toml"
LESSON13 = "digital-china-13"


def build_lesson13_archive(root: Path, seconds: float = 40.0) -> tuple[Path, Path]:
    """An archive of lesson 13 with the series' real texts: the seed transcript (20 long
    bilingual paragraphs), title, synopsis, speaker, terms and footnotes from the repository's
    manifest, chapters found by the subtitles stage's own rule. The video is a generated clip of
    `seconds` (the paragraph times are scaled onto it) so the test stays fast; what the page
    has to lay out (the text) is the lesson's own."""
    from conftest import make_media

    from archiver.model import chapters_json, json_bytes, transcript_json
    from archiver.subtitles.chapters import chapters
    from archiver.subtitles.segment import zh_sentences
    from archiver.subtitles.transcript import parse_seed

    manifest = load_manifest(SERIES_MANIFEST)
    lesson = manifest.lesson(LESSON13)
    assert lesson.transcript is not None and lesson.duration_seconds
    scale = seconds / lesson.duration_seconds
    seed = parse_seed(lesson.transcript.read_text("utf-8"), lesson.transcript)
    starts = [p.start * scale for p in seed]
    ends = [*starts[1:], seconds]
    paragraphs = [replace(p, start=round(s, 3), end=round(e, 3))
                  for p, s, e in zip(seed, starts, ends, strict=True)]
    output = root / "output"
    data = output / "packages" / LESSON13 / "data"
    for sub in ("access", "subtitles"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    make_media(data / "access" / f"{LESSON13}.mp4", seconds=seconds, size="640x360")
    (data / "subtitles" / "transcript.json").write_bytes(json_bytes(transcript_json(paragraphs)))
    (data / "subtitles" / "chapters.json").write_bytes(
        json_bytes(chapters_json(chapters(paragraphs, [], seconds))))
    zh = [(p.start, min(p.start + 2.5, p.stop), zh_sentences(p.zh)[0]) for p in paragraphs]
    en = [(p.start, min(p.start + 2.5, p.stop), p.en.split(". ")[0]) for p in paragraphs]
    both = [(s, e, f"{a}\n<lang en>{b}</lang>") for (s, e, a), (_, _, b) in zip(zh, en,
                                                                                 strict=True)]
    for key, cues in (("zh-Hans", zh), ("en", en), ("zh-Hans-en", both)):
        (data / "subtitles" / f"{LESSON13}.{key}.vtt").write_text(_vtt(cues), "utf-8")
    (data / "provenance.json").write_text("{}", "utf-8")
    (output / "packages" / LESSON13 / "bagit.txt").write_text(
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    access = data / "access" / f"{LESSON13}.mp4"
    digest = "9f" * 32
    catalog = {"schema": "lesson-archiver/catalog/1", "generated": "2026-01-02T03:05:00Z",
               "lessons": [{
                   "id": LESSON13, "number": 13, "status": "archived",
                   "package": f"packages/{LESSON13}",
                   "files": {"original": {"path": "x", "bytes": access.stat().st_size,
                                          "sha256": sha256_file(access)}},
                   "source": {"url": lesson.sources[0].url, "kind": "mirror",
                              "captured": "2026-01-02T03:04:09Z",
                              "tls": {"outcome": "pinned",
                                      "problems": ["untrusted-issuer", "expired"],
                                      "sha256_fingerprint": digest}}}]}
    (output / "catalog.json").write_text(json.dumps(catalog, ensure_ascii=False), "utf-8")
    return output, SERIES_MANIFEST
