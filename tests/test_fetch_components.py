"""Never lose the sound: separate video and audio are both archived as served, then merged.

On the corpus (ffmpeg's own HLS muxer with an EXT-X-MEDIA audio rendition, its DASH muxer
with two adaptation sets), through the real fetch stage: each component's original equals
its segments concatenated in order, the merge holds both streams and is recorded with its
command, and a source that truly has no audio is recorded as `audio: none`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import bagit
import pytest
from test_fetch_support import capture, context, policy
from warcio.archiveiterator import ArchiveIterator

from archiver.demo.corpus.pages import HOSTS
from archiver.demo.corpus.site import CorpusSite
from archiver.demo.server import MediaServer, Resource
from archiver.errors import ChecksumMismatch
from archiver.fetch.stage import run
from archiver.model import Bilingual, Lesson, Source
from archiver.package import stage as package

pytestmark = pytest.mark.slow


def _lesson(source: Source) -> Lesson:
    return Lesson(id="l1", number=1, title=Bilingual("t", "题"), sources=(source,))


def _streams(path: Path) -> list[str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type",
                          "-of", "json", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return sorted(s["codec_type"] for s in json.loads(out)["streams"])


def _responses(warc: Path) -> dict[str, bytes]:
    """Target URI -> payload of every response record of a WARC."""
    found: dict[str, bytes] = {}
    with open(warc, "rb") as handle:
        for rec in ArchiveIterator(handle):
            if rec.rec_type == "response":
                found[str(rec.rec_headers.get_header("WARC-Target-URI"))] = \
                    rec.content_stream().read()
    return found


def _corpus_source(site: CorpusSite, url: str) -> Source:
    ca = policy(f"ca:{site.certs.ca}")
    return Source(url=url, tls=ca, tls_hosts=tuple((h, ca) for h in HOSTS),
                  resolve=tuple(f"{k}:{v}" for k, v in site.resolve_map().items()))


@pytest.mark.parametrize("shape_id", ["hls-master-split-audio", "dash-mpd"])
def test_separate_audio_is_archived_and_merged(corpus_site: CorpusSite, shape_id: str,
                                               tmp_path: Path) -> None:
    shape = corpus_site.shapes[shape_id]
    ctx, _log = context(tmp_path, [])
    result = run(_lesson(_corpus_source(corpus_site, shape.url)), ctx)
    assert result.status == "ok", result.error
    d = result.details
    assert d is not None and d.audio == "separate"
    folder = ctx.store.stage_dir("l1", "fetch")
    by_role = {c["role"]: c for c in d.components}
    assert set(by_role) == {"video", "audio"}
    for role, component in by_role.items():
        served = b"".join(corpus_site.fetch(u).body for u in shape.segments[role])
        kept = (folder / Path(component["path"]).name).read_bytes()
        assert kept == served  # the original is the segments as served, in order
        assert component["sha256"] == hashlib.sha256(served).hexdigest()
        assert component["sha512"] == hashlib.sha512(served).hexdigest()
        assert component["bytes"] == len(served)
        assert _streams(folder / Path(component["path"]).name) == [role]
    assert d.media == "fetch/merged.mp4" and d.derivative is not None
    assert d.derivative["command"][:1] == ["ffmpeg"] and "copy" in d.derivative["command"]
    assert d.derivative["inputs"] == [by_role["video"]["path"], by_role["audio"]["path"]]
    merged = folder / "merged.mp4"
    assert _streams(merged) == ["audio", "video"]
    assert d.sha256 == hashlib.sha256(merged.read_bytes()).hexdigest()
    record = capture(ctx, "l1")
    assert [c["url"] for c in record["components"]] == [c["url"] for c in d.components]
    # the WARC replays each component as served: every segment URL of both roles is a full
    # response record whose payload is exactly what the server sent
    assert d.warc_media is not None
    responses = _responses(ctx.store.lesson_dir("l1") / d.warc_media)
    for role in ("video", "audio"):
        for url in shape.segments[role]:
            assert responses.get(url) == corpus_site.fetch(url).body, (role, url)
    assert record["derivatives"][0]["command"] == d.derivative["command"]
    assert record["media"]["path"] == "fetch/merged.mp4"
    requested = {e["requested_url"] for e in record["exchanges"]}
    assert set(shape.segments["video"]) | set(shape.segments["audio"]) <= requested


def test_a_source_without_audio_is_recorded_as_none(corpus_site: CorpusSite, tmp_path: Path,
                                                    serve: Callable[..., MediaServer]) -> None:
    silent = corpus_site.corpus.media["mp4-h264-noaudio"].path
    server = serve({"/silent.mp4": Resource(silent, "video/mp4")})
    ctx, _log = context(tmp_path, [])
    result = run(_lesson(Source(url=server.url("/silent.mp4"))), ctx)
    assert result.status == "ok" and result.details is not None
    assert result.details.audio == "none"
    assert any(w.startswith("audio: none") for w in result.warnings)
    state = json.loads((ctx.store.lesson_dir("l1") / "state" / "fetch.json").read_text())
    assert state["details"]["audio"] == "none"


def test_muxed_hls_keeps_its_sound(corpus_site: CorpusSite, tmp_path: Path) -> None:
    shape = corpus_site.shapes["hls-media"]
    ctx, _log = context(tmp_path, [])
    result = run(_lesson(_corpus_source(corpus_site, shape.url)), ctx)
    assert result.status == "ok" and result.details is not None
    assert result.details.audio == "muxed" and result.details.components == []


def test_the_package_holds_both_components_and_masters_the_merge(corpus_site: CorpusSite,
                                                                 tmp_path: Path) -> None:
    """The later stages use the derivative; the bag keeps each component as served."""
    shape = corpus_site.shapes["hls-master-split-audio"]
    item = _lesson(_corpus_source(corpus_site, shape.url))
    ctx, _log = context(tmp_path, [item])
    fetched = run(item, ctx)
    assert fetched.status == "ok" and fetched.details is not None
    packed = package.run(item, ctx)
    assert packed.status == "ok", packed.error
    bag = ctx.store.package_dir("l1")
    bagit.Bag(str(bag)).validate()
    originals = sorted(p.name for p in (bag / "data" / "original").iterdir())
    assert originals == sorted([Path(c["path"]).name for c in fetched.details.components]
                               + ["merged.mp4"])
    (master,) = (bag / "data" / "master").glob("*.mk[av]")
    assert {"audio", "video"} <= set(_streams(master))


def test_a_split_source_that_misses_its_pin_publishes_nothing(corpus_site: CorpusSite,
                                                               tmp_path: Path) -> None:
    """A pin no served component has fails the lesson before any component is published:
    the earlier archived copy (here: a first run's) is left exactly as it was."""
    shape = corpus_site.shapes["hls-master-split-audio"]
    source = _corpus_source(corpus_site, shape.url)
    ctx, _log = context(tmp_path, [])
    assert run(_lesson(source), ctx).status == "ok"
    folder = ctx.store.stage_dir("l1", "fetch")
    before = {p.name: p.read_bytes() for p in folder.glob("original.*")}
    assert len(before) == 2  # original.video.* and original.audio.*
    pinned = dataclasses.replace(_lesson(source), sha256="0" * 64)
    with pytest.raises(ChecksumMismatch, match="no served component matches the manifest pin"):
        run(pinned, dataclasses.replace(ctx, force=True))
    assert {p.name: p.read_bytes() for p in folder.glob("original.*")} == before
