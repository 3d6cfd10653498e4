"""Before bytes become a lesson's `original`: does ffmpeg find audio or video in them?

Why: the Content-Type and the first bytes are the server's word; a gzip body, an error blob
or arbitrary bytes served as `video/mp4` pass both. ffprobe reading the stored (decoded)
bytes is the check that cannot be talked into it: no audio or video stream, no original.
The caller quarantines such bytes with ffprobe's own message, as it does a checksum mismatch.
"""

from __future__ import annotations

import json
from pathlib import Path

from archiver import cancel

PROBE_TIMEOUT = 300.0  # seconds; ffprobe reads headers, not the whole file


def media_streams(path: Path) -> tuple[list[str], str]:
    """(the codec types of the streams ffprobe finds in `path`, ffprobe's message).

    The message is ffprobe's last error line, or a sentence saying what was found instead.
    """
    argv = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "json",
            str(path)]
    try:
        proc = cancel.run(argv, capture_output=True, text=True, errors="replace",
                          timeout=PROBE_TIMEOUT)
    except OSError as exc:  # ffprobe missing: say so rather than pass unchecked bytes
        return [], f"cannot run ffprobe: {exc.strerror or exc}"
    errors = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    try:
        streams = json.loads(proc.stdout or "{}").get("streams", [])
    except ValueError:
        streams = []
    kinds = sorted({str(s.get("codec_type")) for s in streams if isinstance(s, dict)})
    usable = [k for k in kinds if k in ("audio", "video")]
    if usable:
        return usable, ""
    if errors:
        message = errors[-1].replace(str(path), path.name)
    elif kinds:
        message = f"only {', '.join(kinds)} streams"
    else:
        message = f"no streams (exit status {proc.returncode})"
    return [], message
