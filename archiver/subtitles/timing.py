"""When each unit is spoken: proportional to Chinese characters, then snapped to audio pauses.

The transcript gives one time per paragraph (to the second). Inside a paragraph, Mandarin
speaking time is close to proportional to the number of characters, so the span is shared out
by spoken characters. With the sound track we do better: `audio` finds the pauses (ffmpeg
level measurements, adaptive threshold); time is shared out over the *voiced* part of the
span only, and every unit boundary is matched to a nearby pause by a monotonic dynamic
programme (each pause used at most once; boundaries without a pause within their window stay
proportional between matched anchors).
Clause boundaries are where speakers pause, so this puts cue starts on speech onsets.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass, field

from archiver.model import Paragraph
from archiver.subtitles.audio import Pause
from archiver.subtitles.cues import Unit

DEFAULT_RATE = 3.5  # Chinese characters per second, pauses included (SERIES-FACTS)
START_WINDOW = (1.0, 1.5)  # a paragraph's speech may begin this much before/after its stamp
INSIDE_WINDOW = 3.0  # ... or this much after it when the stamp falls inside a pause
END_WINDOW = 3.0  # the last paragraph's estimated end may move this much to a pause
WINDOWS = {"paragraph": 1.5, "sentence": 1.5, "clause": 1.2, "soft": 0.5}


@dataclass
class TimingReport:
    source: str  # "audio-snapped" or "proportional"
    reason: str = ""
    boundaries: int = 0
    snapped: int = 0
    snap_distances: list[float] = field(default_factory=list)
    speech_rate: float = DEFAULT_RATE


def speech_rate(paragraphs: list[Paragraph], weights: list[int]) -> float:
    """Median characters per second over paragraphs whose span is known."""
    rates = [w / (b.start - a.start) for a, b, w in zip(paragraphs, paragraphs[1:], weights,
                                                       strict=False) if b.start > a.start]
    return statistics.median(rates) if rates else DEFAULT_RATE


def _voiced(a: float, b: float, pauses: list[Pause]) -> list[tuple[float, float]]:
    """[a, b] without the pauses inside it."""
    spans: list[tuple[float, float]] = []
    cursor = a
    for pause in pauses:
        if pause.end <= cursor or pause.start >= b:
            continue
        if pause.start > cursor:
            spans.append((cursor, pause.start))
        cursor = max(cursor, pause.end)
    if cursor < b:
        spans.append((cursor, b))
    return spans or [(a, b)]


def _share(a: float, b: float, weights: list[float], pauses: list[Pause]) -> list[float]:
    """Clock times of the inner boundaries when [a, b]'s voiced time is shared by weight."""
    spans = _voiced(a, b, pauses)
    total_voiced = sum(e - s for s, e in spans)
    total = sum(weights) or 1.0
    times: list[float] = []
    acc = 0.0
    for weight in weights[:-1]:
        acc += weight
        want = total_voiced * acc / total
        for s, e in spans:
            if want <= e - s + 1e-9:
                times.append(s + want)
                break
            want -= e - s
        else:
            times.append(b)
    return times


def _match(bounds: list[float], windows: list[float], pauses: list[Pause]) -> list[int | None]:
    """Monotonic matching of boundaries to pauses minimising distance (unmatched = window)."""
    n, m = len(bounds), len(pauses)
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    move = [[0] * (m + 1) for _ in range(n + 1)]
    cost[0] = [0.0] * (m + 1)  # pauses before the first boundary are skipped for free
    for k in range(1, n + 1):
        for j in range(m + 1):
            best, how = cost[k - 1][j] + windows[k - 1], 0  # boundary k unmatched
            if j and cost[k][j - 1] < best:
                best, how = cost[k][j - 1], 1  # pause j unused
            if j:
                pause, b = pauses[j - 1], bounds[k - 1]
                dist = max(pause.start - b, b - pause.end, 0.0)
                if dist <= windows[k - 1] and cost[k - 1][j - 1] + dist < best:
                    best, how = cost[k - 1][j - 1] + dist, 2
            cost[k][j], move[k][j] = best, how
    result: list[int | None] = [None] * n
    k, j = n, min(range(m + 1), key=lambda x: cost[n][x])
    while k > 0:
        how = move[k][j]
        if how == 2:
            result[k - 1] = j - 1
            k, j = k - 1, j - 1
        elif how == 1:
            j -= 1
        else:
            k -= 1
    return result


def _snap_start(stamp: float, pauses: list[Pause], before_next: float) -> tuple[float,
                                                                              Pause | None]:
    """Speech onset near a paragraph's stamp: the end of the nearest pause within the window
    (or of the pause the stamp falls in, up to INSIDE_WINDOW later), before the next stamp."""
    before, after = START_WINDOW
    near = [p for p in pauses if p.end < before_next - 0.1 and (
        stamp - before <= p.end <= stamp + after
        or p.start <= stamp <= p.end <= stamp + INSIDE_WINDOW)]
    if not near:
        return stamp, None
    best = min(near, key=lambda p: abs(p.end - stamp))
    return best.end, best


def _snap_paragraphs(paragraphs: list[Paragraph], stamps: list[float], ends: list[float],
                     pauses: list[Pause], limit: float) -> list[float]:
    """Paragraph starts snapped to speech onsets; `ends` is moved to the pause (or the next
    start) each paragraph's speech stops at. Returns the starts."""
    n = len(paragraphs)
    snapped = [_snap_start(s, pauses, min(stamps[i + 1] if i + 1 < n else limit, limit))
               for i, s in enumerate(stamps)]
    starts = [s for s, _ in snapped]
    for i in range(1, n):  # two stamps snapping to one pause must not swap paragraphs
        starts[i] = max(starts[i], starts[i - 1] + 0.1)
    for i in range(n):
        if i + 1 < n and paragraphs[i].end is None:
            pause = snapped[i + 1][1]
            ends[i] = pause.start if pause is not None else starts[i + 1]
        elif i + 1 == n:
            # Speech ends where a pause begins near the estimate; the silence after the
            # last words is long, so long pauses win over short ones inside a sentence.
            near = [p for p in pauses if abs(p.start - ends[i]) <= END_WINDOW
                    and p.start > starts[i]]
            if near:
                estimate = ends[i]
                ends[i] = min(near, key=lambda p: abs(p.start - estimate)
                              - 2 * min(p.end - p.start, 2.0)).start
        ends[i] = max(min(ends[i], limit), min(starts[i] + 0.1, limit))
    return starts


def _snap_boundaries(para_units: list[Unit], span: tuple[float, float], w: list[float],
                     inner: list[Pause], bounds: list[float],
                     report: TimingReport) -> tuple[list[float], list[float]]:
    """The unit boundaries inside one paragraph moved onto the pauses they match: for each
    boundary, where the unit before it ends and where the unit after it starts."""
    a, b = span
    nexts, prevs = list(bounds), list(bounds)
    windows = [WINDOWS[u.boundary] for u in para_units[1:]]
    matched = _match(bounds, windows, inner)
    anchors = [(-1, a)] + [(k, inner[j].end) for k, j in enumerate(matched)
                           if j is not None] + [(len(bounds), b)]
    for (k0, t0), (k1, t1) in itertools.pairwise(anchors):
        t0_end = t0 if k0 < 0 else inner[matched[k0] or 0].end
        t1_start = t1 if k1 >= len(bounds) else inner[matched[k1] or 0].start
        mid = _share(t0_end, max(t1_start, t0_end), w[k0 + 1:k1 + 1], inner)
        for offset, t in enumerate(mid):
            nexts[k0 + 1 + offset] = prevs[k0 + 1 + offset] = t
    for k, j in enumerate(matched):
        if j is not None:
            prevs[k], nexts[k] = inner[j].start, inner[j].end
            para_units[k + 1].snapped = True
    report.boundaries += len(bounds)
    report.snapped += sum(1 for j in matched if j is not None)
    return nexts, prevs


def _time_units(para_units: list[Unit], stamp: float, nominal_end: float,
                span: tuple[float, float], pauses: list[Pause] | None,
                report: TimingReport) -> None:
    """Set the times of one paragraph's units inside its (snapped) `span`."""
    w = [max(u.weight, 0.5) for u in para_units]
    prop = [stamp, *_share(stamp, nominal_end, w, [])]
    for unit, t in zip(para_units, prop, strict=True):
        unit.proportional_start = t
    a, b = span
    inner = [p for p in (pauses or []) if p.start > a and p.end < b]
    bounds = _share(a, b, w, inner)
    nexts, prevs = list(bounds), list(bounds)
    if inner and bounds:
        nexts, prevs = _snap_boundaries(para_units, span, w, inner, bounds, report)
    elif pauses is not None:
        report.boundaries += len(bounds)
    if pauses is not None:
        para_units[0].snapped = a != stamp
    for k, unit in enumerate(para_units):
        unit.start = a if k == 0 else nexts[k - 1]
        unit.end = b if k == len(para_units) - 1 else prevs[k]
        if unit.snapped:
            report.snap_distances.append(abs(unit.start - unit.proportional_start))


def time_paragraphs(paragraphs: list[Paragraph], units: list[list[Unit]],
                    duration: float | None, pauses: list[Pause] | None,
                    reason: str = "") -> TimingReport:
    """Set `start`/`end` (and `proportional_start`) of every unit, paragraph by paragraph."""
    weights = [sum(max(u.weight, 0.5) for u in us) for us in units]
    rate = speech_rate(paragraphs, [int(w) for w in weights])
    report = TimingReport(source="audio-snapped" if pauses is not None else "proportional",
                          reason=reason, speech_rate=rate)
    limit = duration if duration is not None else float("inf")
    n = len(paragraphs)
    stamps = [p.start for p in paragraphs]
    ends = [p.end if p.end is not None else (stamps[i + 1] if i + 1 < n
            else stamps[i] + weights[i] / rate) for i, p in enumerate(paragraphs)]
    ends = [max(min(e, limit), min(stamps[i] + 0.1, limit)) for i, e in enumerate(ends)]
    nominal_ends = list(ends)
    starts = list(stamps)
    if pauses is not None:
        starts = _snap_paragraphs(paragraphs, stamps, ends, pauses, limit)
    for i, para_units in enumerate(units):
        _time_units(para_units, stamps[i], nominal_ends[i], (starts[i], ends[i]), pauses,
                    report)
    return report
