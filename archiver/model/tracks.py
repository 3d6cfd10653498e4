"""The one track table: every subtitle track the archive makes, and how each is named.

Subtitles (which cues a track shows), package (container languages, titles, the default flag),
publish (`<track srclang>`, labels, JSON-LD `inLanguage`), the catalog (`files.tracks.<key>`)
and the docs all read this table; nothing else lists the tracks. A new track is one row.

Names, and why each exists:
- `key`: the track's name in catalog.json and records (public: never renamed);
- `bcp47`: the tag wherever a BCP 47 tag goes (`<track srclang>`, JSON-LD, MKV LanguageIETF).
  The bilingual track is `zh-Hans-x-en` (private use, issue 11 item 4) so that every client
  tells its three tracks apart; its key and file suffix stay `zh-Hans-en`;
- `iso639_2`: where only ISO 639-2 fits (MP4, Matroska's legacy language): `mul` for mixed;
- `label`: the human title (MKV track name, MP4 handler name, the site's menu);
- `suffix`: the file name part, `<lesson>.<suffix>.vtt` (public);
- `default`: the one track players show first;
- `languages`: the BCP 47 tags of the text a cue carries (which lines go in, schema.org
  `subtitleLanguage`);
- `srt`: whether an SRT twin is written (the bilingual track has none: SRT has no way to
  mark a language).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrackSpec:
    """One subtitle track (see the module docstring for every field's purpose)."""

    key: str
    bcp47: str
    iso639_2: str
    label: str
    suffix: str
    default: bool
    languages: tuple[str, ...]
    srt: bool

    def vtt_name(self, lesson_id: str) -> str:
        """The WebVTT file name of this track for a lesson."""
        return f"{lesson_id}.{self.suffix}.vtt"

    def srt_name(self, lesson_id: str) -> str | None:
        """The SRT file name of this track for a lesson, or None when it has no SRT twin."""
        return f"{lesson_id}.{self.suffix}.srt" if self.srt else None

    @property
    def bilingual(self) -> bool:
        """Whether a cue of this track carries more than one language."""
        return len(self.languages) > 1


@dataclass(frozen=True)
class Track:
    """One track of one lesson: its row of the table and its WebVTT file."""

    spec: TrackSpec
    path: Path


TRACKS: tuple[TrackSpec, ...] = (
    TrackSpec("zh-Hans", "zh-Hans", "chi", "中文", "zh-Hans", True, ("zh-Hans",), True),
    TrackSpec("en", "en", "eng", "English", "en", False, ("en",), True),
    TrackSpec("zh-Hans-en", "zh-Hans-x-en", "mul", "中文 + English", "zh-Hans-en", False,
              ("zh-Hans", "en"), False),
)
TRACK_KEYS: tuple[str, ...] = tuple(spec.key for spec in TRACKS)
DEFAULT_TRACK: TrackSpec = next(spec for spec in TRACKS if spec.default)
BILINGUAL_TRACK: TrackSpec = next(spec for spec in TRACKS if spec.bilingual)


def track(key: str) -> TrackSpec:
    """The track named `key`; a KeyError names the known keys."""
    for spec in TRACKS:
        if spec.key == key:
            return spec
    raise KeyError(f"unknown track {key!r} (known: {', '.join(TRACK_KEYS)})")


def tracks_showing(language: str) -> tuple[TrackSpec, ...]:
    """The tracks whose cues carry text in `language` (a BCP 47 tag of `languages`)."""
    return tuple(spec for spec in TRACKS if language in spec.languages)
