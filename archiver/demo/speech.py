"""Mandarin speech for the demo mirror: clauses spoken by espeak-ng, timed to the transcript.

The subtitle stage aligns cues to real pauses in the audio, so the demo needs audio whose pauses
are known exactly. Each clause of a paragraph is synthesised on its own (so no pause is hidden
inside a clause), trimmed to its first and last audible sample, and placed with explicit
silences between clauses and sentences. The speaking rate is chosen per paragraph so that its
speech fits between its timestamp and the next one, the way a lecturer paces a script. The
placement is returned sample-exact, so `truth.json` states where speech really is.
"""

from __future__ import annotations

import array
import io
import re
import statistics
import subprocess
import wave
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from archiver.errors import ArchiverError

RATE = 22050                  # espeak-ng's native sample rate (mono, 16-bit)
THRESHOLD = 328               # |sample| at -40 dBFS: quieter than this counts as silence
AMPLITUDE = 70                # espeak-ng -a (default 100 clips); headroom for AAC
PAUSES = {"sentence": 0.75, "clause": 0.42, "enumeration": 0.2}
MIN_PAUSES = {"sentence": 0.45, "clause": 0.34, "enumeration": 0.12}
LEAD_IN = 0.1                 # speech starts this long after the paragraph's timestamp
TAIL = 0.8                    # at least this much silence before the next paragraph
CALIBRATION_SPEED = 175       # espeak-ng's default words-per-minute setting
MIN_SPEED, MAX_SPEED = 120, 600
DEFAULT_SPEED = 240           # close to a lecturer (FIELD-NOTES.md) when no window is known

SENTENCE_END = "。！？!?"
ENUMERATION = "、"
CLAUSE_END = "，,；;：:"
SPLIT = re.compile(f"([{SENTENCE_END}{ENUMERATION}{CLAUSE_END}])")
UNSPOKEN = re.compile(r"[\s“”\"‘’'《》「」『』()（）\[\]【】]+")


@dataclass(frozen=True)
class Clause:
    """A stretch of text spoken without a pause, and the punctuation that ends it."""

    text: str
    punct: str = ""

    @property
    def kind(self) -> str:
        """The pause that follows: "sentence", "clause" or "enumeration"."""
        if not self.punct or self.punct in SENTENCE_END:
            return "sentence"
        return "enumeration" if self.punct in ENUMERATION else "clause"


@dataclass
class PlacedClause:
    """A clause's audio and where it sits on the timeline (in samples)."""

    clause: Clause
    samples: array.array[int]
    start: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.samples)


@dataclass
class PlacedParagraph:
    index: int
    timestamp: float
    zh: str
    speed: int
    clauses: list[PlacedClause] = field(default_factory=list)

    @property
    def start(self) -> int:
        return self.clauses[0].start

    @property
    def end(self) -> int:
        return self.clauses[-1].end


def split_clauses(zh: str) -> list[Clause]:
    """Split Chinese text at sentence, clause and enumeration punctuation (both widths).

    Quotation marks, brackets and spaces are not spoken; a piece left empty by that (a
    closing quote after a comma) gives its punctuation to the clause before it.
    """
    parts = SPLIT.split(zh)
    clauses: list[Clause] = []
    for i in range(0, len(parts), 2):
        text = UNSPOKEN.sub("", parts[i])
        punct = parts[i + 1] if i + 1 < len(parts) else ""
        if text:
            clauses.append(Clause(text, punct))
        elif clauses and punct and clauses[-1].kind != "sentence":
            clauses[-1] = Clause(clauses[-1].text, punct)
    return clauses


def espeak_version() -> str:
    try:
        out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ArchiverError(f"espeak-ng is needed for the demo's speech ({exc}); "
                            "install it with: apt-get install espeak-ng") from None
    return out.split("Data at")[0].strip()


def synthesize(text: str, speed: int, voice: str = "cmn") -> array.array[int]:
    """Speak `text` and return its audible part (trimmed at -40 dBFS)."""
    # text goes in on stdin: a clause starting with "-" must not be read as an option
    command = ["espeak-ng", "-v", voice, "-s", str(speed), "-a", str(AMPLITUDE), "--stdout",
               "--stdin"]
    try:
        wav = subprocess.run(command, input=text.encode("utf-8"), capture_output=True,
                             check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ArchiverError(f"espeak-ng failed on {text!r}: {exc}") from None
    with wave.open(io.BytesIO(wav)) as reader:
        if (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) != (RATE, 1, 2):
            raise ArchiverError(f"espeak-ng produced an unexpected format for {text!r}")
        samples = array.array("h", reader.readframes(reader.getnframes()))
    first = next((i for i, s in enumerate(samples) if abs(s) >= THRESHOLD), None)
    if first is None:
        raise ArchiverError(f"espeak-ng produced no audible speech for {text!r}")
    last = next(i for i in range(len(samples) - 1, -1, -1) if abs(samples[i]) >= THRESHOLD)
    return samples[first:last + 1]


def _speak_all(clauses: Sequence[Clause], speed: int, jobs: int) -> list[array.array[int]]:
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda c: synthesize(c.text, speed), clauses))


def _pauses(clauses: Sequence[Clause], table: dict[str, float]) -> list[float]:
    """Silence after each clause but the last (the paragraph's end is handled by placement)."""
    return [table[c.kind] for c in clauses[:-1]] + [0.0]


def _seconds(samples: Sequence[array.array[int]]) -> float:
    return sum(len(s) for s in samples) / RATE


def plan_paragraph(index: int, timestamp: float, zh: str, window: float | None,
                   jobs: int = 2, speed: int | None = None) -> PlacedParagraph:
    """Synthesise one paragraph so that it fits `window` seconds after `timestamp`.

    The speed is calibrated: speak once at the default rate, scale the rate by how much
    shorter the speech must be, speak again, and repeat once more if espeak-ng's rate is not
    quite proportional. If the fastest rate still overflows, pauses shrink to their minimum.
    With no window (the last paragraph) `speed` is used as given.
    """
    clauses = split_clauses(zh)
    if not clauses:
        raise ArchiverError(f"paragraph {index} at {timestamp:.0f} s has no speakable text")
    pauses = _pauses(clauses, PAUSES)
    if window is None:
        chosen = speed or DEFAULT_SPEED
        audio = _speak_all(clauses, chosen, jobs)
    else:
        budget = window - LEAD_IN - TAIL
        audio = _speak_all(clauses, CALIBRATION_SPEED, jobs)
        chosen = CALIBRATION_SPEED
        for _ in range(3):
            target = budget - sum(pauses)
            if target <= 0:
                pauses = _pauses(clauses, MIN_PAUSES)
                target = max(budget - sum(pauses), 0.1)
            wanted = min(MAX_SPEED, max(MIN_SPEED, round(chosen * _seconds(audio) / target)))
            if abs(wanted - chosen) <= 2:  # converged: espeak-ng's rate is nearly linear
                break
            chosen = wanted
            audio = _speak_all(clauses, chosen, jobs)
        if _seconds(audio) + sum(pauses) > budget:
            pauses = _pauses(clauses, MIN_PAUSES)
        if _seconds(audio) + sum(pauses) > window - LEAD_IN:
            raise ArchiverError(
                f"paragraph {index} at {timestamp:.0f} s ({len(zh)} characters) cannot be "
                f"spoken within {window:.1f} s even at espeak-ng speed {MAX_SPEED}")
    placed = PlacedParagraph(index=index, timestamp=timestamp, zh=zh, speed=chosen)
    position = round((timestamp + LEAD_IN) * RATE)
    for clause, samples, pause in zip(clauses, audio, pauses, strict=True):
        placed.clauses.append(PlacedClause(clause, samples, position))
        position += len(samples) + round(pause * RATE)
    return placed


def plan_speech(paragraphs: Sequence[tuple[float, str]], speech_until: float,
                jobs: int = 2) -> list[PlacedParagraph]:
    """Place every paragraph; the last one speaks at the others' median rate.

    `speech_until` bounds the last paragraph (the outro follows it): it has no next
    timestamp, and a lecturer does not slow down for the final sentence.
    """
    for i in range(1, len(paragraphs)):
        if paragraphs[i][0] <= paragraphs[i - 1][0]:
            raise ArchiverError(f"paragraph {i} at {paragraphs[i][0]:.0f} s does not come after "
                                f"paragraph {i - 1} at {paragraphs[i - 1][0]:.0f} s")
    if paragraphs and paragraphs[-1][0] + LEAD_IN >= speech_until:
        raise ArchiverError(f"the last paragraph at {paragraphs[-1][0]:.0f} s leaves no time "
                            f"for speech before {speech_until:.0f} s")
    placed: list[PlacedParagraph] = []
    for i, (timestamp, zh) in enumerate(paragraphs[:-1]):
        window = paragraphs[i + 1][0] - timestamp
        placed.append(plan_paragraph(i, timestamp, zh, window, jobs))
    last_at, last_zh = paragraphs[-1]
    speed = round(statistics.median(p.speed for p in placed)) if placed else DEFAULT_SPEED
    last = plan_paragraph(len(placed), last_at, last_zh, None, jobs, speed)
    if last.end > speech_until * RATE:
        last = plan_paragraph(len(placed), last_at, last_zh, speech_until - last_at + TAIL,
                              jobs)
    placed.append(last)
    return placed
