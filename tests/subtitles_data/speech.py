"""Generate a Mandarin speech track whose clause times are known (espeak-ng + ffmpeg).

Each clause of a few lesson-13 paragraphs is spoken by `espeak-ng -v cmn -s 240` into its own
WAV; the clauses are trimmed to their first and last audible sample (so the recorded times are
the real speech onsets), joined with chosen silences (clause, sentence, paragraph pauses, and
hesitations inside some long clauses, as lecturers make), laid over faint noise (a real room is
never digital silence) and encoded by ffmpeg as an H.264/AAC MP4, like a fetched lesson.
The transcript written beside it has the paragraphs' start times rounded to the second, as a
human transcriber gives them. `truth` maps a paragraph's spoken-character offset to seconds.
"""

from __future__ import annotations

import array
import json
import math
import random
import re
import subprocess
import unicodedata
import wave
from dataclasses import dataclass
from pathlib import Path

RATE = 22050  # espeak-ng's output rate
THRESHOLD = 300  # |sample| above this (about -40 dBFS) is speech
NOISE = 40  # about -58 dBFS of room noise


def spoken(text: str) -> int:
    return sum(1 for c in text if unicodedata.category(c)[0] in ("L", "N"))


@dataclass
class Segment:
    paragraph: int
    chars: tuple[int, int]  # spoken-character offsets within the paragraph
    times: tuple[float, float]  # true speech start and end (s)


def _speak(text: str, folder: Path, index: int) -> array.array[int]:
    path = folder / f"clause-{index:03d}.wav"
    subprocess.run(["espeak-ng", "-v", "cmn", "-s", "240", "-w", str(path), text], check=True)
    with wave.open(str(path), "rb") as handle:
        assert handle.getframerate() == RATE and handle.getsampwidth() == 2
        samples = array.array("h", handle.readframes(handle.getnframes()))
    first = next(i for i, s in enumerate(samples) if abs(s) > THRESHOLD)
    last = len(samples) - next(i for i, s in enumerate(reversed(samples)) if abs(s) > THRESHOLD)
    return samples[first:last]


def _clauses(zh: str) -> list[tuple[str, str]]:
    """(clause, mark after it) split at Chinese punctuation, independent of the code under test."""
    parts = re.findall(r"([^，,。；;：:！？]+)([，,。；;：:！？]?)", zh)
    return [(text, mark) for text, mark in parts if spoken(text)]


def make_track(folder: Path, en: list[str], zh: list[str], seed: int = 13,
               hard: bool = False, bed: bool = False) -> tuple[Path, Path, list[Segment]]:
    """Write speech.mp4 and transcript.txt into `folder`; return them and the true segments.

    `hard`: a noisier room (about -44 dBFS), shorter pauses (0.2-0.35 s between clauses) and
    more hesitations, closer to a fast lecturer than to a clean recording.
    `bed`: a soft music bed under everything (a slowly swelling chord, about -30 dBFS), as
    produced lectures often have: the pauses are never silent.
    """
    rng = random.Random(seed)
    noise_level = 200 if hard else NOISE
    clause_pause = (0.2, 0.35) if hard else (0.3, 0.5)
    hesitation = 0.6 if hard else 0.3
    folder.mkdir(parents=True, exist_ok=True)
    noise = array.array("h", (rng.randint(-noise_level, noise_level) for _ in range(RATE)))
    audio = array.array("h")

    def silence(seconds: float) -> None:
        n = int(seconds * RATE)
        while n > 0:
            take = min(n, len(noise))
            audio.extend(noise[:take])
            n -= take

    segments: list[Segment] = []
    stamps: list[float] = []
    index = 0
    silence(3.0)  # an opening title without speech
    for p, text in enumerate(zh):
        if p:
            silence(rng.uniform(1.2, 2.0))
        stamps.append(len(audio) / RATE)
        offset = 0
        for clause, mark in _clauses(text):
            pieces = [clause]
            if spoken(clause) >= 12 and rng.random() < hesitation:  # a hesitation mid-clause
                half = len(clause) // 2
                pieces = [clause[:half], clause[half:]]
            for k, piece in enumerate(pieces):
                if k:
                    silence(rng.uniform(0.25, 0.4))
                samples = _speak(piece, folder, index)
                index += 1
                start = len(audio) / RATE
                audio.extend(samples)
                segments.append(Segment(p, (offset, offset + spoken(piece)),
                                        (start, len(audio) / RATE)))
                offset += spoken(piece)
            silence(rng.uniform(0.55, 0.9) if mark in "。！？" else rng.uniform(*clause_pause))
    silence(4.0)  # an outro without speech
    if bed:
        chord = array.array("h", (int((0.8 + 0.2 * math.sin(2 * math.pi * 0.5 * i / RATE))
                                      * sum(330 * math.sin(2 * math.pi * f * i / RATE)
                                            for f in (220.0, 277.2, 329.6)))
                                  for i in range(2 * RATE)))
        n = len(chord)
        audio = array.array("h", (max(-32768, min(32767, s + chord[i % n]))
                                  for i, s in enumerate(audio)))
    wav = folder / "speech.wav"
    with wave.open(str(wav), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes(audio.tobytes())
    media = folder / "speech.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "color=c=black:s=64x36:r=5", "-i", str(wav),
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "64k", "-ar", "44100", "-shortest", str(media)],
                   check=True)
    transcript = folder / "transcript.txt"
    lines = []
    for stamp, english, chinese in zip(stamps, en, zh, strict=True):
        whole = round(stamp)
        lines += [f"{whole // 60:02d}:{whole % 60:02d}", english, chinese]
    transcript.write_text("\n".join(lines) + "\n", "utf-8")
    (folder / "truth.json").write_text(json.dumps([s.__dict__ for s in segments]), "utf-8")
    return media, transcript, segments


def truth(segments: list[Segment], paragraph: int, offset: int) -> float:
    """When the speaker reaches spoken character `offset` of `paragraph` (interpolated)."""
    for seg in segments:
        a, b = seg.chars
        if seg.paragraph == paragraph and a <= offset < b:
            return seg.times[0] + (seg.times[1] - seg.times[0]) * (offset - a) / (b - a)
    raise KeyError((paragraph, offset))
