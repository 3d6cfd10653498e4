"""Self-tests of the media matrix: every clip is what its record says, as ffprobe reads it,
and its speech is heard where the truth puts it.

The corpus exists so that other tests can say "every variant is packaged" and "the first cue
is within 0.1 s of its transcript time"; these tests make sure a variant that silently came
out as something else (ffmpeg fell back to another codec, a start offset was lost, the speech
moved) cannot make those tests meaningless.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clients import bagit_python_validate, mkv_extract_tracks, mkv_tracks

from archiver.batch import run_stages
from archiver.demo.corpus.media import (
    BURSTS,
    VARIANTS,
    BuiltVariant,
    MediaVariant,
    audio_onsets,
    build_media,
    encoders,
)
from archiver.demo.corpus.pages import CDN
from archiver.demo.corpus.site import Corpus, CorpusSite
from archiver.demo.manifest import render_manifest
from archiver.demo.server import Resource
from archiver.log import EventLog
from archiver.manifest import load_manifest
from archiver.package.probe import streamhashes
from archiver.pipeline import LESSON_CHAIN, Context
from archiver.publish.command import publish_site
from archiver.store import Store
from archiver.subtitles.transcript import read_transcript

pytestmark = pytest.mark.slow  # the 24-variant media matrix through fetch, subtitles and package

IDS = [v.id for v in VARIANTS]
# speech may be heard later than placed by the codec's delay when the container keeps no
# edit list (AAC in TS/FLV/MKV: 1024 samples; MP3: 1105): at most 50 ms at 22.05 kHz here
HEARD_TOLERANCE = 0.06


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of",
                          "json", str(path)], capture_output=True, text=True, check=True).stdout
    data: dict[str, Any] = json.loads(out)
    return data


def _stream(info: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((s for s in info["streams"] if s["codec_type"] == kind), None)


def test_every_variant_was_built(corpus: Corpus) -> None:
    assert corpus.media.missing == {}, "this Debian ffmpeg has every encoder of the matrix"
    assert sorted(corpus.media.variants) == sorted(IDS)
    assert all(re.fullmatch(r"[a-z0-9-]+", vid) for vid in IDS), "usable as lesson ids"
    rates = {v.sample_rate for v in VARIANTS if v.audio == "aac"}
    assert rates >= {8000, 11025, 16000, 22050, 32000, 44100, 48000}
    assert {v.channels for v in VARIANTS if v.has_audio} == {1, 2}
    assert {v.video for v in VARIANTS} >= {"h264", "hevc", "vp8", "vp9", "av1", "mpeg2video",
                                           None}
    assert {v.audio for v in VARIANTS} >= {"aac", "mp3", "opus", "vorbis", None}


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_ffprobe_confirms_the_record(corpus: Corpus, variant: MediaVariant) -> None:
    info = probe(corpus.media[variant.id].path)
    assert variant.format in info["format"]["format_name"].split(",")
    video, audio = _stream(info, "video"), _stream(info, "audio")
    assert (video or {}).get("codec_name") == variant.video
    assert (audio or {}).get("codec_name") == variant.audio
    if audio is not None:
        assert int(audio["sample_rate"]) == variant.sample_rate
        assert int(audio["channels"]) == variant.channels
    start = float(info["format"].get("start_time", 0.0))
    assert abs(start - variant.start) < 0.1, f"container starts at {start}"
    duration = float(info["format"]["duration"])
    assert 4.9 < duration < 5.2
    for stream in info["streams"]:
        has_duration = "duration" in stream or "DURATION" in stream.get("tags", {})
        assert has_duration == variant.stream_duration, stream["codec_type"]


def _frame_durations(path: Path) -> set[float]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts_time", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    times = sorted(float(t) for t in out.split() if t.strip() not in ("", "N/A"))
    return {round(b - a, 3) for a, b in itertools.pairwise(times)}


def test_variable_frame_rate_is_variable(corpus: Corpus) -> None:
    vfr = [v for v in VARIANTS if v.vfr]
    assert vfr
    for variant in vfr:
        assert len(_frame_durations(corpus.media[variant.id].path)) >= 2
    constant = corpus.media["mp4-h264-aac-44100-stereo"].path
    assert _frame_durations(constant) == {0.04}


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.has_audio],
                         ids=[v.id for v in VARIANTS if v.has_audio])
def test_speech_is_heard_where_the_truth_puts_it(corpus: Corpus, variant: MediaVariant) -> None:
    built = corpus.media[variant.id]
    assert built.bursts == BURSTS
    heard = audio_onsets(built.path)
    assert len(heard) == len(BURSTS), heard
    for placed, found in zip(BURSTS, heard, strict=True):
        assert -0.01 <= found - placed <= HEARD_TOLERANCE, heard


def test_silent_variant_has_no_truth(corpus: Corpus) -> None:
    silent = corpus.media["mp4-h264-noaudio"]
    assert silent.bursts == ()
    with pytest.raises(subprocess.CalledProcessError):
        audio_onsets(silent.path)


def test_transcript_reads_as_two_paragraphs_at_the_bursts(corpus: Corpus) -> None:
    built = corpus.media["mp4-h264-aac-16000-mono"]
    fmt, paragraphs = read_transcript(built.transcript)
    assert fmt == "seed"
    assert [p.start for p in paragraphs] == list(BURSTS)
    assert all(p.en and p.zh for p in paragraphs)


def test_build_is_cached_and_fingerprinted(tmp_path: Path) -> None:
    one = [v for v in VARIANTS if v.id == "mp3-44100-mono"]
    first = build_media(tmp_path, one)
    assert first.built and list(first.variants) == ["mp3-44100-mono"]
    again = build_media(tmp_path, one)
    assert not again.built
    assert again["mp3-44100-mono"].path.stat().st_mtime_ns == \
        first["mp3-44100-mono"].path.stat().st_mtime_ns
    other = [v for v in VARIANTS if v.id == "opus-48000-mono"]
    assert build_media(tmp_path, other).built


def test_missing_encoder_is_reported_not_dropped(tmp_path: Path) -> None:
    fake = MediaVariant("mp4-nonesuch", "mp4", "mp4", "h264", "aac", 44100, 2,
                        encode=("-c:v", "libnonesuch", "-c:a", "aac", "-f", "mp4"))
    built = build_media(tmp_path, [fake])
    assert built.missing == {"mp4-nonesuch": "this ffmpeg has no libnonesuch encoder"}
    assert "libx264" in encoders() and "libsvtav1" in encoders()


# ---- the media matrix through fetch, subtitles and package (issue 10, items 5-7) ----------

CUE_LIMIT = 0.1  # the first cue, read back from the master, within this of its transcript time
# the first test to use `matrix` runs 24 lessons through three stages: ~4 min on 2 busy cores
MATRIX_TIMEOUT = pytest.mark.timeout(1500)


def _first_pts(path: Path) -> dict[int, float]:
    """The earliest packet timestamp of every stream (priming packets included)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "packet=stream_index,pts_time", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    firsts: dict[int, float] = {}
    for line in out.splitlines():
        fields = line.split(",")
        if len(fields) >= 2 and fields[0].isdigit() and fields[1] not in ("", "N/A"):
            index, at = int(fields[0]), float(fields[1])
            firsts[index] = min(at, firsts.get(index, at))
    return firsts


def _av_order(info: dict[str, Any]) -> list[dict[str, Any]]:
    streams = [s for s in info["streams"] if s["codec_type"] in ("video", "audio")
               and not (s.get("disposition") or {}).get("attached_pic")]
    return sorted(streams, key=lambda s: (s["codec_type"] != "video", s["index"]))


def presentation_shift(master: Path, original: Path) -> float:
    """How much later the master shows the original's content than a player of the original
    does (0 = the original container's start): a Matroska file has no edit list, so the
    muxer moves AAC's priming packets, and every stream with them, to >= 0."""
    mine, theirs = probe(original), probe(master)
    orig_first, out_first = _first_pts(original), _first_pts(master)
    origin = float(mine["format"].get("start_time") or 0.0)
    o, t = _av_order(mine)[0], _av_order(theirs)[0]
    return out_first[t["index"]] - (orig_first[o["index"]] - origin)


def _cue_starts(text: str) -> list[float]:
    starts = []
    for line in text.splitlines():
        if "-->" in line:
            h, m, s = ["0", *line.split("-->")[0].strip().split(":")][-3:]
            starts.append(int(h) * 3600 + int(m) * 60 + float(s))
    return starts


def first_cue_in_master(master: Path) -> float:
    """The first cue of the master's first subtitle track as a Matroska user reads it:
    mkvextract (S_TEXT/WEBVTT), or ffmpeg where mkvextract refuses (ffmpeg's D_WEBVTT)."""
    tracks = [t for t in mkv_tracks(master) if t.type == "subtitles"]
    assert tracks, f"{master.name} has no subtitle track"
    texts = mkv_extract_tracks(master, [tracks[0].id])
    text = texts.get(tracks[0].id)
    if not text:
        text = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(master), "-map",
                               "0:s:0", "-f", "webvtt", "-"], capture_output=True, text=True,
                              check=True).stdout
    starts = _cue_starts(text)
    assert starts, f"no cue read back from {master.name}"
    return starts[0]


def assert_holds_every_stream(master: Path, original: Path) -> None:
    """Every original video/audio stream is in the master, bit for bit: its packets, or where
    the framing must change (MPEG-TS's Annex B/ADTS, HEVC parameter sets that mkvmerge moves
    out of band) its decoded frames."""
    packets, theirs = streamhashes(master), streamhashes(original)
    assert len(packets) == len(theirs), (packets, theirs)
    differ = [i for i, (a, b) in enumerate(zip(packets, theirs, strict=True)) if a != b]
    if differ:
        decoded, their_decoded = (streamhashes(master, decode=True),
                                  streamhashes(original, decode=True))
        assert [decoded[i] for i in differ] == [their_decoded[i] for i in differ], differ


@pytest.fixture(scope="module")
def matrix(corpus_site: CorpusSite, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Store, dict[str, BuiltVariant]]]:
    """Every variant archived as a lesson of its own (fetched over HTTPS from the corpus CDN,
    subtitled from its transcript, packaged), once for the module, in-process."""
    work = tmp_path_factory.mktemp("matrix")
    tls = f"ca:{corpus_site.certs.ca}"
    built = corpus_site.corpus.media.variants
    lessons = []
    for vid, clip in built.items():
        path = f"/matrix/{clip.path.name}"
        corpus_site.server.sites[CDN][path] = Resource(clip.path, "application/octet-stream")
        lessons.append({"id": vid, "title": {"en": vid}, "transcript": str(clip.transcript),
                        "sources": [{"url": corpus_site.server.site_url(CDN, path),
                                     "kind": "original", "tls": tls}]})
    manifest_path = work / "manifest.toml"
    manifest_path.write_text(render_manifest(lessons, "matrix"), "utf-8")
    manifest = load_manifest(manifest_path)
    store = Store(work / "output")
    table = {key.lower(): address for key, address in corpus_site.resolve_map().items()}
    original = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return original(table.get(f"{host}:{port}".lower(), host), port, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        ctx = Context(store=store, manifest=manifest, log=EventLog(stream=io.StringIO()),
                      jobs=2)
        run_stages(list(manifest.lessons), LESSON_CHAIN, ctx)
    yield store, built


def _package_of(store: Store, vid: str) -> Path:
    result = store.load_result(vid, "package")
    assert result is not None, f"{vid}: not packaged"
    assert result.status == "ok", f"{vid}: {result.error}"
    return store.package_dir(vid)


@MATRIX_TIMEOUT
@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_every_variant_is_archived_and_packaged(matrix: tuple[Store, dict[str, BuiltVariant]],
                                                variant: MediaVariant) -> None:
    """Archived and packaged, the bag valid, every original stream in the master bit for bit
    (decoded frames for MPEG-TS, whose framing differs), and the first cue, read back from the
    master, within 0.1 s of its transcript time on the master's presentation timeline and of
    the speech heard in the master."""
    store, built = matrix
    bag_dir = _package_of(store, variant.id)
    verdict = bagit_python_validate(bag_dir)
    assert verdict.ok, verdict.errors
    audio_only = not variant.has_video
    masters = sorted((bag_dir / "data" / "master").iterdir())
    accesses = sorted((bag_dir / "data" / "access").iterdir())
    assert [p.suffix for p in masters] == [".mka" if audio_only else ".mkv"]
    assert [p.suffix for p in accesses] == [".m4a" if audio_only else ".mp4"]
    master, original = masters[0], built[variant.id].path
    assert_holds_every_stream(master, original)
    assert [s["codec_name"] for s in _av_order(probe(master))] == \
        [s["codec_name"] for s in _av_order(probe(original))]
    truth = BURSTS[0]
    cue = first_cue_in_master(master)
    shift = presentation_shift(master, original)
    assert abs(cue - shift - truth) <= CUE_LIMIT, (cue, shift)
    if variant.has_audio:
        heard = audio_onsets(master)
        assert heard and abs(cue - heard[0]) <= CUE_LIMIT, (cue, heard)


@MATRIX_TIMEOUT
def test_access_copies_play_in_browsers_and_say_how_they_were_made(
        matrix: tuple[Store, dict[str, BuiltVariant]]) -> None:
    """An access copy holds H.264 video and AAC (or MP3 in MP4) audio only; it copies the
    original's streams where those are such, else it is a transcode whose command the
    provenance records."""
    store, built = matrix
    seen = set()
    for vid, clip in built.items():
        bag_dir = _package_of(store, vid)
        access = next((bag_dir / "data" / "access").iterdir())
        codecs = {s["codec_type"]: s["codec_name"] for s in _av_order(probe(access))}
        assert codecs.get("video", "h264") == "h264", vid
        assert codecs.get("audio", "aac") in ({"aac"} if access.suffix == ".m4a"
                                              else {"aac", "mp3"}), vid
        prov = json.loads((bag_dir / "data" / "provenance.json").read_text("utf-8"))
        record = prov["access"]
        assert record["path"] == f"access/{access.name}"
        original = {s["codec_type"]: s["codec_name"] for s in _av_order(probe(clip.path))}
        transcoded = {k for k in original if original[k] != codecs.get(k)}
        assert set(record["transcoded"]) == transcoded, vid
        assert record["streams"] == ("transcoded" if transcoded else "copied")
        command = record["command"]
        assert command[0] == "ffmpeg"
        if "video" in transcoded:
            assert "libx264" in command
        if "audio" in transcoded:
            assert command[command.index("-c:a") + 1] == "aac"
        if not transcoded:
            assert "libx264" not in command
        seen.add(record["streams"])
        kinds = [n["eventDetailInformation"]["eventDetail"] for n in prov["@graph"]
                 if n.get("eventType") == "normalization"]
        assert any(record["description"] in k for k in kinds), kinds
    assert seen == {"copied", "transcoded"}


@MATRIX_TIMEOUT
def test_audio_only_packages_publish_as_video_with_poster_and_tracks(
        matrix: tuple[Store, dict[str, BuiltVariant]]) -> None:
    """publish takes the MKA/M4A packages as they are: each audio-only lesson's page plays its
    M4A in a <video> with the waveform poster and the three subtitle tracks (an <audio>
    element renders no cues), and the site catalog names the M4A as audio."""
    store, built = matrix
    manifest = load_manifest(store.root.parent / "manifest.toml")
    ctx = Context(store=store, manifest=manifest, log=EventLog(stream=io.StringIO()), jobs=2)
    result = publish_site(ctx)
    assert result.status == "ok", result.error
    site = store.root / "site"
    catalog = json.loads((site / "catalog.json").read_text("utf-8"))
    entries = {e["id"]: e for e in catalog["lessons"]}
    audio_only = [vid for vid, clip in built.items() if not clip.variant.has_video]
    assert len(audio_only) == 3
    for vid in audio_only:
        page = (site / f"{vid}.html").read_text("utf-8")
        video = re.search(r"<video\b[^>]*>(.*?)</video>", page, re.S)
        assert video is not None and "<audio" not in page, vid
        assert 'poster="media/' in video.group(0) and f"media/{vid}/{vid}.m4a" in video.group(0)
        assert len(re.findall(r"<track\b", video.group(1))) == 3, vid
        assert (site / "media" / vid / f"{vid}.m4a").is_file()
        assert (site / "media" / vid / "poster.jpg").is_file()
        assert entries[vid]["audio_only"] is True, entries[vid]
