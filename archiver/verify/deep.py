"""`--deep`: decode the master and access copies to null and count the decoder's errors.

A checksum says the bytes are the ones archived; it cannot say the archived bytes still play
(or ever did, if a copy was made from a damaged original). Decoding every frame answers that.
ffmpeg alone is not enough of a judge: a truncated Matroska file decodes "successfully" (exit
0) with one "File ended prematurely" line, so three signals are combined: the exit status, the
number of error lines, and the decoded length against the length the container declares.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

DEEP_GLOBS = ("data/master/*.mkv", "data/access/*.mp4")
SHORT_FRACTION = 0.9     # decoding less than this share of the declared length = truncated
MAX_MESSAGES = 5


def deep_targets(bag_root: Path) -> list[Path]:
    """The master (.mkv) and access (.mp4) copies present in a package."""
    return sorted(p for pattern in DEEP_GLOBS for p in bag_root.glob(pattern) if p.is_file())


def declared_seconds(path: Path) -> float | None:
    """The container's declared duration (ffprobe), or None when it cannot be read."""
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True, text=True, check=False)
    try:
        return float(json.loads(proc.stdout)["format"]["duration"])
    except (ValueError, KeyError, TypeError):
        return None


def decode_check(path: Path, rel: str) -> dict[str, Any]:
    """Decode every stream of `path` to null; report outcome, errors and decoded length."""
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-nostats",
               "-progress", "pipe:1", "-i", str(path), "-f", "null", "-"]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    messages = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    decoded_us = 0
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.strip().lstrip("-").isdigit():
            decoded_us = max(decoded_us, int(value))
    decoded = decoded_us / 1e6
    declared = declared_seconds(path)
    short = declared is not None and declared > 0 and decoded < SHORT_FRACTION * declared
    outcome = "ok" if proc.returncode == 0 and not messages and not short else "undecodable"
    return {"path": rel, "outcome": outcome, "errors": len(messages) + (1 if short else 0),
            "exit_code": proc.returncode, "decoded_seconds": round(decoded, 3),
            "declared_seconds": None if declared is None else round(declared, 3),
            "messages": messages[:MAX_MESSAGES], "command": command}


def deep_check(bag_root: Path, jobs: int) -> list[dict[str, Any]]:
    """Decode-check every master and access copy of a package, `jobs` at a time."""
    targets = deep_targets(bag_root)
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="deep") as pool:
        return list(pool.map(lambda p: decode_check(p, p.relative_to(bag_root).as_posix()),
                             targets))
