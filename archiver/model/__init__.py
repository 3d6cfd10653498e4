"""The typed model: every record that crosses a stage boundary.

- `manifest`: what the manifest states (Series, Lesson, Source, TlsPolicy, Term, Bilingual);
- `tracks`: the one track table (`TRACKS` of `TrackSpec`) and its lookups;
- `timed`: Paragraph, Chapter, Cue and the one reader/writer of transcript.json and
  chapters.json;
- `records`: `StageResult` and the typed details of each stage (FetchDetails,
  SubtitlesDetails, PackageDetails, PublishDetails), versioned and JSON-round-tripping;
- `jsonio`: the typed JSON reader behind them.

Everything is re-exported here, so `from archiver.model import Lesson, StageResult, utcnow`
works as it always did.
"""

from archiver.model.manifest import (
    Bilingual,
    Lesson,
    Manifest,
    Series,
    SiteSettings,
    Source,
    SourceKind,
    Term,
    TlsMode,
    TlsPolicy,
    spoken_language,
)
from archiver.model.records import (
    DETAILS,
    Details,
    FetchDetails,
    FileEntry,
    Output,
    PackageDetails,
    PackageFiles,
    PackageSkip,
    PackageSource,
    PublishDetails,
    ResolutionRecord,
    SourceRecord,
    StageResult,
    Status,
    SubtitlesDetails,
    TlsSummary,
    TransferRecord,
    details_type,
    utcnow,
)
from archiver.model.timed import (
    Chapter,
    Cue,
    Paragraph,
    chapters_json,
    json_bytes,
    read_chapters_json,
    read_transcript_json,
    transcript_json,
)
from archiver.model.tracks import (
    BILINGUAL_TRACK,
    DEFAULT_TRACK,
    TRACK_KEYS,
    TRACKS,
    Track,
    TrackSpec,
    track,
    tracks_showing,
)

__all__ = [
    "BILINGUAL_TRACK", "DEFAULT_TRACK", "DETAILS", "TRACKS", "TRACK_KEYS", "Bilingual",
    "Chapter", "Cue", "Details", "FetchDetails", "FileEntry", "Lesson", "Manifest", "Output",
    "PackageDetails", "PackageFiles", "PackageSkip", "PackageSource", "Paragraph",
    "PublishDetails", "ResolutionRecord", "Series", "SiteSettings", "Source", "SourceKind",
    "SourceRecord", "StageResult", "Status", "SubtitlesDetails", "Term", "TlsMode", "TlsPolicy",
    "TlsSummary",
    "Track", "TrackSpec", "TransferRecord", "chapters_json", "details_type", "json_bytes",
    "read_chapters_json", "read_transcript_json", "spoken_language", "track", "tracks_showing",
    "transcript_json", "utcnow",
]
