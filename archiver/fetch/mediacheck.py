"""Before bytes become a lesson's `original`: does ffmpeg find audio or video in them?

Why: the Content-Type and the first bytes are the server's word; a gzip body, an error blob
or arbitrary bytes served as `video/mp4` pass both. ffprobe reading the stored (decoded)
bytes is the check that cannot be talked into it: no audio or video stream, no original.
The caller quarantines such bytes with ffprobe's own message, as it does a checksum mismatch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from archiver import cancel

PROBE_TIMEOUT = 300.0  # seconds; ffprobe reads headers, not the whole file


@dataclass(frozen=True)
class Probe:
    """What one ffprobe run found in a file: every stream's codec type (in file order),
    its exit status and its last error line (paths shortened to the file name).

    Why one object: the stage asks two questions of the same download (is it media at all,
    and does it have sound) and used to run ffprobe twice for them (~70 ms each, part of the
    fixed cost of every fetch, benchmarks/fetch_process.py).
    """

    kinds: tuple[str, ...]
    returncode: int
    error: str

    def streams(self) -> tuple[int, int]:
        """(video streams, audio streams); (-1, -1) when ffprobe could not read the file."""
        if self.returncode != 0:
            return -1, -1
        return self.kinds.count("video"), self.kinds.count("audio")


def probe(path: Path) -> Probe:
    """Run ffprobe once on `path` (a missing ffprobe is an unreadable file, with why)."""
    argv = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json",
            str(path)]
    try:
        proc = cancel.run(argv, capture_output=True, text=True, errors="replace",
                          timeout=PROBE_TIMEOUT)
    except OSError as exc:  # ffprobe missing: say so rather than pass unchecked bytes
        return Probe((), -1, f"cannot run ffprobe: {exc.strerror or exc}")
    errors = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    try:
        streams = json.loads(proc.stdout or "{}").get("streams") or []
    except (ValueError, AttributeError):
        streams = []
    kinds = tuple(str(s.get("codec_type")) for s in streams if isinstance(s, dict))
    error = errors[-1].replace(str(path), path.name) if errors else ""
    return Probe(kinds, proc.returncode, error)


def media_streams(found: Probe) -> tuple[list[str], str]:
    """(the audio/video codec types a probe found, ffprobe's message): the message is
    ffprobe's last error line, or a sentence saying what was found instead."""
    kinds = sorted(set(found.kinds))
    usable = [k for k in kinds if k in ("audio", "video")]
    if usable:
        return usable, ""
    if found.error:
        message = found.error
    elif kinds:
        message = f"only {', '.join(kinds)} streams"
    else:
        message = f"no streams (exit status {found.returncode})"
    return [], message
