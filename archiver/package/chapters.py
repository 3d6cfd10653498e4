"""The ffmetadata file that carries the global tags and chapters into both containers.

One file feeds both muxes (`-map_metadata N -map_chapters N`), so the MKV and the MP4 cannot
disagree about titles or chapter boundaries. Values are escaped as the ffmetadata format
requires (`=`, `;`, `#`, `\\` and newlines get a backslash), so a title such as
"A = B; #1" survives. Tag keys with a `-xxx` ISO 639-2 suffix (`title-eng`) become Matroska
tags with a TagLanguage, which is how Matroska stores the same tag in two languages.
"""

from __future__ import annotations

from archiver.model import Chapter
from archiver.package.inputs import PackageInputs

SPECIAL = ("\\", "=", ";", "#", "\n")


def escape(value: str) -> str:
    for char in SPECIAL:
        value = value.replace(char, "\\" + char)
    return value


def global_tags(inputs: PackageInputs, archived_at: str) -> dict[str, str]:
    """The container-level tags of issue 4 (titles in both languages, release date, publisher,
    speaker, source URL, archived-at, sha256 of the original). Empty values are left out."""
    lesson, series = inputs.lesson, inputs.series
    tags = {
        "title": lesson.title.zh or lesson.title.en or lesson.id,
        "title-chi": lesson.title.zh,
        "title-eng": lesson.title.en,
        "date_released": lesson.released.isoformat() if lesson.released else "",
        "publisher": series.publisher.zh or series.publisher.en,
        "publisher-eng": series.publisher.en,
        "speaker": lesson.speaker.zh or lesson.speaker.en,
        "speaker-eng": lesson.speaker.en,
        "collection": series.title.zh or series.title.en,
        "lesson_id": lesson.id,
        "url": inputs.source_url,
        "media_url": inputs.fetched.media_url,
        "archived_at": archived_at,
        "original_sha256": inputs.media_sha256,
    }
    return {k: v for k, v in tags.items() if v}


def clip_chapters(chapters: list[Chapter], duration: float) -> list[Chapter]:
    """Chapters limited to the media's length (a chapter past the end would confuse players);
    empty ones (e.g. a heading at the very end) are left out: players show nothing for them."""
    clipped = []
    for chapter in chapters:
        if chapter.start >= duration or chapter.empty:
            continue
        clipped.append(Chapter(chapter.start, min(chapter.end, duration), chapter.title))
    return clipped


def ffmetadata(tags: dict[str, str], chapters: list[Chapter]) -> str:
    """Render an `;FFMETADATA1` document (times in milliseconds)."""
    lines = [";FFMETADATA1"]
    lines += [f"{escape(k)}={escape(v)}" for k, v in tags.items()]
    for chapter in chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(chapter.start * 1000)}",
                  f"END={round(chapter.end * 1000)}", f"title={escape(chapter.label)}"]
    return "\n".join(lines) + "\n"
