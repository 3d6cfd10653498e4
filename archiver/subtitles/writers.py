"""WebVTT and SRT writers (our own: webvtt-py does not escape, see FIELD-NOTES).

WebVTT cue text is escaped (`&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`, the last so that no
text can ever read as `-->`); the bilingual track wraps its English in `<lang en>…</lang>`.
The file starts `WEBVTT`, a blank line, then a `NOTE` block naming the track's BCP 47 language
and where it came from: the W3C parser (webvtt-parser, behind the W3C validator) rejects any
header line after the signature ("No blank line after the signature"), so the old
`Language:` header is gone; players and containers take the language from `<track srclang>`
or the Matroska track, never from the file.

SRT has no escape mechanism at all (players show `&amp;` literally), so SRT text is written
verbatim except where it could be read as structure: `-->` in text becomes the look-alike `–->`
(`SRT_ARROW`), so no text line parses as a timing line, and blank lines are dropped, since a
blank line ends an SRT cue and the next line would read as a cue number.

Times are rounded to milliseconds once, then forced strictly increasing per cue so rounding
can never produce an empty or inverted cue.
"""

from __future__ import annotations

from collections.abc import Sequence

# one cue of one track, ready to write (the model's record: times, lines, English lines)
from archiver.model.timed import Cue as TrackCue


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def vtt_time(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def srt_time(ms: int) -> str:
    return vtt_time(ms).replace(".", ",")


def _times(cues: Sequence[TrackCue]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cue in cues:
        start = _ms(cue.start)
        if out and start < out[-1][0]:
            start = out[-1][0]
        out.append((start, max(_ms(cue.end), start + 1)))
    return out


def _payload(cue: TrackCue) -> list[str]:
    lines = [escape(line) for line in cue.lines if line.strip()]
    en = [escape(line) for line in cue.en_lines if line.strip()]
    if en:
        lines.append("<lang en>" + "\n".join(en) + "</lang>")
    return lines


def _note(language: str, provenance: Sequence[str]) -> str:
    """The NOTE block: a NOTE may not contain `-->` nor a blank line (it would end the block)."""
    lines = [f"language: {language}", *provenance]
    return "NOTE\n" + "\n".join(line.replace("-->", "->") for line in lines if line.strip())


def write_vtt(cues: Sequence[TrackCue], language: str, provenance: Sequence[str] = ()) -> str:
    """A WebVTT file; `language` (BCP 47) and `provenance` lines go into a NOTE block."""
    blocks = ["WEBVTT", _note(language, provenance)]
    for number, (cue, (start, end)) in enumerate(zip(cues, _times(cues), strict=True), 1):
        payload = _payload(cue)
        if not payload:
            continue
        blocks.append(f"{number}\n{vtt_time(start)} --> {vtt_time(end)}\n" + "\n".join(payload))
    return "\n\n".join(blocks) + "\n"


# U+2013 EN DASH + "->": reads like an arrow, but no SRT parser takes it for the separator
SRT_ARROW = "\u2013->"


def srt_text(lines: Sequence[str]) -> list[str]:
    """Cue text lines safe for SRT: `-->` replaced by `SRT_ARROW`, blank lines (also inside a
    line) dropped, so no text line can read as a timing line or end the cue early."""
    out: list[str] = []
    for line in lines:
        for part in line.splitlines():
            if part.strip():
                out.append(part.replace("-->", SRT_ARROW))
    return out


def write_srt(cues: Sequence[TrackCue]) -> str:
    """An SRT file, numbered from 1; cue text made structure-safe by `srt_text`."""
    blocks: list[str] = []
    for cue, (start, end) in zip(cues, _times(cues), strict=True):
        lines = srt_text((*cue.lines, *cue.en_lines))
        if not lines:
            continue
        blocks.append(f"{len(blocks) + 1}\n{srt_time(start)} --> {srt_time(end)}\n"
                      + "\n".join(lines))
    return "\n\n".join(blocks) + "\n"
