"""The working records between segmentation, timing and styling.

A `Unit` is the smallest piece of speech we time: a Chinese clause (or a part of a long one)
with the English that translates it. A `Cue` is what a viewer sees at once: one or more
consecutive units of a paragraph, with its lines already broken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# What separates a unit from the one before it; decides how likely a pause is there.
Boundary = Literal["paragraph", "sentence", "clause", "soft"]


@dataclass
class Unit:
    zh: str
    weight: int  # spoken characters (letters and digits): the unit's share of speaking time
    paragraph: int
    boundary: Boundary
    en: str = ""
    start: float = 0.0
    end: float = 0.0
    proportional_start: float = 0.0  # before audio snapping, kept for the report
    snapped: bool = False


@dataclass
class Cue:
    start: float
    end: float
    zh: str
    en: str
    paragraph: int
    zh_lines: list[str] = field(default_factory=list)
    en_lines: list[str] = field(default_factory=list)
    dropped: str = ""  # a trailing 。/，removed from the shown Chinese by convention
    snapped: bool = False
    proportional_start: float = 0.0
