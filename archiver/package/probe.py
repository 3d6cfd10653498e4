"""Check a muxed file against what was intended (issue 4, item 3), with ffprobe and ffmpeg.

Checked: stream count and codecs; the original's video/audio packets bit for bit (ffmpeg's
`streamhash` of the copied streams equals the original's); stream and container end times
within one frame of the original after the container's timeline shift (Matroska has no
edit list, so AAC priming moves everything by its length: 23 ms at 44.1 kHz, 128 ms at 8 kHz);
every tolerance comes from the media itself (`timeline.py`: its packets, sample rates and time
bases), never a constant;
subtitle languages, titles (MKV) or handler names (MP4) and dispositions; chapter count and
titles; global tags; for MP4, every cue extracted back equals the .vtt it came from (mov_text
keeps plain text only, so the .vtt's text without tags and escapes), its start and end moved by
exactly the timeline shift (within the timestamp resolution): a cue stays where the audio puts
it; and `moov` precedes `mdat` (+faststart). A stream the access copy transcodes (`access.py`)
is checked for its new codec and its length, not its packets. The master's subtitle tracks and
attachment are read back by MKVToolNix instead (`master.readback`): ffmpeg 5.1 sees its
`S_TEXT/WEBVTT` as codec `unknown`, so every ffmpeg read here maps the master's streams
explicitly.
"""

from __future__ import annotations

import html
import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from archiver import cancel
from archiver.errors import Location, MuxError
from archiver.model import Track
from archiver.package import timeline
from archiver.package.timeline import Timeline

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
    # codec_type -> the codec a transcoding access copy gives those streams (access.py)
    transcoded: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    shift: float = 0.0  # the output's timeline shift against the original (check_streams)
    cue_slack: float = 0.0  # how far a correct mux may still put a cue from that shift


def _run(argv: list[str], report: Report | None, text: bool = True) -> Any:
    if report is not None:
        report.commands.append(argv)
    proc = cancel.run(argv, capture_output=True, text=text, check=False, timeout=3600)
    if proc.returncode != 0:
        err = proc.stderr if text else proc.stderr.decode("utf-8", "replace")
        raise MuxError(f"{argv[0]} failed on {argv[-1]}: {err.strip()[-300:]}",
                       Location(argv[-1]))
    return proc.stdout


def ffprobe(path: Path, report: Report | None = None, exact: bool = False) -> dict[str, Any]:
    """ffprobe's view of `path`. With `exact`, its packets are read too (`timeline.read`,
    under the key "timeline"), and a stream without a duration (FLV), or with an estimated one
    (MPEG-TS: from the bit rate), gets the end of its last packet instead."""
    packets = ["-show_entries", timeline.PACKET_ENTRIES] if exact else []
    out = _run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters",
                *packets, "-of", "json", str(path)], report)
    data: dict[str, Any] = json.loads(out)
    if exact:  # one ffprobe run for both: a process costs more than the packet list
        line = timeline.from_packets(data.pop("packets", []), data)
        data["timeline"] = line
        estimated = "mpegts" in str(data["format"].get("format_name"))
        for stream in data["streams"]:
            span = line.spans.get(stream["index"])
            if span is None or stream.get("codec_type") not in ("video", "audio"):
                continue
            if estimated or stream.get("duration") in (None, "N/A"):
                start = float(stream.get("start_time") or line.origin)
                stream["duration"] = str(span.end - start)
        if data["format"].get("duration") in (None, "N/A"):
            data["format"]["duration"] = str(line.duration())
    return data


def timeline_of(info: dict[str, Any], path: Path, report: Report | None) -> Timeline:
    """The packet timeline of an ffprobe result (read now if `ffprobe` did not)."""
    line = info.get("timeline")
    if not isinstance(line, Timeline):
        line = timeline.read(path, info, report.commands if report is not None else None)
        info["timeline"] = line
    return line


def streamhashes(path: Path, report: Report | None = None, decode: bool = False) -> list[str]:
    """`<type>:<sha256>` of each video/audio stream's packets (container-independent), or of
    its decoded frames when `decode`; video streams first, as the muxes map them."""
    copy = [] if decode else ["-c", "copy"]
    out = _run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:V?",
                "-map", "0:a?", *copy, "-f", "streamhash", "-hash", "sha256", "-"], report)
    return [f"{parts[1]}:{parts[2]}" for line in out.splitlines()
            if len(parts := line.split(",", 2)) == 3]


def copied(hashes: list[str], transcoded: dict[str, str]) -> list[str]:
    """The hashes of the streams a mux copies (those of transcoded types left out)."""
    letters = {kind[0] for kind in transcoded}
    return [h for h in hashes if h.split(":", 1)[0] not in letters]


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


def _base(info: dict[str, Any]) -> float:
    """The container's start time (MPEG-TS starts at ~1.4 s; ffmpeg's output at 0)."""
    return float(info["format"].get("start_time") or 0.0)


def _of(info: dict[str, Any], *types: str) -> list[dict[str, Any]]:
    """Streams of these types, cover art (attached pictures) left out: it is not muxed."""
    return [s for s in info["streams"] if s["codec_type"] in types
            and not (s.get("disposition") or {}).get("attached_pic")]


def av_streams(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Video (not cover art) then audio streams: the order in which the muxes map them."""
    streams = _of(info, "video", "audio")
    return [s for s in streams if s["codec_type"] == "video"] + \
        [s for s in streams if s["codec_type"] == "audio"]


def timeline_shift(out: Timeline, orig: Timeline, out_av: list[dict[str, Any]],
                   orig_av: list[dict[str, Any]], transcoded: dict[str, str] | None = None
                   ) -> tuple[float, float]:
    """How much later the output shows the original's content than the original's player
    timeline does, and how uncertain that is: first packet of the first *copied* stream in
    the output, against the same stream's first packet after the original's origin (ffmpeg
    rebases an input to its start time; a container without edit lists moves priming
    packets, and everything with them, to >= 0). When every stream was transcoded (`access`)
    ffmpeg kept the content's timestamps but the encoder chose where its first frame starts:
    the shift is then 0, give or take one frame of that stream."""
    pairs = list(zip(orig_av, out_av, strict=False))
    kept = [(o, t) for o, t in pairs if o["codec_type"] not in (transcoded or {})]
    for o, t in kept or pairs:
        mine, theirs = orig.spans.get(o["index"]), out.spans.get(t["index"])
        if mine is None or theirs is None:
            continue
        if kept:
            return theirs.first - (mine.first - orig.origin), 0.0
        return 0.0, max(mine.longest, theirs.longest)
    return 0.0, 0.0


def check_streams(out: dict[str, Any], orig: dict[str, Any], exp: Expected,
                  report: Report, out_line: Timeline | None = None,
                  orig_line: Timeline | None = None) -> float:
    """Counts, codecs, durations; returns (and keeps in the report) the output's timeline
    shift. Tolerances come from the media (`timeline.py`): the shift may be the original's
    priming lead plus one audio frame and one tick; a stream's end one frame of its own kind
    (the longest video frame, or one audio frame at its rate) plus one tick."""
    problems = report.problems
    orig_av, out_av = av_streams(orig), av_streams(out)
    subs, atts, data = _of(out, "subtitle"), _of(out, "attachment"), _of(out, "data")
    want_data = 1 if exp.kind == "mp4" and exp.chapters else 0  # MP4 chapter text track
    want_atts = 1 if exp.attachment is not None else 0
    counts = (len(out_av), len(subs), len(atts), len(data))
    wanted = (len(orig_av), len(exp.tracks), want_atts, want_data)
    if counts != wanted or len(out["streams"]) != sum(wanted):
        problems.append(f"streams (av, subtitle, attachment, data) are {counts}, "
                        f"expected {wanted}")
    codecs = [(s["codec_type"], s.get("codec_name")) for s in out_av]
    intended = [(s["codec_type"], exp.transcoded.get(s["codec_type"], s.get("codec_name")))
                for s in orig_av]
    if codecs != intended:
        problems.append(f"video/audio codecs {codecs} differ from the intended {intended}")
    sub_codec = "mov_text"  # the master's S_TEXT/WEBVTT is checked by master.readback
    if exp.kind == "mp4" and any(s.get("codec_name") != sub_codec for s in subs):
        problems.append(f"subtitle codecs {[s.get('codec_name') for s in subs]}, "
                        f"expected {sub_codec}")
    orig_line = orig_line or orig.get("timeline")
    out_line = out_line or out.get("timeline")
    if not isinstance(orig_line, Timeline) or not isinstance(out_line, Timeline):
        raise MuxError("check_streams needs both files' packet timelines (ffprobe exact)")
    shift, slack = timeline_shift(out_line, orig_line, out_av, orig_av, exp.transcoded)
    report.shift = shift
    # Matroska keeps Opus's priming by a codec delay (its packets stay before 0), and
    # ffmpeg's muxer then moves the other streams, subtitles included, by that delay once
    # or twice (WebM: 7 ms, Ogg: 14 ms): a cue may lie up to the lead plus one audio frame
    # from the media's shift. Where the priming was moved to >= 0 instead, every stream moved
    # together and a cue must follow exactly. A transcoded-only copy adds its encoder's slack.
    delay_kept = exp.kind == "mkv" and min((s.first for s in out_line.av()), default=0.0) < 0
    report.cue_slack = slack + (orig_line.lead + out_line.audio_frame if delay_kept else 0.0)
    limit = timeline.shift_limit(orig_line, out_line)
    if abs(shift) > limit:
        problems.append(f"timeline shifted by {shift:.3f} s (more than the original's priming "
                        f"lead, one audio frame and one tick: {limit:.3f} s)")
    tick = max(orig_line.tick, out_line.tick)
    for o, t in zip(orig_av, out_av, strict=False):
        # the output's own timeline, where the cues are too (not rebased to its start)
        want, got = orig_line.relative_end(o["index"]), out_line.absolute_end(t["index"])
        frame = max(orig_line.frame(o["codec_type"]), out_line.frame(t["codec_type"]))
        name = f"stream {t['index']} ({t['codec_type']})"
        if want is None or got is None:
            problems.append(f"{name}: no packets to time it by")
        elif abs(got - shift - want) > frame + tick:
            problems.append(f"{name} ends at {got - shift:.3f} s, original at {want:.3f} s "
                            f"(more than one frame, {frame:.3f} s, and one tick)")
    want_all = orig_line.duration()
    got_all = max((s.end for s in out_line.av()), default=0.0) - shift
    frame = max(orig_line.video_frame, orig_line.audio_frame, out_line.video_frame,
                out_line.audio_frame)
    if abs(got_all - want_all) > frame + tick:
        problems.append(f"the content ends at {got_all:.3f} s, the original's at "
                        f"{want_all:.3f} s (more than one frame, {frame:.3f} s)")
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


def check_cues(path: Path, exp: Expected, workdir: Path, report: Report,
               tick: float = timeline.WEBVTT_TICK) -> None:
    """Extract each subtitle track of the MP4 back (as SRT: mov_text keeps plain text) and
    compare it cue by cue with its .vtt file: the text exactly, the times moved by the media's
    own timeline shift (`report.shift`), within the resolution of the file's timestamps
    (`tick`) and of WebVTT/SRT's milliseconds. The master's are read by `master.readback`."""
    if not exp.tracks or exp.kind != "mp4":
        return
    tolerance = tick + 2 * timeline.WEBVTT_TICK + report.cue_slack
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(path)]
    outs = []
    for n in range(len(exp.tracks)):
        target = workdir / f"extract-{exp.kind}-{n}.srt"
        outs.append(target)
        argv += ["-map", f"0:s:{n}", "-c:s", "srt", "-f", "srt", str(target)]
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
            if g.text != plain(w.text):
                report.problems.append(f"{label} cue {i + 1}: text {g.text!r} differs from "
                                       f"{w.text!r}")
            elif abs(g.start - report.shift - w.start) > tolerance or \
                    abs(g.end - report.shift - w.end) > tolerance:
                report.problems.append(
                    f"{label} cue {i + 1}: {g.start:.3f}-{g.end:.3f} s, written "
                    f"{w.start:.3f}-{w.end:.3f} s and the media moved by {report.shift:.3f} s "
                    f"(more than {tolerance:.3f} s off: out of sync with the audio)")


def _same_decoded(path: Path, original: Path, orig_info: dict[str, Any], exp: Expected,
                  report: Report, mine: list[str] | None = None,
                  theirs: list[str] | None = None) -> bool:
    """A copied stream whose packets differ must decode to identical frames: MPEG-TS packets
    are framed differently (Annex B, ADTS) from MKV/MP4 ones, and mkvmerge re-frames HEVC
    (parameter sets moved out of band), so a lossless copy out of them is not
    packet-identical. Streams whose packets match are not compared again: AAC decodes
    differently from an MP4 (the edit list drops the priming) and from a Matroska file."""
    del orig_info  # kept for callers; the streams themselves decide now
    mine = mine if mine is not None else copied(streamhashes(path, report), exp.transcoded)
    theirs = theirs if theirs is not None else \
        copied(streamhashes(original, report), exp.transcoded)
    if len(mine) != len(theirs):
        return False
    differ = [i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b]
    decoded_mine = copied(streamhashes(path, report, decode=True), exp.transcoded)
    decoded_theirs = copied(streamhashes(original, report, decode=True), exp.transcoded)
    if len(decoded_mine) != len(mine) or len(decoded_theirs) != len(theirs):
        return False
    return all(decoded_mine[i] == decoded_theirs[i] for i in differ)


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
    orig_line = timeline_of(orig_info, original, report)
    out = ffprobe(path, report, exact=True)
    out_line = timeline_of(out, path, report)
    check_streams(out, orig_info, exp, report, out_line, orig_line)
    mine = copied(streamhashes(path, report), exp.transcoded)
    theirs = copied(orig_hashes or streamhashes(original, report), exp.transcoded)
    if mine != theirs and not _same_decoded(path, original, orig_info, exp, report,
                                            mine, theirs):
        report.problems.append("video/audio packets differ from the original's (not a copy)")
    check_labels(out, exp, report)
    sub_ticks = [out_line.spans[s["index"]].tick for s in _of(out, "subtitle")
                 if s["index"] in out_line.spans]
    tick = max([*sub_ticks, *(s.tick for s in out_line.av())], default=timeline.WEBVTT_TICK)
    try:
        check_cues(path, exp, workdir, report, tick)
    except MuxError as exc:  # cannot even read it back: that is a mismatch too
        report.problems.append(f"check_cues: {exc.message}")
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
