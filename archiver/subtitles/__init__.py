"""Subtitle stage: audio-aligned, professionally styled zh-Hans, en and bilingual WebVTT.

Flow: `transcript` (readers) -> `segment` (sentences, clauses, Gale–Church alignment) ->
`timing` (proportional by Chinese characters, snapped to ffmpeg-detected pauses) -> `style`
(cues, lines, display timing) -> `writers` (WebVTT/SRT) -> `validate` + `quality` (reports).
`build.build_subtitles` runs it without the pipeline; `stage.run` is the pipeline stage.
"""

from archiver.subtitles.build import SubtitleBuild, build_subtitles, write_outputs

__all__ = ["SubtitleBuild", "build_subtitles", "write_outputs"]
