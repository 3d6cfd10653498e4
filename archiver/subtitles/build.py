"""Transcript (+ media) in, tracks and reports out: the subtitle stage without the pipeline.

`build_subtitles` computes everything in memory; `write_outputs` writes it atomically. The
stage (`stage.py`) and any command (`archiver subtitles`) call these two, so the same work can
be done for a single file pair from Python or a test without a manifest or an output folder.
"""

from __future__ import annotations

import re
import shutil
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archiver.errors import Location, SubtitleError
from archiver.model import (
    BILINGUAL_TRACK,
    DEFAULT_TRACK,
    TRACKS,
    Paragraph,
    TrackSpec,
    chapters_json,
    json_bytes,
    tracks_showing,
    transcript_json,
)
from archiver.model.timed import Cue as TrackCue
from archiver.options import SubtitlesOptions
from archiver.store import atomic_write_bytes, remove_stale_staging, staging_dir, swap_dir
from archiver.subtitles import chapters as chapters_mod
from archiver.subtitles.audio import AudioScan, Method, NoAudio, detect_pauses
from archiver.subtitles.cues import Cue, Unit
from archiver.subtitles.english import english_cues
from archiver.subtitles.lines import cohesion
from archiver.subtitles.quality import SCHEMA, check_track, preserved, summary
from archiver.subtitles.segment import TooManySentences, paragraph_units
from archiver.subtitles.smooth import END_BOUND, START_BOUND, smooth_reading_speed
from archiver.subtitles.style import Mode, display_timing, make_cues
from archiver.subtitles.timing import time_paragraphs
from archiver.subtitles.transcript import format_clock, read_transcript
from archiver.subtitles.validate import check_vtt
from archiver.subtitles.words import lesson_terms
from archiver.subtitles.writers import write_srt, write_vtt

SENTENCES_FLAG = "--max-paragraph-sentences"
DIR_MODE = 0o755  # like store.FILE_MODE (0644) for the files in it
# A footnote number glued to a word ("Commission7"): reported, kept as written.
FOOTNOTE_MARK = re.compile(r"\b[A-Za-z]*[a-z](\d{1,2})\b")


@dataclass
class SubtitleBuild:
    """Everything the stage writes, plus what it learnt (for its StageResult)."""

    lesson: str
    paragraphs: list[Paragraph]
    cues: list[Cue]  # the bilingual track's cues (paragraph times, chapters)
    files: dict[str, bytes]  # file name (inside subtitles/) -> bytes
    quality: dict[str, Any]
    transcript_format: str
    commands: list[list[str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scan: AudioScan | None = None
    track_cues: dict[str, list[Cue]] = field(default_factory=dict)


def mode(spec: TrackSpec) -> Mode:
    """How a track's cues are grouped and styled, from the languages the track shows."""
    if spec.bilingual:
        return "both"
    return "en" if spec.languages == ("en",) else "zh"


MODES: dict[str, Mode] = {spec.key: mode(spec) for spec in TRACKS}


def _written(cue: Cue, track_mode: Mode) -> TrackCue | None:
    if track_mode == "zh":
        return TrackCue(cue.start, cue.end, tuple(cue.zh_lines))
    if track_mode == "en":
        return TrackCue(cue.start, cue.end, tuple(cue.en_lines)) if cue.en else None
    return TrackCue(cue.start, cue.end, tuple(cue.zh_lines), tuple(cue.en_lines))


def tracks(by_track: dict[str, list[Cue]]) -> dict[str, list[TrackCue]]:
    """Every track's cues as written (an English-only track keeps cues with English only)."""
    return {key: [w for c in by_track[key] if (w := _written(c, MODES[key])) is not None]
            for key in MODES}


def grouped(units: list[list[Unit]], mode: Mode,
            pairs: Mapping[str, int] | None = None) -> list[Cue]:
    """A track's cues at speech times: English-only cues are whole sentences grouped on
    their own (`english`); the Chinese and bilingual tracks group the Chinese clauses."""
    return english_cues(units) if mode == "en" else make_cues(units, mode, pairs)


def track_cues(units: list[list[Unit]], limit: float | None,
               pairs: Mapping[str, int] | None = None,
               moved: dict[str, int] | None = None) -> dict[str, list[Cue]]:
    """Cues per track (grouped for the track's languages), display timing applied, and for
    the tracks showing English, reading speed smoothed by bounded edge moves (`smooth`);
    `moved`, if given, receives how many cue edges the smoothing moved per track."""
    result: dict[str, list[Cue]] = {}
    for name, mode in MODES.items():
        cues = grouped(units, mode, pairs)
        speech = [(cue.start, cue.end) for cue in cues]
        display_timing(cues, limit, mode)
        edges = smooth_reading_speed(cues, speech, limit, mode)
        if moved is not None:
            moved[name] = edges
        result[name] = cues
    return result


def provenance(lesson_id: str, spec: TrackSpec, transcript: Path) -> list[str]:
    """The NOTE lines of a track: which track of which lesson, made from which transcript (its
    file name only: a local path is not for public files)."""
    return [f"track: {spec.key} ({spec.label}) of lesson {lesson_id}",
            f"made by lesson-archiver from the transcript {transcript.name}"]


def _footnote_markers(paragraphs: list[Paragraph], notes: int) -> list[str]:
    found: list[str] = []
    for para in paragraphs:
        for match in FOOTNOTE_MARK.finditer(para.en):
            if 0 < int(match.group(1)) <= notes:
                found.append(match.group(0))
    return found


def _units(transcript: Path, paragraphs: list[Paragraph], pairs: Mapping[str, int],
           max_sentences: int) -> list[list[Unit]]:
    """Every paragraph's units; a paragraph over the sentence bound is a located error."""
    units: list[list[Unit]] = []
    for i, para in enumerate(paragraphs):
        try:
            units.append(paragraph_units(i, para.en, para.zh, pairs, max_sentences))
        except TooManySentences as exc:
            raise SubtitleError(
                f"paragraph at {format_clock(para.start)} has {exc.count} {exc.language} "
                f"sentences, more than {exc.limit} ({SENTENCES_FLAG}): give it timestamps of "
                "its own, or raise the limit", Location(file=transcript, line=para.line,
                                                        key=SENTENCES_FLAG)) from None
    return units


def build_subtitles(lesson_id: str, transcript: Path, media: Path | None = None,
                    duration: float | None = None, footnotes: int = 0,
                    media_note: str = "", method: Method = "levels",
                    limits: SubtitlesOptions | None = None,
                    terms: Sequence[str] = ()) -> SubtitleBuild:
    """Read, segment, time and style one lesson's transcript; check every track written.

    `media`: the fetched file (pauses and duration); without it, timing is proportional and
    `media_note` says why. `duration`: the published length, used when there is no media.
    `method`: how pauses are found (`audio.detect_pauses`). `limits`: the transcript bounds
    (`--max-transcript-bytes`, `--max-paragraph-sentences`; their defaults if not given).
    `terms`: the manifest's Chinese terms, never split across lines or cues (`words`).
    """
    with lesson_terms(terms):
        return _build(lesson_id, transcript, media, duration, footnotes, media_note, method,
                      limits or SubtitlesOptions())


def _build(lesson_id: str, transcript: Path, media: Path | None, duration: float | None,
           footnotes: int, media_note: str, method: Method,
           limits: SubtitlesOptions) -> SubtitleBuild:
    scan: AudioScan | None = None
    warnings: list[str] = []
    reason = media_note or "no media"
    if media is not None:
        try:
            scan = detect_pauses(media, method)
        except NoAudio:
            reason = "the media has no sound track"
            warnings.append(f"{media.name} has no sound track: proportional timing")
    if scan is not None and not scan.pauses:
        reason = "no pauses found in the sound track" + (
            f" ({scan.levels['note']})" if scan.levels.get("note") else "")
        warnings.append(f"{media.name if media else 'media'}: {reason}: proportional timing")
    pauses = scan.pauses if scan is not None and scan.pauses else None
    bound = scan.duration if scan is not None and scan.duration else duration
    fmt, paragraphs = read_transcript(transcript, bound,
                                      max_bytes=limits.max_transcript_bytes)
    pairs = cohesion(p.zh for p in paragraphs)
    units = _units(transcript, paragraphs, pairs, limits.max_paragraph_sentences)
    timing = time_paragraphs(paragraphs, units, bound, pauses,
                             reason="" if pauses is not None else reason)
    if scan is None:
        warnings.append(f"proportional timing: {reason}")
    moved: dict[str, int] = {}
    cues_by_track = track_cues(units, bound, pairs, moved)
    cues = cues_by_track[BILINGUAL_TRACK.key]
    by_track = tracks(cues_by_track)
    files: dict[str, bytes] = {
        spec.vtt_name(lesson_id): write_vtt(by_track[spec.key], spec.bcp47,
                                            provenance(lesson_id, spec, transcript)).encode()
        for spec in TRACKS}
    files.update({name: write_srt(by_track[spec.key]).encode() for spec in TRACKS
                  if (name := spec.srt_name(lesson_id)) is not None})
    dropped: dict[str, int] = {}
    for cue in cues_by_track[DEFAULT_TRACK.key]:
        if cue.dropped:
            dropped[cue.dropped] = dropped.get(cue.dropped, 0) + 1
    snaps = timing.snap_distances
    report: dict[str, Any] = {
        "schema": SCHEMA, "lesson": lesson_id, "transcript_format": fmt,
        "timing": {
            "source": timing.source, "reason": timing.reason, "paragraphs": len(paragraphs),
            "boundaries": timing.boundaries, "snapped": timing.snapped,
            "snap_mean": round(statistics.fmean(snaps), 3) if snaps else 0.0,
            "snap_max": round(max(snaps), 3) if snaps else 0.0,
            "speech_rate": round(timing.speech_rate, 3),
            "pauses": len(scan.pauses) if scan else 0,
            "media_duration": scan.duration if scan else None,
            "duration_bound": bound,
            "pause_method": scan.method if scan else None,
            "pause_levels": scan.levels if scan else {},
            "detect_seconds": round(scan.seconds, 3) if scan else None,
            "smoothing": {"start_bound": START_BOUND, "end_bound": END_BOUND,
                          "edges_moved": moved},
        },
        "tracks": {name: check_track(cues_, bound, name,
                                     [c.dropped for c in cues_by_track[name]]
                                     if MODES[name] != "en" else ())
                   for name, cues_ in by_track.items()},
        "text": {
            "zh_preserved": all(preserved("".join(p.zh for p in paragraphs),
                                          [c.zh for c in cues_by_track[t.key]],
                                          [c.dropped for c in cues_by_track[t.key]])
                                for t in tracks_showing("zh-Hans")),
            "en_preserved": all(preserved(" ".join(p.en for p in paragraphs),
                                          [c.en for c in cues_by_track[t.key]],
                                          [""] * len(cues_by_track[t.key]))
                                for t in tracks_showing("en")),
            "dropped_at_cue_end": dropped,
        },
        "footnote_markers": _footnote_markers(paragraphs, footnotes),
        "notes": [
            "a cue-final 。 or ，(also half-width ,) is not shown, by Chinese subtitle "
            "convention; every other character is kept, half-width punctuation included",
            "footnote markers in the English (e.g. Commission7) are kept as written",
            f"to even out English reading speed, cue edges of the "
            f"{' and '.join(t.key for t in tracks_showing('en'))} tracks "
            f"may move up to {START_BOUND:g} s (start) and {END_BOUND:g} s (end) from the "
            f"speech they carry; the zh-Hans track follows the speech",
        ],
    }
    for spec in TRACKS:
        name = spec.vtt_name(lesson_id)
        problems = check_vtt(files[name])
        report["tracks"][spec.key]["vtt_problems"] = problems
        if problems:
            warnings.append(f"{name}: {len(problems)} WebVTT problems: {problems[0]}")
    chapters = chapters_mod.chapters(paragraphs, cues, bound)
    files["transcript.json"] = json_bytes(transcript_json(
        chapters_mod.timed_paragraphs(paragraphs, cues)))
    files["chapters.json"] = json_bytes(chapters_json(chapters))
    files["quality.json"] = json_bytes(report)
    files["quality.txt"] = summary(report).encode()
    return SubtitleBuild(lesson=lesson_id, paragraphs=paragraphs, cues=cues, files=files,
                         quality=report, transcript_format=fmt,
                         commands=[scan.command] if scan else [], warnings=warnings, scan=scan,
                         track_cues=cues_by_track)


def write_outputs(build: SubtitleBuild, folder: Path) -> list[Path]:
    """Replace `folder` by a folder holding exactly the new files, as one step.

    The files are written (each atomically, fsynced) into a sibling staging folder whose name
    contains `.tmp-`; only when all are there is the old folder renamed away and the new one
    renamed into place. A failure while writing (disk full, a size limit) leaves the previous
    tracks untouched and consistent: never a new English track beside an old Chinese one.
    Leftover staging folders of an interrupted run are removed first.
    """
    remove_stale_staging(folder)
    staging = staging_dir(folder)
    try:
        for name, data in build.files.items():
            atomic_write_bytes(staging / name, data)
        swap_dir(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [folder / name for name in build.files]
