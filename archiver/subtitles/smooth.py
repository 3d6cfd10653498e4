"""Even out reading speed between neighbouring cues by moving their edges a bounded amount.

English cues inherit the timing of the Chinese they translate, and the translation is far
longer than the original (about 19 characters per second of speech on lesson 13, against a
20 characters/s limit), so a verbose piece over a short clause is shown too fast while its
neighbour, over a long clause, has time to spare. Professional subtitlers fix this by letting
a cue start a little before or end a little after its speech, or by borrowing time from the
next cue (BBC subtitle guidelines: a subtitle should stay within about 1.5 s of the speech it
carries; Netflix: the 2-frame gap, 5/6 s to 7 s duration).

`smooth_reading_speed` does that, after `style.display_timing`, for the tracks that show
English. Only a cue over a reading-speed limit triggers a move. Pair by pair (a cue and the
next one shown): the dense cue's end extends into the pause after it, or its start moves
into the pause before it, just far enough to be readable; if the two then collide, they share
the boundary: the one under its limit gives time only down to its own limit; when both are
over, one is made readable if the other stays ≤ CAP x the limit (one exception at ≤ 25
characters/s is better for viewers and for the count than two at 22), else the boundary is
set where their loads (seconds needed to read) are equalled. A move never makes the pair's
worse reading speed worse (except up to CAP as said). Passes repeat so spare time can travel
along a run of cues. Hard limits, never crossed:

- a cue's start stays within START_BOUND (0.6 s) of its speech onset, its end within
  END_BOUND (= style.LINGER, 1 s) of its speech end (or where display timing put it, if
  further). Both are inside BBC's 1.5 s; the start bound is the tighter because a cue shown
  well before or after its words is confusing, and it keeps the alignment accuracy (cue
  start within 0.8 s of the words for 90 % of cues, issue 3) with a margin;
- a paragraph's first cue keeps its start (the transcript's own time, or its audio onset):
  chapters and transcript.json use it;
- duration in [MIN_DURATION, MAX_DURATION] (or no worse than before), ≥ MIN_GAP between cues,
  starts increasing, nothing past the media's end.

The Chinese track is never smoothed: its cues meet the Chinese limits on their own. The
bilingual track counts both languages' reading time, so it never trades a Chinese violation
for an English one. Dense passages stay dense: what cannot be met is still reported by
`quality`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from archiver.subtitles.cues import Cue
from archiver.subtitles.style import (
    EN_CPS,
    LINGER,
    MAX_DURATION,
    MIN_DURATION,
    MIN_GAP,
    ZH_CPS,
    Mode,
)
from archiver.subtitles.text import spoken_count

START_BOUND = 0.6  # s a cue's start may move from its speech onset (either way)
END_BOUND = LINGER  # s a cue's end may move from its speech end (either way)
CAP = 1.25  # x the limit (25 English characters/s): see the module's docstring
PASSES = 40  # enough for spare time to travel a paragraph's length; each pass is O(cues)
MARGIN = 0.005  # s added to a cue's need, so "just readable" is not over by a rounding error
EPSILON = 1e-3  # s: smaller moves are not worth another pass


def need(cue: Cue, mode: Mode) -> float:
    """Seconds a viewer needs to read the cue at the reading-speed limits (plus MARGIN, so
    a cue given exactly its need is not over the limit by a rounding error)."""
    english = len(" ".join(cue.en_lines)) / EN_CPS if mode != "zh" else 0.0
    chinese = spoken_count(cue.zh) / ZH_CPS if mode != "en" else 0.0
    return max(english, chinese) + MARGIN if english or chinese else 0.0


class _Limits:
    """Per-cue bounds on start and end, fixed before any move (so moves never accumulate)."""

    def __init__(self, cues: Sequence[Cue], speech: Sequence[tuple[float, float]],
                 limit: float, fixed: Sequence[bool]) -> None:
        self.start_lo: list[float] = []
        self.start_hi: list[float] = []
        self.end_lo: list[float] = []
        self.end_hi: list[float] = []
        self.dur_lo: list[float] = []
        self.dur_hi: list[float] = []
        for cue, (onset, offset), keep in zip(cues, speech, fixed, strict=True):
            bound = 0.0 if keep else START_BOUND
            self.start_lo.append(min(cue.start, max(0.0, onset - bound)))
            self.start_hi.append(max(cue.start, onset + bound))
            self.end_lo.append(min(cue.end, offset - END_BOUND))
            self.end_hi.append(max(cue.end, min(offset + END_BOUND, limit)))
            duration = cue.end - cue.start
            self.dur_lo.append(min(duration, MIN_DURATION))
            self.dur_hi.append(max(duration, MAX_DURATION))


def _ratio(load: float, duration: float) -> float:
    return load / duration if duration > 0 else math.inf


def _step(a: Cue, b: Cue | None, i: int, lim: _Limits, loads: Sequence[float]) -> bool:
    """Move a's end and b's start (b follows a; None: a is the last cue). True if moved."""
    x_lo = max(lim.end_lo[i], a.start + lim.dur_lo[i])
    x_hi = min(lim.end_hi[i], a.start + lim.dur_hi[i])
    if b is None:
        if _ratio(loads[i], a.end - a.start) <= 1 or x_hi <= a.end:
            return False
        a.end = min(max(a.start + loads[i], a.end), x_hi)
        return True
    j = i + 1
    y_lo = max(lim.start_lo[j], b.end - lim.dur_hi[j])
    y_hi = min(lim.start_hi[j], b.end - lim.dur_lo[j])
    ra, rb = _ratio(loads[i], a.end - a.start), _ratio(loads[j], b.end - b.start)
    if (ra <= 1 and rb <= 1) or b.start - a.end < MIN_GAP - 1e-9:
        return False
    # Just enough for the cue over its limit to be readable (the current times are always
    # within the bounds, so clamping keeps them feasible).
    x = min(max(a.start + loads[i] if ra > 1 else a.end, x_lo), x_hi)
    y = min(max(b.end - loads[j] if rb > 1 else b.start, y_lo), y_hi)
    if y - x < MIN_GAP - 1e-9:
        # Both want the same time: the shared boundary where their loads are equalled,
        # unless the one not over its limit would be pushed over: then just to its limit.
        total = loads[i] + loads[j]
        t = ((loads[i] * b.end + loads[j] * (MIN_GAP + a.start)) / total if total
             else (a.end + b.start) / 2)
        if ra <= 1:
            t = max(t, a.start + loads[i] + MIN_GAP)
        if rb <= 1:
            t = min(t, b.end - loads[j])
        if ra > 1 and rb > 1:
            # Better one cue readable and the other at most CAP over than both a little over.
            options = [u for u in (a.start + loads[i] + MIN_GAP, b.end - loads[j])
                       if max(_ratio(loads[i], u - MIN_GAP - a.start),
                              _ratio(loads[j], b.end - u)) <= CAP]
            if options:
                t = min(options, key=lambda u: abs(u - b.start))
        lo, hi = max(y_lo, x_lo + MIN_GAP), min(y_hi, x_hi + MIN_GAP)
        if lo > hi:
            return False
        t = min(max(t, lo), hi)
        x, y = t - MIN_GAP, t
    if abs(x - a.end) < EPSILON and abs(y - b.start) < EPSILON:
        return False
    # Never make the pair's worse reading speed worse, except up to CAP to make one readable.
    if max(_ratio(loads[i], x - a.start), _ratio(loads[j], b.end - y)) > max(ra, rb, CAP):
        return False
    a.end, b.start = x, y
    return True


def smooth_reading_speed(cues: list[Cue], speech: Sequence[tuple[float, float]],
                         limit: float | None, mode: Mode) -> int:
    """Move cue edges (bounded, see the module's docstring) so fewer cues are read too fast.

    `speech`: each cue's (onset, end of speech) before display timing. A cue of the "en"
    track without English (not written there) has nothing to read: it may give its time
    away down to the minimum duration, but keeps its place. Returns how many edges moved."""
    if mode == "zh" or len(cues) == 0:
        return 0
    fixed = [k == 0 or cues[k].paragraph != cues[k - 1].paragraph for k in range(len(cues))]
    lim = _Limits(cues, speech, limit if limit is not None else math.inf, fixed)
    loads = [need(c, mode) for c in cues]
    before = [(c.start, c.end) for c in cues]
    for _ in range(PASSES):
        moved = False
        for i, cue in enumerate(cues):
            following = cues[i + 1] if i + 1 < len(cues) else None
            moved |= _step(cue, following, i, lim, loads)
        if not moved:
            break
    return sum((abs(c.start - s) > 1e-9) + (abs(c.end - e) > 1e-9)
               for c, (s, e) in zip(cues, before, strict=True))
