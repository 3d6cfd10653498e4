"""`--deep`: decode the master and access copies to null and count the decoder's errors.

A checksum says the bytes are the ones archived; it cannot say the archived bytes still play
(or ever did, if a copy was made from a damaged original). Decoding every frame answers that.
ffmpeg alone is not enough of a judge: a truncated Matroska file decodes "successfully" (exit
0) with one "File ended prematurely" line, so three signals are combined: the exit status, the
number of error lines, and the decoded length against the length the container declares.

The copies to decode are the regular files the bag walk found (`Bag.files`), never a glob that
follows symlinks, and each is opened by verify through `archiver.safefs` and handed to ffprobe
and ffmpeg as an inherited descriptor (`/dev/fd/N`): they decode exactly the file that was
checked, even if a name is swapped for a symlink meanwhile.

Only the audio and video are decoded (`-map 0:V? -map 0:a?`: video that is not cover art,
and audio): ffmpeg 5.1 sees the master's `S_TEXT/WEBVTT` subtitle tracks as codec `unknown`
and fails on them with its default or `-map 0` selection, and the subtitle and attachment
bytes are covered by the checksums. The same map reads old masters (ffmpeg-muxed,
`D_WEBVTT/SUBTITLES`) and the access copy. A file with neither fails ("does not contain any
stream"), which is the right verdict for a master.
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from archiver import safefs
from archiver.safefs import UnsafePath
from archiver.verify.discover import Bag

# an audio-only lesson has an MKA master and an M4A access copy (docs/package.md)
DEEP_FOLDERS = {"data/master": (".mkv", ".mka"), "data/access": (".mp4", ".m4a")}
SHORT_FRACTION = 0.9     # decoding less than this share of the declared length = truncated
MAX_MESSAGES = 5
AV_MAP = ("-map", "0:V?", "-map", "0:a?")  # never the master's subtitles (see above)


def deep_targets(bag: Bag) -> list[str]:
    """The master (.mkv/.mka) and access (.mp4/.m4a) copies among the bag's regular files."""
    found = []
    for path in bag.files:
        folder, _, name = path.rpartition("/")
        suffix = DEEP_FOLDERS.get(folder)
        if suffix is not None and name.endswith(suffix):
            found.append(path)
    return sorted(found)


def declared_seconds(fd: int) -> float | None:
    """The container's declared duration (ffprobe), or None when it cannot be read."""
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json",
         f"/dev/fd/{fd}"], capture_output=True, text=True, check=False, pass_fds=(fd,))
    try:
        return float(json.loads(proc.stdout)["format"]["duration"])
    except (ValueError, KeyError, TypeError):
        return None


def decode_check(bag: Bag, rel: str) -> dict[str, Any]:
    """Decode every stream of `rel` to null; report outcome, errors and decoded length."""
    try:
        fd, _st = safefs.open_regular(bag.base, f"{bag.rel}/{rel}")
    except (OSError, UnsafePath) as exc:
        return {"path": rel, "outcome": "undecodable", "errors": 1, "exit_code": None,
                "decoded_seconds": 0.0, "declared_seconds": None,
                "messages": [f"not opened: {exc}"], "command": []}
    try:
        return _decode_fd(fd, rel)
    finally:
        os.close(fd)


def _decode_fd(fd: int, rel: str) -> dict[str, Any]:
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-nostats",
               "-progress", "pipe:1", "-i", f"/dev/fd/{fd}", *AV_MAP, "-f", "null", "-"]
    proc = subprocess.run(command, capture_output=True, text=True, check=False,
                          pass_fds=(fd,))
    messages = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    decoded_us = 0
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.strip().lstrip("-").isdigit():
            decoded_us = max(decoded_us, int(value))
    decoded = decoded_us / 1e6
    declared = declared_seconds(fd)
    short = declared is not None and declared > 0 and decoded < SHORT_FRACTION * declared
    outcome = "ok" if proc.returncode == 0 and not messages and not short else "undecodable"
    return {"path": rel, "outcome": outcome, "errors": len(messages) + (1 if short else 0),
            "exit_code": proc.returncode, "decoded_seconds": round(decoded, 3),
            "declared_seconds": None if declared is None else round(declared, 3),
            "messages": messages[:MAX_MESSAGES], "command": command}


def deep_check(bag: Bag, jobs: int) -> list[dict[str, Any]]:
    """Decode-check every master and access copy of a package, `jobs` at a time."""
    targets = deep_targets(bag)
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="deep") as pool:
        return list(pool.map(lambda rel: decode_check(bag, rel), targets))
