"""Check a muxed file against what was intended (issue 4, item 3), with ffprobe and ffmpeg.

Checked: stream count and codecs; the original's video/audio packets bit for bit (ffmpeg's
`streamhash` of the copied streams equals the original's); stream and container end times
within one video frame of the original after the container's timeline shift (Matroska has no
edit list, so AAC priming moves everything by ~23 ms: the shift itself must stay under 50 ms);
subtitle languages, titles (MKV) or handler names (MP4) and dispositions; chapter count and
titles; global tags; the attachment's bytes equal the provenance file; every cue extracted back
equals the .vtt it came from (MKV: identifier, settings and escaped text exactly; MP4's
mov_text keeps plain text only, so the .vtt's text without tags and escapes), with start and
end within 50 ms; and for MP4 that `moov` precedes `mdat` (+faststart).
"""

from __future__ import annotations

import html
import json
import re
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from archiver.childproc import child_kwargs
from archiver.errors import Location, MuxError
from archiver.model import Track

CUE_TOLERANCE = 0.05  # seconds: covers the ~23 ms AAC priming shift of the MKV timeline
SHIFT_LIMIT = 0.05
TIMING = re.compile(r"^(\S+)\s+-->\s+(\S+)\s*(.*)$")


@dataclass(frozen=True)
class RawCue:
    """A cue as a file holds it (payload escaped, tags kept), for byte-exact comparison."""

    start: float
    end: float
    text: str
    identifier: str = ""
    settings: str = ""


@dataclass
class Expected:
    kind: Literal["mkv", "mp4"]
    tracks: list[Track]
    chapters: list[str]
    tags: dict[str, str]
    attachment: Path | None = None


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)


def _run(argv: list[str], report: Report | None, text: bool = True) -> Any:
    if report is not None:
        report.commands.append(argv)
    proc = subprocess.run(argv, capture_output=True, text=text, check=False, timeout=3600,
                          **child_kwargs())
    if proc.returncode != 0:
        err = proc.stderr if text else proc.stderr.decode("utf-8", "replace")
        raise MuxError(f"{argv[0]} failed on {argv[-1]}: {err.strip()[-300:]}",
                       Location(argv[-1]))
    return proc.stdout


def ffprobe(path: Path, report: Report | None = None, exact: bool = False) -> dict[str, Any]:
    """ffprobe's view of `path`. With `exact`, an MPEG-TS file's stream durations (which
    ffprobe estimates from the bit rate) are replaced by the end of each stream's last packet."""
    out = _run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters",
                "-of", "json", str(path)], report)
    data: dict[str, Any] = json.loads(out)
    if exact and "mpegts" in str(data["format"].get("format_name")):
        packets = json.loads(_run(["ffprobe", "-v", "error", "-show_entries",
                                   "packet=stream_index,pts_time,duration_time", "-of", "json",
                                   str(path)], report)).get("packets", [])
        ends: dict[int, float] = {}
        for packet in packets:
            try:
                end = float(packet["pts_time"]) + float(packet.get("duration_time") or 0)
            except (KeyError, ValueError):
                continue
            ends[packet["stream_index"]] = max(end, ends.get(packet["stream_index"], end))
        for stream in data["streams"]:
            if stream["index"] in ends:
                stream["duration"] = str(ends[stream["index"]] -
                                         float(stream.get("start_time") or 0))
    return data


def streamhashes(path: Path, report: Report | None = None, decode: bool = False) -> list[str]:
    """sha256 of each video/audio stream's packets (container-independent), or of its
    decoded frames when `decode`."""
    copy = [] if decode else ["-c", "copy"]
    out = _run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:V",
                "-map", "0:a?", *copy, "-f", "streamhash", "-hash", "sha256", "-"], report)
    return [line.split(",", 2)[2] for line in out.splitlines() if line.count(",") >= 2]


def seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    value = 0.0
    for part in parts:
        value = value * 60 + float(part)
    return value


def parse_cues(text: str) -> list[RawCue]:
    """Cues of a WebVTT or SRT document (raw payload kept: escapes and tags untouched)."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = block.split("\n")
        at = next((i for i, line in enumerate(lines[:2]) if "-->" in line), None)
        if at is None:
            continue  # header, NOTE, STYLE, REGION
        match = TIMING.match(lines[at].strip())
        if not match:
            continue
        cues.append(RawCue(seconds(match.group(1)), seconds(match.group(2)),
                        "\n".join(lines[at + 1:]), lines[0].strip() if at == 1 else "",
                        match.group(3).strip()))
    return cues


def plain(text: str) -> str:
    """What a plain-text subtitle format keeps of a WebVTT payload: no tags, no escapes."""
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def stream_end(stream: dict[str, Any]) -> float | None:
    start = float(stream.get("start_time") or 0.0)
    tag = (stream.get("tags") or {}).get("DURATION")
    if tag:
        return seconds(tag)  # Matroska: the stream's end time
    if stream.get("duration") not in (None, "N/A"):
        return start + float(stream["duration"])
    return None


def frame_seconds(info: dict[str, Any]) -> float:
    for stream in info["streams"]:
        if stream["codec_type"] == "video" and stream.get("avg_frame_rate", "0/0") != "0/0":
            num, den = (int(x) for x in stream["avg_frame_rate"].split("/"))
            if num:
                return den / num
    return 0.04


def _base(info: dict[str, Any]) -> float:
    """The container's start time (MPEG-TS starts at ~1.4 s; ffmpeg's output at 0)."""
    return float(info["format"].get("start_time") or 0.0)


def _minus(value: float | None, base: float) -> float | None:
    return None if value is None else value - base


def _of(info: dict[str, Any], *types: str) -> list[dict[str, Any]]:
    """Streams of these types, cover art (attached pictures) left out: it is not muxed."""
    return [s for s in info["streams"] if s["codec_type"] in types
            and not (s.get("disposition") or {}).get("attached_pic")]


def av_streams(info: dict[str, Any]) -> list[dict[str, Any]]:
    return _of(info, "video", "audio")


def check_streams(out: dict[str, Any], orig: dict[str, Any], exp: Expected,
                  report: Report) -> float:
    """Counts, codecs, durations; returns the timeline shift of the output."""
    problems = report.problems
    orig_av, out_av = _of(orig, "video", "audio"), _of(out, "video", "audio")
    subs, atts, data = _of(out, "subtitle"), _of(out, "attachment"), _of(out, "data")
    want_data = 1 if exp.kind == "mp4" and exp.chapters else 0  # MP4 chapter text track
    want_atts = 1 if exp.attachment is not None else 0
    counts = (len(out_av), len(subs), len(atts), len(data))
    wanted = (len(orig_av), len(exp.tracks), want_atts, want_data)
    if counts != wanted or len(out["streams"]) != sum(wanted):
        problems.append(f"streams (av, subtitle, attachment, data) are {counts}, "
                        f"expected {wanted}")
    codecs = [(s["codec_type"], s.get("codec_name")) for s in out_av]
    if codecs != [(s["codec_type"], s.get("codec_name")) for s in orig_av]:
        problems.append(f"video/audio codecs {codecs} differ from the original's")
    sub_codec = "webvtt" if exp.kind == "mkv" else "mov_text"
    if any(s.get("codec_name") != sub_codec for s in subs):
        problems.append(f"subtitle codecs {[s.get('codec_name') for s in subs]}, "
                        f"expected {sub_codec}")
    frame = frame_seconds(orig)
    first_video = [(o, t) for o, t in zip(orig_av, out_av, strict=False)
                   if o["codec_type"] == "video"]
    orig_base, out_base = _base(orig), _base(out)
    shift = 0.0
    if first_video:
        o, t = first_video[0]
        shift = (float(t.get("start_time") or 0) - out_base) - \
            (float(o.get("start_time") or 0) - orig_base)
    if abs(shift) > SHIFT_LIMIT:
        problems.append(f"timeline shifted by {shift:.3f} s (more than {SHIFT_LIMIT} s)")
    pairs: list[tuple[str, float | None, float | None]] = [
        (f"stream {t['index']} ({t['codec_type']})", _minus(stream_end(o), orig_base),
         _minus(stream_end(t), out_base)) for o, t in zip(orig_av, out_av, strict=False)]
    pairs.append(("container", float(orig["format"].get("duration") or 0),
                  float(out["format"].get("duration") or 0)))
    for name, want, got in pairs:
        if want is None or got is None:
            problems.append(f"{name}: duration unknown")
        elif abs(got - shift - want) > frame + 0.001:
            problems.append(f"{name} ends at {got - shift:.3f} s, original at {want:.3f} s "
                            f"(more than one frame, {frame:.3f} s)")
    return shift


def check_labels(out: dict[str, Any], exp: Expected, report: Report) -> None:
    """Languages, titles, dispositions, chapters and global tags."""
    name_key = "title" if exp.kind == "mkv" else "handler_name"
    for n, (stream, track) in enumerate(zip(_of(out, "subtitle"), exp.tracks, strict=False)):
        tags = stream.get("tags") or {}
        disp = stream.get("disposition") or {}
        got = (tags.get("language"), tags.get(name_key), disp.get("default"), disp.get("forced"))
        want = (track.spec.iso639_2, track.spec.label, int(track.spec.default), 0)
        if got != want:
            report.problems.append(f"subtitle {n}: (language, {name_key}, default, forced) "
                                   f"is {got}, expected {want}")
    titles = [(c.get("tags") or {}).get("title") for c in out.get("chapters", [])]
    if titles != exp.chapters:
        report.problems.append(f"chapters {titles} differ from the intended {exp.chapters}")
    tags = {k.lower(): v for k, v in (out["format"].get("tags") or {}).items()}
    for key, value in exp.tags.items():
        if tags.get(key.lower()) != value:
            report.problems.append(f"global tag {key!r} is {tags.get(key.lower())!r}, "
                                   f"expected {value!r}")


def check_cues(path: Path, exp: Expected, workdir: Path, report: Report) -> None:
    """Extract each subtitle track back and compare it cue by cue with its .vtt file."""
    if not exp.tracks:
        return
    fmt, codec = ("webvtt", "copy") if exp.kind == "mkv" else ("srt", "srt")
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(path)]
    outs = []
    for n in range(len(exp.tracks)):
        target = workdir / f"extract-{exp.kind}-{n}.{fmt}"
        outs.append(target)
        argv += ["-map", f"0:s:{n}", "-c:s", codec, "-f", fmt, str(target)]
    _run(argv, report)
    for track, target in zip(exp.tracks, outs, strict=True):
        want = parse_cues(track.path.read_text("utf-8"))
        got = parse_cues(target.read_text("utf-8"))
        target.unlink()
        label = f"{exp.kind} track {track.spec.key}"
        if len(want) != len(got):
            report.problems.append(f"{label}: {len(got)} cues read back, {len(want)} written")
            continue
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            if exp.kind == "mkv":
                same = (g.text, g.identifier, g.settings) == (w.text, w.identifier, w.settings)
            else:
                same = g.text == plain(w.text)
            if not same:
                report.problems.append(f"{label} cue {i + 1}: text {g.text!r} differs from "
                                       f"{w.text!r}")
            elif abs(g.start - w.start) > CUE_TOLERANCE or abs(g.end - w.end) > CUE_TOLERANCE:
                report.problems.append(f"{label} cue {i + 1}: {g.start:.3f}-{g.end:.3f} s, "
                                       f"written {w.start:.3f}-{w.end:.3f} s")


def check_attachment(path: Path, exp: Expected, workdir: Path, report: Report) -> None:
    if exp.attachment is None:
        return
    target = workdir / "extract-attachment.json"
    target.unlink(missing_ok=True)
    _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-dump_attachment:t:0", str(target),
          "-i", str(path), "-map", "0:v:0", "-c", "copy", "-frames:v", "1", "-f", "null", "-"],
         report)
    if not target.is_file() or target.read_bytes() != exp.attachment.read_bytes():
        report.problems.append("attached provenance differs from the provenance file")
    target.unlink(missing_ok=True)


def _same_decoded(path: Path, original: Path, orig_info: dict[str, Any],
                  report: Report) -> bool:
    """MPEG-TS packets are framed differently (Annex B, ADTS) from MKV/MP4 ones, so a copy out
    of TS cannot be packet-identical; there the decoded frames must be identical instead."""
    if "mpegts" not in str(orig_info["format"].get("format_name")):
        return False
    return streamhashes(path, report, decode=True) == \
        streamhashes(original, report, decode=True)


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types, in file order."""
    boxes = []
    with open(path, "rb") as handle:
        while header := handle.read(8):
            if len(header) < 8:
                break
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0] - 8
            elif size == 0:
                boxes.append(kind.decode("latin-1"))
                break
            boxes.append(kind.decode("latin-1"))
            handle.seek(size - 8, 1)
    return boxes


def check(path: Path, original: Path, exp: Expected, workdir: Path,
          orig_info: dict[str, Any] | None = None,
          orig_hashes: list[str] | None = None) -> Report:
    """Every check of issue 4 item 3 on `path`; problems listed in the returned Report."""
    report = Report()
    orig_info = orig_info or ffprobe(original, report, exact=True)
    out = ffprobe(path, report)
    check_streams(out, orig_info, exp, report)
    if streamhashes(path, report) != (orig_hashes or streamhashes(original, report)) and \
            not _same_decoded(path, original, orig_info, report):
        report.problems.append("video/audio packets differ from the original's (not a copy)")
    check_labels(out, exp, report)
    for step in (check_cues, check_attachment):
        try:
            step(path, exp, workdir, report)
        except MuxError as exc:  # cannot even read it back: that is a mismatch too
            report.problems.append(f"{step.__name__}: {exc.message}")
    if exp.kind == "mp4":
        boxes = top_level_boxes(path)
        if "moov" not in boxes or "mdat" not in boxes or \
                boxes.index("moov") > boxes.index("mdat"):
            report.problems.append(f"moov does not precede mdat ({boxes}): not +faststart")
    return report


def identify(info: dict[str, Any]) -> dict[str, Any]:
    """A format identification summary (for PREMIS and the VideoObject)."""
    fmt = info.get("format", {})
    return {
        "format_name": fmt.get("format_name"),
        "format_long_name": fmt.get("format_long_name"),
        "duration": float(fmt["duration"]) if fmt.get("duration") else None,
        "streams": [{"index": s["index"], "type": s["codec_type"], "codec": s.get("codec_name"),
                     **({"width": s["width"], "height": s["height"]} if "width" in s else {}),
                     **({"sample_rate": s["sample_rate"]} if "sample_rate" in s else {})}
                    for s in info.get("streams", [])],
    }
