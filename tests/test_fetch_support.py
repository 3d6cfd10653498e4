"""Helpers shared by the fetch tests (no tests here): lessons, contexts, pages."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from archiver.demo.server import Resource
from archiver.log import EventLog
from archiver.model import Bilingual, Lesson, Manifest, Series, Source, TlsPolicy
from archiver.options import FetchOptions, Options
from archiver.pipeline import Context
from archiver.store import Store

FAST = {"retries": 3, "timeout": 5.0, "backoff": 0.01, "backoff_max": 0.05,
        "max_bytes": 64 << 20}


MB = 1 << 20


@functools.cache
def real_mp4_head() -> bytes:
    """A complete, tiny MP4 (1 s of 64x36 video and audio, moov first), made once by ffmpeg."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "head.mp4"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
                        "-f", "lavfi", "-i", "testsrc=size=64x36:rate=5:duration=1",
                        "-f", "lavfi", "-i", "sine=duration=1", "-c:v", "libx264",
                        "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(out)],
                       check=True)
        return out.read_bytes()


def fake_mp4(size: int, seed: int = 1) -> bytes:
    """A real tiny MP4 followed by noise up to `size` bytes: cheap large media in which
    ffprobe still finds the audio and video streams the fetch stage requires."""
    head = real_mp4_head()
    assert size >= len(head), f"fake_mp4 needs at least {len(head)} bytes"
    return head + hashlib.shake_256(seed.to_bytes(4, "big")).digest(size - len(head))


def policy(spec: str) -> TlsPolicy:
    """A TlsPolicy from its manifest string."""
    if spec.startswith("ca:"):
        return TlsPolicy("ca", ca_bundle=Path(spec[3:]))
    if spec.startswith("pin:sha256:"):
        return TlsPolicy("pin", pin_sha256=spec[len("pin:sha256:"):])
    assert spec in ("verify", "insecure")
    return TlsPolicy(spec)  # type: ignore[arg-type]


def lesson(lesson_id: str, *sources: tuple[str, str], sha256: str | None = None) -> Lesson:
    return Lesson(id=lesson_id, number=1, title=Bilingual("t", "题"), sha256=sha256,
                  sources=tuple(Source(url=url, tls=policy(tls)) for url, tls in sources))


def context(root: Path, lessons: list[Lesson], **options: Any) -> tuple[Context, io.StringIO]:
    log_stream = io.StringIO()
    manifest = Manifest(path=root / "m.toml", series=Series("s", Bilingual("s"), Bilingual("p")),
                        lessons=tuple(lessons))
    ctx = Context(store=Store(root / "out"), manifest=manifest,
                  log=EventLog(json_lines=True, stream=log_stream, progress=False),
                  options=Options(fetch=FetchOptions(**{**FAST, **options})))
    return ctx, log_stream


def page(media: str, extra: str = "") -> bytes:
    return (f"<!doctype html><html><head><title>Lesson</title></head><body>"
            f"<video controls poster=\"poster.jpg\"><source src=\"{media}\" type=\"video/mp4\">"
            f"<track kind=\"subtitles\" srclang=\"zh-Hans\" src=\"zh.vtt\">{extra}</video>"
            f"</body></html>").encode()


def capture(ctx: Context, lesson_id: str) -> dict[str, Any]:
    path = ctx.store.stage_dir(lesson_id, "fetch") / "capture.json"
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def events(log_stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_stream.getvalue().splitlines() if line.strip()]


def hls_resources(folder: Path, media: Path) -> dict[str, Resource]:
    """A master playlist, one VOD variant (1 s segments cut by ffmpeg) and its segments."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(media),
                    "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
                    "-hls_segment_filename", str(folder / "seg%d.ts"),
                    str(folder / "index.m3u8")], check=True)
    master = (b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=160x90\n"
              b"low/index.m3u8\n")
    resources = {"/hls/master.m3u8": Resource(master, "application/vnd.apple.mpegurl"),
                 "/hls/low/index.m3u8": Resource(folder / "index.m3u8",
                                                 "application/vnd.apple.mpegurl")}
    for segment in sorted(folder.glob("seg*.ts")):
        resources[f"/hls/low/{segment.name}"] = Resource(segment, "video/mp2t")
    return resources


def hls_segments(folder: Path) -> list[Path]:
    """The segment files `hls_resources` cut, in playlist order."""
    return sorted(folder.glob("seg*.ts"), key=lambda p: int(p.stem[3:]))
