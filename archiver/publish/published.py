"""An archived lesson as placed in the site: what every page and document of it is built from."""

from __future__ import annotations

from dataclasses import dataclass, field

from archiver.model import Bilingual
from archiver.publish.inputs import LessonData
from archiver.publish.media import MediaInfo, Thumbnail

EMBED_WIDTH = 640  # the default width of the embed snippet and the oEmbed answer


@dataclass
class Published:
    """One lesson with a page. `urls` are relative to the site root: `page`, `embed`,
    `video` (the access copy, audio or video), `poster`, `oembed`, `iiif`, one per track key,
    and the records copied from the package."""

    lesson: LessonData
    urls: dict[str, str]
    info: MediaInfo
    access_sha256: str
    access_bytes: int
    thumbnails: list[Thumbnail] = field(default_factory=list)

    @property
    def width(self) -> int:
        return self.info.width

    @property
    def height(self) -> int:
        return self.info.height

    @property
    def duration(self) -> float:
        return self.info.duration

    @property
    def audio_only(self) -> bool:
        return self.info.audio_only

    def embed_size(self, max_width: int | None = None,
                   max_height: int | None = None) -> tuple[int, int]:
        """The iframe size of this lesson's embed page (see `fit`)."""
        return fit(self.width, self.height, max_width, max_height)


def fit(width: int, height: int, max_width: int | None = None,
        max_height: int | None = None) -> tuple[int, int]:
    """The embed iframe's size for media of `width`×`height`: EMBED_WIDTH wide at the media's
    aspect ratio (the player scales), shrunk to fit the limits, never below 1 px."""
    out_w = EMBED_WIDTH if max_width is None else min(EMBED_WIDTH, max_width)
    out_h = round(out_w * height / width)
    if max_height is not None and out_h > max_height:
        out_h = max_height
        out_w = round(out_h * width / height)
    return max(1, out_w), max(1, out_h)


def title_of(lesson: LessonData) -> str:
    """The title a card, tab or player shows: English, else Chinese, else the lesson number."""
    return lesson.title.en or lesson.title.zh or f"Lesson {lesson.number}"


def text_of(text: Bilingual | None) -> str:
    """One line for fields that hold a single string: both forms when both are known."""
    if text is None:
        return ""
    if text.zh and text.en:
        return f"{text.zh} ({text.en})"
    return text.zh or text.en
