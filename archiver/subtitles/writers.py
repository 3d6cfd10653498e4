"""WebVTT and SRT writers (our own: webvtt-py does not escape, see FIELD-NOTES).

WebVTT cue text is escaped (`&` → `&amp;`, `<` → `&lt;`, `>` → `&gt;`, the last so that no
text can ever read as `-->`); the bilingual track wraps its English in `<lang en>…</lang>`.
SRT has no escape mechanism at all (players show `&amp;` literally), so SRT text is written
verbatim. Times are rounded to milliseconds once, then forced strictly increasing per cue so
rounding can never produce an empty or inverted cue.
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


def write_vtt(cues: Sequence[TrackCue], language: str) -> str:
    """A WebVTT file; `language` goes into a header metadata line (ignored by players)."""
    blocks = [f"WEBVTT\nLanguage: {language}"]
    for number, (cue, (start, end)) in enumerate(zip(cues, _times(cues), strict=True), 1):
        payload = _payload(cue)
        if not payload:
            continue
        blocks.append(f"{number}\n{vtt_time(start)} --> {vtt_time(end)}\n" + "\n".join(payload))
    return "\n\n".join(blocks) + "\n"


def write_srt(cues: Sequence[TrackCue]) -> str:
    blocks: list[str] = []
    for cue, (start, end) in zip(cues, _times(cues), strict=True):
        lines = [line for line in (*cue.lines, *cue.en_lines) if line.strip()]
        if not lines:
            continue
        blocks.append(f"{len(blocks) + 1}\n{srt_time(start)} --> {srt_time(end)}\n"
                      + "\n".join(lines))
    return "\n\n".join(blocks) + "\n"
