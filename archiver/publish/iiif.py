"""IIIF Presentation 3: `iiif/<id>/manifest.json` per lesson and `iiif/collection.json`.

Libraries and archives exchange and embed audio-visual material as IIIF (Universal Viewer,
Clover, Samvera Ramp, Aviary). Built with `iiif-prezi3`, the IIIF community's Python builder;
it types the documents but is not a strict validator, so the tests check the output against
IIIF's own Presentation 3 JSON Schema (tests/iiif/).

One Canvas per lesson with its `duration` (and `width`/`height` for video; a Sound canvas has
none), a `painting` annotation with the access copy, the three WebVTT tracks as `supplementing`
annotations (`language` from the track table, so the bilingual one is `zh-Hans-x-en`), the
chapters as `structures` Ranges of media fragments (`canvas#t=start,end`), labels and summary
in Chinese and English, `metadata` (speaker, release, source, TLS at capture), `seeAlso` for the
provenance, the bag's records and the catalog, `rendering` for the transcript, and `provider` /
`requiredStatement` from the manifest's `[site]` and series. Every id is absolute (IIIF
requires HTTP(S) URIs): `SiteConfig.url`.
"""

from __future__ import annotations

from typing import Any

import iiif_prezi3 as prezi

from archiver.model import Bilingual, track
from archiver.publish.published import Published, text_of, title_of
from archiver.publish.siteconfig import SiteConfig

# language-map keys (BCP 47) for texts in Chinese and in English
ZH = "zh-Hans"
EN = "en"
COLLECTION = "iiif/collection.json"


def manifest_path(lesson_id: str) -> str:
    """Where a lesson's IIIF manifest lives in the site."""
    return f"iiif/{lesson_id}/manifest.json"


def lang_map(text: Bilingual, fallback: str = "") -> dict[str, list[str]]:
    """A IIIF language map: Chinese and English when known, else `none`."""
    out = {lang: [value] for lang, value in ((ZH, text.zh), (EN, text.en)) if value}
    return out or {"none": [fallback or "untitled"]}


def _both(en: str, zh: str) -> dict[str, list[str]]:
    return {EN: [en], ZH: [zh]}


def _pair(label_en: str, label_zh: str, value: str) -> prezi.KeyValueString:
    return prezi.KeyValueString(label=_both(label_en, label_zh), value={"none": [value]})


def _metadata(pub: Published, tls: str) -> list[prezi.KeyValueString]:
    lesson = pub.lesson
    source = lesson.source
    rows = [_pair("Lesson", "课次", str(lesson.number))]
    if text_of(lesson.speaker):
        rows.append(prezi.KeyValueString(label=_both("Speaker", "主讲"),
                                         value=lang_map(lesson.speaker)))
    rows.append(_pair("Released", "发布日期", lesson.released or "unknown"))
    if source.get("url"):
        rows.append(_pair("Source", "来源", f"{source['url']} ({source.get('kind', 'unknown')})"))
    captured = source.get("captured") or lesson.capture.get("ended")
    if captured:
        rows.append(_pair("Captured", "采集时间", str(captured)))
    rows.append(_pair("TLS at capture", "采集时的 TLS", tls))
    return rows


def _linked(cfg: SiteConfig, pub: Published, key: str, kind: str, fmt: str, en: str,
            zh: str) -> dict[str, Any] | None:
    if key not in pub.urls:
        return None
    return {"id": cfg.url(pub.urls[key]), "type": kind, "format": fmt, "label": _both(en, zh)}


def _see_also(pub: Published, cfg: SiteConfig) -> list[dict[str, Any]]:
    items = [
        _linked(cfg, pub, "provenance", "Dataset", "application/ld+json",
                "Provenance (PROV-O and PREMIS, JSON-LD)", "来源记录"),
        _linked(cfg, pub, "capture", "Dataset", "application/json", "Capture record",
                "采集记录"),
        _linked(cfg, pub, "bag-info", "Text", "text/plain", "BagIt package information",
                "BagIt 包信息"),
        _linked(cfg, pub, "manifest", "Text", "text/plain", "BagIt package checksums",
                "BagIt 包校验和"),
        {"id": cfg.url("catalog.json"), "type": "Dataset", "format": "application/json",
         "label": _both("Catalog of the series", "系列目录")},
    ]
    return [item for item in items if item is not None]


def _rendering(pub: Published, cfg: SiteConfig) -> list[dict[str, Any]]:
    """Downloads. Each label also names the file under `none`: Ramp (the site's viewer) lists
    renderings as files and reads a multi-language label's file name from `none`."""
    items = [_linked(cfg, pub, "transcript", "Dataset", "application/json",
                     "Transcript (Chinese and English, timed paragraphs)", "文字稿")]
    items += [{"id": cfg.url(pub.urls[key]), "type": "Text", "format": "text/vtt",
               "language": [track(key).bcp47],
               "label": {EN: [f"Subtitles: {track(key).label}"],
                         ZH: [f"字幕:{track(key).label}"]}}
              for key in pub.lesson.tracks]
    out = [item for item in items if item is not None]
    for item in out:
        item["label"]["none"] = [item["id"].rsplit("/", 1)[-1]]
    return out


def _provider(cfg: SiteConfig) -> prezi.Provider:
    return prezi.Provider(
        id=cfg.provider_url, type="Agent", label=lang_map(cfg.provider_name),
        homepage=[prezi.Homepage(id=cfg.provider_url, type="Text",
                                 label=lang_map(cfg.provider_name), format="text/html")])


def _required_statement(cfg: SiteConfig) -> prezi.KeyValueString:
    if cfg.attribution is not None:
        value = lang_map(cfg.attribution)
    else:
        value = {lang: [f"{prefix}{name}"] for lang, prefix, name in (
            (EN, "Originally published by ", cfg.publisher.en),
            (ZH, "原发布者:", cfg.publisher.zh)) if name} or {"none": ["unknown"]}
    return prezi.KeyValueString(label=_both("Attribution", "署名"), value=value)


def _canvas(pub: Published, cfg: SiteConfig, base: str) -> prezi.Canvas:
    canvas_id = f"{base}canvas/1"
    video = not pub.audio_only
    size = {"width": pub.width, "height": pub.height} if video else {}
    body = prezi.AnnotationBody(id=cfg.url(pub.urls["video"]),
                                type="Video" if video else "Sound",
                                format=pub.info.mime_type, duration=pub.duration, **size)
    painting = prezi.AnnotationPage(id=f"{base}page/painting", items=[prezi.Annotation(
        id=f"{base}annotation/painting", motivation="painting", body=body, target=canvas_id)])
    tracks = [prezi.Annotation(
        id=f"{base}annotation/subtitles-{key}", motivation="supplementing", target=canvas_id,
        body=prezi.AnnotationBody(id=cfg.url(pub.urls[key]), type="Text", format="text/vtt",
                                  language=track(key).bcp47,
                                  label={"none": [track(key).label]}))
        for key in pub.lesson.tracks]
    canvas = prezi.Canvas(id=canvas_id, label=lang_map(pub.lesson.title, title_of(pub.lesson)),
                          duration=pub.duration, items=[painting], **size)
    if tracks:
        canvas.annotations = [prezi.AnnotationPage(id=f"{base}page/subtitles", items=tracks)]
    return canvas


def _structures(pub: Published, base: str, canvas_id: str) -> list[prezi.Range]:
    if not pub.lesson.chapters:
        return []
    chapters = [prezi.Range(
        id=f"{base}range/{i + 1}", label=lang_map(ch.title, f"Chapter {i + 1}"),
        items=[prezi.CanvasRef(id=f"{canvas_id}#t={ch.start:g},{min(ch.end, pub.duration):g}",
                               type="Canvas")])
        for i, ch in enumerate(pub.lesson.chapters)]
    return [prezi.Range(id=f"{base}range/chapters", label=_both("Chapters", "章节"),
                        items=chapters)]


def lesson_manifest(pub: Published, cfg: SiteConfig, tls: str) -> dict[str, Any]:
    """The IIIF Presentation 3 manifest of one lesson, as a JSON-ready dict."""
    lesson = pub.lesson
    base = cfg.url(f"iiif/{lesson.id}/")
    canvas = _canvas(pub, cfg, base)
    summary = lesson.synopsis or Bilingual(
        en=f"Lesson {lesson.number}, with Chinese, English and bilingual subtitles.",
        zh=f"第{lesson.number}课,附中文、英文及中英双语字幕。")
    poster = cfg.url(pub.urls["poster"])
    manifest = prezi.Manifest(
        id=cfg.url(manifest_path(lesson.id)), label=lang_map(lesson.title, title_of(lesson)),
        summary=lang_map(summary), metadata=_metadata(pub, tls),
        requiredStatement=_required_statement(cfg), provider=[_provider(cfg)],
        homepage=[prezi.Homepage(id=cfg.url(pub.urls["page"]), type="Text",
                                 label=lang_map(lesson.title, title_of(lesson)),
                                 format="text/html")],
        thumbnail=[{"id": poster, "type": "Image", "format": "image/jpeg",
                    "width": pub.width, "height": pub.height}],
        seeAlso=_see_also(pub, cfg), rendering=_rendering(pub, cfg),
        partOf=[{"id": cfg.url(COLLECTION), "type": "Collection"}],
        items=[canvas])
    structures = _structures(pub, base, canvas.id)
    if structures:
        manifest.structures = structures
    return to_json(manifest)


def collection(series_title: Bilingual, published: list[Published],
               cfg: SiteConfig) -> dict[str, Any]:
    """The series as a IIIF Collection of the lesson manifests."""
    items = [prezi.ManifestRef(
        id=cfg.url(manifest_path(pub.lesson.id)), type="Manifest",
        label=lang_map(pub.lesson.title, title_of(pub.lesson)),
        thumbnail=[{"id": cfg.url(pub.urls["poster"]), "type": "Image",
                    "format": "image/jpeg", "width": pub.width, "height": pub.height}])
        for pub in published]
    coll = prezi.Collection(id=cfg.url(COLLECTION), label=lang_map(series_title, "Lessons"),
                            requiredStatement=_required_statement(cfg),
                            provider=[_provider(cfg)],
                            homepage=[prezi.Homepage(id=cfg.url("index.html"), type="Text",
                                                     label=lang_map(series_title, "Lessons"),
                                                     format="text/html")],
                            items=items)
    return to_json(coll)


def to_json(resource: Any) -> dict[str, Any]:
    """The JSON-LD form iiif-prezi3 writes (its own serialisation: context first, no nulls)."""
    import json

    data: dict[str, Any] = json.loads(resource.jsonld())
    return data
