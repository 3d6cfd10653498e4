"""The Matroska master, muxed by MKVToolNix's mkvmerge, and its read-back (issue 11 item 2).

Why mkvmerge and not ffmpeg: ffmpeg 5.1 writes WebVTT with WebM's codec id
(`D_WEBVTT/SUBTITLES`), which MKVToolNix cannot extract and ExoPlayer-based players do not
read, and it writes no BCP 47 `LanguageIETF`. mkvmerge, the reference Matroska muxer, writes
Matroska's own `S_TEXT/WEBVTT` (cue identifiers and settings in BlockAdditions, the header in
CodecPrivate) and `LanguageIETF` next to the legacy ISO 639-2 language.

How (two steps, one temporary file):
1. ffmpeg copies the original's video and audio with the ffmetadata (global tags, chapters)
   into an A/V-only Matroska file (`mux.MuxJob` without tracks). That keeps the one demuxer
   that already handles every original (MP4 edit lists, MPEG-TS, FLV...) and the one
   ffmetadata file that feeds both containers, so master and access copy cannot disagree about
   titles or chapters; mkvmerge carries tags, chapters and the segment title over unchanged.
2. mkvmerge adds the three WebVTT files (language, name, default/forced flags), the attached
   provenance, and the spoken language on audio and video. It sets the default flag on every
   track unless told, so every subtitle track gets an explicit `yes`/`no` from the track table.
   It stores cues and chapters as written, but step 1 moved the A/V later by the codec's
   priming (Matroska has no edit list: 128 ms for AAC at 8 kHz), so the tracks and chapters
   are delayed by that measured shift (`av_shift`; `--sync`, `--chapter-sync`) and stay where
   the audio puts them.
   The chapters come from an XML file rendered from the same chapter list and millisecond
   times as the ffmetadata, with ChapterUIDs 1..n: mkvmerge would give the A/V file's chapters
   random UIDs, and two muxes of the same inputs must describe the same chapters.
3. mkvpropedit sets each subtitle's legacy language from the table: mkvmerge derives it from
   the BCP 47 tag, which makes the bilingual `zh-Hans-x-en` `chi`; ISO 639-2 wants `mul`.
The master is written under a temporary name and published only when all three succeeded.

The read-back (`readback`) uses readers that understand these tracks, never ffmpeg (5.1 sees
`S_TEXT/WEBVTT` as codec `unknown`): `mkvmerge -J` for codecs, languages, names, flags,
chapters and the attachment; mkvextract for the cues (its WebVTT starts with a BOM and keeps
the header block: both are normalised away before the cues are compared) and the attachment.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver import cancel
from archiver.errors import Location, MuxError
from archiver.model import Chapter, Track
from archiver.package import mux, probe
from archiver.package.probe import Report, parse_cues
from archiver.package.timeline import WEBVTT_TICK
from archiver.store import TEMP_MARK, atomic_write_text, publish_file, temp_path_for

MATROSKA_WEBVTT = "S_TEXT/WEBVTT"
ATTACHMENT_MIME = "application/json"
ATTACHMENT_NAME = "provenance.json"
BOM = "\ufeff"


@dataclass
class MasterJob:
    """One master: the original's A/V, the tracks, the ffmetadata and the attachment."""

    original: Path
    av_streams: int  # video (not cover art) + audio streams of the original
    tracks: list[Track]
    metadata: Path  # ffmetadata file: global tags + chapters (shared with the access copy)
    attachment: Path
    output: Path  # final name
    language: str  # BCP 47 tag of the spoken language (audio and video tracks)
    lesson: str = ""
    chapters: list[Chapter] = field(default_factory=list)  # as in the ffmetadata (clipped)
    original_info: dict[str, Any] | None = None  # probe.ffprobe(original, exact=True)


def _where(job: MasterJob) -> Location:
    return Location(job.output, lesson=job.lesson or None)


def _run(argv: list[str], job: MasterJob, timeout: float) -> None:
    """Run one MKVToolNix program; exit status 1 is mkvmerge's "warnings" and is an error
    here too (a warning means something was not muxed as asked)."""
    try:
        proc = cancel.run(argv, capture_output=True, text=True, timeout=timeout,
                          check=False)
    except subprocess.TimeoutExpired:
        raise MuxError(f"{argv[0]} did not finish within {timeout:.0f} s", _where(job)) from None
    except FileNotFoundError:
        raise MuxError(f"{argv[0]} is not installed (Debian package mkvtoolnix)",
                       _where(job)) from None
    if proc.returncode != 0:
        said = " | ".join(line.strip() for line in (proc.stdout + proc.stderr).splitlines()
                          if line.strip().startswith(("Error", "Warning")))
        said = said or (proc.stdout + proc.stderr).strip()[-300:]
        raise MuxError(f"{argv[0]} failed to make the master of {job.original.name} (exit "
                       f"status {proc.returncode}): {said}", _where(job))


def _stamp(seconds: float) -> str:
    """Matroska chapter time at the ffmetadata's millisecond precision."""
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}." \
           f"{ms % 1000:03d}000000"


def chapters_xml(chapters: list[Chapter]) -> str:
    """mkvmerge's chapter XML: one edition, ChapterUIDs 1..n, the label ffmpeg writes too
    (one display, language `und`: the label mixes both languages)."""
    root = ET.Element("Chapters")
    edition = ET.SubElement(root, "EditionEntry")
    ET.SubElement(edition, "EditionUID").text = "1"
    for uid, chapter in enumerate(chapters, start=1):
        atom = ET.SubElement(edition, "ChapterAtom")
        ET.SubElement(atom, "ChapterUID").text = str(uid)
        ET.SubElement(atom, "ChapterTimeStart").text = _stamp(chapter.start)
        ET.SubElement(atom, "ChapterTimeEnd").text = _stamp(chapter.end)
        display = ET.SubElement(atom, "ChapterDisplay")
        ET.SubElement(display, "ChapterString").text = chapter.label
        ET.SubElement(display, "ChapterLanguage").text = "und"
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def av_shift(job: MasterJob, av: Path, report: Report | None = None) -> float:
    """How much later the A/V intermediate shows the original's content (probe's
    timeline_shift): Matroska has no edit list, so ffmpeg moves AAC's priming packets, and the
    video with them, to >= 0 (128 ms at 8 kHz, 64 ms at 16 kHz, 23 ms at 44.1 kHz)."""
    orig_info = job.original_info or probe.ffprobe(job.original, report, exact=True)
    out_info = probe.ffprobe(av, report, exact=True)
    shift, _slack = probe.timeline_shift(
        probe.timeline_of(out_info, av, report), probe.timeline_of(orig_info, job.original, report),
        probe.av_streams(out_info), probe.av_streams(orig_info))
    return shift


def mkvmerge_command(job: MasterJob, av: Path, target: Path,
                     chapters: Path | None = None, shift: float = 0.0) -> list[str]:
    """mkvmerge's argv: A/V file (spoken language), tracks, attachment; track ids of a file
    with one track are 0, of the A/V file 0..n-1 in ffmpeg's output order. `shift`: the A/V
    file's timeline shift (`av_shift`), by which the cues and chapters are delayed so they
    stay where the audio puts them (`--sync`, `--chapter-sync`, in whole milliseconds: the
    A/V file's TimestampScale)."""
    delay = round(shift * 1000)
    # --no-date: no muxing date in the segment info and the track statistics tags, so two
    # muxes of the same inputs describe the same file (the crash audit compares them)
    argv = ["mkvmerge", "--quiet", "--no-date", "--output", str(target)]
    for n in range(job.av_streams):
        argv += ["--language", f"{n}:{job.language}"]
    if chapters is not None:
        argv.append("--no-chapters")
    argv.append(str(av))
    for track in job.tracks:
        spec = track.spec
        argv += ["--language", f"0:{spec.bcp47}", "--track-name", f"0:{spec.label}",
                 "--default-track-flag", f"0:{'yes' if spec.default else 'no'}",
                 "--forced-display-flag", "0:no", "--sub-charset", "0:UTF-8",
                 *(["--sync", f"0:{delay}"] if delay else []), str(track.path)]
    argv += ["--attachment-name", ATTACHMENT_NAME, "--attachment-mime-type", ATTACHMENT_MIME,
             "--attach-file", str(job.attachment)]
    if chapters is not None:
        argv += [*(["--chapter-sync", str(delay)] if delay else []), "--chapters", str(chapters)]
    return argv


def mkvpropedit_command(job: MasterJob, target: Path) -> list[str]:
    """Legacy languages from the track table (`mul` for the bilingual), BCP 47 tag kept:
    mkvpropedit's `track:N` counts every track from 1, subtitles follow the A/V tracks."""
    argv = ["mkvpropedit", "--quiet", str(target)]
    for n, track in enumerate(job.tracks):
        argv += ["--edit", f"track:{job.av_streams + n + 1}",
                 "--set", f"language={track.spec.iso639_2}",
                 "--set", f"language-ietf={track.spec.bcp47}"]
    return argv


def run(job: MasterJob, workdir: Path, timeout: float = 3600.0) -> list[list[str]]:
    """Mux the master to a temporary name and publish it under `job.output`; return the
    argvs. Raises MuxError naming the program and its words; nothing is left under the final
    name on failure."""
    # temporary names (TEMP_MARK): a run killed mid-mux leaves them marked as leftovers, and
    # the next mux of this lesson (under the run lock) removes them first
    prefix = f"{job.output.stem}{TEMP_MARK}"
    for stale in workdir.glob(f"*{prefix}*"):
        stale.unlink(missing_ok=True)
    av = workdir / f"{prefix}av.mkv"
    commands = [mux.run(mux.MuxJob("mkv", job.original, job.av_streams, [], job.metadata, av,
                                   lesson=job.lesson), timeout)]
    chapters = workdir / f"{prefix}chapters.xml" if job.chapters else None
    tmp = temp_path_for(job.output)
    try:
        if chapters is not None:
            atomic_write_text(chapters, chapters_xml(job.chapters))
        shift = av_shift(job, av) if job.tracks or chapters is not None else 0.0
        commands.append(mkvmerge_command(job, av, tmp, chapters, shift))
        _run(commands[-1], job, timeout)
        if job.tracks:
            commands.append(mkvpropedit_command(job, tmp))
            _run(commands[-1], job, timeout)
        publish_file(tmp, job.output)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        av.unlink(missing_ok=True)
        if chapters is not None:
            chapters.unlink(missing_ok=True)
    return commands


# --- read-back ------------------------------------------------------------------------------

def identify(path: Path, report: Report | None = None) -> dict[str, Any]:
    """`mkvmerge -J`: tracks, attachments, chapters, as MKVToolNix reads them."""
    argv = ["mkvmerge", "-J", str(path)]
    if report is not None:
        report.commands.append(argv)
    proc = cancel.run(argv, capture_output=True, text=True, check=False, timeout=600)
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise MuxError(f"mkvmerge -J cannot read {path.name}: {proc.stderr.strip()[-300:]}",
                       Location(path)) from None
    container = data.get("container") or {}
    if not container.get("recognized") or container.get("type") != "Matroska":
        said = "; ".join(map(str, data.get("errors", []))) or \
            f"it is {container.get('type') or 'no known format'}"
        raise MuxError(f"mkvmerge does not read {path.name} as Matroska: {said}",
                       Location(path))
    return data


def normalise_vtt(text: str) -> str:
    """What is compared of a WebVTT document: no BOM, `\\n` line ends, no header block
    (the `WEBVTT` line and what follows it up to the first blank line: mkvextract writes the
    header it stored, which another writer may spell differently), no trailing blank lines."""
    text = text.removeprefix(BOM).replace("\r\n", "\n").replace("\r", "\n")
    _header, _, body = text.partition("\n\n")
    return body.strip("\n") + "\n"


def extract(path: Path, ids: list[int], workdir: Path, report: Report,
            attachment: int | None = None) -> tuple[dict[int, str], bytes | None]:
    """Text of tracks `ids` and bytes of attachment `attachment`, by mkvextract."""
    outs = {i: workdir / f"master-track-{i}.vtt" for i in ids}
    argv = ["mkvextract", str(path)]
    if outs:
        argv += ["tracks", *(f"{i}:{out}" for i, out in outs.items())]
    att_out = workdir / "master-attachment.bin"
    if attachment is not None:
        argv += ["attachments", f"{attachment}:{att_out}"]
    report.commands.append(argv)
    try:
        proc = cancel.run(argv, capture_output=True, text=True, check=False, timeout=600)
        if proc.returncode != 0:
            said = " | ".join(line for line in proc.stdout.splitlines()
                              if line.startswith(("Error", "Warning")))
            raise MuxError(f"mkvextract failed on {path.name}: {said or proc.stderr[-300:]}",
                           Location(path))
        texts = {i: out.read_bytes().decode("utf-8") for i, out in outs.items()}
        blob = att_out.read_bytes() if attachment is not None else None
    finally:
        for out in [*outs.values(), att_out]:
            out.unlink(missing_ok=True)
    return texts, blob


def _check_tracks(data: dict[str, Any], tracks: list[Track], language: str,
                  av_count: int, problems: list[str]) -> list[int]:
    """Codec, languages, name and flags of every track; returns the subtitle track ids."""
    av = [t for t in data.get("tracks", []) if t.get("type") in ("video", "audio")]
    subs = [t for t in data.get("tracks", []) if t.get("type") == "subtitles"]
    if len(av) != av_count or len(subs) != len(tracks):
        problems.append(f"mkvmerge sees {len(av)} audio/video and {len(subs)} subtitle tracks, "
                        f"expected {av_count} and {len(tracks)}")
    for t in av:
        props = t.get("properties") or {}
        if props.get("language_ietf") != language:
            problems.append(f"{t['type']} track {t['id']}: LanguageIETF "
                            f"{props.get('language_ietf')!r}, expected {language!r}")
    for t, track in zip(subs, tracks, strict=False):
        props, spec = t.get("properties") or {}, track.spec
        got = (props.get("codec_id"), props.get("language_ietf"), props.get("language"),
               props.get("track_name"), bool(props.get("default_track")),
               bool(props.get("forced_track")))
        want = (MATROSKA_WEBVTT, spec.bcp47, spec.iso639_2, spec.label, spec.default, False)
        if got != want:
            problems.append(f"subtitle track {t['id']} ({spec.key}): (codec, LanguageIETF, "
                            f"language, name, default, forced) is {got}, expected {want}")
    defaults = [t["id"] for t in subs if (t.get("properties") or {}).get("default_track")]
    if tracks and len(defaults) != 1:
        problems.append(f"{len(defaults)} subtitle tracks are flagged default ({defaults}), "
                        "expected exactly one")
    return [int(t["id"]) for t in subs]


def compare_cues(label: str, written: str, read: str, problems: list[str],
                 tick: float = 0.001, shift: float = 0.0, slack: float = 0.0) -> None:
    """Cue by cue: identifier, settings and (escaped) text exactly, times moved by the
    media's timeline shift (`shift`: mkvmerge delays the cues by the A/V file's priming
    shift, `av_shift`) within the file's timestamp resolution (`tick`: Matroska's
    TimestampScale) plus WebVTT's millisecond rounding on each side, plus any `slack` the
    media's own check allows (probe.Report.cue_slack)."""
    tolerance = tick + 2 * WEBVTT_TICK + slack
    want, got = parse_cues(normalise_vtt(written)), parse_cues(normalise_vtt(read))
    if len(want) != len(got):
        problems.append(f"{label}: {len(got)} cues read back, {len(want)} written")
        return
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        if (g.text, g.identifier, g.settings) != (w.text, w.identifier, w.settings):
            problems.append(f"{label} cue {i + 1}: {g.identifier!r} {g.settings!r} {g.text!r} "
                            f"differs from {w.identifier!r} {w.settings!r} {w.text!r}")
        elif abs(g.start - shift - w.start) > tolerance or \
                abs(g.end - shift - w.end) > tolerance:
            problems.append(f"{label} cue {i + 1}: {g.start:.3f}-{g.end:.3f} s, written "
                            f"{w.start:.3f}-{w.end:.3f} s and the media moved by {shift:.3f} s "
                            "(out of sync with the audio)")


def readback(path: Path, tracks: list[Track], language: str, av_count: int,
             chapters: int, attachment: Path | None, workdir: Path, report: Report) -> None:
    """Every Matroska-specific check of the master, with MKVToolNix; problems go to
    `report.problems` (A/V packets, durations and tags stay with probe.check's ffprobe)."""
    problems = report.problems
    try:
        data = identify(path, report)
    except MuxError as exc:
        problems.append(exc.message)
        return
    sub_ids = _check_tracks(data, tracks, language, av_count, problems)
    entries = sum(int(c.get("num_entries", 0)) for c in data.get("chapters", []))
    if entries != chapters:
        problems.append(f"mkvmerge sees {entries} chapters, expected {chapters}")
    atts = data.get("attachments", [])
    att_id = None
    if attachment is not None:
        named = [a for a in atts if a.get("file_name") == ATTACHMENT_NAME
                 and a.get("content_type") == ATTACHMENT_MIME]
        if len(atts) != 1 or not named:
            seen = [(a.get("file_name"), a.get("content_type")) for a in atts]
            problems.append(f"attachments {seen}, expected one {ATTACHMENT_NAME} "
                            f"({ATTACHMENT_MIME})")
        else:
            att_id = int(named[0]["id"])
    ids = sub_ids if len(sub_ids) == len(tracks) else []  # a mismatch is reported above
    if not ids and att_id is None:
        return
    try:
        texts, blob = extract(path, ids, workdir, report, att_id)
    except MuxError as exc:
        problems.append(exc.message)
        return
    scale = (data.get("container", {}).get("properties") or {}).get("timestamp_scale")
    tick = int(scale) / 1e9 if scale else 0.001  # nanoseconds per tick; 1 ms by default
    for track_id, track in zip(sub_ids, tracks, strict=False):
        if track_id in texts:
            compare_cues(f"mkv track {track.spec.key}", track.path.read_text("utf-8"),
                         texts[track_id], problems, tick, report.shift, report.cue_slack)
    if attachment is not None and att_id is not None and blob != attachment.read_bytes():
        problems.append("attached provenance differs from the provenance file")
